package org.omniclas.fiji.dataset;

import org.junit.Assume;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import static org.junit.Assert.*;

/** The checks the wizard makes before it submits, with the server's rules (omniclas/data/dataset.py). */
public class DatasetCheckTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();
    private Path root;

    @Before public void setUp() throws IOException {
        root = tmp.newFolder("cells").toPath();
    }

    private void images(String dir, int n, String ext) throws IOException {
        Path d = root.resolve(dir);
        Files.createDirectories(d);
        for (int i = 0; i < n; i++) Files.write(d.resolve("img" + i + "." + ext), new byte[]{1, 2, 3});
    }

    @Test public void aGoodDatasetPasses() throws IOException {
        images("Nuclear", 3, "png");
        images("Cytoplasmic", 4, "tif");
        images("unlabelled", 5, "jpg");
        DatasetCheck c = DatasetCheck.of(root);
        assertEquals(Collections.emptyList(), c.errors(true));
        assertEquals("7 labelled images in 2 classes (Cytoplasmic 4, Nuclear 3), 5 unlabelled", c.summary());
    }

    /** Undo used to leave an empty class folder; the wizard counted 2 categories and the server refused. */
    @Test public void anEmptyClassFolderIsNamed() throws IOException {
        images("Nuclear", 3, "png");
        images("Cytoplasmic", 3, "png");
        Files.createDirectories(root.resolve("NoGFP"));
        images("Debris", 1, "gif"); // GIFs are not read for training: as good as empty
        List<String> errors = DatasetCheck.of(root).errors(false);
        assertEquals(1, errors.size());
        assertTrue(errors.get(0), errors.get(0).startsWith("Class folders \"Debris\", \"NoGFP\" are empty"));
    }

    @Test public void tooFewImagesAndTooFewClasses() throws IOException {
        images("Nuclear", 2, "png");
        List<String> errors = DatasetCheck.of(root).errors(false);
        assertEquals(Arrays.asList("Only one class (\"Nuclear\"): a classifier needs at least two.",
                "Class \"Nuclear\" has 2 images; at least 3 are needed to hold out test and validation images."), errors);
        images("Other", 3, "png");
        images("test/Nuclear", 1, "png"); // with test/, 2 per class are enough
        assertEquals(Collections.emptyList(), DatasetCheck.of(root).errors(false));
        images("test/Unknown", 1, "png");
        assertTrue(DatasetCheck.of(root).errors(false).get(0).startsWith("Test class folder test/Unknown has no matching class"));
    }

    @Test public void distillingNeedsUnlabelledImages() throws IOException {
        images("A", 3, "png");
        images("B", 3, "png");
        DatasetCheck c = DatasetCheck.of(root);
        assertEquals(Collections.emptyList(), c.errors(false));
        assertTrue(c.errors(true).get(0).startsWith("This process labels unlabelled images"));
    }

    @Test public void missingFolderAndNoClasses() throws IOException {
        assertTrue(DatasetCheck.of(root.resolve("nope")).errors(false).get(0).startsWith("The dataset folder does not exist"));
        images("unlabelled", 2, "png");
        assertTrue(DatasetCheck.of(root).errors(false).get(0).startsWith("No class folders in"));
    }

    @Test public void underRootsFollowsSymlinks() throws IOException {
        Path rootA = tmp.newFolder("rootA").toPath();
        Path inside = Files.createDirectories(rootA.resolve("sets/cells"));
        assertTrue(DatasetCheck.underRoots(inside, Collections.singletonList(rootA)));
        assertTrue(DatasetCheck.underRoots(rootA.resolve("sets/../sets/cells"), Collections.singletonList(rootA)));
        assertFalse(DatasetCheck.underRoots(root, Collections.singletonList(rootA)));
        assertTrue(DatasetCheck.underRoots(root, Collections.emptyList())); // no root known: no judgement
        Path link = rootA.resolve("link");
        try {
            Files.createSymbolicLink(link, root);
        } catch (UnsupportedOperationException | IOException e) {
            Assume.assumeNoException(e);
        }
        assertFalse(DatasetCheck.underRoots(link, Collections.singletonList(rootA))); // points outside, like the server sees it
    }
}

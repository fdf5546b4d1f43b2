package org.omniclas.fiji.dataset;

import org.junit.Assume;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

import javax.imageio.ImageIO;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.Assert.*;

/** Unreadable images are found, and named, before ImageJ's opener would show a bare exception (real fixture images). */
public class ImageFilesTest {
    static final Path DATA = Paths.get("..", "tests", "data");

    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    static Path fixture(String rel) {
        Path p = DATA.resolve(rel);
        Assume.assumeTrue("fixture " + p + " is missing", Files.isRegularFile(p));
        return p;
    }

    static List<Path> pngs(String dir, int n) throws IOException {
        Assume.assumeTrue(Files.isDirectory(DATA.resolve(dir)));
        try (Stream<Path> s = Files.list(DATA.resolve(dir))) {
            return s.filter(p -> p.toString().endsWith(".png")).sorted().limit(n).collect(Collectors.toList());
        }
    }

    private Path truncated(Path source, String name) throws IOException {
        byte[] all = Files.readAllBytes(source);
        return Files.write(tmp.getRoot().toPath().resolve(name), Arrays.copyOf(all, all.length / 2));
    }

    @Test public void readableImagesPass() throws IOException {
        assertNull(ImageFiles.problem(pngs("bbbc013/NoGFP", 1).get(0)));
        for (String tif : new String[]{"tiff/nuclear_gfp_stack_3pages.tif", "tiff/A12_Cell13_gfp_uint16.tif", "tiff/A12_Cell13_rgb_mask_4ch.tif"}) {
            assertNull(tif, ImageFiles.problem(fixture(tif)));
        }
    }

    @Test public void truncatedPngJpegAndTiffAreNamedAsSuch() throws IOException {
        String png = ImageFiles.problem(fixture("corrupt/A01_Cell162_truncated.png"));
        assertNotNull(png);
        assertEquals("not a readable PNG, JPEG, TIFF or BMP image (image file is truncated)", png); // the server's words
        Path jpeg = tmp.getRoot().toPath().resolve("cell.jpg");
        assertTrue(ImageIO.write(ImageIO.read(pngs("bbbc013/NuclearGFP", 1).get(0).toFile()), "jpg", jpeg.toFile()));
        assertNull(ImageFiles.problem(jpeg));
        assertNotNull("a truncated JPEG decodes with a warning only; it is still unreadable",
                ImageFiles.problem(truncated(jpeg, "half.jpg")));
        String tiff = ImageFiles.problem(truncated(fixture("tiff/nuclear_gfp_stack_3pages.tif"), "half.tif"));
        assertNotNull(tiff);
        assertTrue(tiff, tiff.startsWith("not a readable PNG, JPEG, TIFF or BMP image (") && tiff.contains("truncated"));
        Path text = Files.write(tmp.getRoot().toPath().resolve("notes.png"), "not an image".getBytes());
        assertEquals("not a readable PNG, JPEG, TIFF or BMP image (unknown format)", ImageFiles.problem(text));
    }

    /** Label Images' import: the readable images are copied, the broken one is named with its reason and left out. */
    @Test public void importLeavesOutAndNamesAnUnreadableImage() throws IOException {
        Path source = tmp.newFolder("source").toPath();
        for (Path p : pngs("bbbc013/unlabelled", 4)) Files.copy(p, source.resolve(p.getFileName()));
        Files.copy(fixture("corrupt/A01_Cell162_truncated.png"), source.resolve("broken.png"));
        DatasetFolder ds = new DatasetFolder(tmp.getRoot().toPath().resolve("dataset"));
        DatasetFolder.Import done = ds.importFrom(source);
        assertEquals(4, done.copied);
        assertEquals(1, done.unreadable.size());
        assertTrue(done.unreadable.get(0), done.unreadable.get(0).startsWith("broken.png: not a readable PNG, JPEG, TIFF or BMP image ("));
        assertEquals(4, ds.count(null));
        assertFalse(Files.exists(ds.unlabelledDir().resolve("broken.png")));
        assertTrue(done.summary(), done.summary().startsWith("4 image(s) copied into unlabelled/. 1 file was not copied, "
                + "as it is not a readable image:\nbroken.png: not a readable PNG, JPEG, TIFF or BMP image ("));
        assertTrue(Files.exists(source.resolve("broken.png"))); // the source is only read
    }
}

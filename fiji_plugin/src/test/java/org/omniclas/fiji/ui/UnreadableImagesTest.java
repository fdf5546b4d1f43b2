package org.omniclas.fiji.ui;

import ij.measure.ResultsTable;
import org.junit.Assume;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.HttpOmniClasClient;
import org.omniclas.fiji.client.PredictBatchTest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.Assert.*;

/**
 * Classify Folder and "Ask the model" on real fixture images plus a truncated broken.png, against a server that
 * answers per image and one that refuses the whole batch: the readable images get their rows or suggestions, the
 * bad one an error under its own name.
 */
public class UnreadableImagesTest {
    static final Path DATA = Paths.get("..", "tests", "data");

    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    /** {@code good} real PNGs and the truncated fixture as broken.png, in a folder. */
    private Path folder(int good) throws IOException {
        Path truncated = DATA.resolve("corrupt/A01_Cell162_truncated.png");
        Assume.assumeTrue("fixture images missing", Files.isRegularFile(truncated));
        Path dir = tmp.newFolder("images").toPath();
        try (Stream<Path> s = Files.list(DATA.resolve("bbbc013/unlabelled"))) {
            for (Path p : s.sorted().limit(good).collect(Collectors.toList())) Files.copy(p, dir.resolve(p.getFileName()));
        }
        Files.copy(truncated, dir.resolve("broken.png"));
        return dir;
    }

    private void classifyFolder(PredictBatchTest.Mode mode) throws Exception {
        Path dir = folder(9);
        try (PredictBatchTest.Stub stub = new PredictBatchTest.Stub(mode)) {
            ImageClassifier c = new ImageClassifier(new HttpOmniClasClient(stub.url, null), "m");
            ResultsTable rt = c.classifyFolder(dir, new ResultsTable());
            assertEquals(10, rt.size());
            int bad = -1;
            for (int i = 0; i < rt.size(); i++) if (rt.getStringValue("image", i).equals("broken.png")) bad = i;
            assertTrue(bad >= 0);
            assertEquals("", rt.getStringValue("class", bad));
            assertTrue(rt.getStringValue("error", bad), rt.getStringValue("error", bad).startsWith("broken.png: not a readable"));
            for (int i = 0; i < rt.size(); i++) if (i != bad) {
                assertEquals("B", rt.getStringValue("class", i));
                assertEquals("", rt.getStringValue("error", i));
            }
            assertEquals(1, c.failed().size());
            assertEquals("10 result rows; 1 image could not be read: broken.png", ImageClassifier.summary(rt.size(), c.failed()));
            Path csv = dir.resolve("omniclas-results.csv");
            ImageClassifier.saveCsv(rt, csv.toString());
            List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
            assertEquals("image,slice,class,confidence,unsure,runner_up,runner_up_p,p_A,p_B,error", lines.get(0));
            assertEquals(11, lines.size());
            // as docs/results-csv.md has it: slice 1, no class, confidence or probabilities, the message in error
            assertTrue(lines.get(bad + 1), lines.get(bad + 1).startsWith("broken.png,1,,,,,,,,\"broken.png: not a readable"));
        }
    }

    @Test public void classifyFolderOnAServerThatAnswersPerImage() throws Exception {
        classifyFolder(PredictBatchTest.Mode.PER_IMAGE);
    }

    @Test public void classifyFolderOnAServerThatRefusesTheWholeBatch() throws Exception {
        classifyFolder(PredictBatchTest.Mode.WHOLE_BATCH);
    }

    /** Ask the model: 15 of 16 suggestions; the bad image is named as the user named it, not as it was uploaded. */
    @Test public void askTheModelNamesTheUnreadableImageByItsOwnName() throws Exception {
        for (PredictBatchTest.Mode mode : PredictBatchTest.Mode.values()) {
            Path dir = folder(15);
            List<Path> images;
            try (Stream<Path> s = Files.list(dir)) {
                images = s.sorted().collect(Collectors.toList());
            }
            Map<Path, Dto.PredictResult> suggestions = new ConcurrentHashMap<>();
            ModelSuggestions asking = new ModelSuggestions(suggestions);
            try (PredictBatchTest.Stub stub = new PredictBatchTest.Stub(mode)) {
                asking.ask(new HttpOmniClasClient(stub.url, null), "m", images, () -> false, done -> { });
                // uploaded under a numbered name, as "0015_broken.png"
                assertTrue(stub.requests.get(0).stream().anyMatch(n -> n.matches("\\d{4}_broken\\.png")));
            }
            assertEquals(mode.toString(), "15 of 16 images have a suggestion; 1 unreadable: broken.png", asking.summary());
            assertEquals(15, suggestions.size());
            String why = asking.unreadable().get(dir.resolve("broken.png"));
            assertTrue(why, why.startsWith("broken.png: not a readable"));
            assertFalse(why, why.contains("_broken.png"));
            tmp.delete();
            tmp.create();
        }
    }
}

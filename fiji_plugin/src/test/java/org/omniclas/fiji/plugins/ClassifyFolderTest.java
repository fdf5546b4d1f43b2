package org.omniclas.fiji.plugins;

import ij.Macro;
import ij.Prefs;
import ij.measure.ResultsTable;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.omniclas.fiji.ui.FolderJob;
import org.omniclas.fiji.ui.ImageClassifier;
import org.omniclas.fiji.ui.Options;
import org.omniclas.fiji.ui.PredictJobServer;
import org.omniclas.fiji.ui.Reporter;
import org.omniclas.fiji.ui.Settings;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.Assert.*;

/** Classify Folder: an empty CSV field saves nothing (never into the image folder); large folders run as jobs. */
public class ClassifyFolderTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    @Test public void theCsvLabelSaysWhatAnEmptyFieldDoes() {
        assertEquals("CSV (empty = do not save)", Classify_Folder.CSV_LABEL);
        assertEquals("csv", Options.key(Classify_Folder.CSV_LABEL)); // the macro key stays csv=
        assertEquals("job", Options.key(Classify_Folder.JOB_LABEL));
    }

    // ------------------------------------------------------------------ as a macro, against a stub server

    private PredictJobServer server;
    private String url;

    @Before public void start() throws IOException {
        server = new PredictJobServer();
        url = Settings.url();
        Prefs.set(Settings.KEY_URL, server.url());
        Reporter.clearLastError();
    }

    @After public void stop() {
        Prefs.set(Settings.KEY_URL, url);
        server.close();
    }

    private Path folder(int images) throws IOException {
        Path dir = tmp.newFolder("plate").toPath();
        for (int i = 0; i < images; i++) Files.createFile(dir.resolve(String.format("w%04d.png", i)));
        return dir;
    }

    /** run("Classify Folder...", options) headless; returns the table a macro reads. */
    private ResultsTable classify(String options) {
        String name = Thread.currentThread().getName();
        Thread.currentThread().setName("Run$_" + name); // ImageJ only hands macro options to such threads
        Macro.setOptions(options);
        try {
            new Classify_Folder().run("");
        } finally {
            Macro.setOptions(null);
            Thread.currentThread().setName(name);
        }
        assertNull(Reporter.lastError(), Reporter.lastError());
        return ImageClassifier.lastResults();
    }

    @Test public void aLargeFolderRunsAsAJobAndAMacroGetsTheSameTable() throws Exception {
        Path dir = folder(FolderJob.THRESHOLD + 1);
        Path csv = dir.resolve("out.csv");
        ResultsTable rt = classify("model=cells folder=[" + dir + "] csv=[" + csv + "]");
        assertEquals("predict", server.submitted.get("kind").getAsString());
        assertEquals(0, server.count("POST /predict"));
        assertEquals(2, server.count("GET /jobs/j1"));
        assertEquals(4, rt.size());
        assertEquals("B", rt.getStringValue("class", 1));
        assertEquals(PredictJobServer.CSV, new String(Files.readAllBytes(csv), StandardCharsets.UTF_8)); // byte for byte the server's
    }

    @Test public void anOlderServerGetsTheImagesOneBatchAtATime() throws Exception {
        server.refuse = "kind";
        ResultsTable rt = classify("model=cells folder=[" + folder(3) + "] csv=[] job=always");
        assertEquals(1, server.count("POST /jobs"));
        assertEquals(1, server.count("POST /predict"));
        assertEquals(3, rt.size());
        assertEquals("A", rt.getStringValue("class", 0));
    }

    @Test public void jobNeverSendsImagesWhateverTheSize() throws Exception {
        Path dir = folder(FolderJob.THRESHOLD + 1);
        ResultsTable rt = classify("model=cells folder=[" + dir + "] csv=[] job=never");
        assertEquals(0, server.count("POST /jobs"));
        assertEquals(FolderJob.THRESHOLD + 1, rt.size());
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            assertEquals("csv= empty writes nothing into the image folder", FolderJob.THRESHOLD + 1, files.count());
        }
    }
}

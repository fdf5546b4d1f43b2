package org.omniclas.fiji.ui;

import ij.measure.ResultsTable;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.Assert.*;

/** Classify Folder as a predict job, against {@link PredictJobServer} (headless: no Jobs window opens). */
public class FolderJobTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();
    private PredictJobServer server;

    @Before public void start() throws IOException { server = new PredictJobServer(); }

    @After public void stop() { server.close(); }

    private Path folder(int images) throws IOException {
        Path dir = tmp.newFolder("plate").toPath();
        for (int i = 0; i < images; i++) Files.createFile(dir.resolve(String.format("w%04d.png", i)));
        Files.createFile(dir.resolve("notes.txt")); // not an image: not counted
        return dir;
    }

    private FolderJob job() { return new FolderJob(server.client(), "cells").pollEvery(1); }

    @Test public void aLargeFolderOnALocalServerIsOneJobWhoseCsvFillsTheTable() throws Exception {
        Path dir = folder(FolderJob.THRESHOLD + 1);
        FolderJob job = job();
        ResultsTable rt = job.run(dir, FolderJob.Mode.AUTO, true, new ResultsTable());
        assertNotNull(rt);
        assertEquals("predict", server.submitted.get("kind").getAsString());
        assertEquals("cells", server.submitted.get("model").getAsString());
        assertEquals(dir.toAbsolutePath().normalize().toString(), server.submitted.get("folder").getAsString());
        assertEquals(3, server.submitted.size());
        assertEquals(2, server.count("GET /jobs/j1")); // running (50%), then finished
        assertEquals(1, server.count("GET /jobs/j1/results.csv"));
        assertEquals(0, server.count("POST /predict")); // no image left this machine
        assertEquals(Arrays.asList("image", "slice", "class", "confidence", "unsure", "runner_up", "runner_up_p", "p_A",
                "p_B", "error"), Arrays.asList(rt.getHeadings()));
        assertEquals("false", rt.getStringValue("unsure", 1));
        assertEquals("true", rt.getStringValue("unsure", 2)); // the job's CSV marks it unsure: so does the table
        assertEquals("A", rt.getStringValue("runner_up", 2));
        assertEquals(0.4, rt.getValue("runner_up_p", 2), 1e-9);
        assertEquals("", rt.getStringValue("unsure", 3));
        assertEquals(4, rt.size());
        assertEquals("b.png", rt.getStringValue("image", 1));
        assertEquals("B", rt.getStringValue("class", 1));
        assertEquals(0.7, rt.getValue("confidence", 1), 1e-9);
        assertEquals(0.3, rt.getValue("p_A", 1), 1e-9);
        assertEquals(2, (int) rt.getValue("slice", 2));
        assertTrue(Double.isNaN(rt.getValue("confidence", 3)));
        String error = "broken.png: not a readable PNG, JPEG, TIFF or BMP image"; // (quoted, with a comma)
        assertEquals(error, rt.getStringValue("error", 3));
        assertEquals(Arrays.asList(error), job.failed());
        assertEquals("4 rows: A 1, B 2; 1 unsure; 1 error", FolderJob.counts(rt));
        assertFalse(job.wasCancelled());
    }

    @Test public void smallFoldersAndRemoteServersAreClassifiedImageByImage() throws Exception {
        assertFalse(FolderJob.wanted(FolderJob.Mode.AUTO, FolderJob.THRESHOLD, true));
        assertTrue(FolderJob.wanted(FolderJob.Mode.AUTO, FolderJob.THRESHOLD + 1, true));
        assertFalse(FolderJob.wanted(FolderJob.Mode.AUTO, 100_000, false)); // it cannot see this machine's files
        assertTrue(FolderJob.wanted(FolderJob.Mode.ALWAYS, 1, false));
        assertFalse(FolderJob.wanted(FolderJob.Mode.NEVER, 100_000, true));
        assertEquals(FolderJob.Mode.AUTO, FolderJob.Mode.parse(""));
        assertEquals(FolderJob.Mode.NEVER, FolderJob.Mode.parse("Never"));
        try {
            FolderJob.Mode.parse("sometimes");
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().contains("job=sometimes"));
        }
        assertNull(job().run(folder(3), FolderJob.Mode.AUTO, true, new ResultsTable()));
        assertTrue(server.requests.isEmpty());
    }

    @Test public void anOlderServerOrAFolderOutsideTheRootsFallsBack() throws Exception {
        Path dir = folder(2);
        for (String field : new String[]{"kind", "folder"}) {
            server.refuse = field;
            assertNull(job().run(dir, FolderJob.Mode.ALWAYS, true, new ResultsTable()));
        }
        assertEquals(2, server.count("POST /jobs"));
        assertEquals(0, server.count("GET /jobs/j1"));
        server.refuse = "model"; // any other refusal is the user's to see
        try {
            job().run(dir, FolderJob.Mode.ALWAYS, true, new ResultsTable());
            fail();
        } catch (org.omniclas.fiji.client.OmniClasException e) {
            assertEquals("model", e.getField());
        }
    }

    @Test public void cancellingStopsTheJobOnTheServerAndShowsNoResults() throws Exception {
        FolderJob job = job();
        server.onFirstPoll = job::cancel; // while the job runs, as Esc or the Jobs view would
        assertNull(job.run(folder(2), FolderJob.Mode.ALWAYS, true, new ResultsTable()));
        assertTrue(job.wasCancelled());
        assertEquals(1, server.count("POST /jobs/j1/cancel"));
        assertEquals(0, server.count("GET /jobs/j1/results.csv"));
    }

    @Test public void csvCellsMayHoldCommasQuotesAndLineBreaks() {
        List<List<String>> rows = ResultsCsv.parse("a,b\r\n\"x, y\",\"say \"\"hi\"\"\nthere\"\n1,\n");
        assertEquals(Arrays.asList(Arrays.asList("a", "b"), Arrays.asList("x, y", "say \"hi\"\nthere"), Arrays.asList("1", "")), rows);
    }

    @Test public void theJobsViewNamesAPredictJobByItsFolder() {
        org.omniclas.fiji.client.Dto.Job j = new org.omniclas.fiji.client.Dto.Job();
        j.spec.put("kind", "predict");
        j.spec.put("model", "cells");
        j.spec.put("folder", "/data/plate");
        j.state = "running";
        assertTrue(j.isPredict());
        assertEquals("Classify /data/plate with cells", org.omniclas.fiji.client.JobText.task(j));
        JobsPanel.JobTable table = new JobsPanel.JobTable();
        table.set(Arrays.asList(j));
        assertEquals("classify (cells)", table.getValueAt(0, 2));
        assertEquals("plate", table.getValueAt(0, 3));
    }
}

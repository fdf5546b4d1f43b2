package org.omniclas.fiji.ui;

import ij.measure.ResultsTable;
import ij.plugin.filter.Analyzer;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.HttpOmniClasClient;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.Assert.*;

/** Filling the results tables (the plugin's and, unattended, ImageJ's standard one) and writing them as CSV. */
public class ResultsTablesTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    private static Dto.PredictResult result(String json) {
        return HttpOmniClasClient.gson().fromJson(json, Dto.PredictResult.class);
    }

    private static ResultsTable twoRows() {
        ResultsTable rt = new ResultsTable();
        ImageClassifier.addRow(rt, "cell, \"one\".tif", 1, result("{\"class\":\"NuclearGFP\",\"confidence\":0.9,"
                + "\"top\":[{\"class\":\"NuclearGFP\",\"probability\":0.9},{\"class\":\"NoGFP\",\"probability\":0.1}]}"));
        ImageClassifier.addRow(rt, "stack", 2, result("{\"class\":\"NoGFP\",\"confidence\":1.0,"
                + "\"top\":[{\"class\":\"NoGFP\",\"probability\":1.0},{\"class\":\"NuclearGFP\",\"probability\":0.0}]}"));
        return rt;
    }

    @Test public void rowsHaveEveryColumnAndSteadyDecimals() {
        ResultsTable rt = twoRows();
        assertEquals("image,slice,class,confidence,top1,p1,top2,p2,top3,p3", String.join(",", rt.getHeadings()));
        assertEquals("0.9000", rt.getStringValue("confidence", 0));
        assertEquals("1.0000", rt.getStringValue("confidence", 1)); // not "1"
        assertEquals("0.0000", rt.getStringValue("p2", 1));
        assertEquals("", rt.getStringValue("top3", 0));
        assertEquals("NaN", rt.getStringValue("p3", 0));
        assertEquals(2, (int) rt.getValue("slice", 1));
    }

    /** Headless (as here), the standard Results table is filled too: nResults and getResultString work in macros. */
    @Test public void unattendedAlsoFillsTheStandardResultsTable() {
        assertTrue(Reporter.unattended());
        ResultsTable rt = twoRows();
        ImageClassifier.show(rt);
        ResultsTable standard = Analyzer.getResultsTable();
        assertEquals(2, standard.size());
        assertEquals("NoGFP", standard.getStringValue("class", 1));
        assertNotSame(rt, standard);
        assertSame(rt, ImageClassifier.lastResults());
    }

    @Test public void csvIsQuotedUtf8AndWholeOrNothing() throws Exception {
        ResultsTable rt = twoRows();
        Path csv = tmp.getRoot().toPath().resolve("résultats.csv");
        Files.write(csv, "old".getBytes(StandardCharsets.UTF_8));
        ImageClassifier.saveCsv(rt, csv.toString());
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        assertEquals("image,slice,class,confidence,top1,p1,top2,p2,top3,p3", lines.get(0));
        assertEquals("\"cell, \"\"one\"\".tif\",1,NuclearGFP,0.9000,NuclearGFP,0.9000,NoGFP,0.1000,,NaN", lines.get(1));
        assertEquals(3, lines.size());
        try (java.util.stream.Stream<Path> s = Files.list(tmp.getRoot().toPath())) {
            assertEquals(1, s.count()); // no temporary file left behind
        }
        try {
            ImageClassifier.saveCsv(rt, tmp.getRoot().toPath().resolve("no/such/dir/r.csv").toString());
            fail();
        } catch (java.io.IOException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("Cannot write the CSV file"));
            assertTrue(e.getMessage().contains("r.csv"));
        }
    }

    @Test public void perClassTableAlwaysShowsThreeDecimals() {
        Dto.JobResult r = HttpOmniClasClient.gson().fromJson("{\"per_class\":[{\"class\":\"A\",\"precision\":0.5,\"recall\":1,"
                + "\"f1\":0.6667,\"support\":4},{\"class\":\"B\",\"precision\":1,\"recall\":0,\"f1\":0,\"support\":3}]}", Dto.JobResult.class);
        ResultsTable rt = TrainWizard.perClassTable(r);
        assertEquals("0.500", rt.getStringValue("precision", 0));
        assertEquals("1.000", rt.getStringValue("recall", 0));
        assertEquals("0.667", rt.getStringValue("f1", 0));
        assertEquals("0.000", rt.getStringValue("recall", 1));
        assertEquals("3", rt.getStringValue("support", 1));
    }

    @Test public void modelsAndJobsTables() {
        Dto.Model m = HttpOmniClasClient.gson().fromJson("{\"name\":\"cells\",\"version\":\"2\",\"classes\":[\"A\",\"B\"],"
                + "\"backbone\":\"efficientnet_lite0\",\"metrics\":{\"test_accuracy\":1.0},\"created\":\"2024-05-01T10:00:00Z\"}", Dto.Model.class);
        assertEquals("cells (version 2): A, B; efficientnet_lite0; test accuracy 100.0 %; 2024-05-01T10:00:00Z", ModelsWindow.describe(m));
        assertEquals("1.0000", ModelsWindow.toTable(java.util.Collections.singletonList(m)).getStringValue("test_accuracy", 0));
        Dto.Job j = HttpOmniClasClient.gson().fromJson("{\"id\":\"ab12\",\"state\":\"interrupted\",\"resumable\":true,"
                + "\"spec\":{\"dataset\":\"/data/my cells\",\"process\":\"imdd\"}}", Dto.Job.class);
        ResultsTable jt = JobsPanel.toTable(java.util.Collections.singletonList(j));
        assertEquals("interrupted", jt.getStringValue("state", 0));
        assertEquals(1, (int) jt.getValue("resumable", 0));
        assertEquals("my_cells_classifier", JobsPanel.defaultModelName(j));
    }
}

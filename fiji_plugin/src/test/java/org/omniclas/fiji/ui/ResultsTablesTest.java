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

    static final List<String> CLASSES = java.util.Arrays.asList("NuclearGFP", "NoGFP", "Cytoplasmic");

    private static ResultsTable twoRows() {
        ResultsTable rt = new ResultsTable();
        ResultRows.add(rt, "cell, \"one\".tif", 1, result("{\"class\":\"NuclearGFP\",\"confidence\":0.9,\"unsure\":false,"
                + "\"runner_up\":{\"class\":\"NoGFP\",\"probability\":0.07},"
                + "\"probabilities\":{\"NoGFP\":0.07,\"NuclearGFP\":0.9,\"Cytoplasmic\":0.03}}"), CLASSES);
        ResultRows.add(rt, "stack", 2, result("{\"class\":\"NoGFP\",\"confidence\":1.0,"
                + "\"probabilities\":{\"NuclearGFP\":0.0,\"NoGFP\":1.0,\"Cytoplasmic\":0.0}}"), CLASSES);
        ResultRows.add(rt, "broken.png", null, result("{\"image\":\"broken.png\",\"error\":\"broken.png: not a "
                + "readable PNG, JPEG, TIFF or BMP image (image file is truncated)\"}"), CLASSES);
        return rt;
    }

    /** The columns of docs/results-csv.md: one probability per class, in the model's order; errors in their own column. */
    @Test public void rowsHaveEveryColumnAndSteadyDecimals() {
        ResultsTable rt = twoRows();
        assertEquals("image,slice,class,confidence,unsure,runner_up,runner_up_p,p_NuclearGFP,p_NoGFP,p_Cytoplasmic,error",
                String.join(",", rt.getHeadings()));
        assertEquals("false", rt.getStringValue("unsure", 0));
        assertEquals("NoGFP", rt.getStringValue("runner_up", 0));
        assertEquals("0.0700", rt.getStringValue("runner_up_p", 0));
        assertEquals("false", rt.getStringValue("unsure", 1)); // a server before calibration: nothing unsure
        assertEquals("", rt.getStringValue("runner_up", 1));
        assertEquals("", rt.getStringValue("unsure", 2)); // an error row
        assertEquals("0.9000", rt.getStringValue("confidence", 0));
        assertEquals("1.0000", rt.getStringValue("confidence", 1)); // not "1"
        assertEquals("0.0700", rt.getStringValue("p_NoGFP", 0));
        assertEquals("0.0000", rt.getStringValue("p_Cytoplasmic", 1));
        assertEquals(2, (int) rt.getValue("slice", 1));
        assertEquals("", rt.getStringValue("error", 0));
        assertEquals("", rt.getStringValue("class", 2));
        assertTrue(rt.getStringValue("error", 2).startsWith("broken.png: not a readable"));
    }

    /** Headless (as here), the standard Results table is filled too: nResults and getResultString work in macros. */
    @Test public void unattendedAlsoFillsTheStandardResultsTable() {
        assertTrue(Reporter.unattended());
        ResultsTable rt = twoRows();
        ImageClassifier.show(rt);
        ResultsTable standard = Analyzer.getResultsTable();
        assertEquals(3, standard.size());
        assertEquals("NoGFP", standard.getStringValue("class", 1));
        assertNotSame(rt, standard);
        assertSame(rt, ImageClassifier.lastResults());
        // ImageJ resets a cloned table's decimals to its own precision: both keep the format's
        for (ResultsTable t : new ResultsTable[]{rt, standard}) {
            assertEquals("0.9000", t.getStringValue("confidence", 0));
            assertEquals("1", t.getStringValue("slice", 0));
        }
    }

    @Test public void csvIsQuotedUtf8AndWholeOrNothing() throws Exception {
        ResultsTable rt = twoRows();
        Path csv = tmp.getRoot().toPath().resolve("résultats.csv");
        Files.write(csv, "old".getBytes(StandardCharsets.UTF_8));
        ImageClassifier.saveCsv(rt, csv.toString());
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        assertEquals("image,slice,class,confidence,unsure,runner_up,runner_up_p,p_NuclearGFP,p_NoGFP,p_Cytoplasmic,error",
                lines.get(0));
        assertEquals("\"cell, \"\"one\"\".tif\",1,NuclearGFP,0.900000,false,NoGFP,0.070000,0.900000,0.070000,0.030000,",
                lines.get(1));
        assertEquals("broken.png,,,,,,,,,,broken.png: not a readable PNG, JPEG, TIFF or BMP image (image file is truncated)"
                .replace("broken.png: not a readable PNG, JPEG, TIFF or BMP image (image file is truncated)",
                        "\"broken.png: not a readable PNG, JPEG, TIFF or BMP image (image file is truncated)\""), lines.get(3));
        assertEquals(4, lines.size());
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

    /** Results of a second model appended to the table: its classes get columns, the error column stays last. */
    @Test public void anotherModelsClassesComeBeforeTheErrorColumn() throws Exception {
        ResultsTable rt = twoRows();
        ResultRows.add(rt, "x.tif", 1, result("{\"class\":\"Mitotic\",\"confidence\":0.6,\"unsure\":true,"
                + "\"runner_up\":{\"class\":\"Interphase\",\"probability\":0.4},"
                + "\"probabilities\":{\"Mitotic\":0.6,\"Interphase\":0.4}}"), java.util.Arrays.asList("Mitotic", "Interphase"));
        Path csv = tmp.getRoot().toPath().resolve("two-models.csv");
        ImageClassifier.saveCsv(rt, csv.toString());
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        assertEquals("image,slice,class,confidence,unsure,runner_up,runner_up_p,p_NuclearGFP,p_NoGFP,p_Cytoplasmic,"
                + "p_Mitotic,p_Interphase,error", lines.get(0));
        assertEquals("stack,2,NoGFP,1.000000,false,,,0.000000,1.000000,0.000000,,,", lines.get(2)); // not 0 where a class is not the model's
        assertEquals("x.tif,1,Mitotic,0.600000,true,Interphase,0.400000,,,,0.600000,0.400000,", lines.get(4));
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

    /** Issue 22 item 5: numbers as the CLI writes them, never ImageJ's 8.349E-6, whatever the table shows. */
    @Test public void smallProbabilitiesAreWrittenAsTheCliWritesThem() throws Exception {
        ResultsTable rt = new ResultsTable();
        ResultRows.add(rt, "a.png", 1, result("{\"class\":\"NoGFP\",\"confidence\":0.99997,"
                + "\"probabilities\":{\"NuclearGFP\":0.000008349,\"NoGFP\":0.99997,\"Cytoplasmic\":0.000021651}}"), CLASSES);
        rt.setDecimalPlaces(rt.getColumnIndex("p_NuclearGFP"), ResultsTable.AUTO_FORMAT); // as a shown table may be
        Path csv = tmp.getRoot().toPath().resolve("small.csv");
        ImageClassifier.saveCsv(rt, csv.toString());
        assertEquals("a.png,1,NoGFP,0.999970,false,,,0.000008,0.999970,0.000022,",
                Files.readAllLines(csv, StandardCharsets.UTF_8).get(1));
    }
}

package org.omniclas.fiji.client;

import org.junit.Before;
import org.junit.Test;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Scanner;

import static org.junit.Assert.*;

/**
 * The wizard's option rules on the server's own description: src/test/resources/processes.json is what
 * {@code GET /api/v1/processes} answers (regenerate with
 * {@code python -c "import json; from omniclas.config import describe_processes; print(json.dumps(describe_processes(), indent=1))"}).
 * tests/test_fiji_integration.py checks the same against a live server, process by process.
 */
public class TrainingOptionsTest {
    private Dto.Catalog catalog;
    private TrainingOptions form;

    public static String resource(String name) {
        try (InputStream in = TrainingOptionsTest.class.getResourceAsStream("/" + name)) {
            return new Scanner(in, StandardCharsets.UTF_8.name()).useDelimiter("\\A").next();
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The catalog of src/test/resources/processes.json. */
    public static Dto.Catalog catalog() throws OmniClasException {
        return HttpOmniClasClient.parseCatalog(resource("processes.json"), "http://test");
    }

    @Before public void setUp() throws Exception {
        catalog = catalog();
        form = new TrainingOptions(catalog);
    }

    private List<String> shown(boolean advanced) {
        List<String> out = new ArrayList<>();
        for (Dto.OptionInfo o : form.shown(advanced)) out.add(o.name);
        return out;
    }

    @Test public void startsOnTheCliDefaultProcess() {
        assertEquals("auto", form.process().id);
        assertEquals(Arrays.asList("auto", "nd", "dd", "idd", "md", "imd", "mdd", "imdd"), form.processIds());
    }

    /** AutoML's options: the time budget, no selection rule (it tries them all); a named process: the other way. */
    @Test public void automlShowsItsTimeBudgetAndNoRule() {
        form.select("auto");
        assertTrue(shown(false).contains("time_budget"));
        assertFalse(shown(false).contains("selection"));
        form.select("imdd");
        assertFalse(shown(false).contains("time_budget"));
        assertTrue(shown(false).contains("selection"));
    }

    /** The spec of a process left alone is exactly the server's (= the CLI's) defaults, integers as integers. */
    @Test public void specOfEveryProcessIsItsDefaults() {
        for (Dto.ProcessInfo p : catalog.processes) {
            form.select(p.id);
            Map<String, Object> spec = form.spec("/data/cells");
            assertEquals("/data/cells", spec.get("dataset"));
            assertEquals(p.id, spec.get("process"));
            for (Dto.OptionInfo o : catalog.options) {
                Object want = p.defaults.get(o.name);
                Object got = spec.get(o.name);
                if (want instanceof Double && "integer".equals(o.type)) {
                    assertEquals(p.id + " " + o.name, Long.valueOf(((Double) want).longValue()), got);
                } else {
                    assertEquals(p.id + " " + o.name, want, got);
                }
            }
            assertEquals(catalog.options.size() + 2, spec.size());
        }
        form.select("nd");
        assertEquals(Arrays.asList("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"), form.spec("/d").get("backbones"));
        form.select("dd");
        assertEquals(Collections.singletonList("efficientnet_lite0"), form.spec("/d").get("backbones"));
    }

    @Test public void onlyOptionsThatApplyAreShown() {
        form.select("nd"); // no distillation: no transforms, threshold, rounds or selection rule
        assertEquals(Arrays.asList("backbones", "head", "keep"), shown(false));
        assertEquals(Arrays.asList("unsure_precision", "train_views", "predict_views", "image_size", "batch_size",
                "seed"), shown(true)); // every process calibrates: the unsure target applies to all

        form.select("imdd"); // the paper's threshold rule by default
        assertEquals(Arrays.asList("backbones", "head", "keep", "selection", "threshold", "max_iterations", "transforms"),
                shown(false));
        assertEquals(Arrays.asList("student", "unsure_precision", "auto_views", "train_views", "predict_views",
                "image_size", "batch_size", "seed"), shown(true)); // the student learns from automatic labels: none for N.D.
        assertEquals(0.8, (Double) form.value("threshold"), 1e-9);
        assertTrue(form.controlsOthers("selection"));
        form.set("selection", "balanced"); // the balanced rule takes no threshold
        assertFalse(form.applies("threshold"));

        form.select("dd"); // one shot, one model: the threshold rule without a choice of rule, no rounds, no keep
        assertEquals(Arrays.asList("backbones", "head", "threshold", "transforms"), shown(false));

        form.select("md"); // an ensemble without test-time transforms
        assertFalse(form.applies("transforms"));
        assertFalse(form.applies("auto_views"));
    }

    @Test public void epochsOnlyForTheFineTunedHead() {
        assertFalse(form.applies("frozen_epochs"));
        assertFalse(form.applies("unfrozen_epochs"));
        assertTrue(form.controlsOthers("head"));
        for (String head : new String[]{"finetune", "auto"}) {
            form.set("head", head);
            assertTrue(head, form.applies("frozen_epochs") && form.applies("unfrozen_epochs"));
        }
        form.set("head", "finetune");
        assertFalse(form.applies("train_views")); // the linear head's views
        form.set("head", "linear");
        assertFalse(form.applies("frozen_epochs"));
    }

    @Test public void changingTheProcessRefillsItsDefaults() {
        form.set("head", "finetune");
        form.set("frozen_epochs", 5);
        form.set("backbones", Collections.singletonList("efficientnet_lite1"));
        form.select("nd");
        assertEquals("linear", form.value("head"));
        assertEquals(2L, form.value("frozen_epochs"));
        assertEquals(3, ((List<?>) form.value("backbones")).size());
        form.select("I.M.D.D."); // the paper's spelling
        assertEquals("imdd", form.process().id);
    }

    @Test public void hiddenOptionsAreSentAtTheirDefault() {
        form.select("imdd");
        form.set("selection", "balanced");
        form.set("threshold", 0.5);    // hidden: the balanced rule takes no threshold
        form.set("frozen_epochs", 9);  // hidden: linear head
        Map<String, Object> spec = form.spec("/d");
        assertEquals(0.8, (Double) spec.get("threshold"), 1e-9);
        assertEquals(2L, spec.get("frozen_epochs"));
        form.set("selection", "threshold");
        assertEquals(0.5, (Double) form.spec("/d").get("threshold"), 1e-9);
    }

    @Test public void problemsNameTheOption() {
        assertTrue(form.problems().isEmpty());
        form.select("dd");
        form.set("backbones", Arrays.asList("efficientnet_lite0", "efficientnet_lite1"));
        assertEquals(Collections.singletonList("Backbones: D.D. trains exactly 1 backbone, 2 are ticked."), form.problems());
        form.set("backbones", Collections.emptyList());
        assertEquals(Collections.singletonList("Backbones: choose at least one."), form.problems());
        form.select("dd");
        form.set("threshold", 1.5);
        assertEquals(Collections.singletonList("Confidence threshold must be between 0 and 1, not 1.5."), form.problems());
        form.select("imdd");
        form.set("transforms", Arrays.asList("hflip", "rotate"));
        assertTrue(form.problems().get(0), form.problems().get(0).startsWith("Test-time transforms: \"rotate\" is not one of"));
        try {
            form.set("batch_size", 2.5);
            fail();
        } catch (IllegalArgumentException e) {
            assertEquals("Batch size (batch_size) must be a whole number, not 2.5.", e.getMessage());
        }
    }

    @Test public void macroOptionsReadBackToTheSameSpec() {
        form.select("idd");
        form.set("transforms", Arrays.asList("hflip", "gamma"));
        form.set("selection", "threshold");
        form.set("threshold", 0.65);
        form.set("auto_views", false);
        Map<String, String> written = form.macroOptions();
        assertEquals("hflip,gamma", written.get("transforms"));
        assertEquals("0.65", written.get("threshold"));
        assertEquals("false", written.get("auto_views"));
        assertFalse(written.containsKey("frozen_epochs")); // only what applies is recorded
        StringBuilder line = new StringBuilder("process=idd");
        for (Map.Entry<String, String> e : written.entrySet()) line.append(' ').append(e.getKey()).append('=').append(e.getValue());
        TrainingOptions replay = new TrainingOptions(catalog);
        replay.read(parse(line.toString()));
        assertEquals(form.spec("/d"), replay.spec("/d"));
    }

    @Test public void macroLeftOutOptionsTakeTheProcessDefaults() {
        form.read(parse("process=nd"));
        TrainingOptions nd = new TrainingOptions(catalog);
        nd.select("nd");
        assertEquals(nd.spec("/d"), form.spec("/d"));
    }

    @Test public void firstVersionMacroFlagsStillWork() {
        form.read(parse("dataset=[/data/x] process=nd efficientnet_lite0 head=linear hflip vflip threshold=0.8 "
                + "max_iterations=1 frozen_epochs=1 unfrozen_epochs=0 image_size=64 batch_size=32 seed=0 model_name=m"));
        Map<String, Object> spec = form.spec("/data/x");
        assertEquals(Collections.singletonList("efficientnet_lite0"), spec.get("backbones"));
        assertEquals(64L, spec.get("image_size"));
        assertEquals("nd", spec.get("process"));
    }

    @Test public void macroErrorsNameTheKey() {
        try {
            form.read(parse("process=imdd treshold=0.5"));
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("Train Classifier: unknown option \"treshold\""));
        }
        try {
            form.read(parse("seed=abc"));
            fail();
        } catch (IllegalArgumentException e) {
            assertEquals("Seed (seed): \"abc\" is not a number.", e.getMessage());
        }
        try {
            form.read(parse("process=xyz"));
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().startsWith("unknown process 'xyz'; choose one of auto, nd, dd"));
        }
    }

    /** An option the engine gains shows up, with its rule, and is sent, with no change to the plugin. */
    @Test public void aNewEngineOptionNeedsNoPluginChange() throws Exception {
        String json = resource("processes.json").replaceFirst("\"options\": \\[",
                "\"options\": [{\"name\": \"runtime\", \"label\": \"Feature runtime\", \"type\": \"choice\", \"help\": \"h\","
                        + " \"choices\": [\"auto\", \"onnxruntime\", \"torch\"], \"advanced\": true,"
                        + " \"applies\": {\"head\": [\"linear\"], \"some_future_property\": true}},");
        json = json.replace("\"defaults\": {", "\"defaults\": {\"runtime\": \"auto\", ");
        TrainingOptions f = new TrainingOptions(HttpOmniClasClient.parseCatalog(json, "http://test"));
        assertEquals("runtime", f.shown(true).get(0).name); // an unknown condition does not hide it
        assertEquals("auto", f.spec("/d").get("runtime"));
        f.read(parse("runtime=torch"));
        assertEquals("torch", f.spec("/d").get("runtime"));
        f.set("head", "finetune");
        assertFalse(f.applies("runtime"));
        assertEquals("auto", f.spec("/d").get("runtime")); // hidden: its default
    }

    private static Map<String, String> parse(String options) {
        return org.omniclas.fiji.ui.Options.parse(options); // the plugin's own macro-option parser
    }
}

package org.omniclas.fiji.client;

import com.google.gson.Gson;
import org.junit.Test;

import java.util.Arrays;

import static org.junit.Assert.*;

public class DtoJsonTest {
    private final Gson gson = HttpOmniClasClient.gson();

    @Test public void modelMapsAllFields() {
        String json = "{\"name\":\"gfp\",\"version\":\"1\",\"framework\":\"omniclas\",\"classes\":[\"A\",\"B\"],"
                + "\"backbone\":\"efficientnet_lite0\",\"input_size\":[224,224],\"metrics\":{\"test_accuracy\":0.9},"
                + "\"created\":\"2024-01-02T03:04:05Z\",\"manifest\":{\"x\":1}}";
        Dto.Model m = gson.fromJson(json, Dto.Model.class);
        assertEquals("gfp", m.name);
        assertEquals(Arrays.asList("A", "B"), m.classes);
        assertEquals(Arrays.asList(224, 224), m.inputSize);
        assertEquals(0.9, m.testAccuracy(), 1e-9);
        assertEquals("2024-01-02T03:04:05Z", m.created);
    }

    @Test public void predictResultMapsClassTopAndSlice() {
        String json = "{\"model\":\"gfp\",\"results\":[{\"image\":\"a.tif\",\"slice\":2,\"class\":\"NuclearGFP\","
                + "\"confidence\":0.93,\"probabilities\":{\"NuclearGFP\":0.93,\"NoGFP\":0.07},"
                + "\"top\":[{\"class\":\"NuclearGFP\",\"probability\":0.93},{\"class\":\"NoGFP\",\"probability\":0.07}]}]}";
        Dto.PredictResponse r = gson.fromJson(json, Dto.PredictResponse.class);
        Dto.PredictResult p = r.results.get(0);
        assertEquals("NuclearGFP", p.className);
        assertEquals(Integer.valueOf(2), p.slice);
        assertEquals(0.93, p.confidence, 1e-9);
        assertEquals(0.07, p.probabilities.get("NoGFP"), 1e-9);
        assertEquals("NoGFP", p.top.get(1).className);
    }

    @Test public void jobWithProgressAndResult() {
        String json = "{\"id\":\"j1\",\"state\":\"running\",\"spec\":{\"dataset\":\"/d\",\"process\":\"nd\"},"
                + "\"progress\":{\"stage\":\"training\",\"iteration\":1,\"max_iterations\":5,\"model\":\"m\",\"epoch\":3,"
                + "\"epochs\":10,\"fraction\":0.42,\"eta_s\":120,\"message\":\"hi\"},"
                + "\"result\":{\"run_dir\":\"/r\",\"test_accuracy\":0.91,\"classes\":[\"A\"],"
                + "\"per_class\":[{\"class\":\"A\",\"precision\":1.0,\"recall\":0.5,\"support\":4}],\"confusion_matrix\":[[1,2],[3,4]]},"
                + "\"error\":null}";
        Dto.Job j = gson.fromJson(json, Dto.Job.class);
        assertEquals("j1", j.id());
        assertFalse(j.isDone());
        assertEquals(Integer.valueOf(5), j.progress.maxIterations);
        assertEquals(120.0, j.progress.etaSeconds, 1e-9);
        assertEquals("A", j.result.perClass.get(0).className);
        assertEquals(Integer.valueOf(4), j.result.perClass.get(0).support);
        assertEquals(Integer.valueOf(3), j.result.confusionMatrix.get(1).get(0));
        assertEquals(0.91, j.result.testAccuracy, 1e-9);
    }

    @Test public void jobCreatedUsesJobId() {
        Dto.Job j = gson.fromJson("{\"job_id\":\"abc\",\"state\":\"queued\"}", Dto.Job.class);
        assertEquals("abc", j.id());
        for (String s : new String[]{"finished", "failed", "cancelled", "interrupted"}) {
            j.state = s;
            assertTrue(s, j.isDone());
        }
    }

    @Test public void specMapSendsWholeNumbersAsIntegers() {
        java.util.Map<String, Object> spec = new java.util.LinkedHashMap<>();
        spec.put("dataset", "/data/x");
        spec.put("max_iterations", 5L);
        spec.put("threshold", 0.8);
        spec.put("backbones", Arrays.asList("efficientnet_lite0"));
        String json = gson.toJson(spec);
        assertEquals("{\"dataset\":\"/data/x\",\"max_iterations\":5,\"threshold\":0.8,\"backbones\":[\"efficientnet_lite0\"]}", json);
    }

    @Test public void catalogKeepsEveryProcessProperty() throws Exception {
        Dto.Catalog c = HttpOmniClasClient.parseCatalog("{\"processes\":[{\"id\":\"imdd\",\"name\":\"I.M.D.D.\",\"description\":\"d\","
                + "\"needs_unlabelled\":true,\"ensemble\":true,\"max_backbones\":null,\"novel\":true,\"defaults\":{\"threshold\":0.8}}],"
                + "\"options\":[{\"name\":\"threshold\",\"label\":\"T\",\"type\":\"number\",\"minimum\":0,\"maximum\":1,"
                + "\"advanced\":false,\"applies\":{\"distills\":true}}]}", "http://x");
        Dto.ProcessInfo p = c.processes.get(0);
        assertTrue(p.needsUnlabelled);
        assertNull(p.maxBackbones);
        assertEquals(Boolean.TRUE, p.properties.get("novel")); // a property this plugin has no field for
        assertEquals(0.8, (Double) p.defaults.get("threshold"), 1e-9);
        assertEquals(Boolean.TRUE, c.options.get(0).applies.get("distills"));
        assertEquals(1.0, c.options.get(0).maximum, 1e-9);
        Dto.BackbonesResponse b = gson.fromJson("{\"backbones\":[{\"name\":\"efficientnet_lite0\",\"offline\":true,\"default\":true}]}",
                Dto.BackbonesResponse.class);
        assertTrue(b.backbones.get(0).isDefault);
        Dto.Health h = gson.fromJson("{\"status\":\"ok\",\"version\":\"0.1.0\",\"auth_required\":true,\"dataset_roots\":[\"/d\"]}", Dto.Health.class);
        assertTrue(h.authRequired);
        assertEquals(Arrays.asList("/d"), h.datasetRoots);
    }

    @Test public void catalogWithoutOptionsAsksForANewerServer() {
        try {
            HttpOmniClasClient.parseCatalog("{\"processes\":[{\"id\":\"nd\"}]}", "http://127.0.0.1:5000");
            fail();
        } catch (OmniClasException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("does not describe its training options"));
        }
    }

    @Test public void errorBodiesKeepServerMessage() {
        OmniClasException e = HttpOmniClasClient.errorFrom(404,
                "{\"error\": {\"status\": 404, \"message\": \"no model named 'x'\", \"field\": \"model\"}}");
        assertEquals("no model named 'x'", e.getMessage());
        assertEquals("model", e.getField());
        assertEquals(404, e.getStatus());
        OmniClasException e5 = HttpOmniClasClient.errorFrom(500, "{\"error\":{\"message\":\"internal error\",\"error_id\":\"e42\"}}");
        assertTrue(e5.getMessage().startsWith("internal error"));
        assertTrue(e5.getMessage().contains("e42"));
        OmniClasException html = HttpOmniClasClient.errorFrom(502, "<html>Bad gateway</html>");
        assertTrue(html.getMessage().startsWith("HTTP 502"));
    }
}

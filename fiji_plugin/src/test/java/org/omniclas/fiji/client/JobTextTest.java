package org.omniclas.fiji.client;

import org.junit.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.Assert.*;

public class JobTextTest {
    /** The progress log showed the server's raw Python dict of the job spec. */
    @Test public void theQueuedDictBecomesAWord() {
        assertEquals("2024-05-01T10:00:00 queued", JobText.logLine("2024-05-01T10:00:00 queued: {'dataset': '/d', 'process': 'nd', "
                + "'backbones': ['efficientnet_lite0'], 'threshold': 0.8}"));
        assertEquals("2024-05-01T10:00:05 round 1: training efficientnet_lite0", JobText.logLine("2024-05-01T10:00:05 round 1: training efficientnet_lite0"));
    }

    @Test public void optionsReadLikeASentence() {
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("dataset", "/d");
        spec.put("process", "imdd");
        spec.put("backbones", Arrays.asList("efficientnet_lite0", "efficientnet_lite1"));
        spec.put("max_iterations", 5.0); // as Gson reads it back from the server
        spec.put("threshold", 0.8);
        spec.put("transforms", Arrays.asList());
        spec.put("auto_views", true);
        assertEquals("process imdd \u00b7 backbones efficientnet_lite0, efficientnet_lite1 \u00b7 max iterations 5 \u00b7 threshold 0.8"
                + " \u00b7 transforms none \u00b7 auto views true", JobText.options(spec));
    }

    /** A linear-head job lists no fine-tuning epochs: the server's rules (GET /processes) say they do not apply. */
    @Test public void optionsThatDoNotApplyAreLeftOut() throws Exception {
        Dto.Catalog catalog = TrainingOptionsTest.catalog();
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("dataset", "/d");
        spec.put("process", "nd");
        spec.put("head", "linear");
        spec.put("frozen_epochs", 2.0);
        spec.put("unfrozen_epochs", 8.0);
        assertEquals("process nd \u00b7 head linear", JobText.options(spec, catalog));
        spec.put("head", "finetune");
        assertEquals("process nd \u00b7 head finetune \u00b7 frozen epochs 2 \u00b7 unfrozen epochs 8", JobText.options(spec, catalog));
        assertEquals(JobText.options(spec), JobText.options(spec, null)); // no rules known: all of them
    }

    /** "training , iteration 0/5": no stray space where the stage names no model. */
    @Test public void noStraySpaceWithoutAModel() {
        Dto.Job j = HttpOmniClasClient.gson().fromJson("{\"id\":\"j3\",\"state\":\"running\",\"progress\":{\"stage\":"
                + "\"features\",\"model\":\"\",\"iteration\":0,\"max_iterations\":5}}", Dto.Job.class);
        assertEquals("OmniClas job j3: running, features, iteration 0/5", JobText.describe(j));
    }

    /** How many test images a test accuracy rests on, and when that is too few to judge. */
    @Test public void testAccuracySaysWhatItRestsOn() {
        Dto.JobResult three = HttpOmniClasClient.gson().fromJson("{\"test_accuracy\":1.0,\"per_class\":[{\"class\":\"A\","
                + "\"support\":2},{\"class\":\"B\",\"support\":1}]}", Dto.JobResult.class);
        assertEquals("test accuracy 100.0 % on 3 test images (too few to judge: under 10 per class)", JobText.testAccuracy(three));
        Dto.JobResult forty = HttpOmniClasClient.gson().fromJson("{\"test_accuracy\":0.875,\"per_class\":[{\"class\":\"A\","
                + "\"support\":20},{\"class\":\"B\",\"support\":20}]}", Dto.JobResult.class);
        assertEquals("test accuracy 87.5 % on 40 test images", JobText.testAccuracy(forty));
    }

    @Test public void finishedAndFailedJobs() {
        Dto.Job j = HttpOmniClasClient.gson().fromJson("{\"id\":\"j1\",\"state\":\"finished\",\"result\":{\"test_accuracy\":0.875},"
                + "\"progress\":{\"stage\":\"done\",\"fraction\":1.0}}", Dto.Job.class);
        assertEquals("OmniClas job j1: finished, test accuracy 87.5 %", JobText.describe(j));
        j = HttpOmniClasClient.gson().fromJson("{\"id\":\"j2\",\"state\":\"interrupted\",\"resumable\":true,"
                + "\"error\":\"the server stopped while this job was running\"}", Dto.Job.class);
        assertEquals("OmniClas job j2: interrupted - the server stopped while this job was running", JobText.describe(j));
        assertTrue(j.resumable);
    }
}

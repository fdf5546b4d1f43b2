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

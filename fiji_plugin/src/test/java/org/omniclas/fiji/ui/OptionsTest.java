package org.omniclas.fiji.ui;

import org.junit.Test;

import java.util.Map;

import static org.junit.Assert.*;

public class OptionsTest {
    @Test public void parsesMacroOptions() {
        Map<String, String> m = Options.parse("model=gfp all_open folder=[/a b/c] csv= seed=3 ");
        assertEquals("gfp", m.get("model"));
        assertEquals("", m.get("all_open"));
        assertEquals("/a b/c", m.get("folder"));
        assertEquals("", m.get("csv"));
        assertEquals("3", m.get("seed"));
        assertTrue(Options.parse(null).isEmpty());
    }

    @Test public void keysLikeGenericDialog() {
        assertEquals("all_open", Options.key("All_open images"));
        assertEquals("model", Options.key("Model"));
        assertEquals("image_size", Options.key("Image_size (0 = auto)"));
    }

    @Test public void headlessOptionsReadInOrderPerKind() {
        System.setProperty("java.awt.headless", "true");
        String name = Thread.currentThread().getName();
        Thread.currentThread().setName("Run$_" + name); // ImageJ only hands macro options to such threads
        ij.Macro.setOptions("dataset=/x process=nd threshold=0.5 hflip model_name=m");
        try {
            Options o = new Options("t");
            assertFalse(o.isInteractive());
            o.addDirectory("Dataset", "");
            o.addChoice("Process", new String[]{"nd", "dd"}, "dd");
            o.addNumber("Threshold", 0.8, 2);
            o.addCheckbox("hflip", false);
            o.addCheckbox("vflip", true);
            o.addNumber("Seed", 7, 0);
            o.addString("Model_name", "x", 10);
            assertTrue(o.show());
            assertEquals("/x", o.nextString());
            assertEquals("nd", o.nextChoice());
            assertEquals(0.5, o.nextNumber(), 1e-9);
            assertTrue(o.nextBoolean());
            assertFalse(o.nextBoolean());
            assertEquals(7, o.nextNumber(), 1e-9);
            assertEquals("m", o.nextString());
        } finally {
            ij.Macro.setOptions(null);
            Thread.currentThread().setName(name);
        }
    }

    @Test public void etaFormatting() {
        assertEquals("42 s", org.omniclas.fiji.client.JobText.formatEta(42));
        assertEquals("2 min 5 s", org.omniclas.fiji.client.JobText.formatEta(125));
        assertEquals("1 h 1 min", org.omniclas.fiji.client.JobText.formatEta(3660));
    }

    @Test public void jobLineLeavesOutEmptyCounters() {
        org.omniclas.fiji.client.Dto.Job job = new org.omniclas.fiji.client.Dto.Job();
        job.id = "j1";
        job.state = "running";
        job.progress = new org.omniclas.fiji.client.Dto.JobProgress();
        job.progress.stage = "training";
        job.progress.iteration = 0;
        job.progress.maxIterations = 0;
        job.progress.epoch = 0;
        job.progress.epochs = 0;
        assertEquals("OmniClas job j1: running, training", org.omniclas.fiji.client.JobText.describe(job));
        job.progress.epoch = 3;
        job.progress.epochs = 10;
        job.progress.fraction = 0.42;
        assertEquals("OmniClas job j1: running, training, epoch 3/10, 42.0%", org.omniclas.fiji.client.JobText.describe(job));
    }

    @Test public void modelMetricsColumn() {
        Map<String, Double> m = new java.util.LinkedHashMap<>();
        m.put("test_accuracy", 0.86);
        m.put("test_macro_f1", 0.8512);
        m.put("test_images", 40.0);
        assertEquals("macro F1 0.851, images 40", ModelsWindow.formatMetrics(m));
        assertEquals("", ModelsWindow.formatMetrics(null));
    }
}

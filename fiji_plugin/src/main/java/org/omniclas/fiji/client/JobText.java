package org.omniclas.fiji.client;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Training jobs as text for people: a job's options, its progress, its log lines. No ImageJ. */
public final class JobText {
    /** The server logs the spec it queued as a Python dict: "2024-... queued: {'dataset': ...}". */
    private static final Pattern QUEUED_DICT = Pattern.compile("^(.*\\bqueued):\\s*\\{.*}\\s*$");

    private JobText() {}

    /** "process imdd · backbones efficientnet_lite0, efficientnet_lite1 · head linear · ..." (dataset left out). */
    public static String options(Map<String, Object> spec) {
        return options(spec, null);
    }

    /**
     * The same, without the options that do not apply to the job by the server's rules ({@code catalog}: GET
     * /processes; null: all are shown), so that a linear-head job lists no fine-tuning epochs.
     */
    public static String options(Map<String, Object> spec, Dto.Catalog catalog) {
        if (spec == null) return "";
        TrainingOptions rules = rulesFor(spec, catalog);
        List<String> parts = new ArrayList<>();
        for (Map.Entry<String, Object> e : spec.entrySet()) {
            if (e.getKey().equals("dataset") || e.getKey().equals("folder") || e.getValue() == null) continue;
            if (rules != null && rules.has(e.getKey()) && !rules.applies(e.getKey())) continue;
            Object v = e.getValue();
            String text = v instanceof List ? (((List<?>) v).isEmpty() ? "none" : join((List<?>) v)) : TrainingOptions.text(v);
            parts.add(e.getKey().replace('_', ' ') + " " + text);
        }
        return String.join(" \u00b7 ", parts);
    }

    /** The wizard's rules set to the job's process and values; null when they cannot be (no catalog, odd spec). */
    private static TrainingOptions rulesFor(Map<String, Object> spec, Dto.Catalog catalog) {
        if (catalog == null || catalog.processes.isEmpty()) return null;
        try {
            TrainingOptions rules = new TrainingOptions(catalog);
            rules.select(String.valueOf(spec.get("process")));
            for (Map.Entry<String, Object> e : spec.entrySet()) {
                if (rules.has(e.getKey()) && e.getValue() != null) rules.set(e.getKey(), e.getValue());
            }
            return rules;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static String join(List<?> list) {
        List<String> s = new ArrayList<>();
        for (Object o : list) s.add(String.valueOf(o));
        return String.join(", ", s);
    }

    /** What a job does, for lists: the training process, or "Classify FOLDER with MODEL" for a predict job. */
    public static String task(Dto.Job job) {
        if (!job.isPredict()) return job.specText("process");
        String model = job.specText("model");
        return "Classify " + job.specText("folder") + (model.isEmpty() ? "" : " with " + model);
    }

    /** The job's data folder: the training dataset, or the folder a predict job classifies. */
    public static String folder(Dto.Job job) {
        return job.specText(job.isPredict() ? "folder" : "dataset");
    }

    /** A log line as shown in Fiji: the server's raw dict of the queued options becomes "queued". */
    public static String logLine(String line) {
        Matcher m = QUEUED_DICT.matcher(line);
        return m.matches() ? m.group(1) : line;
    }

    /** One status line: "OmniClas job ab12: running, training efficientnet_lite0, iteration 1/5, epoch 3/10, 42%, ETA 2 min 5 s". */
    public static String describe(Dto.Job job) {
        StringBuilder sb = new StringBuilder("OmniClas job " + job.id() + ": " + job.state);
        Dto.JobProgress p = job.progress;
        if (p != null && "running".equals(job.state)) { // a queued (or resumed) job's progress is from before
            if (p.stage != null && !p.stage.isEmpty()) sb.append(", ").append(p.stage);
            if (p.model != null && !p.model.isEmpty()) sb.append(" ").append(p.model);
            // "iteration 0/0, epoch 0/0" before anything is known says nothing: only counters that mean something
            if (p.iteration != null && (p.iteration > 0 || (p.maxIterations != null && p.maxIterations > 0)))
                sb.append(", iteration ").append(p.iteration).append(p.maxIterations != null && p.maxIterations > 0 ? "/" + p.maxIterations : "");
            if (p.epoch != null && (p.epoch > 0 || (p.epochs != null && p.epochs > 0)))
                sb.append(", epoch ").append(p.epoch).append(p.epochs != null && p.epochs > 0 ? "/" + p.epochs : "");
            if (p.fraction != null) sb.append(", ").append(percent(p.fraction));
            if (p.etaSeconds != null) sb.append(", ETA ").append(formatEta(p.etaSeconds));
            if (p.message != null && !p.message.isEmpty()) sb.append(" - ").append(p.message);
        }
        if ("finished".equals(job.state) && job.result != null && job.result.testAccuracy != null) {
            sb.append(", ").append(testAccuracy(job.result));
        }
        if (job.error != null && !job.error.isEmpty() && job.isDone() && !"finished".equals(job.state)) {
            sb.append(" - ").append(job.error);
        }
        return sb.toString();
    }

    /** Fewer test images per class than this, and a test accuracy says little. */
    public static final int FEW_TEST_IMAGES_PER_CLASS = 10;

    /**
     * "test accuracy 87.5 % on 40 test images", and when the test set is too small to judge, says so: "test
     * accuracy 100.0 % on 3 test images (too few to judge: under 10 per class)".
     */
    public static String testAccuracy(Dto.JobResult r) {
        if (r == null || r.testAccuracy == null) return "test accuracy n/a";
        String s = "test accuracy " + String.format(java.util.Locale.ROOT, "%.1f %%", r.testAccuracy * 100);
        int images = 0;
        int fewest = Integer.MAX_VALUE;
        if (r.perClass != null) for (Dto.PerClass c : r.perClass) {
            if (c.support == null) continue;
            images += c.support;
            fewest = Math.min(fewest, c.support);
        }
        if (images == 0) return s;
        s += " on " + images + " test image" + (images == 1 ? "" : "s");
        if (fewest < FEW_TEST_IMAGES_PER_CLASS) s += " (too few to judge: under " + FEW_TEST_IMAGES_PER_CLASS + " per class)";
        return s;
    }

    /**
     * The engine's fraction as the CLI prints it ("84.5%"), cut (not rounded) to a tenth, so that a job that is not
     * done never reads 100%.
     */
    public static String percent(double fraction) {
        double tenths = Math.floor(Math.max(0, Math.min(1, fraction)) * 1000 + 1e-9) / 10;
        return String.format(java.util.Locale.ROOT, "%.1f%%", tenths);
    }

    public static String formatEta(double seconds) {
        long s = Math.round(seconds);
        if (s < 60) return s + " s";
        if (s < 3600) return (s / 60) + " min " + (s % 60) + " s";
        return (s / 3600) + " h " + ((s % 3600) / 60) + " min";
    }
}

package org.omniclas.fiji.ui;

import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.dataset.DatasetCheck;
import org.omniclas.fiji.dataset.DatasetFolder;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;

/**
 * "Label next" of the labelling window without its Swing: the batch POST /suggest chose, best first, kept by
 * where each file is now. An image waits while it is in unlabelled/; filed into a class it leaves the batch, and
 * Ctrl+Z brings it back. The next batch comes from the model this window retrained (a job), or the one chosen in
 * "Ask the model", or none (a cold start).
 */
public final class NextBatch {
    /** Images per batch: what a biologist files in a few minutes. */
    public static final int SIZE = 24;
    /** The process of "Retrain quickly": N.D. trains heads on the cached features, no distillation. */
    public static final String QUICK_PROCESS = "nd";

    private final Path root;
    private Map<Path, Dto.Suggestion> entries = new LinkedHashMap<>(); // best first
    private Dto.SuggestResponse answer;
    private int outside;
    private String model;
    private String job;

    public NextBatch(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    /** The next batches come from this registered model (null: none). */
    public void useModel(String name) {
        model = name;
        job = null;
    }

    /** The next batches come from this finished training job's model. */
    public void useJob(String id) {
        job = id;
        model = null;
    }

    /** The quick retrain's job the batches come from, or null. */
    public String job() { return job; }

    /**
     * POST /suggest for {@code n} images, then {@link #take} the answer. Blocks: never on the EDT. A model or job
     * the server refuses (another dataset's, deleted) is forgotten: the next request is a cold start.
     */
    public void request(OmniClasClient client, int n) throws OmniClasException {
        try {
            take(client.suggest(root.toString(), model, job, n));
        } catch (OmniClasException e) {
            if ("model".equals(e.getField()) || "job".equals(e.getField())) useModel(null);
            throw e;
        }
    }

    /** What stops "Retrain quickly" before it is sent (the server's rules, as Train Classifier checks them). */
    public List<String> retrainProblems() throws IOException {
        return DatasetCheck.of(root).errors(false); // N.D. needs no unlabelled images
    }

    /** "Retrain quickly": submits N.D. on the dataset; {@link #useJob} once it has finished. */
    public Dto.Job submitRetrain(OmniClasClient client) throws OmniClasException {
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("dataset", root.toString());
        spec.put("process", QUICK_PROCESS);
        return client.submitJob(spec);
    }

    /** Replaces the batch; an image named outside the dataset's unlabelled/ is left out (and counted). */
    public void take(Dto.SuggestResponse r) {
        Path unlabelled = root.resolve(DatasetFolder.UNLABELLED);
        Map<Path, Dto.Suggestion> next = new LinkedHashMap<>();
        int out = 0;
        for (Dto.Suggestion s : r.suggestions) {
            Path p = s.image == null ? null : root.resolve(s.image).normalize();
            if (p == null || !p.startsWith(unlabelled) || p.equals(unlabelled)) out++;
            else next.put(p, s);
        }
        entries = next;
        answer = r;
        outside = out;
    }

    /** Follows a file that was moved (filed, undone, its category renamed). */
    public void renamed(Path from, Path to) {
        if (!entries.containsKey(from)) return;
        Map<Path, Dto.Suggestion> next = new LinkedHashMap<>();
        for (Map.Entry<Path, Dto.Suggestion> e : entries.entrySet()) {
            next.put(e.getKey().equals(from) ? to : e.getKey(), e.getValue());
        }
        entries = next;
    }

    /** The images of the batch still to file, best first: those {@code unlabelled} says are in unlabelled/. */
    public List<Path> waiting(Predicate<Path> unlabelled) {
        List<Path> out = new ArrayList<>();
        for (Path p : entries.keySet()) if (unlabelled.test(p)) out.add(p);
        return out;
    }

    public boolean isEmpty() { return answer == null; }

    public Dto.Suggestion get(Path image) { return entries.get(image); }

    /** The model's class for an image of the batch, or null (no model, or not in the batch). */
    public String guess(Path image) {
        Dto.Suggestion s = entries.get(image);
        return s == null ? null : s.guess;
    }

    /** Under a thumbnail: the model's guess with its confidence, or why the image was chosen. */
    public String label(Path image) {
        Dto.Suggestion s = entries.get(image);
        if (s == null) return null;
        if (s.guess != null && s.confidence != null) return "? " + s.guess + " " + Math.round(s.confidence * 100) + "%";
        return s.reason == null ? "suggested" : s.reason;
    }

    /** For a tooltip or the status line: rank, reason and guess in full. */
    public String describe(Path image) {
        Dto.Suggestion s = entries.get(image);
        if (s == null) return null;
        String text = "#" + s.rank + " " + image.getFileName() + ": " + (s.reason == null ? "suggested" : s.reason);
        if (s.guess != null) {
            text += "; the model says " + s.guess
                    + (s.confidence == null ? "" : String.format(Locale.ROOT, " (%.0f%%)", s.confidence * 100));
        }
        return text;
    }

    /** "Label next: 21 of 24 to file (cold start: ...)." What chose the batch and how much is left. */
    public String summary(int waiting) {
        if (answer == null) return "Label next: no batch yet.";
        String by = "cold-start".equals(answer.strategy) ? "cold start: typical, diverse images; no model yet"
                : "uncertain".equals(answer.strategy) ? "the images " + (answer.model == null ? "the model" : answer.model)
                + " is least sure of" : String.valueOf(answer.strategy);
        StringBuilder sb = new StringBuilder("Label next: " + waiting + " of " + entries.size() + " to file (" + by + ").");
        if (entries.isEmpty()) sb.append(" The server suggested no image.");
        if (outside > 0) sb.append(" ").append(outside).append(" suggestion(s) outside unlabelled/ left out.");
        return sb.toString();
    }

    /** The server's notes on the batch (classes the model has not seen, fewer images than asked, ...); "" if none. */
    public String notes() {
        return answer == null ? "" : String.join(" ", answer.notes);
    }
}

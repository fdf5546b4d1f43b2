package org.omniclas.fiji.ui;

import ij.IJ;
import ij.ImagePlus;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.ImagePart;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.client.PredictBatch;
import org.omniclas.fiji.dataset.ImageFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;

/**
 * "Ask the model..." of the labelling window without its Swing: the model's suggestion for each image, sent in
 * batches. An image that cannot be read is named (by its own file name) and counted; it never stops the others.
 */
public final class ModelSuggestions {
    private final Map<Path, Dto.PredictResult> suggestions;
    private final Map<Path, String> unreadable = new LinkedHashMap<>();
    private int asked;

    /** @param suggestions where each suggestion goes (the window's map, read while this runs) */
    public ModelSuggestions(Map<Path, Dto.PredictResult> suggestions) {
        this.suggestions = suggestions;
    }

    /**
     * Asks {@code model} about {@code images}, {@link ImageClassifier#BATCH} at a time, until done or
     * {@code cancelled}; {@code progress} hears how many images were asked so far.
     */
    public void ask(OmniClasClient client, String model, List<Path> images, BooleanSupplier cancelled, IntConsumer progress)
            throws OmniClasException {
        for (int i = 0; i < images.size() && !cancelled.getAsBoolean(); i += ImageClassifier.BATCH) {
            List<Path> batch = images.subList(i, Math.min(images.size(), i + ImageClassifier.BATCH));
            List<ImagePart> parts = new ArrayList<>();
            List<Path> sent = new ArrayList<>();
            for (Path p : batch) {
                try {
                    parts.add(part(p, parts.size()));
                    sent.add(p);
                } catch (IOException e) {
                    unreadable.put(p, p.getFileName() + ": " + e.getMessage());
                }
            }
            List<List<Dto.PredictResult>> answers = PredictBatch.run(client, model, parts);
            for (int k = 0; k < sent.size(); k++) {
                Path p = sent.get(k);
                Dto.PredictResult first = answers.get(k).get(0); // a stack: its first page
                if (first.isError()) {
                    unreadable.put(p, PredictBatch.errorFor(first, parts.get(k).filename, p.getFileName().toString()));
                } else {
                    suggestions.put(p, first);
                }
            }
            asked += batch.size();
            progress.accept(asked);
        }
        for (String why : unreadable.values()) IJ.log("OmniClas: no suggestion for " + why);
    }

    /** The images that could not be read, with why ("broken.png: not a readable ..."). */
    public Map<Path, String> unreadable() { return unreadable; }

    /** "15 of 16 images have a suggestion; 1 unreadable: broken.png" (of the images asked so far). */
    public String summary() {
        String s = (asked - unreadable.size()) + " of " + asked + " images have a suggestion";
        if (unreadable.isEmpty()) return s;
        List<String> names = new ArrayList<>();
        for (Path p : unreadable.keySet()) names.add(p.getFileName().toString());
        return s + "; " + unreadable.size() + " unreadable: " + String.join(", ", names);
    }

    /**
     * PNG, JPEG and TIFF files go as they are (a numbered upload name keeps names apart); other formats through
     * ImageJ, after a quiet check (its opener shows a dialog naming no file).
     */
    static ImagePart part(Path p, int index) throws IOException {
        String name = p.getFileName().toString();
        String lower = name.toLowerCase(Locale.ROOT);
        String upload = String.format("%04d_%s", index, name);
        if (lower.endsWith(".png") || lower.endsWith(".jpg") || lower.endsWith(".jpeg") || lower.endsWith(".tif") || lower.endsWith(".tiff")) {
            return new ImagePart(upload, Files.readAllBytes(p));
        }
        String problem = ImageFiles.problem(p);
        ImagePlus imp = problem == null ? IJ.openImage(p.toString()) : null;
        if (imp == null) throw new IOException(problem == null ? "ImageJ cannot open it" : problem);
        return new ImagePart(upload + ".tif", ImageEncoder.sliceToTiff(imp, 1), "image/tiff");
    }
}

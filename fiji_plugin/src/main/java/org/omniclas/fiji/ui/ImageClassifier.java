package org.omniclas.fiji.ui;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.measure.ResultsTable;
import ij.plugin.filter.Analyzer;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.ImagePart;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.client.PredictBatch;
import org.omniclas.fiji.dataset.ImageFiles;
import org.omniclas.fiji.dataset.DatasetFolder;

import java.awt.GraphicsEnvironment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Sends images to /predict and fills the "OmniClas Results" table. Runs on the calling thread. */
public class ImageClassifier {
    public static final String TABLE = "OmniClas Results";
    /** Images per /predict request. */
    public static final int BATCH = 16;

    private static volatile ResultsTable last;

    private final OmniClasClient client;
    private final String model;
    private Dto.Model modelInfo;
    private List<String> classes; // the model's, in its order: one p_<class> column each
    private final List<String> failed = new ArrayList<>();

    public ImageClassifier(OmniClasClient client, String model) {
        this.client = client;
        this.model = model;
    }

    /** The table filled by the last run (also when headless, where no window shows it). */
    public static ResultsTable lastResults() { return last; }


    /**
     * Shows the table as "OmniClas Results" (on a desktop), in place of the last run's: every command fills a new
     * table, so the table and the CSV saved from it hold one run's rows only (issue 22). Unattended (headless, batch mode, -batch) it also
     * becomes ImageJ's standard Results table, so that macros read it with {@code nResults},
     * {@code getResultString("class", i)} and {@code Table.size("Results")}: headless ImageJ has no named tables.
     */
    public static void show(ResultsTable rt) {
        last = rt;
        if (!GraphicsEnvironment.isHeadless()) rt.show(TABLE);
        if (Reporter.unattended()) {
            ResultsTable standard = (ResultsTable) rt.clone();
            Analyzer.setResultsTable(standard); // (resets the decimals of both: the clone shares them)
            ResultRows.formatColumns(standard);
            ResultRows.formatColumns(rt);
            if (!GraphicsEnvironment.isHeadless()) standard.show("Results");
        }
    }

    /** Saves the table as CSV (see {@link ResultsCsv}) and says where in the Log. */
    public static void saveCsv(ResultsTable rt, String csv) throws IOException {
        Path file = java.nio.file.Paths.get(csv).toAbsolutePath();
        try {
            ResultsCsv.write(rt, file);
        } catch (IOException e) {
            throw new IOException("Cannot write the CSV file " + file + ": " + e.getMessage(), e);
        }
        IJ.log("OmniClas: " + rt.size() + " results saved to " + file);
    }

    /** Every slice of every image (for multi-channel hyperstacks: every Z/T position, all channels together), batched. */
    public ResultsTable classifyImages(List<ImagePlus> images, ResultsTable rt) throws OmniClasException {
        List<Object[]> pending = new ArrayList<>(); // {title, slice}
        List<ImagePart> parts = new ArrayList<>();
        int total = 0;
        for (ImagePlus imp : images) total += ImageEncoder.planeCount(imp);
        int done = 0;
        for (ImagePlus imp : images) {
            for (int s = 1; s <= ImageEncoder.planeCount(imp); s++) {
                parts.add(new ImagePart(ImageEncoder.sliceName(imp, s, parts.size()), ImageEncoder.planeToTiff(imp, s), "image/tiff"));
                pending.add(new Object[]{imp.getTitle(), s});
                if (parts.size() == BATCH) {
                    done += flush(parts, pending, rt);
                    IJ.showProgress(done, total);
                }
            }
        }
        flush(parts, pending, rt);
        IJ.showProgress(1.0);
        return rt;
    }

    private int flush(List<ImagePart> parts, List<Object[]> pending, ResultsTable rt) throws OmniClasException {
        if (parts.isEmpty()) return 0;
        IJ.showStatus("OmniClas: classifying " + parts.size() + " image(s)...");
        List<List<Dto.PredictResult>> answers = PredictBatch.run(client, model, parts);
        for (int i = 0; i < pending.size(); i++) {
            String title = (String) pending.get(i)[0];
            Integer slice = (Integer) pending.get(i)[1];
            add(rt, title, slice, answers.get(i).get(0), parts.get(i).filename);
        }
        int n = parts.size();
        parts.clear();
        pending.clear();
        return n;
    }

    /** One row; an error result names the image as the user knows it, not as it was sent. */
    private void add(ResultsTable rt, String shown, Integer slice, Dto.PredictResult r, String sentAs) {
        if (r.isError()) {
            r = Dto.PredictResult.failed(shown, PredictBatch.errorFor(r, sentAs, shown));
            failed.add(r.error);
        }
        ResultRows.add(rt, shown, slice, r, classes(r));
    }

    /** The messages of the images that could not be classified ("NAME: reason"), in order. */
    public List<String> failed() { return failed; }

    /** "10 result rows; 1 image could not be read: broken.png" (the status bar, and the Log when one failed). */
    public static String summary(int rows, List<String> failed) {
        if (failed.isEmpty()) return rows + " result rows";
        List<String> names = new ArrayList<>();
        for (String f : failed) names.add(f.contains(": ") ? f.substring(0, f.indexOf(": ")) : f);
        return rows + " result rows; " + failed.size() + (failed.size() == 1 ? " image" : " images")
                + " could not be read: " + String.join(", ", names);
    }

    /** Says how the run went: the status bar, and the Log with each message when an image could not be read. */
    public static void tell(ResultsTable rt, List<String> failed) {
        String text = "OmniClas: " + summary(rt.size(), failed);
        if (!failed.isEmpty()) {
            IJ.log(text + " (their rows carry the error)");
            for (String f : failed) IJ.log("  " + f);
        }
        IJ.showStatus(text);
    }

    /**
     * The images of a folder (not recursive). PNG/JPEG/TIFF/BMP files are sent as they are (a stack gives one row
     * per page); a file that cannot be read gives an error row, and the rest are classified.
     */
    public ResultsTable classifyFolder(Path folder, ResultsTable rt) throws OmniClasException, IOException {
        List<Path> files;
        try (Stream<Path> s = Files.list(folder)) {
            files = s.filter(DatasetFolder::isImage).sorted().collect(Collectors.toList());
        }
        if (files.isEmpty()) throw new IOException("No images (" + DatasetFolder.IMAGE_EXTENSIONS + ") in " + folder);
        List<ImagePart> parts = new ArrayList<>();
        List<String> names = new ArrayList<>();
        int done = 0;
        for (Path f : files) {
            String name = f.getFileName().toString();
            String lower = name.toLowerCase(Locale.ROOT);
            if (lower.endsWith(".png") || lower.endsWith(".jpg") || lower.endsWith(".jpeg") || lower.endsWith(".bmp")
                    || lower.endsWith(".tif") || lower.endsWith(".tiff")) {
                parts.add(new ImagePart(name, Files.readAllBytes(f))); // the server reads these and says what is wrong
            } else {
                String problem = ImageFiles.problem(f); // before ImageJ, whose opener shows its own error dialog
                ImagePlus imp = problem == null ? IJ.openImage(f.toString()) : null;
                if (imp == null) {
                    add(rt, name, 1, Dto.PredictResult.failed(name, name + ": "
                            + (problem == null ? "ImageJ cannot open this file" : problem)), name);
                    continue;
                }
                parts.add(new ImagePart(name + ".tif", ImageEncoder.sliceToTiff(imp, 1), "image/tiff"));
            }
            names.add(name);
            if (parts.size() == BATCH) {
                flushFiles(parts, names, rt);
                done += BATCH;
                IJ.showProgress(done, files.size());
            }
        }
        flushFiles(parts, names, rt);
        IJ.showProgress(1.0);
        return rt;
    }

    private void flushFiles(List<ImagePart> parts, List<String> names, ResultsTable rt) throws OmniClasException {
        if (parts.isEmpty()) return;
        IJ.showStatus("OmniClas: classifying " + parts.size() + " file(s)...");
        List<List<Dto.PredictResult>> answers = PredictBatch.run(client, model, parts);
        for (int i = 0; i < parts.size(); i++) {
            for (Dto.PredictResult r : answers.get(i)) {
                add(rt, names.get(i), r.slice == null ? 1 : r.slice, r, parts.get(i).filename); // (an error row too)
            }
        }
        parts.clear();
        names.clear();
    }

    /** The model's classes (asked once), for its p_<class> columns. */
    private List<String> classes(Dto.PredictResult result) {
        List<Dto.PredictResult> results = Collections.singletonList(result);
        if (modelInfo == null) {
            try {
                modelInfo = client.model(model);
            } catch (OmniClasException e) {
                modelInfo = new Dto.Model(); // (an older server or an odd name: the probabilities' own order serves)
            }
        }
        if (classes == null || classes.isEmpty()) classes = ResultRows.classesOf(modelInfo, results);
        return classes;
    }

    /** The active image, or all open images. */
    public static List<ImagePlus> targets(boolean allOpen) {
        List<ImagePlus> out = new ArrayList<>();
        if (allOpen) {
            int[] ids = WindowManager.getIDList();
            if (ids != null) for (int id : ids) {
                ImagePlus imp = WindowManager.getImage(id);
                if (imp != null) out.add(imp);
            }
        } else {
            ImagePlus imp = WindowManager.getCurrentImage();
            if (imp != null) out.add(imp);
        }
        return out;
    }
}

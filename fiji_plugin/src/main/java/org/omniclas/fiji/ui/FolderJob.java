package org.omniclas.fiji.ui;

import ij.IJ;
import ij.measure.ResultsTable;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.dataset.DatasetFolder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Classify Folder as a predict job on the server (POST /jobs {kind: predict, model, folder}) for large folders:
 * the server reads the images itself, the Jobs view shows the job (cancel, resume), and the finished job's
 * results.csv becomes the same "OmniClas Results" rows as image-by-image classification. Blocks the calling
 * thread (never the EDT). A server that cannot take the job (older: no {@code kind}; the folder outside its
 * dataset roots) is logged, and the caller classifies image by image.
 */
public class FolderJob {
    /** More images than this, and Classify Folder sends the folder as a job ({@code job=auto}). */
    public static final int THRESHOLD = 500;

    /** Macro option {@code job=}: auto (a job above {@link #THRESHOLD} images, on a local server), always, never. */
    public enum Mode {
        AUTO, ALWAYS, NEVER;

        public static final String[] CHOICES = {"auto", "always", "never"};

        public static Mode parse(String text) {
            String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
            if (t.isEmpty()) return AUTO;
            for (Mode m : values()) if (m.name().toLowerCase(Locale.ROOT).equals(t)) return m;
            throw new IllegalArgumentException("job=" + text + " is not one of auto, always, never.");
        }
    }

    private final OmniClasClient client;
    private final String model;
    private final List<String> failed = new ArrayList<>();
    private long pollMs = 1000;
    private volatile JobMonitor monitor;
    private volatile boolean cancelRequested;
    private String cancelled; // the id of a job that ended cancelled, or null

    public FolderJob(OmniClasClient client, String model) {
        this.client = client;
        this.model = model;
    }

    public FolderJob pollEvery(long ms) { this.pollMs = ms; return this; }

    /** Asks the running job to stop (from any thread), as the Jobs view's Cancel does. */
    public void cancel() {
        cancelRequested = true;
        JobMonitor m = monitor;
        if (m != null) m.cancel();
    }

    /** The messages of the rows that carry an error ("NAME: reason"), as {@link ImageClassifier#failed()}. */
    public List<String> failed() { return failed; }

    /** True when the job ended cancelled: no results; Jobs... resumes it. */
    public boolean wasCancelled() { return cancelled != null; }

    /** Whether a folder of {@code images} images goes to a job. {@code localServer}: it sees this machine's files. */
    public static boolean wanted(Mode mode, int images, boolean localServer) {
        return mode == Mode.ALWAYS || mode == Mode.AUTO && localServer && images > THRESHOLD;
    }

    /** The images Classify Folder would classify (not recursive). */
    public static int countImages(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return (int) s.filter(DatasetFolder::isImage).count();
        }
    }

    /**
     * The folder as a job when {@code mode} wants one, into {@code rt}. Returns null when the caller classifies
     * image by image: no job wanted, the server cannot take it, or the job was cancelled ({@link #wasCancelled}).
     * A failed or interrupted job is an error.
     */
    public ResultsTable run(Path folder, Mode mode, boolean localServer, ResultsTable rt)
            throws OmniClasException, IOException {
        int images = countImages(folder);
        if (!wanted(mode, images, localServer)) return null;
        Dto.Job job = submit(folder.toAbsolutePath().normalize(), images);
        if (job == null) return null;
        if (!Reporter.unattended()) ModelsWindow.open(true); // the Jobs view shows it, with Cancel and Resume
        return finish(follow(job.id()), folder, rt);
    }

    /**
     * A resumed predict job (Jobs...): followed to its end, its results shown as Classify Folder shows them. Nothing
     * is written into the image folder: the server keeps the job's results.csv (the Log says where).
     */
    public static void showResumed(OmniClasClient client, Dto.Job job) throws OmniClasException {
        Path folder = Paths.get(job.specText("folder"));
        FolderJob fj = new FolderJob(client, job.specText("model"));
        ResultsTable rt = fj.finish(fj.follow(job.id()), folder, new ResultsTable());
        if (rt == null) return;
        ImageClassifier.show(rt);
        IJ.log("OmniClas: job " + job.id() + ": the results are in the table " + ImageClassifier.TABLE
                + " (its File > Save As... saves them); the server keeps them as GET /api/v1/jobs/" + job.id() + "/results.csv");
        ImageClassifier.tell(rt, fj.failed());
    }

    /** POST /jobs; null (logged) when this server has no predict jobs or refuses the folder. */
    Dto.Job submit(Path folder, int images) throws OmniClasException {
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("kind", Dto.Job.PREDICT);
        spec.put("model", model);
        spec.put("folder", folder.toString());
        try {
            Dto.Job job = client.submitJob(spec);
            IJ.log("OmniClas: " + images + " images: classifying " + folder + " as job " + job.id()
                    + " on the server (Plugins > OmniClas > Jobs... shows it)");
            return job;
        } catch (OmniClasException e) {
            if (e.getStatus() < 400 || e.getStatus() >= 500) throw e;
            if ("folder".equals(e.getField())) {
                IJ.log("OmniClas: the server cannot read " + folder + " itself (" + e.getMessage() + "): it lies outside"
                        + " the server's dataset roots (Server Settings). Sending the images one batch at a time instead.");
                return null;
            }
            if ("kind".equals(e.getField()) || e.getStatus() == 404 && e.getField() == null) { // older: no predict jobs
                IJ.log("OmniClas: this server has no predict jobs (" + e.getMessage() + "): classifying image by image.");
                return null;
            }
            throw e;
        }
    }

    /** Follows the job to its end: the status and progress bars (and the Log, unattended). */
    Dto.Job follow(String id) throws OmniClasException {
        JobMonitor m = new JobMonitor(client, id, null).withoutWindow().pollEvery(pollMs);
        monitor = m;
        if (cancelRequested) m.cancel();
        try {
            return m.follow();
        } finally {
            monitor = null;
        }
    }

    /** A finished job's results into {@code rt}; null when it was cancelled; an error when it failed. */
    ResultsTable finish(Dto.Job job, Path folder, ResultsTable rt) throws OmniClasException {
        if ("cancelled".equals(job.state)) {
            cancelled = job.id();
            String text = "OmniClas: classification job " + job.id() + " cancelled; Plugins > OmniClas > Jobs... resumes it.";
            IJ.log(text);
            IJ.showStatus(text);
            return null;
        }
        if (!"finished".equals(job.state)) {
            throw new OmniClasException(0, "Classification job " + job.id() + " " + job.state
                    + (job.error != null ? ":\n" + job.error : ".")
                    + (job.resumable ? "\nResume it from Plugins > OmniClas > Jobs..." : ""), null);
        }
        IJ.showStatus("OmniClas: downloading the results of job " + job.id() + "...");
        read(client.jobResultsCsv(job.id()), folder, rt);
        IJ.log("OmniClas: job " + job.id() + ": " + counts(rt));
        return rt;
    }

    /** The results CSV (docs/results-csv.md) as rows of the table; image paths under {@code folder} are made relative. */
    void read(String csv, Path folder, ResultsTable rt) throws OmniClasException {
        List<List<String>> lines = ResultsCsv.parse(csv);
        if (lines.isEmpty()) throw new OmniClasException(0, "The server sent an empty results CSV.", null);
        List<String> header = lines.get(0);
        List<String> classes = new ArrayList<>();
        for (String h : header) if (h.startsWith(ResultRows.PROBABILITY_PREFIX)) classes.add(h.substring(ResultRows.PROBABILITY_PREFIX.length()));
        for (String need : new String[]{"image", "class", "confidence", ResultRows.ERROR}) {
            if (!header.contains(need)) throw new OmniClasException(0, "The server's results CSV has no column " + need + ".", null);
        }
        for (List<String> cells : lines.subList(1, lines.size())) {
            Map<String, String> row = new LinkedHashMap<>();
            for (int i = 0; i < header.size(); i++) row.put(header.get(i), i < cells.size() ? cells.get(i) : "");
            Dto.PredictResult r = new Dto.PredictResult();
            r.image = shown(row.get("image"), folder);
            r.className = row.get("class");
            r.confidence = number(row.get("confidence"));
            for (String c : classes) {
                String p = row.get(ResultRows.PROBABILITY_PREFIX + c);
                if (!p.isEmpty()) r.probabilities.put(c, number(p));
            }
            r.unsure = "true".equals(row.get(ResultRows.UNSURE)); // absent (an older server): false
            String second = row.getOrDefault(ResultRows.RUNNER_UP, "");
            if (!second.isEmpty()) {
                r.runnerUp = new Dto.TopEntry();
                r.runnerUp.className = second;
                r.runnerUp.probability = number(row.get(ResultRows.RUNNER_UP_P));
            }
            r.error = row.get(ResultRows.ERROR);
            if (r.isError()) failed.add(r.error);
            String slice = row.getOrDefault("slice", "");
            ResultRows.add(rt, r.image, slice.isEmpty() ? 1 : (int) number(slice), r, classes);
        }
    }

    private static String shown(String image, Path folder) {
        try {
            Path p = Paths.get(image);
            Path base = folder.toAbsolutePath().normalize();
            return p.isAbsolute() && p.normalize().startsWith(base) ? base.relativize(p.normalize()).toString() : image;
        } catch (RuntimeException e) {
            return image;
        }
    }

    private static double number(String s) {
        try {
            return s == null || s.isEmpty() ? Double.NaN : Double.parseDouble(s);
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    /** "1200 rows: Healthy 700, Infected 498; 2 errors" (rows per class, in order of first appearance). */
    static String counts(ResultsTable rt) {
        Map<String, Integer> counts = new LinkedHashMap<>();
        int errors = 0;
        int unsure = 0;
        for (int i = 0; i < rt.size(); i++) {
            String c = rt.getStringValue("class", i);
            if (!rt.getStringValue(ResultRows.ERROR, i).isEmpty()) errors++;
            else counts.merge(c, 1, Integer::sum);
            if ("true".equals(rt.getStringValue(ResultRows.UNSURE, i))) unsure++;
        }
        List<String> parts = new ArrayList<>();
        for (Map.Entry<String, Integer> e : counts.entrySet()) parts.add(e.getKey() + " " + e.getValue());
        return rt.size() + " rows: " + (parts.isEmpty() ? "none classified" : String.join(", ", parts))
                + (unsure > 0 ? "; " + unsure + " unsure" : "")
                + (errors > 0 ? "; " + errors + (errors == 1 ? " error" : " errors") : "");
    }
}

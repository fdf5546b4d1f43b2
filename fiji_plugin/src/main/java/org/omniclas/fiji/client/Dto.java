package org.omniclas.fiji.client;

import com.google.gson.annotations.SerializedName;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** JSON objects of the OmniClas HTTP API v1 (docs/http-api.md), mapped with Gson. Plain public fields. */
public final class Dto {
    private Dto() {}

    public static class Health {
        public String status;
        public String version;
        @SerializedName("auth_required") public boolean authRequired;
        /** The server's dataset roots, where it publishes them (newer servers); null otherwise. */
        @SerializedName("dataset_roots") public List<String> datasetRoots;
    }

    public static class Backbone {
        public String name;
        public boolean offline;
        @SerializedName("default") public boolean isDefault;
        @Override public String toString() { return name; }
    }

    /** One process of GET /processes: its properties (ensemble, tta, iterative, distills, ...) and defaults. */
    public static class ProcessInfo {
        public String id;
        public String name;
        public String description;
        @SerializedName("needs_unlabelled") public boolean needsUnlabelled;
        /** 1 when the process trains exactly one backbone, null when it takes any number. */
        @SerializedName("max_backbones") public Integer maxBackbones;
        /** Default value of every option (by option name), as the CLI resolves them for this process. */
        public Map<String, Object> defaults = new LinkedHashMap<>();
        /** Every property of the process as the server sent it (for the options' "applies" conditions). */
        public transient Map<String, Object> properties = new LinkedHashMap<>();

        @Override public String toString() { return id; }
    }

    /** One training option of GET /processes: how to show it and when it applies. */
    public static class OptionInfo {
        public String name;
        public String label;
        /** choice | multichoice | number | integer | boolean */
        public String type;
        public String help;
        public List<String> choices = new ArrayList<>();
        public Double minimum;
        public Double maximum;
        public boolean advanced;
        /** Conditions that must all hold: process property → bool, or option name → list of allowed values. */
        public Map<String, Object> applies = new LinkedHashMap<>();

        @Override public String toString() { return name; }
    }

    /** GET /processes: the processes and the options the wizard renders. */
    public static class Catalog {
        public List<ProcessInfo> processes = new ArrayList<>();
        public List<OptionInfo> options = new ArrayList<>();
    }

    public static class Model {
        public String name;
        /** This entry's version (GET /models lists each name's latest). */
        public String version;
        /** Every version of the name, oldest first (newer servers). */
        public List<Integer> versions;
        public String framework;
        public List<String> classes = new ArrayList<>();
        public String backbone;
        @SerializedName("input_size") public List<Integer> inputSize;
        public Map<String, Double> metrics = new LinkedHashMap<>();
        public String created;

        public Double testAccuracy() { return metrics == null ? null : metrics.get("test_accuracy"); }

        /** The latest version's number, or 0 when unknown. */
        public int latestVersion() {
            if (versions != null && !versions.isEmpty()) return versions.get(versions.size() - 1);
            try {
                return version == null ? 0 : Integer.parseInt(version.replaceFirst("\\.0$", ""));
            } catch (NumberFormatException e) {
                return 0;
            }
        }

        /** What the server takes for this entry: "name" for the latest version, "name@N" for an older one. */
        public String ref() {
            int latest = latestVersion();
            int mine = latest;
            try {
                if (version != null) mine = Integer.parseInt(version.replaceFirst("\\.0$", ""));
            } catch (NumberFormatException ignored) {
                // not a number: the latest
            }
            return mine == latest ? name : name + "@" + mine;
        }
        @Override public String toString() { return name; }
    }

    public static class TopEntry {
        @SerializedName("class") public String className;
        public double probability;
    }

    /**
     * One prediction; a multi-page TIFF upload gives one per page with {@link #slice} 1..n. An image the server
     * could not read gives a result with {@link #error} ("NAME: reason") and no class.
     */
    public static class PredictResult {
        public String image;
        public Integer slice;
        @SerializedName("class") public String className;
        public double confidence;
        /** Below the run's unsure threshold (docs/calibration.md); null from a server before calibration. */
        public Boolean unsure;
        /** The second most probable class and its probability. */
        @SerializedName("runner_up") public TopEntry runnerUp;
        public Map<String, Double> probabilities = new LinkedHashMap<>();
        public List<TopEntry> top = new ArrayList<>();
        public String error;

        public boolean isError() { return error != null && !error.isEmpty(); }

        /** Classified, and marked unsure. */
        public boolean isUnsure() { return !isError() && Boolean.TRUE.equals(unsure); }

        /** An error result for {@code image}. */
        public static PredictResult failed(String image, String error) {
            PredictResult r = new PredictResult();
            r.image = image;
            r.error = error;
            return r;
        }
    }

    public static class PredictResponse {
        public String model;
        public List<PredictResult> results = new ArrayList<>();
    }

    /** One object of a label image (POST /predict with labels): its geometry, then a class or an error. */
    public static class ObjectResult extends PredictResult {
        public Integer object;
        public double x;
        public double y;
        @SerializedName("bbox_x") public int bboxX;
        @SerializedName("bbox_y") public int bboxY;
        @SerializedName("bbox_width") public int bboxWidth;
        @SerializedName("bbox_height") public int bboxHeight;
        public long area;
        public boolean border;
        // error (inherited): why this object, or without {@code object} this image, has no class; null when classified
    }

    public static class ObjectsResponse {
        public String model;
        public List<ObjectResult> results = new ArrayList<>();
        /** Per image: objects, classified, border, below_min_area, absent_values, ... (docs/http-api.md). */
        public List<Map<String, Object>> objects = new ArrayList<>();
    }

    public static class JobProgress {
        public String stage;
        public Integer iteration;
        @SerializedName("max_iterations") public Integer maxIterations;
        public String model;
        public Integer epoch;
        public Integer epochs;
        public Double fraction;
        @SerializedName("eta_s") public Double etaSeconds;
        public String message;
    }

    public static class PerClass {
        @SerializedName("class") public String className;
        public Double precision;
        public Double recall;
        public Double f1;
        public Integer support;
    }

    public static class JobResult {
        @SerializedName("run_dir") public String runDir;
        @SerializedName("test_accuracy") public Double testAccuracy;
        public List<String> classes = new ArrayList<>();
        @SerializedName("per_class") public List<PerClass> perClass = new ArrayList<>();
        @SerializedName("confusion_matrix") public List<List<Integer>> confusionMatrix;
        /** The cross-validated estimate in words: "0.875 (95% interval ...) from 5-fold cross-validation on ...". */
        @SerializedName("estimate_text") public String estimateText;
        /** What AutoML kept and why (null for a named process). */
        public String automl;
        /** A predict job's results CSV on the server (GET /jobs/id/results.csv serves it). */
        public String csv;
        /** A predict job's counts: images, rows (a stack has one per page), error rows, rows per class. */
        public Integer images;
        public Integer rows;
        public Integer errors;
        public Map<String, Integer> counts;
    }

    public static class Job {
        /** The {@code kind} of a job that classifies a folder (POST /jobs {kind, model, folder}). */
        public static final String PREDICT = "predict";
        public String id;
        public String state;
        /** The job's options as the server stored them (dataset, process and option names). */
        public Map<String, Object> spec = new LinkedHashMap<>();
        public String created;
        public String started;
        public String finished;
        public JobProgress progress;
        public JobResult result;
        public String error;
        /** True for interrupted, failed and cancelled jobs: POST /jobs/id/resume continues them. */
        public boolean resumable;
        /** How many times the job was started (a resume starts another attempt). */
        public Integer attempts;
        /** Only in the 202 answer of POST /jobs, which names the id "job_id". */
        @SerializedName("job_id") public String jobId;

        public String id() { return id != null ? id : jobId; }
        public boolean isDone() {
            return "finished".equals(state) || "failed".equals(state) || "cancelled".equals(state)
                    || "interrupted".equals(state);
        }
        public boolean isActive() { return "queued".equals(state) || "running".equals(state); }
        /** A predict job (classifies a folder on the server) rather than a training job. */
        public boolean isPredict() { return PREDICT.equals(specText("kind")); }
        /** A spec entry as text ("" when absent). */
        public String specText(String key) {
            Object v = spec == null ? null : spec.get(key);
            return v == null ? "" : String.valueOf(v);
        }
    }

    /** One image of POST /suggest: where it is (relative to the dataset), why it was chosen, the model's guess. */
    public static class Suggestion {
        public int rank;
        /** The file's path relative to the dataset, "unlabelled/a.png". */
        public String image;
        public String reason;
        /** The model's class for it, null before any model. */
        public String guess;
        public Double confidence;
    }

    /** POST /suggest: the images to label next, best first. */
    public static class SuggestResponse {
        public String dataset;
        /** The model that chose them, null for a cold start. */
        public String model;
        /** "cold-start" (no model) or "uncertain". */
        public String strategy;
        public List<String> notes = new ArrayList<>();
        public List<Suggestion> suggestions = new ArrayList<>();
    }

    static class ModelsResponse { List<Model> models = new ArrayList<>(); }
    static class BackbonesResponse { List<Backbone> backbones = new ArrayList<>(); }
    static class JobsResponse { List<Job> jobs = new ArrayList<>(); }
    static class LogResponse { List<String> lines = new ArrayList<>(); }
    static class ErrorBody { String message; String field; Integer status; @SerializedName("error_id") String errorId; }
    static class ErrorResponse { com.google.gson.JsonElement error; String message; }
}

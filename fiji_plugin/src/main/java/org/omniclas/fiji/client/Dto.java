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
    }

    public static class Backbone {
        public String name;
        public boolean offline;
        @SerializedName("default") public boolean isDefault;
        @Override public String toString() { return name; }
    }

    public static class ProcessInfo {
        public String id;
        public String name;
        public String description;
        @SerializedName("needs_unlabelled") public boolean needsUnlabelled;
        public Map<String, Object> defaults;

        public ProcessInfo() {}
        public ProcessInfo(String id, String name, boolean needsUnlabelled, String description) {
            this.id = id; this.name = name; this.needsUnlabelled = needsUnlabelled; this.description = description;
        }
        @Override public String toString() { return id; }
    }

    public static class Model {
        public String name;
        public String version;
        public String framework;
        public List<String> classes = new ArrayList<>();
        public String backbone;
        @SerializedName("input_size") public List<Integer> inputSize;
        public Map<String, Double> metrics = new LinkedHashMap<>();
        public String created;

        public Double testAccuracy() { return metrics == null ? null : metrics.get("test_accuracy"); }
        @Override public String toString() { return name; }
    }

    public static class TopEntry {
        @SerializedName("class") public String className;
        public double probability;
    }

    /** One prediction; a multi-page TIFF upload gives one per page with {@link #slice} 1..n. */
    public static class PredictResult {
        public String image;
        public Integer slice;
        @SerializedName("class") public String className;
        public double confidence;
        public Map<String, Double> probabilities = new LinkedHashMap<>();
        public List<TopEntry> top = new ArrayList<>();
    }

    public static class PredictResponse {
        public String model;
        public List<PredictResult> results = new ArrayList<>();
    }

    /** Training job request; null fields are left out so the server uses its defaults. */
    public static class JobSpec {
        public String dataset;
        public String process;
        public List<String> backbones;
        public String head;
        public List<String> transforms;
        public Double threshold;
        @SerializedName("max_iterations") public Integer maxIterations;
        @SerializedName("frozen_epochs") public Integer frozenEpochs;
        @SerializedName("unfrozen_epochs") public Integer unfrozenEpochs;
        @SerializedName("image_size") public Integer imageSize;
        @SerializedName("batch_size") public Integer batchSize;
        public Integer seed;
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
        public Integer support;
    }

    public static class JobResult {
        @SerializedName("run_dir") public String runDir;
        @SerializedName("test_accuracy") public Double testAccuracy;
        public List<String> classes = new ArrayList<>();
        @SerializedName("per_class") public List<PerClass> perClass = new ArrayList<>();
        @SerializedName("confusion_matrix") public List<List<Integer>> confusionMatrix;
    }

    public static class Job {
        public String id;
        @SerializedName(value = "state") public String state;
        public JobSpec spec;
        public String created;
        public String started;
        public String finished;
        public JobProgress progress;
        public JobResult result;
        public String error;
        /** Only in the 202 answer of POST /jobs, which names the id "job_id". */
        @SerializedName("job_id") public String jobId;

        public String id() { return id != null ? id : jobId; }
        public boolean isDone() {
            return "finished".equals(state) || "failed".equals(state) || "cancelled".equals(state)
                    || "interrupted".equals(state);
        }
    }

    static class ModelsResponse { List<Model> models = new ArrayList<>(); }
    static class BackbonesResponse { List<Backbone> backbones = new ArrayList<>(); }
    static class ProcessesResponse { List<ProcessInfo> processes = new ArrayList<>(); }
    static class JobsResponse { List<Job> jobs = new ArrayList<>(); }
    static class LogResponse { List<String> lines = new ArrayList<>(); }
    static class ErrorBody { String message; String field; Integer status; @SerializedName("error_id") String errorId; }
    static class ErrorResponse { com.google.gson.JsonElement error; String message; }
}

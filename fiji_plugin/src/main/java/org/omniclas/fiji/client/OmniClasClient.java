package org.omniclas.fiji.client;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** The OmniClas HTTP API v1 as seen from the plugin. Every call blocks: never call it on the EDT. */
public interface OmniClasClient {
    Dto.Health health() throws OmniClasException;
    List<Dto.Backbone> backbones() throws OmniClasException;
    /** GET /processes: the processes with their defaults, and the training options the wizard renders. */
    Dto.Catalog catalog() throws OmniClasException;
    List<Dto.Model> models() throws OmniClasException;
    Dto.Model model(String name) throws OmniClasException;
    void deleteModel(String name) throws OmniClasException;
    Dto.Model renameModel(String name, String newName) throws OmniClasException;
    Dto.PredictResponse predict(String model, List<ImagePart> images) throws OmniClasException;
    /**
     * POST /predict with one label image per image (part "labels", in the same order): one result per object.
     * {@code options}: padding, mask_outside, min_area, exclude_border (as text; absent = the server's default).
     */
    Dto.ObjectsResponse predictObjects(String model, List<ImagePart> images, List<ImagePart> labels,
                                       Map<String, String> options) throws OmniClasException;
    /** POST /crops: a zip of one PNG per object ({@code <stem>__obj<n>.png}) and objects.json. */
    byte[] cropObjects(List<ImagePart> images, List<ImagePart> labels, Map<String, String> options)
            throws OmniClasException;
    /**
     * POST /suggest: the {@code n} images of {@code dataset}'s unlabelled/ to label next. {@code model} (a registry
     * name) or {@code job} (a finished training job's id) chooses by the model's uncertainty; neither: a cold start.
     */
    Dto.SuggestResponse suggest(String dataset, String model, String job, int n) throws OmniClasException;
    /** POST /jobs with {dataset, process, option name: value, ...}. */
    Dto.Job submitJob(Map<String, Object> spec) throws OmniClasException;
    List<Dto.Job> jobs() throws OmniClasException;
    Dto.Job job(String id) throws OmniClasException;
    List<String> jobLog(String id, int tail) throws OmniClasException;
    Dto.Job cancelJob(String id) throws OmniClasException;
    Dto.Job resumeJob(String id) throws OmniClasException;
    Dto.Model registerJob(String id, String name) throws OmniClasException;
    /** GET /jobs/id/results.csv: a finished predict job's results CSV (docs/results-csv.md) as text. */
    String jobResultsCsv(String id) throws OmniClasException;
    /** Address of a job's HTML report (GET /jobs/id/report), for a browser. */
    String jobReportUrl(String id);
    /** Address of a registered model's HTML report (GET /models/name/report), for a browser. */
    String modelReportUrl(String name);
    /** Checks that a report exists; a 404 becomes an exception whose message says there is no report. */
    void checkReport(String url) throws OmniClasException;
    /**
     * Downloads a report into a temporary HTML file (the browser cannot send the server's token itself), for
     * {@code BrowserLauncher.openURL(file.toUri())}; a 404 says there is no report.
     */
    Path fetchReport(String url) throws OmniClasException;
    /** GET /models/name/export?format=onnx|bioimageio into {@code out} (replaced only once complete). */
    void exportModel(String name, String format, Path out) throws OmniClasException;
}

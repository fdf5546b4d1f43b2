package org.omniclas.fiji.client;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.HttpURLConnection;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.URL;
import java.net.URLEncoder;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/** {@link OmniClasClient} over {@link HttpURLConnection} and Gson. No ImageJ dependency. */
public class HttpOmniClasClient implements OmniClasClient {
    public static final String DEFAULT_URL = "http://127.0.0.1:5000";
    public static final String API_PREFIX = "/api/v1";

    private static final Gson GSON = new GsonBuilder().create();

    private final String serverUrl;
    private final String apiBase;
    private final String token;
    private int connectTimeoutMs = 5000;
    private int readTimeoutMs = 60000;
    private int predictTimeoutMs = 600000;

    /**
     * @param serverUrl e.g. {@code http://127.0.0.1:5000} (with or without a trailing {@code /api/v1})
     * @param token bearer token, or null/empty when the server needs none
     */
    public HttpOmniClasClient(String serverUrl, String token) {
        String u = serverUrl == null || serverUrl.trim().isEmpty() ? DEFAULT_URL : serverUrl.trim();
        while (u.endsWith("/")) u = u.substring(0, u.length() - 1);
        if (!u.contains("://")) u = "http://" + u;
        this.serverUrl = u;
        this.apiBase = u.endsWith(API_PREFIX) ? u : u + API_PREFIX;
        this.token = token == null || token.trim().isEmpty() ? null : token.trim();
    }

    public static Gson gson() { return GSON; }
    public String getServerUrl() { return serverUrl; }
    public String getApiBase() { return apiBase; }

    public HttpOmniClasClient setTimeouts(int connectMs, int readMs) {
        this.connectTimeoutMs = connectMs;
        this.readTimeoutMs = readMs;
        return this;
    }

    // ------------------------------------------------------------------ API

    @Override public Dto.Health health() throws OmniClasException {
        return get("/health", Dto.Health.class);
    }

    @Override public List<Dto.Backbone> backbones() throws OmniClasException {
        return get("/backbones", Dto.BackbonesResponse.class).backbones;
    }

    @Override public Dto.Catalog catalog() throws OmniClasException {
        String text = send("GET", "/processes", null, null, readTimeoutMs);
        return parseCatalog(text, serverUrl);
    }

    /** The catalog, each process also keeping all its properties (for the options' "applies" conditions). */
    @SuppressWarnings("unchecked")
    public static Dto.Catalog parseCatalog(String text, String serverUrl) throws OmniClasException {
        Dto.Catalog catalog;
        try {
            catalog = GSON.fromJson(text, Dto.Catalog.class);
            JsonElement root = GSON.fromJson(text, JsonElement.class);
            if (catalog != null && root.isJsonObject() && root.getAsJsonObject().has("processes")) {
                com.google.gson.JsonArray raw = root.getAsJsonObject().getAsJsonArray("processes");
                for (int i = 0; i < raw.size() && i < catalog.processes.size(); i++) {
                    catalog.processes.get(i).properties = GSON.fromJson(raw.get(i), Map.class);
                }
            }
        } catch (JsonParseException | IllegalStateException | ClassCastException e) {
            throw new OmniClasException(0, "The server at " + serverUrl + " did not answer GET /processes with "
                    + "OmniClas JSON: " + abbreviate(text), null);
        }
        if (catalog == null || catalog.processes == null || catalog.processes.isEmpty()
                || catalog.options == null || catalog.options.isEmpty()) {
            throw new OmniClasException(0, "The server at " + serverUrl + " does not describe its training options "
                    + "(GET /api/v1/processes has no \"options\"). Update the OmniClas server to the version of "
                    + "this plugin.", null);
        }
        return catalog;
    }

    @Override public List<Dto.Model> models() throws OmniClasException {
        return get("/models", Dto.ModelsResponse.class).models;
    }

    @Override public Dto.Model model(String name) throws OmniClasException {
        return get("/models/" + enc(name), Dto.Model.class);
    }

    @Override public void deleteModel(String name) throws OmniClasException {
        send("DELETE", "/models/" + enc(name), null, null, readTimeoutMs);
    }

    @Override public Dto.Model renameModel(String name, String newName) throws OmniClasException {
        return postJson("/models/" + enc(name) + "/rename", Collections.singletonMap("new_name", newName), Dto.Model.class);
    }

    @Override public Dto.PredictResponse predict(String model, List<ImagePart> images) throws OmniClasException {
        String boundary = "----OmniClas" + UUID.randomUUID().toString().replace("-", "");
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("model", model);
        byte[] body = buildMultipart(boundary, fields, "images", images);
        String text = send("POST", "/predict", body, "multipart/form-data; boundary=" + boundary, predictTimeoutMs);
        return parse(text, Dto.PredictResponse.class);
    }

    @Override public Dto.ObjectsResponse predictObjects(String model, List<ImagePart> images, List<ImagePart> labels,
                                                        Map<String, String> options) throws OmniClasException {
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("model", model);
        fields.putAll(options);
        return parse(postParts("/predict", fields, images, labels), Dto.ObjectsResponse.class);
    }

    @Override public byte[] cropObjects(List<ImagePart> images, List<ImagePart> labels, Map<String, String> options)
            throws OmniClasException {
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        String boundary = boundary();
        Map<String, List<ImagePart>> files = new LinkedHashMap<>();
        files.put("images", images);
        files.put("labels", labels);
        exchange("POST", "/crops", buildMultipart(boundary, options, files), "multipart/form-data; boundary=" + boundary,
                predictTimeoutMs, zip);
        return zip.toByteArray();
    }

    private String postParts(String path, Map<String, String> fields, List<ImagePart> images, List<ImagePart> labels)
            throws OmniClasException {
        String boundary = boundary();
        Map<String, List<ImagePart>> files = new LinkedHashMap<>();
        files.put("images", images);
        files.put("labels", labels);
        return send("POST", path, buildMultipart(boundary, fields, files), "multipart/form-data; boundary=" + boundary,
                predictTimeoutMs);
    }

    private static String boundary() {
        return "----OmniClas" + UUID.randomUUID().toString().replace("-", "");
    }

    @Override public Dto.SuggestResponse suggest(String dataset, String model, String job, int n)
            throws OmniClasException {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("dataset", dataset);
        if (model != null) body.put("model", model);
        if (job != null) body.put("job", job);
        body.put("n", n);
        try { // a pool the feature store has not seen yet is read first: as slow as a predict
            return parse(send("POST", "/suggest", json(body), JSON, predictTimeoutMs), Dto.SuggestResponse.class);
        } catch (OmniClasException e) {
            if (e.getStatus() != 404 || !e.getMessage().startsWith("The requested URL was not found")) throw e;
            throw new OmniClasException(404, "The OmniClas server at " + serverUrl + " cannot suggest images to label "
                    + "(it has no /api/v1/suggest): update the server to the version of this plugin.", null);
        }
    }

    @Override public Dto.Job submitJob(Map<String, Object> spec) throws OmniClasException {
        Dto.Job job = postJson("/jobs", spec, Dto.Job.class);
        if (job.id == null) job.id = job.jobId;
        return job;
    }

    @Override public List<Dto.Job> jobs() throws OmniClasException {
        return get("/jobs", Dto.JobsResponse.class).jobs;
    }

    @Override public Dto.Job job(String id) throws OmniClasException {
        return get("/jobs/" + enc(id), Dto.Job.class);
    }

    @Override public List<String> jobLog(String id, int tail) throws OmniClasException {
        return get("/jobs/" + enc(id) + "/log?tail=" + tail, Dto.LogResponse.class).lines;
    }

    @Override public Dto.Job cancelJob(String id) throws OmniClasException {
        return postJson("/jobs/" + enc(id) + "/cancel", null, Dto.Job.class);
    }

    @Override public Dto.Job resumeJob(String id) throws OmniClasException {
        return postJson("/jobs/" + enc(id) + "/resume", null, Dto.Job.class);
    }

    @Override public Dto.Model registerJob(String id, String name) throws OmniClasException {
        return postJson("/jobs/" + enc(id) + "/register", Collections.singletonMap("name", name), Dto.Model.class);
    }

    @Override public String jobResultsCsv(String id) throws OmniClasException {
        return send("GET", "/jobs/" + enc(id) + "/results.csv", null, null, predictTimeoutMs);
    }

    @Override public String jobReportUrl(String id) {
        return apiBase + "/jobs/" + enc(id) + "/report";
    }

    @Override public String modelReportUrl(String name) {
        return apiBase + "/models/" + enc(name) + "/report";
    }

    @Override public void checkReport(String url) throws OmniClasException {
        if (!url.startsWith(apiBase + "/")) throw new IllegalArgumentException(url + " is not on " + apiBase);
        try {
            send("HEAD", url.substring(apiBase.length()), null, null, readTimeoutMs);
        } catch (OmniClasException e) {
            throw noReport(url, e);
        }
    }

    @Override public Path fetchReport(String url) throws OmniClasException {
        if (!url.startsWith(apiBase + "/")) throw new IllegalArgumentException(url + " is not on " + apiBase);
        try {
            Path file = Files.createTempFile("omniclas-report-", ".html");
            file.toFile().deleteOnExit();
            download(url.substring(apiBase.length()), file, readTimeoutMs);
            return file;
        } catch (IOException e) {
            throw new OmniClasException(0, "Cannot make a temporary file for the report: " + e.getMessage(), null);
        } catch (OmniClasException e) {
            throw noReport(url, e);
        }
    }

    private static OmniClasException noReport(String url, OmniClasException e) {
        if (e.getStatus() != 404) return e;
        return new OmniClasException(404, "The server has no report at\n" + url + "\n(the job may not be "
                + "finished, the model may come from elsewhere, or the server is older than reports).", null);
    }

    @Override public void exportModel(String name, String format, Path out) throws OmniClasException {
        download("/models/" + enc(name) + "/export?format=" + enc(format), out, predictTimeoutMs);
    }

    // ------------------------------------------------------------------ plumbing

    private <T> T get(String path, Class<T> type) throws OmniClasException {
        return parse(send("GET", path, null, null, readTimeoutMs), type);
    }

    private <T> T postJson(String path, Object body, Class<T> type) throws OmniClasException {
        return parse(send("POST", path, json(body), JSON, readTimeoutMs), type);
    }

    private static final String JSON = "application/json; charset=utf-8";

    private static byte[] json(Object body) {
        return GSON.toJson(body == null ? new JsonObject() : body).getBytes(StandardCharsets.UTF_8);
    }

    private <T> T parse(String text, Class<T> type) throws OmniClasException {
        try {
            T value = GSON.fromJson(text, type);
            if (value == null) throw new OmniClasException(0, "The server sent an empty answer.", null);
            return value;
        } catch (JsonParseException e) {
            throw notOmniClas(serverUrl, 0, text);
        }
    }

    /**
     * "This address answers but is not an OmniClas server": a web page or other text where OmniClas JSON was due
     * (never the raw HTML).
     */
    static OmniClasException notOmniClas(String serverUrl, int code, String text) {
        String t = text == null ? "" : text.trim();
        String what = t.startsWith("<") ? "a web page" : t.isEmpty() ? "an empty answer" : "\"" + abbreviate(t) + "\"";
        return new OmniClasException(code, "The address " + serverUrl + " answers but is not an OmniClas server (it sent "
                + what + (code > 0 ? ", HTTP " + code : "") + "). Check the URL and its port in Plugins > OmniClas > "
                + "Server Settings...", "url");
    }

    /** The URL as a URI with a host, or an error that says it is not one (not Java's parser message). */
    private void checkUrl(String url) throws OmniClasException {
        java.net.URI uri;
        try {
            uri = new java.net.URI(url);
        } catch (java.net.URISyntaxException e) {
            uri = null;
        }
        if (uri == null || uri.getHost() == null || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))) {
            throw new OmniClasException(0, "\"" + serverUrl + "\" is not a URL: give the server's address like "
                    + DEFAULT_URL + " (Plugins > OmniClas > Server Settings...).", "url");
        }
    }

    /** Performs one request and returns the body text of a 2xx answer; anything else becomes an exception. */
    protected String send(String method, String path, byte[] body, String contentType, int timeoutMs)
            throws OmniClasException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        exchange(method, path, body, contentType, timeoutMs, out);
        return new String(out.toByteArray(), StandardCharsets.UTF_8);
    }

    /**
     * GETs {@code path} into {@code target}: written beside it first and moved into place, so a failed or cut
     * download never leaves a half-written file under the name.
     */
    protected void download(String path, Path target, int timeoutMs) throws OmniClasException {
        Path tmp = null;
        try {
            Path dir = target.toAbsolutePath().getParent();
            if (dir != null) Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, ".omniclas-", ".part");
            try (OutputStream out = Files.newOutputStream(tmp)) {
                exchange("GET", path, null, null, timeoutMs, out);
            }
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
        } catch (IOException e) {
            throw new OmniClasException(0, "Cannot write " + target + ": " + e.getMessage(), "file");
        } finally {
            if (tmp != null) {
                try { Files.deleteIfExists(tmp); } catch (IOException ignored) { /* best effort */ }
            }
        }
    }

    /** One request; a 2xx body goes to {@code sink}, anything else becomes an exception with the server's message. */
    private void exchange(String method, String path, byte[] body, String contentType, int timeoutMs, OutputStream sink)
            throws OmniClasException {
        String url = apiBase + path;
        checkUrl(url);
        HttpURLConnection con = null;
        try {
            con = (HttpURLConnection) new URL(url).openConnection();
            con.setRequestMethod(method);
            con.setConnectTimeout(connectTimeoutMs);
            con.setReadTimeout(timeoutMs);
            con.setUseCaches(false);
            con.setRequestProperty("Accept", "application/json");
            con.setRequestProperty("User-Agent", "omniclas-fiji");
            if (token != null) con.setRequestProperty("Authorization", "Bearer " + token);
            if (body != null) {
                con.setDoOutput(true);
                con.setRequestProperty("Content-Type", contentType);
                con.setFixedLengthStreamingMode(body.length);
                try (OutputStream out = con.getOutputStream()) {
                    out.write(body);
                }
            }
            int code = con.getResponseCode();
            if (code >= 200 && code < 300) {
                InputStream in = con.getInputStream();
                if (in != null) copy(in, sink);
                return;
            }
            InputStream in = con.getErrorStream();
            String text = in == null ? "" : new String(readAll(in), StandardCharsets.UTF_8);
            String t = text.trim();
            if (!t.isEmpty() && !t.startsWith("{")) throw notOmniClas(serverUrl, code, text); // OmniClas errors are JSON
            throw errorFrom(code, text);
        } catch (ConnectException | UnknownHostException | NoRouteToHostException e) {
            throw OmniClasException.unreachable(serverUrl, e);
        } catch (SocketTimeoutException e) {
            throw new OmniClasException(0, "The OmniClas server at " + serverUrl + " did not answer in time ("
                    + method + " " + path + ").", null);
        } catch (IOException e) {
            if (con == null) throw OmniClasException.unreachable(serverUrl, e);
            throw new OmniClasException(0, "Connection to the OmniClas server at " + serverUrl + " failed: "
                    + e.getMessage(), null);
        } finally {
            if (con != null) con.disconnect();
        }
    }

    private static void copy(InputStream in, OutputStream out) throws IOException {
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) out.write(buf, 0, n);
    }

    /** Turns an error answer into an exception carrying the server's own message. */
    static OmniClasException errorFrom(int code, String text) {
        String message = null;
        String field = null;
        try {
            JsonElement root = GSON.fromJson(text, JsonElement.class);
            if (root != null && root.isJsonObject()) {
                JsonElement err = root.getAsJsonObject().get("error");
                if (err != null && err.isJsonObject()) {
                    Dto.ErrorBody b = GSON.fromJson(err, Dto.ErrorBody.class);
                    message = b.message;
                    field = b.field;
                    if (b.errorId != null && message != null) message = message + " (error id " + b.errorId + ")";
                } else if (err != null && err.isJsonPrimitive()) {
                    message = err.getAsString();
                } else if (root.getAsJsonObject().has("message")) {
                    message = root.getAsJsonObject().get("message").getAsString();
                }
            }
        } catch (RuntimeException ignored) {
            // not JSON: fall through
        }
        if (message == null || message.isEmpty()) {
            message = "HTTP " + code + (text == null || text.trim().isEmpty() ? "" : ": " + abbreviate(text));
        }
        return new OmniClasException(code, message, field);
    }

    /** multipart/form-data body: text fields first, then one part per file under {@code fileField}. */
    public static byte[] buildMultipart(String boundary, Map<String, String> fields, String fileField,
                                        List<ImagePart> files) {
        return buildMultipart(boundary, fields, Collections.singletonMap(fileField, files));
    }

    /** multipart/form-data body: text fields first, then the files of each form field in turn. */
    public static byte[] buildMultipart(String boundary, Map<String, String> fields,
                                        Map<String, List<ImagePart>> filesByField) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            for (Map.Entry<String, String> f : fields.entrySet()) {
                write(out, "--" + boundary + "\r\n");
                write(out, "Content-Disposition: form-data; name=\"" + quote(f.getKey()) + "\"\r\n");
                write(out, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
                write(out, f.getValue() == null ? "" : f.getValue());
                write(out, "\r\n");
            }
            for (Map.Entry<String, List<ImagePart>> field : filesByField.entrySet()) {
                for (ImagePart p : field.getValue()) {
                    write(out, "--" + boundary + "\r\n");
                    write(out, "Content-Disposition: form-data; name=\"" + quote(field.getKey()) + "\"; filename=\""
                            + quote(p.filename) + "\"\r\n");
                    write(out, "Content-Type: " + p.contentType + "\r\n\r\n");
                    out.write(p.data);
                    write(out, "\r\n");
                }
            }
            write(out, "--" + boundary + "--\r\n");
        } catch (IOException e) {
            throw new IllegalStateException(e); // cannot happen with a byte array
        }
        return out.toByteArray();
    }

    private static String quote(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\r", " ").replace("\n", " ");
    }

    private static void write(OutputStream out, String s) throws IOException {
        out.write(s.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] readAll(InputStream in) throws IOException {
        try (InputStream is = in) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            byte[] b = new byte[8192];
            int n;
            while ((n = is.read(b)) > 0) buf.write(b, 0, n);
            return buf.toByteArray();
        }
    }

    private static String enc(String s) {
        try {
            return URLEncoder.encode(s, "UTF-8").replace("+", "%20");
        } catch (java.io.UnsupportedEncodingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String abbreviate(String s) {
        if (s == null) return "";
        s = s.trim();
        return s.length() > 300 ? s.substring(0, 300) + "..." : s;
    }
}

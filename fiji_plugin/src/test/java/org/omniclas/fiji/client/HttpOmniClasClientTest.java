package org.omniclas.fiji.client;

import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.Assert.*;

/** Requests against a stub HttpServer on 127.0.0.1 (port 0). */
public class HttpOmniClasClientTest {
    static final class Seen {
        String method, path, query, auth, contentType;
        byte[] body;
    }

    private HttpServer server;
    private final List<Seen> seen = Collections.synchronizedList(new ArrayList<>());
    private final Map<String, Object[]> answers = new LinkedHashMap<>(); // "METHOD path" -> {code, body}
    private String url;

    @Before public void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
        server.createContext("/", this::handle);
        server.start();
        url = "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @After public void stop() {
        server.stop(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        Seen s = new Seen();
        s.method = ex.getRequestMethod();
        s.path = ex.getRequestURI().getRawPath();
        s.query = ex.getRequestURI().getRawQuery();
        s.auth = ex.getRequestHeaders().getFirst("Authorization");
        s.contentType = ex.getRequestHeaders().getFirst("Content-Type");
        s.body = readAll(ex.getRequestBody());
        seen.add(s);
        Object[] a = answers.get(s.method + " " + s.path);
        if (a == null) a = new Object[]{404, "{\"error\":{\"status\":404,\"message\":\"no route " + s.path + "\"}}"};
        byte[] out = ((String) a[1]).getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        if (s.method.equals("HEAD")) { // no body to a HEAD request
            ex.sendResponseHeaders((Integer) a[0], -1);
            ex.close();
            return;
        }
        ex.sendResponseHeaders((Integer) a[0], out.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(out);
        }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        int n;
        while ((n = in.read(buf)) > 0) b.write(buf, 0, n);
        return b.toByteArray();
    }

    private void answer(String key, int code, String body) { answers.put(key, new Object[]{code, body}); }

    @Test public void healthUsesApiPrefixAndNoAuthWithoutToken() throws Exception {
        answer("GET /api/v1/health", 200, "{\"status\":\"ok\",\"version\":\"0.1.0\",\"auth_required\":false}");
        Dto.Health h = new HttpOmniClasClient(url + "/", null).health();
        assertEquals("0.1.0", h.version);
        assertNull(seen.get(0).auth);
    }

    @Test public void urlAlreadyEndingInApiV1IsKept() throws Exception {
        answer("GET /api/v1/health", 200, "{\"status\":\"ok\"}");
        new HttpOmniClasClient(url + "/api/v1", "").health();
        assertEquals("/api/v1/health", seen.get(0).path);
    }

    @Test public void bearerTokenIsSent() throws Exception {
        answer("DELETE /api/v1/models/my%20model", 200, "{\"deleted\":\"my model\"}");
        new HttpOmniClasClient(url, "s3cret").deleteModel("my model");
        Seen s = seen.get(0);
        assertEquals("DELETE", s.method);
        assertEquals("Bearer s3cret", s.auth);
    }

    @Test public void multipartPredictBody() throws Exception {
        answer("POST /api/v1/predict", 200, "{\"model\":\"m\",\"results\":[{\"image\":\"a.tif\",\"class\":\"X\",\"confidence\":0.7,"
                + "\"probabilities\":{\"X\":0.7,\"Y\":0.3},\"top\":[{\"class\":\"X\",\"probability\":0.7}]}]}");
        byte[] img1 = {0, 1, 2, (byte) 255, 13, 10};
        byte[] img2 = "PNGDATA".getBytes(StandardCharsets.US_ASCII);
        Dto.PredictResponse r = new HttpOmniClasClient(url, "t").predict("m",
                Arrays.asList(new ImagePart("a.tif", img1), new ImagePart("b.png", img2)));
        assertEquals("X", r.results.get(0).className);
        Seen s = seen.get(0);
        assertEquals("Bearer t", s.auth);
        assertTrue(s.contentType.startsWith("multipart/form-data; boundary="));
        String boundary = s.contentType.substring(s.contentType.indexOf("boundary=") + 9);
        String body = new String(s.body, StandardCharsets.ISO_8859_1);
        assertTrue(body.startsWith("--" + boundary + "\r\n"));
        assertTrue(body.contains("Content-Disposition: form-data; name=\"model\"\r\n"));
        assertTrue(body.contains("\r\n\r\nm\r\n--" + boundary));
        assertTrue(body.contains("Content-Disposition: form-data; name=\"images\"; filename=\"a.tif\"\r\nContent-Type: image/tiff\r\n\r\n"
                + new String(img1, StandardCharsets.ISO_8859_1) + "\r\n"));
        assertTrue(body.contains("filename=\"b.png\"\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n"));
        assertTrue(body.endsWith("--" + boundary + "--\r\n"));
    }

    @Test public void predictObjectsSendsOptionsImagesThenLabels() throws Exception {
        answer("POST /api/v1/predict", 200, "{\"model\":\"m\",\"results\":[{\"image\":\"f.tif\",\"object\":3,"
                + "\"x\":4.5,\"y\":6.0,\"bbox_x\":1,\"bbox_y\":2,\"bbox_width\":7,\"bbox_height\":8,\"area\":40,"
                + "\"border\":true,\"class\":\"X\",\"confidence\":0.7},{\"image\":\"f.tif\",\"object\":4,"
                + "\"error\":\"f.tif: object 4: too small\"}],\"objects\":[{\"image\":\"f.tif\",\"objects\":2}]}");
        Map<String, String> options = new LinkedHashMap<>();
        options.put("padding", "0.1");
        Dto.ObjectsResponse r = new HttpOmniClasClient(url, null).predictObjects("m",
                Arrays.asList(new ImagePart("f.tif", new byte[]{1})), Arrays.asList(new ImagePart("f_labels.tif", new byte[]{2})),
                options);
        Dto.ObjectResult first = r.results.get(0);
        assertEquals(Integer.valueOf(3), first.object);
        assertEquals(7, first.bboxWidth);
        assertEquals(40, first.area);
        assertTrue(first.border);
        assertEquals("X", first.className);
        assertEquals("f.tif: object 4: too small", r.results.get(1).error);
        assertEquals(2.0, ((Number) r.objects.get(0).get("objects")).doubleValue(), 0);
        String body = new String(seen.get(0).body, StandardCharsets.ISO_8859_1);
        int model = body.indexOf("name=\"model\""), padding = body.indexOf("name=\"padding\"");
        int images = body.indexOf("name=\"images\"; filename=\"f.tif\""), labels = body.indexOf("name=\"labels\"; filename=\"f_labels.tif\"");
        assertTrue(body, model >= 0 && model < padding && padding < images && images < labels);
    }

    @Test public void jobLifecycleRequests() throws Exception {
        answer("POST /api/v1/jobs", 202, "{\"job_id\":\"j7\",\"state\":\"queued\"}");
        answer("GET /api/v1/jobs/j7", 200, "{\"id\":\"j7\",\"state\":\"finished\",\"result\":{\"test_accuracy\":0.5}}");
        answer("POST /api/v1/jobs/j7/cancel", 200, "{\"id\":\"j7\",\"state\":\"cancelled\"}");
        answer("POST /api/v1/jobs/j7/register", 201, "{\"name\":\"mine\",\"classes\":[\"a\",\"b\"]}");
        answer("GET /api/v1/jobs/j7/log", 200, "{\"lines\":[\"one\",\"two\"]}");
        HttpOmniClasClient c = new HttpOmniClasClient(url, null);
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("dataset", "/d");
        spec.put("process", "nd");
        Dto.Job j = c.submitJob(spec);
        assertEquals("j7", j.id());
        JsonObject sent = HttpOmniClasClient.gson().fromJson(new String(seen.get(0).body, StandardCharsets.UTF_8), JsonObject.class);
        assertEquals("/d", sent.get("dataset").getAsString());
        assertTrue(seen.get(0).contentType.startsWith("application/json"));
        assertEquals("finished", c.job("j7").state);
        assertEquals("cancelled", c.cancelJob("j7").state);
        assertEquals("mine", c.registerJob("j7", "mine").name);
        JsonObject reg = HttpOmniClasClient.gson().fromJson(new String(seen.get(3).body, StandardCharsets.UTF_8), JsonObject.class);
        assertEquals("mine", reg.get("name").getAsString());
        assertEquals(Arrays.asList("one", "two"), c.jobLog("j7", 5));
        assertEquals("tail=5", seen.get(4).query);
    }

    @Test public void suggestSendsOnlyTheGivenChoicesAndReadsTheBatch() throws Exception {
        answer("POST /api/v1/suggest", 200, "{\"dataset\":\"/d\",\"model\":null,\"strategy\":\"cold-start\","
                + "\"notes\":[\"no model yet\"],\"suggestions\":[{\"rank\":1,\"image\":\"unlabelled/a.png\","
                + "\"reason\":\"typical of cluster 1\",\"guess\":null,\"confidence\":null},{\"rank\":2,"
                + "\"image\":\"unlabelled/b.png\",\"reason\":\"uncertain\",\"guess\":\"X\",\"confidence\":0.51}]}");
        HttpOmniClasClient c = new HttpOmniClasClient(url, null);
        Dto.SuggestResponse r = c.suggest("/d", null, null, 24);
        assertEquals("cold-start", r.strategy);
        assertNull(r.model);
        assertEquals(Collections.singletonList("no model yet"), r.notes);
        assertEquals("unlabelled/a.png", r.suggestions.get(0).image);
        assertNull(r.suggestions.get(0).guess);
        assertNull(r.suggestions.get(0).confidence);
        assertEquals(0.51, r.suggestions.get(1).confidence, 1e-9);
        JsonObject cold = HttpOmniClasClient.gson().fromJson(new String(seen.get(0).body, StandardCharsets.UTF_8), JsonObject.class);
        assertEquals("{\"dataset\":\"/d\",\"n\":24}", cold.toString()); // no model, no job: a cold start
        assertTrue(seen.get(0).contentType.startsWith("application/json"));
        c.suggest("/d", null, "j7", 12);
        JsonObject byJob = HttpOmniClasClient.gson().fromJson(new String(seen.get(1).body, StandardCharsets.UTF_8), JsonObject.class);
        assertEquals("j7", byJob.get("job").getAsString());
        assertFalse(byJob.has("model"));
        assertEquals(12, byJob.get("n").getAsInt());
    }

    @Test public void suggestErrorsAreTheServersWords() {
        answer("POST /api/v1/suggest", 400, "{\"error\":{\"status\":400,\"message\":\"/d/unlabelled has no images\","
                + "\"field\":\"dataset\"}}");
        try {
            new HttpOmniClasClient(url, null).suggest("/d", "m", null, 24);
            fail();
        } catch (OmniClasException e) {
            assertEquals("/d/unlabelled has no images", e.getMessage());
            assertEquals("dataset", e.getField());
        }
    }

    @Test public void anOlderServerWithoutSuggestIsNamed() {
        answer("POST /api/v1/suggest", 404, "{\"error\":{\"status\":404,\"message\":\"The requested URL was not found "
                + "on the server. If you entered the URL manually please check your spelling and try again.\"}}");
        try {
            new HttpOmniClasClient(url, null).suggest("/d", null, null, 24);
            fail();
        } catch (OmniClasException e) {
            assertEquals("The OmniClas server at " + url + " cannot suggest images to label (it has no "
                    + "/api/v1/suggest): update the server to the version of this plugin.", e.getMessage());
        }
    }

    @Test public void serverErrorMessageIsShownAsIs() {
        answer("POST /api/v1/models/x/rename", 404, "{\"error\":{\"status\":404,\"message\":\"no model named 'x'\",\"field\":\"model\"}}");
        try {
            new HttpOmniClasClient(url, null).renameModel("x", "y");
            fail();
        } catch (OmniClasException e) {
            assertEquals("no model named 'x'", e.getMessage());
            assertEquals(404, e.getStatus());
            assertFalse(e.isConnectionFailure());
        }
        JsonObject sent = HttpOmniClasClient.gson().fromJson(new String(seen.get(0).body, StandardCharsets.UTF_8), JsonObject.class);
        assertEquals("y", sent.get("new_name").getAsString());
    }

    @Test public void unauthorizedIs401() {
        answer("DELETE /api/v1/models/x", 401, "{\"error\":{\"status\":401,\"message\":\"missing or wrong token\"}}");
        try {
            new HttpOmniClasClient(url, "bad").deleteModel("x");
            fail();
        } catch (OmniClasException e) {
            assertTrue(e.isUnauthorized());
            assertEquals("missing or wrong token", e.getMessage());
        }
    }

    @Test public void closedPortGivesStartServerHint() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            port = s.getLocalPort();
        }
        try {
            new HttpOmniClasClient("http://127.0.0.1:" + port, null).models();
            fail();
        } catch (OmniClasException e) {
            assertTrue(e.isConnectionFailure());
            assertTrue(e.getMessage(), e.getMessage().contains("omniclas serve"));
            assertTrue(e.getMessage().contains("127.0.0.1:" + port));
        }
    }

    @Test public void reportUrlsAndMissingReport() throws Exception {
        HttpOmniClasClient c = new HttpOmniClasClient(url, null);
        assertEquals(url + "/api/v1/jobs/abc/report", c.jobReportUrl("abc"));
        assertEquals(url + "/api/v1/models/my%20cells/report", c.modelReportUrl("my cells"));
        answer("HEAD /api/v1/jobs/abc/report", 200, "");
        c.checkReport(c.jobReportUrl("abc"));
        assertEquals("HEAD", seen.get(0).method);
        try {
            c.checkReport(c.modelReportUrl("my cells")); // the stub answers 404 for unknown routes
            fail();
        } catch (OmniClasException e) {
            assertEquals(404, e.getStatus());
            assertTrue(e.getMessage(), e.getMessage().startsWith("The server has no report at"));
            assertTrue(e.getMessage().contains("/models/my%20cells/report"));
        }
    }

    @Test public void notJsonIsExplained() {
        answer("GET /api/v1/models", 200, "<html>hello</html>");
        try {
            new HttpOmniClasClient(url, null).models();
            fail();
        } catch (OmniClasException e) {
            assertEquals("The address " + url + " answers but is not an OmniClas server (it sent a web page). Check the "
                    + "URL and its port in Plugins > OmniClas > Server Settings...", e.getMessage());
        }
    }

    /** Issue 22 item 7: another web server's error page is not shown raw; a malformed URL is said to be one. */
    @Test public void anotherServerOrABadUrlIsSaidInWords() {
        answer("GET /api/v1/health", 404, "<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>");
        try {
            new HttpOmniClasClient(url, null).health();
            fail();
        } catch (OmniClasException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("The address " + url + " answers but is not an OmniClas "
                    + "server (it sent a web page, HTTP 404)."));
            assertFalse(e.getMessage().contains("<"));
        }
        for (String bad : new String[]{"http://local host:5000", "http://:5000", "ftp://127.0.0.1:5000"}) {
            try {
                new HttpOmniClasClient(bad, null).health();
                fail(bad);
            } catch (OmniClasException e) {
                assertEquals("\"" + bad + "\" is not a URL: give the server's address like http://127.0.0.1:5000 "
                        + "(Plugins > OmniClas > Server Settings...).", e.getMessage());
            }
        }
    }

    /** Issue 22 item 8: the advice names the port the user set. */
    @Test public void theStartCommandNamesTheUsersPort() {
        assertEquals("omniclas serve --port 5055 --dataset-root FOLDER", OmniClasException.serveCommand("http://127.0.0.1:5055"));
        assertEquals("omniclas serve --dataset-root FOLDER", OmniClasException.serveCommand("http://localhost:5000"));
        assertTrue(OmniClasException.unreachable("http://127.0.0.1:5055", null).getMessage()
                .contains("    omniclas serve --port 5055 --dataset-root FOLDER\n"));
    }
}

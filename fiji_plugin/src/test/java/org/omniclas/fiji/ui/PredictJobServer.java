package org.omniclas.fiji.ui;

import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.omniclas.fiji.client.HttpOmniClasClient;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A stub OmniClas server on 127.0.0.1 playing the predict job contract: POST /jobs {kind, model, folder} → 202;
 * GET /jobs/j1 running once, then finished (or cancelled once POST /jobs/j1/cancel came); GET
 * /jobs/j1/results.csv; and /health, /models, /predict for the image-by-image path. {@link #refuse} makes
 * POST /jobs answer 400 naming a field, as an older server ("kind") or a folder outside the roots ("folder").
 */
public class PredictJobServer implements AutoCloseable {
    public static final String CSV = "image,slice,class,confidence,unsure,runner_up,runner_up_p,p_A,p_B,error\r\n"
            + "a.png,1,A,0.900000,false,B,0.100000,0.900000,0.100000,\r\n"
            + "b.png,1,B,0.700000,false,A,0.300000,0.300000,0.700000,\r\n"
            + "stack.tif,2,B,0.600000,true,A,0.400000,0.400000,0.600000,\r\n"
            + "broken.png,1,,,,,,,,\"broken.png: not a readable PNG, JPEG, TIFF or BMP image\"\r\n";

    public final List<String> requests = Collections.synchronizedList(new ArrayList<>()); // "METHOD path"
    public volatile JsonObject submitted;
    public volatile String refuse; // the field POST /jobs refuses, or null
    public volatile Runnable onFirstPoll; // runs in the server thread at the first GET /jobs/j1
    private volatile boolean cancelled;
    private int polls;
    private final HttpServer server;

    public PredictJobServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    public String url() { return "http://127.0.0.1:" + server.getAddress().getPort(); }

    public HttpOmniClasClient client() { return new HttpOmniClasClient(url(), null); }

    public int count(String request) {
        synchronized (requests) {
            return (int) requests.stream().filter(request::equals).count();
        }
    }

    @Override public void close() { server.stop(0); }

    private void handle(HttpExchange ex) throws IOException {
        String method = ex.getRequestMethod();
        String path = ex.getRequestURI().getPath().replaceFirst("^/api/v1", "");
        String body = new String(readAll(ex.getRequestBody()), StandardCharsets.ISO_8859_1);
        requests.add(method + " " + path);
        String job = "\"id\":\"j1\",\"spec\":{\"kind\":\"predict\",\"model\":\"cells\",\"folder\":\"/data/plate\"}";
        switch (method + " " + path) {
            case "GET /health": send(ex, 200, "{\"status\":\"ok\"}"); return;
            case "GET /models": send(ex, 200, "{\"models\":[{\"name\":\"cells\",\"version\":\"1\",\"classes\":[\"A\",\"B\"]}]}"); return;
            case "GET /models/cells": send(ex, 200, "{\"name\":\"cells\",\"classes\":[\"A\",\"B\"]}"); return;
            case "POST /jobs":
                submitted = HttpOmniClasClient.gson().fromJson(body, JsonObject.class);
                if (refuse != null) {
                    send(ex, 400, "{\"error\":{\"status\":400,\"message\":\"" + ("kind".equals(refuse) ? "unknown job option(s): kind"
                            : "folder is not under a dataset root") + "\",\"field\":\"" + refuse + "\"}}");
                } else {
                    send(ex, 202, "{\"job_id\":\"j1\"," + job + ",\"state\":\"queued\",\"progress\":null}");
                }
                return;
            case "GET /jobs/j1": {
                int n;
                synchronized (this) { n = ++polls; }
                Runnable first = onFirstPoll;
                if (n == 1 && first != null) first.run();
                if (cancelled) send(ex, 200, "{" + job + ",\"state\":\"cancelled\",\"resumable\":true}");
                else if (n == 1) send(ex, 200, "{" + job + ",\"state\":\"running\",\"progress\":{\"stage\":\"predict\","
                        + "\"fraction\":0.5,\"eta_s\":3,\"message\":\"300/600 images\"}}");
                else send(ex, 200, "{" + job + ",\"state\":\"finished\",\"result\":{\"csv\":\"/data/plate/results.csv\","
                        + "\"images\":4,\"rows\":4,\"errors\":1,\"counts\":{\"A\":1,\"B\":2}}}");
                return;
            }
            case "POST /jobs/j1/cancel":
                cancelled = true;
                send(ex, 200, "{" + job + ",\"state\":\"cancelled\",\"resumable\":true}");
                return;
            case "GET /jobs/j1/results.csv": send(ex, 200, CSV); return;
            case "POST /predict": { // one result per image sent
                int images = body.split("filename=\"", -1).length - 1;
                List<String> results = new ArrayList<>();
                for (int i = 0; i < images; i++) {
                    results.add("{\"class\":\"A\",\"confidence\":0.8,\"probabilities\":{\"A\":0.8,\"B\":0.2}}");
                }
                send(ex, 200, "{\"model\":\"cells\",\"results\":[" + String.join(",", results) + "]}");
                return;
            }
            default: send(ex, 404, "{\"error\":{\"status\":404,\"message\":\"no route " + path + "\"}}");
        }
    }

    private static void send(HttpExchange ex, int code, String body) throws IOException {
        byte[] out = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", body.startsWith("image,") ? "text/csv" : "application/json");
        ex.sendResponseHeaders(code, out.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(out);
        }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
        return b.toByteArray();
    }
}

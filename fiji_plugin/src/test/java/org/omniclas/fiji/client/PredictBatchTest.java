package org.omniclas.fiji.client;

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
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.Assert.*;

/**
 * One unreadable image never sinks a batch, against a stub server that reads the upload names: a file named
 * "broken..." is unreadable. Mode {@link Mode#PER_IMAGE}: the server answers 200 with a per-image {@code error}
 * (the agreed API); {@link Mode#WHOLE_BATCH}: it refuses the whole request with 400 naming the file (older servers).
 */
public class PredictBatchTest {
    public enum Mode { PER_IMAGE, WHOLE_BATCH }

    /** A /predict stub on loopback; also answers GET /models/m with classes A and B. */
    public static final class Stub implements AutoCloseable {
        private final HttpServer server;
        public final Mode mode;
        public final List<List<String>> requests = Collections.synchronizedList(new ArrayList<>());
        public final String url;

        public Stub(Mode mode) throws IOException {
            this.mode = mode;
            server = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
            server.createContext("/", this::handle);
            server.start();
            url = "http://127.0.0.1:" + server.getAddress().getPort();
        }

        private void handle(HttpExchange ex) throws IOException {
            String path = ex.getRequestURI().getPath();
            String body = new String(readAll(ex.getRequestBody()), StandardCharsets.ISO_8859_1);
            if (path.equals("/api/v1/models/m")) {
                send(ex, 200, "{\"name\":\"m\",\"version\":1,\"classes\":[\"A\",\"B\"]}");
                return;
            }
            if (!path.equals("/api/v1/predict")) {
                send(ex, 404, "{\"error\":{\"status\":404,\"message\":\"no route\"}}");
                return;
            }
            List<String> names = new ArrayList<>();
            Matcher m = Pattern.compile("filename=\"([^\"]*)\"").matcher(body);
            while (m.find()) names.add(m.group(1));
            requests.add(names);
            List<String> results = new ArrayList<>();
            for (String n : names) {
                String why = n + ": not a readable PNG, JPEG, TIFF or BMP image (image file is truncated)";
                if (n.contains("broken") && mode == Mode.WHOLE_BATCH) {
                    send(ex, 400, "{\"error\":{\"status\":400,\"field\":\"images\",\"message\":\"" + why + "\"}}");
                    return;
                }
                results.add(n.contains("broken") ? "{\"image\":\"" + n + "\",\"error\":\"" + why + "\"}"
                        : "{\"image\":\"" + n + "\",\"class\":\"B\",\"confidence\":0.75,\"probabilities\":{\"A\":0.25,\"B\":0.75},"
                        + "\"top\":[{\"class\":\"B\",\"probability\":0.75}]}");
            }
            send(ex, 200, "{\"model\":\"m\",\"version\":1,\"results\":[" + String.join(",", results) + "]}");
        }

        private static void send(HttpExchange ex, int code, String text) throws IOException {
            byte[] out = text.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.sendResponseHeaders(code, out.length);
            try (OutputStream os = ex.getResponseBody()) {
                os.write(out);
            }
        }

        @Override public void close() { server.stop(0); }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
        return b.toByteArray();
    }

    private Stub stub;

    @After public void stop() {
        if (stub != null) stub.close();
    }

    private static List<ImagePart> parts(String... names) {
        List<ImagePart> out = new ArrayList<>();
        for (String n : names) out.add(new ImagePart(n, new byte[]{1, 2, 3}));
        return out;
    }

    private void check(Mode mode, int expectedRequests) throws Exception {
        stub = new Stub(mode);
        OmniClasClient client = new HttpOmniClasClient(stub.url, null);
        List<List<Dto.PredictResult>> r = PredictBatch.run(client, "m", parts("a.png", "b.png", "broken.png", "c.png"));
        assertEquals(4, r.size());
        for (int i : new int[]{0, 1, 3}) {
            assertFalse(r.get(i).get(0).isError());
            assertEquals("B", r.get(i).get(0).className);
        }
        Dto.PredictResult bad = r.get(2).get(0);
        assertTrue(bad.isError());
        assertNull(bad.className);
        assertEquals("broken.png", bad.image);
        assertEquals("broken.png: not a readable PNG, JPEG, TIFF or BMP image (image file is truncated)", bad.error);
        assertEquals(expectedRequests, stub.requests.size());
    }

    @Test public void aServerThatAnswersPerImage() throws Exception {
        check(Mode.PER_IMAGE, 1);
    }

    /** Today's server refuses the batch: Fiji asks again one image at a time, so only the bad one fails. */
    @Test public void aServerThatRefusesTheWholeBatch() throws Exception {
        check(Mode.WHOLE_BATCH, 1 + 4);
        assertEquals(Arrays.asList("a.png", "b.png", "broken.png", "c.png"), stub.requests.get(0));
    }

    /** What is wrong with the request itself (here: the model) still ends the call. */
    @Test public void aRequestErrorIsNotAnImageError() throws Exception {
        stub = new Stub(Mode.PER_IMAGE);
        OmniClasClient client = new HttpOmniClasClient(stub.url, null) {
            @Override protected String send(String method, String path, byte[] body, String type, int timeout) throws OmniClasException {
                throw new OmniClasException(400, "the form field 'model' (a registered model name) is required", "model");
            }
        };
        try {
            PredictBatch.run(client, "", parts("a.png", "b.png"));
            fail();
        } catch (OmniClasException e) {
            assertTrue(e.getMessage().contains("'model'"));
        }
    }

    @Test public void theUsersOwnNameReplacesTheUploadName() {
        Dto.PredictResult r = Dto.PredictResult.failed("0009_broken.png", "0009_broken.png: not a readable PNG image");
        assertEquals("broken.png: not a readable PNG image", PredictBatch.errorFor(r, "0009_broken.png", "broken.png"));
    }
}

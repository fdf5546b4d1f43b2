package org.omniclas.fiji.ui;

import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.junit.After;
import org.junit.Assume;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.omniclas.fiji.client.HttpOmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.dataset.DatasetFolder;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.Assert.*;

/**
 * The Label next batch on real fixture images against a server on 127.0.0.1 that plays POST /suggest from the
 * dataset on disk (its unlabelled/ files, sorted; a cold start without model or job, guesses with one) and
 * POST /jobs: what is sent, what is shown, and how filed images leave the batch and come back with Undo.
 */
public class NextBatchTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();
    private final List<JsonObject> sent = Collections.synchronizedList(new ArrayList<>());
    private volatile String extra; // one more suggestion the server adds (an image outside unlabelled/)
    private volatile boolean refuse;
    private HttpServer server;
    private HttpOmniClasClient client;
    private Path root;
    private DatasetFolder ds;

    @Before public void setUp() throws IOException {
        Path source = UnreadableImagesTest.DATA.resolve("bbbc013/unlabelled");
        Assume.assumeTrue("fixture images missing", Files.isDirectory(source));
        root = tmp.newFolder("dataset").toPath();
        ds = new DatasetFolder(root);
        try (Stream<Path> s = Files.list(source)) {
            for (Path p : s.sorted().limit(8).collect(Collectors.toList())) Files.copy(p, ds.unlabelledDir().resolve(p.getFileName()));
        }
        server = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
        server.createContext("/", this::handle);
        server.start();
        client = new HttpOmniClasClient("http://127.0.0.1:" + server.getAddress().getPort(), null);
    }

    @After public void stop() {
        if (server != null) server.stop(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        String route = ex.getRequestMethod() + " " + ex.getRequestURI().getPath();
        JsonObject body = HttpOmniClasClient.gson().fromJson(new String(readAll(ex.getRequestBody()), StandardCharsets.UTF_8), JsonObject.class);
        sent.add(body);
        int code = 200;
        String answer;
        if (route.equals("POST /api/v1/jobs")) {
            code = 202;
            answer = "{\"job_id\":\"j1\",\"state\":\"queued\"}";
        } else if (route.equals("POST /api/v1/suggest") && refuse) {
            code = 400;
            answer = "{\"error\":{\"status\":400,\"message\":\"the model knows none of this dataset's classes\",\"field\":\"model\"}}";
        } else if (route.equals("POST /api/v1/suggest")) {
            answer = suggest(body);
        } else {
            code = 404;
            answer = "{\"error\":{\"status\":404,\"message\":\"no route\"}}";
        }
        byte[] out = answer.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(code, out.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(out);
        }
    }

    /** The first n unlabelled files on disk, by name: reasons only for a cold start, a guess with a model. */
    private String suggest(JsonObject body) throws IOException {
        Path dataset = Paths.get(body.get("dataset").getAsString());
        boolean model = body.has("job") || body.has("model");
        List<String> names;
        try (Stream<Path> s = Files.list(dataset.resolve("unlabelled"))) {
            names = s.map(p -> p.getFileName().toString()).sorted().limit(body.get("n").getAsInt()).collect(Collectors.toList());
        }
        StringBuilder rows = new StringBuilder();
        for (int i = 0; i < names.size(); i++) {
            if (i > 0) rows.append(',');
            rows.append("{\"rank\":").append(i + 1).append(",\"image\":\"unlabelled/").append(names.get(i)).append("\",")
                    .append(model ? "\"reason\":\"uncertain: Cells or Debris\",\"guess\":\"Cells\",\"confidence\":0.62}"
                            : "\"reason\":\"typical of cluster " + (i + 1) + "\",\"guess\":null,\"confidence\":null}");
        }
        if (extra != null) rows.append(",{\"rank\":99,\"image\":\"").append(extra).append("\",\"reason\":\"x\"}");
        return "{\"dataset\":\"" + dataset + "\",\"model\":" + (model ? "\"job j1\"" : "null") + ",\"strategy\":\""
                + (model ? "uncertain" : "cold-start") + "\",\"notes\":[" + (model ? "" : "\"no model yet\"")
                + "],\"suggestions\":[" + rows + "]}";
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
        return b.toByteArray();
    }

    private Predicate<Path> unlabelled() {
        return p -> Files.isRegularFile(p) && ds.categoryOf(p) == null;
    }

    @Test public void aColdStartBatchShowsItsReasonsAndFiledImagesLeaveIt() throws Exception {
        NextBatch batch = new NextBatch(root);
        assertTrue(batch.isEmpty());
        batch.request(client, 4);
        JsonObject asked = sent.get(0);
        assertEquals(root.toString(), asked.get("dataset").getAsString());
        assertEquals(4, asked.get("n").getAsInt());
        assertFalse(asked.has("model") || asked.has("job")); // no model yet: a cold start

        List<Path> waiting = batch.waiting(unlabelled());
        List<Path> onDisk = ds.images(null).stream().sorted().limit(4).collect(Collectors.toList());
        assertEquals(onDisk, waiting); // the server's order, as files of this dataset
        assertEquals("typical of cluster 1", batch.label(waiting.get(0)));
        assertNull(batch.guess(waiting.get(0)));
        assertTrue(batch.describe(waiting.get(1)), batch.describe(waiting.get(1)).startsWith("#2 " + waiting.get(1).getFileName() + ": typical of cluster 2"));
        assertTrue(batch.summary(4), batch.summary(4).startsWith("Label next: 4 of 4 to file (cold start"));
        assertEquals("no model yet", batch.notes());
        assertNull(batch.label(ds.images(null).stream().sorted().collect(Collectors.toList()).get(6))); // not in the batch

        // filed with a key: it leaves the batch; Ctrl+Z brings it back where it was in the order
        ds.createCategory("Cells");
        List<Path> to = ds.moveAll(Arrays.asList(waiting.get(1), waiting.get(2)), "Cells");
        batch.renamed(waiting.get(1), to.get(0));
        batch.renamed(waiting.get(2), to.get(1));
        assertEquals(Arrays.asList(waiting.get(0), waiting.get(3)), batch.waiting(unlabelled()));
        for (DatasetFolder.Move m : ds.undo()) batch.renamed(m.from, m.to);
        assertEquals(waiting, batch.waiting(unlabelled()));
    }

    @Test public void retrainIsCheckedFirstAsTrainClassifierChecks() throws Exception {
        NextBatch batch = new NextBatch(root);
        assertTrue(batch.retrainProblems().get(0).startsWith("No class folders in " + root));
        ds.createCategory("Cells");
        ds.moveAll(ds.images(null).subList(0, 3), "Cells");
        assertEquals(Collections.singletonList("Only one class (\"Cells\"): a classifier needs at least two."),
                batch.retrainProblems());
        ds.createCategory("Debris");
        ds.moveAll(ds.images(null).subList(0, 3), "Debris");
        assertEquals(Collections.emptyList(), batch.retrainProblems());
    }

    @Test public void retrainSendsNdThenTheBatchComesFromItsJob() throws Exception {
        NextBatch batch = new NextBatch(root);
        batch.useModel("asked-before");
        assertEquals("j1", batch.submitRetrain(client).id());
        JsonObject job = sent.get(0);
        assertEquals(root.toString(), job.get("dataset").getAsString());
        assertEquals("nd", job.get("process").getAsString());
        assertEquals(2, job.size()); // N.D. with the server's defaults: nothing else

        batch.useJob("j1");
        batch.request(client, 3);
        JsonObject asked = sent.get(1);
        assertEquals("j1", asked.get("job").getAsString());
        assertFalse(asked.has("model"));
        List<Path> waiting = batch.waiting(unlabelled());
        assertEquals(3, waiting.size());
        assertEquals("? Cells 62%", batch.label(waiting.get(0)));
        assertEquals("Cells", batch.guess(waiting.get(0)));
        assertTrue(batch.describe(waiting.get(0)).endsWith("the model says Cells (62%)"));
        assertTrue(batch.summary(3), batch.summary(3).startsWith("Label next: 3 of 3 to file (the images job j1 is least sure of)"));
    }

    @Test public void imagesOutsideUnlabelledAreLeftOutAndCounted() throws Exception {
        NextBatch batch = new NextBatch(root);
        for (String outside : new String[]{"../elsewhere/a.png", "Cells/a.png", "unlabelled"}) {
            extra = outside;
            batch.request(client, 2);
            assertEquals(outside, 2, batch.waiting(p -> true).size());
            assertTrue(batch.summary(2), batch.summary(2).contains("1 suggestion(s) outside unlabelled/ left out"));
        }
    }

    @Test public void theServersRefusalIsItsOwnWordsKeepsTheBatchAndForgetsTheModel() throws Exception {
        NextBatch batch = new NextBatch(root);
        batch.request(client, 2);
        List<Path> before = batch.waiting(unlabelled());
        refuse = true;
        batch.useModel("other-dataset");
        try {
            batch.request(client, 2);
            fail();
        } catch (OmniClasException e) {
            assertEquals("the model knows none of this dataset's classes", e.getMessage());
            assertEquals("model", e.getField());
        }
        assertEquals(before, batch.waiting(unlabelled()));
        refuse = false;
        batch.request(client, 2); // the refused model is forgotten: a cold start
        JsonObject last = sent.get(sent.size() - 1);
        assertFalse(last.toString(), last.has("model") || last.has("job"));
    }
}

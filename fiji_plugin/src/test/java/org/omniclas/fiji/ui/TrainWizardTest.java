package org.omniclas.fiji.ui;

import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpServer;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.HttpOmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.client.TrainingOptions;
import org.omniclas.fiji.client.TrainingOptionsTest;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.Assert.*;

public class TrainWizardTest {
    private TrainingOptions form;
    private HttpServer server;
    private final List<JsonObject> sent = new ArrayList<>();
    private final List<String> refused = new ArrayList<>(); // options the stub server does not take in jobs

    @Before public void setUp() throws Exception {
        form = new TrainingOptions(TrainingOptionsTest.catalog());
        // POST /jobs answers like the server: 400 naming the first option it does not take, else 202
        server = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
        server.createContext("/api/v1/jobs", ex -> {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            int n;
            while ((n = ex.getRequestBody().read(buf)) > 0) b.write(buf, 0, n);
            JsonObject spec = HttpOmniClasClient.gson().fromJson(new String(b.toByteArray(), StandardCharsets.UTF_8), JsonObject.class);
            sent.add(spec);
            String unknown = null;
            for (String r : refused) if (spec.has(r) && unknown == null) unknown = r;
            String body = unknown == null ? "{\"job_id\":\"abcdef012345\",\"state\":\"queued\"}"
                    : "{\"error\":{\"status\":400,\"message\":\"unknown job option(s): " + unknown + "; known: dataset\",\"field\":\"" + unknown + "\"}}";
            byte[] out = body.getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(unknown == null ? 202 : 400, out.length);
            try (OutputStream os = ex.getResponseBody()) {
                os.write(out);
            }
        });
        server.start();
    }

    @After public void tearDown() {
        server.stop(0);
    }

    private HttpOmniClasClient client() {
        return new HttpOmniClasClient("http://127.0.0.1:" + server.getAddress().getPort(), null);
    }

    @Test public void sendsEveryOptionByName() throws Exception {
        Dto.Job job = TrainWizard.submit(client(), form, form.spec("/data/cells"));
        assertEquals("abcdef012345", job.id());
        assertEquals(1, sent.size());
        JsonObject spec = sent.get(0);
        for (Dto.OptionInfo o : form.options()) assertTrue(o.name, spec.has(o.name));
        assertEquals(3, spec.getAsJsonArray("backbones").size());
        assertEquals("5", spec.get("max_iterations").toString()); // an integer, not 5.0
    }

    /** An older server refuses options it describes: defaults are left out (the server has the same ones). */
    @Test public void optionsAnOlderServerRefusesAreLeftOutAtTheirDefault() throws Exception {
        refused.addAll(Arrays.asList("keep", "selection"));
        Dto.Job job = TrainWizard.submit(client(), form, form.spec("/data/cells"));
        assertEquals("abcdef012345", job.id());
        assertEquals(3, sent.size());
        assertFalse(sent.get(2).has("keep") || sent.get(2).has("selection"));
        assertTrue(sent.get(2).has("transforms"));
    }

    @Test public void aChangedOptionTheServerRefusesIsAnError() {
        refused.add("keep");
        form.set("keep", "best");
        try {
            TrainWizard.submit(client(), form, form.spec("/data/cells"));
            fail();
        } catch (OmniClasException e) {
            assertEquals("keep", e.getField());
            assertTrue(e.getMessage(), e.getMessage().contains("does not accept the training option \"keep\""));
        }
        assertEquals(1, sent.size());
    }

    /** What the Recorder writes for a finished run replays to the same job. */
    @Test public void recordedLineReplaysTheSameSpec() throws Exception {
        form.select("mdd");
        form.set("head", "auto");
        form.set("frozen_epochs", 3);
        Map<String, String> rec = TrainWizard.recordedOptions(form, Paths.get("/data/my cells"), "cells");
        StringBuilder line = new StringBuilder();
        for (Map.Entry<String, String> e : rec.entrySet()) {
            String v = e.getValue();
            line.append(e.getKey()).append('=').append(v.contains(" ") ? "[" + v + "]" : v).append(' '); // as Recorder.addQuotes
        }
        assertTrue(line.toString(), line.toString().startsWith("dataset=[/data/my cells] process=mdd backbones=efficientnet_lite0,efficientnet_lite1,efficientnet_lite2 head=auto "));
        assertTrue(line.toString().endsWith("model_name=cells "));
        Map<String, String> parsed = Options.parse(line.toString());
        TrainingOptions replay = new TrainingOptions(TrainingOptionsTest.catalog());
        replay.read(parsed);
        assertEquals(form.spec(parsed.get("dataset")), replay.spec("/data/my cells"));
    }
}

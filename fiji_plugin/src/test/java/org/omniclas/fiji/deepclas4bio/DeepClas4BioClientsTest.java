package org.omniclas.fiji.deepclas4bio;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.AfterClass;
import org.junit.Assume;
import org.junit.BeforeClass;
import org.junit.Test;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.Writer;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.Assert.*;

/**
 * The original DeepClas4Bio clients (DeepClas4BioIJ, DeepCompareJ, DeepClas4BioIcyKvasir), replayed call by call
 * against OmniClas's console scripts and a real registry holding a model trained here through the Python CLI.
 *
 * <p>Each call is what the client does: one command string through {@code Runtime.exec(String)} (which splits it at
 * every space), {@code waitFor()}, then {@code ./data.json} read back. The clients parse it with json-simple; Gson
 * reads it here, with json-simple's rules checked where a client casts: a {@code (String)} needs a JSON string,
 * a {@code (Double)} a number written with a decimal point or an exponent (json-simple makes other numbers a Long).
 * Two things differ from the clients, because a test must not depend on the machine: the scripts are named by their
 * absolute path (the JVM's PATH need not hold the virtual environment), and each call gets the registry through the
 * environment ({@code OMNICLAS_MODELS}) and a working folder of its own.
 *
 * <p>Needs the project's virtual environment ({@code <repo>/.venv}, else {@code $OMNICLAS_VENV}) and BBBC013 images
 * ({@code <repo>/tests/data/bbbc013}, else {@code <repo>/../shared/data/bbbc013}); skips with the reason otherwise.
 */
public class DeepClas4BioClientsTest {
    private static final List<String> CLASSES = Arrays.asList("CytoplasmicGFP", "NoGFP", "NuclearGFP");
    private static final long TIMEOUT_S = 300;
    private static File repo, bin, work, dataset;
    private static String[] env;

    @BeforeClass
    public static void trainAndRegister() throws Exception {
        repo = findRepo();
        bin = findVenvBin(repo);
        Assume.assumeTrue("no virtual environment with the deepclas4bio console scripts: expected " + repo
                + "/.venv/bin or $OMNICLAS_VENV/bin (run scripts/setup.sh)", bin != null);
        File images = findImages(repo);
        Assume.assumeTrue("BBBC013 images not found under " + repo + "/tests/data or " + repo + "/../shared/data",
                images != null);
        work = Files.createTempDirectory("omniclas-dc4b").toFile();
        dataset = new File(work, "dataset");
        for (String c : CLASSES) {
            File from = new File(images, c);
            File to = new File(dataset, c);
            assertTrue(to.mkdirs());
            File[] files = from.listFiles(File::isFile);
            assertNotNull("no images in " + from, files);
            Arrays.sort(files);
            for (int i = 0; i < Math.min(10, files.length); i++) {
                Files.copy(files[i].toPath(), new File(to, files[i].getName()).toPath());
            }
        }
        Map<String, String> vars = new LinkedHashMap<>(System.getenv());
        String pythonPath = new File(repo, "python_server").getAbsolutePath();
        String old = vars.get("PYTHONPATH");
        vars.put("PYTHONPATH", old == null || old.isEmpty() ? pythonPath : pythonPath + File.pathSeparator + old);
        vars.put("OMNICLAS_MODELS", new File(work, "models").getAbsolutePath());
        vars.put("OMP_NUM_THREADS", "1");
        vars.put("OMP_WAIT_POLICY", "PASSIVE");
        List<String> list = new ArrayList<>();
        for (Map.Entry<String, String> e : vars.entrySet()) list.add(e.getKey() + "=" + e.getValue());
        env = list.toArray(new String[0]);
        File run = new File(work, "run");
        setup(exe("omniclas"), "train", dataset.getPath(), "--process", "nd", "--backbones", "efficientnet_lite0",
                "--image-size", "64", "--out", run.getPath());
        setup(exe("omniclas"), "register", run.getPath(), "cells");
    }

    @AfterClass
    public static void cleanUp() throws IOException {
        if (work == null) return;
        try (Stream<Path> paths = Files.walk(work.toPath())) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    // ------------------------------------------------------------------ the clients' calls

    /** DeepClas4BioIJ: list frameworks, list Keras's models, switch to omniclas, classify the open image. */
    @Test
    public void deepClas4BioIJ() throws Exception {
        File dir = folder("ij");
        JsonObject answer = call(dir, "deepclas4bio-listFrameworks");
        List<String> frameworks = strings(answer, "frameworks");
        assertTrue(frameworks.toString(), frameworks.contains("omniclas"));
        answer = call(dir, "deepclas4bio-listModels Keras");  // the first call; it once crashed every client
        assertEquals("models", answer.get("type").getAsString());
        assertEquals("Keras", answer.get("framework").getAsString());
        assertEquals(0, strings(answer, "models").size());
        answer = call(dir, "deepclas4bio-listModels omniclas");  // the user picks the omniclas framework
        assertEquals(Arrays.asList("cells"), strings(answer, "models"));
        String image = image(0).getAbsolutePath();  // IJ.getDirectory("image") + imp.getTitle()
        answer = call(dir, "deepclas4bio-predict " + image + " omniclas cells");
        assertEquals("classification", answer.get("type").getAsString());
        assertTrue(answer.toString(), CLASSES.contains(string(answer, "class")));
    }

    /** DeepCompareJ: its window lists frameworks, models, measures and dataset readers; then it evaluates. */
    @Test
    public void deepCompareJ() throws Exception {
        File dir = folder("compare");
        strings(call(dir, "deepclas4bio-listFrameworks"), "frameworks");
        strings(call(dir, "deepclas4bio-listModels Keras"), "models");
        List<String> measures = strings(call(dir, "deepclas4bio-listMeasures"), "measures");
        assertTrue(measures.toString(), measures.containsAll(Arrays.asList("accuracy", "rank5")));
        JsonArray readers = call(dir, "deepclas4bio-listReadDatasets").getAsJsonArray("readDatasets");
        assertNotNull("no readDatasets key", readers);
        assertEquals(1, readers.size());
        JsonObject reader = readers.get(0).getAsJsonObject();
        assertEquals("ReadDatasetFolders", string(reader, "name"));
        assertFalse(string(reader, "description").isEmpty());

        File labels = new File(dir, "labels.txt");
        Files.write(labels.toPath(), String.join("\n", CLASSES).getBytes(StandardCharsets.UTF_8));
        writeConfig(new File(dir, "config.json"), "ReadDatasetFolders", dataset.getAbsolutePath(),
                labels.getAbsolutePath(), "accuracy", "rank5", "f1");
        Map<String, Map<String, Double>> table = deepCompareTable(call(dir, "deepclas4bio-evaluate config.json"));
        assertEquals(table.keySet().toString(), 1, table.size());
        Map<String, Double> row = table.get("cells");
        assertNotNull(table.toString(), row);
        assertEquals(row.keySet().toString(), 3, row.size());
        assertTrue(row.toString(), row.get("accuracy") > 0.6 && row.get("accuracy") <= 1.0);

        // an error still fills the table: one row named by the message
        writeConfig(new File(dir, "config.json"), "ReadDatasetFolders", new File(dir, "missing").getAbsolutePath(),
                labels.getAbsolutePath(), "accuracy");
        table = deepCompareTable(call(dir, "deepclas4bio-evaluate config.json"));
        assertEquals(1, table.size());
        String name = table.keySet().iterator().next();
        assertTrue(name, name.startsWith("ERROR: ") && name.contains("missing"));
        assertTrue(table.get(name).isEmpty());
    }

    /** DeepClas4BioIcyKvasir: writes its request into ./data.json itself, listing every file of a folder. */
    @Test
    public void icyKvasir() throws Exception {
        File dir = folder("icy");
        File[] files = new File(dataset, "NoGFP").listFiles(File::isFile);
        assertNotNull(files);
        Arrays.sort(files);
        JsonObject request = new JsonObject();
        request.addProperty("framework", "omniclas");
        request.addProperty("model", "cells");
        JsonArray list = new JsonArray();
        for (File f : files) list.add(f.getAbsolutePath());
        request.add("images", list);
        File f = new File(dir, "data.json");
        Files.write(f.toPath(), request.toString().getBytes(StandardCharsets.UTF_8));
        JsonObject answer = call(dir, "deepclas4bio-predictBatch " + f.getAbsolutePath());
        assertEquals("classification", answer.get("type").getAsString());
        JsonArray results = answer.getAsJsonArray("results");
        assertEquals(files.length, results.size());
        int noGfp = 0;
        for (int i = 0; i < results.size(); i++) {
            JsonObject r = results.get(i).getAsJsonObject();
            assertEquals(files[i].getAbsolutePath(), string(r, "image"));
            assertTrue(r.toString(), CLASSES.contains(string(r, "class")));
            if ("NoGFP".equals(string(r, "class"))) noGfp++;
        }
        assertTrue("NoGFP images classified NoGFP: " + noGfp, noGfp >= files.length / 2);
    }

    /** What Runtime.exec(String) does to a path with a space, and a call with the wrong number of arguments. */
    @Test
    public void splitPathsAndUsageErrors() throws Exception {
        File dir = folder("usage");
        File spaced = new File(dir, "my images/cell 1.png");
        assertTrue(spaced.getParentFile().mkdirs());
        Files.copy(image(1).toPath(), spaced.toPath());
        JsonObject answer = call(dir, "deepclas4bio-predict " + spaced.getAbsolutePath() + " omniclas cells");
        assertEquals(spaced.getAbsolutePath(), string(answer, "image"));
        assertTrue(CLASSES.contains(string(answer, "class")));

        answer = call(dir, "deepclas4bio-predict " + spaced.getAbsolutePath());  // no framework, no model
        assertEquals("error", answer.get("type").getAsString());
        assertTrue(answer.toString(), answer.get("message").getAsString().contains("usage"));
        assertTrue("the client reads 'class'", answer.has("class") && answer.get("class").isJsonNull());
        answer = call(dir, "deepclas4bio-listModels");
        assertEquals("error", answer.get("type").getAsString());
        assertEquals(0, strings(answer, "models").size());  // never a stale answer, never a missing key
        answer = call(dir, "deepclas4bio-listModels -f omniclas");  // the old script's flag
        assertEquals(Arrays.asList("cells"), strings(answer, "models"));
    }

    // ------------------------------------------------------------------ helpers

    /** One client call: Runtime.exec(String), waitFor(), then ./data.json, which must be a fresh answer. */
    private static JsonObject call(File dir, String command) throws Exception {
        File answer = new File(dir, "data.json");
        if (!command.contains("predictBatch")) {  // (Icy's request is itself ./data.json)
            Files.write(answer.toPath(), "{\"type\":\"stale\"}".getBytes(StandardCharsets.UTF_8));
        }
        Process p = Runtime.getRuntime().exec(bin.getAbsolutePath() + File.separator + command, env, dir);
        String stderr = read(p.getErrorStream());
        assertTrue(command + " did not finish", p.waitFor(TIMEOUT_S, TimeUnit.SECONDS));
        JsonObject json;
        try (Reader r = new InputStreamReader(Files.newInputStream(answer.toPath()), StandardCharsets.UTF_8)) {
            json = JsonParser.parseReader(r).getAsJsonObject();
        }
        assertFalse(command + " left the previous answer; stderr: " + stderr,
                json.has("type") && "stale".equals(json.get("type").getAsString()));
        assertFalse(stderr, stderr.contains("Traceback"));
        return json;
    }

    /** What DeepCompareJ's table does: every value cast to a JSONObject, every measure to a Double. */
    private static Map<String, Map<String, Double>> deepCompareTable(JsonObject answer) {
        Map<String, Map<String, Double>> table = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> model : answer.entrySet()) {
            assertTrue(model.getKey() + " is not an object: " + model.getValue(), model.getValue().isJsonObject());
            Map<String, Double> row = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> m : model.getValue().getAsJsonObject().entrySet()) {
                row.put(m.getKey(), jsonSimpleDouble(m.getValue()));
            }
            table.put(model.getKey(), row);
        }
        return table;
    }

    private static Double jsonSimpleDouble(JsonElement v) {
        if (v.isJsonNull()) return null;
        assertTrue(v + " is not a number", v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber());
        String text = v.getAsJsonPrimitive().getAsNumber().toString();
        assertTrue("json-simple reads " + text + " as a Long, which (Double) cannot cast",
                text.contains(".") || text.contains("e") || text.contains("E"));
        return v.getAsDouble();
    }

    private static String string(JsonObject o, String key) {
        JsonElement v = o.get(key);
        assertTrue(key + " is not a string in " + o, v != null && v.isJsonPrimitive() && v.getAsJsonPrimitive().isString());
        return v.getAsString();
    }

    private static List<String> strings(JsonObject o, String key) {
        JsonElement v = o.get(key);
        assertTrue("no array '" + key + "' in " + o, v != null && v.isJsonArray());  // the clients iterate it
        List<String> out = new ArrayList<>();
        for (JsonElement e : v.getAsJsonArray()) {
            assertTrue(e + " is not a string", e.isJsonPrimitive() && e.getAsJsonPrimitive().isString());
            out.add(e.getAsString());
        }
        return out;
    }

    /** config.json as DeepCompareJ's Evaluate writes it. */
    private static void writeConfig(File file, String reader, String pathDataset, String pathLabels,
                                    String... measures) throws IOException {
        Map<String, Object> config = new LinkedHashMap<>();
        Map<String, String> predictor = new LinkedHashMap<>();
        predictor.put("framework", "omniclas");
        predictor.put("model", "cells");
        config.put("predictors", Arrays.asList(predictor));
        config.put("measures", Arrays.asList(measures));
        config.put("readDataset", reader);
        config.put("pathDataset", pathDataset);
        config.put("pathLabels", pathLabels);
        try (Writer w = Files.newBufferedWriter(file.toPath(), StandardCharsets.UTF_8)) {
            new Gson().toJson(config, w);
        }
    }

    private static File folder(String name) {
        File dir = new File(work, name);
        assertTrue(dir.mkdirs() || dir.isDirectory());
        return dir;
    }

    private static File image(int i) {
        File[] files = new File(dataset, CLASSES.get(i)).listFiles(File::isFile);
        assertNotNull(files);
        Arrays.sort(files);
        return files[0];
    }

    private static String exe(String name) {
        return new File(bin, name).getAbsolutePath();
    }

    /** A setup step (not a client call): run it, and fail with its output if it fails. */
    private static void setup(String... command) throws Exception {
        File log = new File(work, "setup.log");
        ProcessBuilder pb = new ProcessBuilder(command).directory(work).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log));
        pb.environment().clear();
        for (String e : env) {
            int eq = e.indexOf('=');
            pb.environment().put(e.substring(0, eq), e.substring(eq + 1));
        }
        Process p = pb.start();
        assertTrue(String.join(" ", command) + " did not finish", p.waitFor(TIMEOUT_S * 2, TimeUnit.SECONDS));
        if (p.exitValue() != 0) {
            String text = new String(Files.readAllBytes(log.toPath()), StandardCharsets.UTF_8);
            fail(String.join(" ", command) + " failed:\n" + text.substring(Math.max(0, text.length() - 3000)));
        }
    }

    private static String read(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) > 0) sb.append(new String(buf, 0, n, StandardCharsets.UTF_8));
        return sb.toString();
    }

    private static File findRepo() throws URISyntaxException {
        File dir = new File(DeepClas4BioClientsTest.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        for (File d = dir; d != null; d = d.getParentFile()) {
            if (new File(d, "pyproject.toml").isFile() && new File(d, "python_server").isDirectory()) return d;
        }
        return new File(System.getProperty("user.dir")).getAbsoluteFile().getParentFile();
    }

    /** The repository's own .venv first (as CI builds it), else $OMNICLAS_VENV. */
    private static File findVenvBin(File repo) {
        List<File> candidates = new ArrayList<>();
        candidates.add(new File(repo, ".venv"));
        String fromEnv = System.getenv("OMNICLAS_VENV");
        if (fromEnv != null && !fromEnv.isEmpty()) candidates.add(new File(fromEnv));
        for (File venv : candidates) {
            File b = new File(venv, "bin");
            if (new File(b, "deepclas4bio-listFrameworks").canExecute() && new File(b, "omniclas").canExecute()) {
                return b.getAbsoluteFile();
            }
        }
        return null;
    }

    private static File findImages(File repo) {
        for (File f : new File[]{new File(repo, "tests/data/bbbc013"), new File(repo, "../shared/data/bbbc013")}) {
            boolean ok = true;
            for (String c : CLASSES) ok &= new File(f, c).isDirectory();
            if (ok) return f;
        }
        return null;
    }
}

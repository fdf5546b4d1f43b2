package org.omniclas.fiji.ui;

import ij.Prefs;
import org.omniclas.fiji.client.HttpOmniClasClient;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.ServerLauncher;

import java.awt.GraphicsEnvironment;
import java.io.File;
import java.net.URI;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * Server address and token, and how to start a server (the OmniClas environment, models folder, dataset roots),
 * kept in ImageJ's preferences (IJ_Prefs.txt; the token is stored in plain text).
 */
public final class Settings {
    public static final String KEY_URL = "omniclas.url";
    public static final String KEY_TOKEN = "omniclas.token";
    public static final String KEY_EXECUTABLE = "omniclas.executable";
    public static final String KEY_MODELS_ROOT = "omniclas.models_root";
    public static final String KEY_DATASET_ROOTS = "omniclas.dataset_roots";
    public static final String KEY_LAST_DATASET = "omniclas.dataset";
    public static final String KEY_LAST_SOURCE = "omniclas.source";
    public static final String KEY_LAST_MODEL = "omniclas.model";

    private Settings() {}

    public static String url() {
        return Prefs.get(KEY_URL, HttpOmniClasClient.DEFAULT_URL);
    }

    /** The token from the preferences, else from the environment variable OMNICLAS_TOKEN. */
    public static String token() {
        String t = Prefs.get(KEY_TOKEN, "");
        if (t == null || t.isEmpty()) {
            String env = System.getenv("OMNICLAS_TOKEN");
            t = env == null ? "" : env;
        }
        return t;
    }

    public static void save(String url, String token) {
        Prefs.set(KEY_URL, url == null || url.trim().isEmpty() ? HttpOmniClasClient.DEFAULT_URL : url.trim());
        Prefs.set(KEY_TOKEN, token == null ? "" : token.trim());
        persist();
    }

    /** The OmniClas environment folder, its omniclas executable or its Python; empty: omniclas on the PATH. */
    public static String executable() { return Prefs.get(KEY_EXECUTABLE, ""); }

    /**
     * Where a server started by Fiji keeps its models; empty (the default): the server's own default, the one
     * registry the command line uses too ({@code ~/OmniClas/models}, or {@code $OMNICLAS_MODELS}).
     */
    public static String modelsRoot() {
        return Prefs.get(KEY_MODELS_ROOT, "");
    }

    /** What the models folder setting means, for people. */
    public static String modelsRootText() {
        String root = modelsRoot();
        return root.trim().isEmpty() ? "the server's default (~/OmniClas/models, or $OMNICLAS_MODELS)" : root;
    }

    /** The dataset roots of a server started by Fiji (default: the home folder), as typed: separated by ';'. */
    public static String datasetRootsText() {
        return Prefs.get(KEY_DATASET_ROOTS, System.getProperty("user.home"));
    }

    public static List<Path> datasetRoots() {
        return splitRoots(datasetRootsText());
    }

    /** "a;b" (or the system's path separator, ':' on Linux/macOS) → folders. */
    public static List<Path> splitRoots(String text) {
        List<Path> out = new ArrayList<>();
        if (text == null) return out;
        String sep = File.pathSeparatorChar == ';' ? ";" : "[;" + File.pathSeparator + "]";
        for (String s : text.split(sep)) if (!s.trim().isEmpty()) out.add(Paths.get(s.trim()));
        return out;
    }

    public static void saveServerStart(String executable, String modelsRoot, String datasetRoots) {
        Prefs.set(KEY_EXECUTABLE, executable == null ? "" : executable.trim());
        Prefs.set(KEY_MODELS_ROOT, modelsRoot == null ? "" : modelsRoot.trim());
        Prefs.set(KEY_DATASET_ROOTS, datasetRoots == null ? "" : datasetRoots.trim());
        persist();
    }

    /** True when the server URL points at this machine (only then can Fiji start the server). */
    public static boolean isLoopback(String url) {
        try {
            String host = URI.create(url.contains("://") ? url : "http://" + url).getHost();
            return host != null && (host.equals("127.0.0.1") || host.equals("localhost") || host.equals("::1") || host.equals("[::1]"));
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** The port of the server URL (5000 when none is given). */
    public static int port(String url) {
        try {
            int p = URI.create(url.contains("://") ? url : "http://" + url).getPort();
            return p > 0 ? p : 5000;
        } catch (IllegalArgumentException e) {
            return 5000;
        }
    }

    /** How to start a server for the current settings. */
    public static ServerLauncher.Config launchConfig() {
        ServerLauncher.Config c = new ServerLauncher.Config();
        c.executable = executable();
        c.port = port(url());
        c.modelsRoot = modelsRoot();
        for (Path p : datasetRoots()) c.datasetRoots.add(p.toString());
        String dir = Prefs.getPrefsDir();
        c.logFile = Paths.get(dir == null ? System.getProperty("java.io.tmpdir") : dir, "omniclas-server.log");
        return c;
    }

    /**
     * The model name the Train wizard was given for a job, kept until the job finished, so that a job resumed
     * later (Jobs...) is registered under it; null when none was given.
     */
    public static String modelNameOf(String jobId) {
        String name = Prefs.get(jobKey(jobId), "");
        return name.isEmpty() ? null : name;
    }

    public static void rememberModelName(String jobId, String modelName) {
        Prefs.set(jobKey(jobId), modelName == null || modelName.trim().isEmpty() ? null : modelName.trim());
        persist();
    }

    public static void forgetModelName(String jobId) {
        if (modelNameOf(jobId) != null) rememberModelName(jobId, null);
    }

    private static String jobKey(String jobId) { return "omniclas.job_model_name." + jobId; }

    public static String get(String key, String dflt) { return Prefs.get(key, dflt); }

    public static void put(String key, String value) { Prefs.set(key, value == null ? "" : value); }

    /** Writes IJ_Prefs.txt at once in a desktop session (ImageJ also writes it when it quits). */
    public static void persist() {
        if (!GraphicsEnvironment.isHeadless() && ij.IJ.getInstance() != null) Prefs.savePreferences();
    }

    public static OmniClasClient client() {
        return new HttpOmniClasClient(url(), token());
    }
}

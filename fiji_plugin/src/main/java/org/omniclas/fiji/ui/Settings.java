package org.omniclas.fiji.ui;

import ij.Prefs;
import org.omniclas.fiji.client.HttpOmniClasClient;
import org.omniclas.fiji.client.OmniClasClient;

import java.awt.GraphicsEnvironment;

/** Server address and token, kept in ImageJ's preferences (IJ_Prefs.txt; the token is stored in plain text). */
public final class Settings {
    public static final String KEY_URL = "omniclas.url";
    public static final String KEY_TOKEN = "omniclas.token";
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

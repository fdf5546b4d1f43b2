package org.omniclas.fiji.ui;

import ij.IJ;
import ij.Macro;
import org.omniclas.fiji.client.OmniClasException;

import java.awt.GraphicsEnvironment;

/**
 * Where the plugin's error messages go: one {@link IJ#error} dialog on the desktop, the Log (and stderr)
 * when headless. Tests and scripts can read {@link #lastError()} or install their own {@link Handler}.
 * Never shows a stack trace.
 */
public final class Reporter {
    public interface Handler {
        void error(String title, String message);
    }

    public static final String TITLE = "OmniClas";

    private static volatile Handler handler;
    private static volatile String lastError;

    private Reporter() {}

    public static void setHandler(Handler h) { handler = h; }
    public static String lastError() { return lastError; }
    public static void clearLastError() { lastError = null; }

    public static void error(String message) { error(TITLE, message); }

    public static void error(String title, String message) {
        lastError = message;
        Handler h = handler;
        if (h != null) {
            h.error(title, message);
        } else if (GraphicsEnvironment.isHeadless()) {
            IJ.log(title + " error: " + message); // headless, the Log is stdout
        } else {
            IJ.error(title, message);
        }
    }

    public static void error(OmniClasException e) {
        error(TITLE, e.getMessage());
    }

    /** Unexpected failure inside the plugin: short message; the trace only goes to the Log in debug mode. */
    public static void unexpected(String what, Throwable t) {
        if (t instanceof OmniClasException) {
            error((OmniClasException) t);
            return;
        }
        if (IJ.debugMode) IJ.log(what + ": " + t);
        String msg = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        error(TITLE, what + ":\n" + msg);
        if (Macro.getOptions() != null && !GraphicsEnvironment.isHeadless()) Macro.abort();
    }
}

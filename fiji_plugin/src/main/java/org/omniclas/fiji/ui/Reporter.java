package org.omniclas.fiji.ui;

import ij.IJ;
import ij.Macro;
import ij.Prefs;
import ij.macro.Interpreter;
import ij.plugin.frame.Recorder;
import org.omniclas.fiji.client.OmniClasException;

import java.awt.GraphicsEnvironment;

/**
 * Where the plugin's error messages go. On a desktop: one {@link IJ#error} dialog. Unattended (headless, a macro
 * in batch mode, or {@code ImageJ -batch}): the Log only, never a dialog; the macro is aborted, and under
 * {@code -batch} ImageJ exits with code 1 (it would exit 0 otherwise). A failed command is never recorded.
 * Tests and scripts can read {@link #lastError()} or install their own {@link Handler}. Never shows a stack trace.
 */
public final class Reporter {
    public interface Handler {
        void error(String title, String message);
    }

    public static final String TITLE = "OmniClas";
    /** Exit code of {@code ImageJ -batch} after an OmniClas error. */
    public static final int BATCH_EXIT_CODE = 1;

    private static volatile Handler handler;
    private static volatile String lastError;

    private Reporter() {}

    public static void setHandler(Handler h) { handler = h; }
    public static String lastError() { return lastError; }
    public static void clearLastError() { lastError = null; }

    /** Nobody is there to answer a dialog: headless, a macro in batch mode, or {@code ImageJ -batch}. */
    public static boolean unattended() {
        return GraphicsEnvironment.isHeadless() || Interpreter.isBatchMode() || commandLineBatch();
    }

    /** {@code ImageJ -batch macro.ijm}: a command-line macro with no ImageJ window. */
    public static boolean commandLineBatch() {
        return IJ.getInstance() == null && Prefs.commandLineMacro();
    }

    public static void error(String message) { error(TITLE, message); }

    public static void error(String title, String message) {
        lastError = message;
        IJ.showStatus(""); // no stale "asking the server..." after a failure
        IJ.showProgress(1.0);
        Recorder.disableCommandRecording(); // record only what ran
        Handler h = handler;
        if (h != null) {
            h.error(title, message);
        } else if (unattended()) {
            IJ.log(title + " error: " + message);
            if (commandLineBatch()) {
                System.out.flush();
                System.exit(BATCH_EXIT_CODE); // the shutdown hooks still stop a server Fiji started
            }
            abortMacro();
        } else {
            ScreenFit.install(); // a window manager's frame must not hide the OK button
            IJ.error(title, ScreenFit.wrap(message)); // (aborts a running macro after the dialog)
        }
    }

    /**
     * Stops the macro that ran this command after it returns. A plugin cannot throw its way out (ImageJ catches
     * "Macro canceled" and goes on with the next line), so the interpreter is told to stop; ImageJ then waits
     * up to 2 s for it, a price paid only on errors.
     */
    private static void abortMacro() {
        Interpreter interp = Interpreter.getInstance();
        if (interp != null) Interpreter.abort(interp); // (none: a script or Java called the command; it reads lastError)
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
        if (t instanceof RuntimeException && Macro.MACRO_CANCELED.equals(t.getMessage())) {
            throw (RuntimeException) t; // a macro being aborted (by an error reported already): let it go
        }
        if (IJ.debugMode) IJ.log(what + ": " + t);
        String msg = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        error(TITLE, what + ":\n" + msg);
    }

    /** A message that is not an error: a dialog on the desktop, the Log when unattended. */
    public static void info(String message) {
        if (unattended()) IJ.log(TITLE + ": " + message);
        else {
            ScreenFit.install();
            IJ.showMessage(TITLE, ScreenFit.wrap(message));
        }
    }
}

package org.omniclas.fiji.ui;

import ij.IJ;
import org.omniclas.fiji.client.OmniClasClient;

import javax.swing.JOptionPane;
import javax.swing.SwingWorker;
import java.awt.Component;
import java.awt.Desktop;
import java.awt.Toolkit;
import java.awt.datatransfer.StringSelection;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Opens a training report (downloaded from the server: a browser cannot send the server's token) in a web
 * browser. Where none can be opened, it says where the file is and offers to copy the path, as the command line
 * does, instead of ImageJ's bare "Could not find a browser". The system property {@code omniclas.browser} names
 * the program to use ({@code -Domniclas.browser=firefox}); empty, no browser is tried.
 */
public final class ReportOpener {
    public static final String TITLE = "OmniClas report";
    public static final String COPY_PATH = "Copy path";
    /** Programs that hand a file to the user's browser, then browsers, tried in order (Linux and other Unixes). */
    static final List<String> LAUNCHERS = Arrays.asList("xdg-open", "sensible-browser", "x-www-browser", "gnome-open",
            "firefox", "chromium", "chromium-browser", "google-chrome", "konqueror", "epiphany");

    private ReportOpener() {}

    /** Downloads the report at {@code url} and opens it, off the event thread; {@code status} hears how it went. */
    public static void fetchAndOpen(Component parent, OmniClasClient client, String url, String what, Consumer<String> status) {
        status.accept("Opening the report of " + what + "...");
        new SwingWorker<Path, Void>() {
            private boolean opened;

            @Override protected Path doInBackground() throws Exception {
                Path file = client.fetchReport(url);
                opened = openInBrowser(file);
                return file;
            }

            @Override protected void done() {
                try {
                    Path file = get();
                    if (opened) {
                        status.accept("Report of " + what + " opened in the browser.");
                        return;
                    }
                    IJ.log("OmniClas: no web browser could be opened; the report of " + what + " is " + file);
                    status.accept("No browser; the report is " + file);
                    showPath(parent, file, what);
                } catch (java.util.concurrent.ExecutionException e) {
                    status.accept("No report.");
                    Reporter.unexpected(TITLE, e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }.execute();
    }

    /** "No web browser could be opened. The report is saved as: PATH", with a button that copies the path. */
    static void showPath(Component parent, Path file, String what) {
        String[] buttons = {COPY_PATH, "OK"};
        int answer = JOptionPane.showOptionDialog(parent, ScreenFit.wrap(message(file, what)), TITLE, JOptionPane.DEFAULT_OPTION,
                JOptionPane.INFORMATION_MESSAGE, null, buttons, buttons[0]);
        if (answer == 0) copy(file.toString());
    }

    static String message(Path file, String what) {
        return "No web browser could be opened here. The report of " + what + " is saved as:\n" + file
                + "\nOpen it in a browser (the file is kept until ImageJ quits).";
    }

    static void copy(String text) {
        Toolkit.getDefaultToolkit().getSystemClipboard().setContents(new StringSelection(text), null);
    }

    /** True when a browser took the file. Never shows a dialog. */
    public static boolean openInBrowser(Path file) {
        String chosen = System.getProperty("omniclas.browser");
        if (chosen != null) return !chosen.trim().isEmpty() && launch(Arrays.asList(chosen.trim(), file.toString()));
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (os.startsWith("mac")) return launch(Arrays.asList("open", file.toString()));
        if (os.startsWith("windows")) return launch(Arrays.asList("rundll32", "url.dll,FileProtocolHandler", file.toString()));
        if (desktopBrowse(file)) return true;
        return openWithFirstOf(LAUNCHERS, pathDirs(), file);
    }

    private static boolean desktopBrowse(Path file) {
        try {
            if (!Desktop.isDesktopSupported() || !Desktop.getDesktop().isSupported(Desktop.Action.BROWSE)) return false;
            Desktop.getDesktop().browse(file.toUri());
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    static List<Path> pathDirs() {
        List<Path> out = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path == null) return out;
        for (String dir : path.split(Pattern.quote(File.pathSeparator))) if (!dir.isEmpty()) out.add(Paths.get(dir));
        return out;
    }

    /** The first of {@code programs} found in {@code dirs} that takes the file (exit code 0, or still running). */
    static boolean openWithFirstOf(List<String> programs, List<Path> dirs, Path file) {
        for (String program : programs) {
            for (Path dir : dirs) {
                Path exe = dir.resolve(program);
                if (Files.isRegularFile(exe) && Files.isExecutable(exe)) {
                    if (launch(Arrays.asList(exe.toString(), file.toString()))) return true;
                    break; // this one failed (e.g. sensible-browser with no browser behind it): try the next
                }
            }
        }
        return false;
    }

    /** Runs the command; a launcher that exits 0 within 5 s, or a browser still running then, took the file. */
    private static boolean launch(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.INHERIT).start();
            if (!p.waitFor(5, TimeUnit.SECONDS)) return true;
            return p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}

package org.omniclas.fiji.ui;

import ij.IJ;
import ij.ImageJ;
import ij.plugin.frame.Recorder;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.HttpOmniClasClient;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.client.ServerLauncher;

import javax.swing.JOptionPane;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Makes sure a server answers before a command talks to it. When none answers on loopback, a desktop command
 * offers to start one ({@link ServerLauncher} with the settings' environment, models folder and dataset roots),
 * waits for /health, shows the server's log if it fails, and stops it when ImageJ quits.
 */
public final class ServerGate {
    /** The first start of a fresh environment imports torch: give it time. */
    public static final long START_TIMEOUT_MS = 180_000;

    private static ServerLauncher started;

    private ServerGate() {}

    /** A client whose server answers /health, or null after telling the user why there is none. */
    public static OmniClasClient connect() {
        OmniClasClient client = Settings.client();
        try {
            quick().health();
            return client;
        } catch (OmniClasException e) {
            if (!e.isConnectionFailure() || !Settings.isLoopback(Settings.url()) || Reporter.unattended()) {
                Reporter.error(e);
                return null;
            }
            return offerStart(e) ? client : null;
        }
    }

    private static OmniClasClient quick() {
        return new HttpOmniClasClient(Settings.url(), Settings.token()).setTimeouts(2000, 10000);
    }

    /** The dialog "No server answers. Start one?"; true once a server answers. */
    private static boolean offerStart(OmniClasException why) {
        ServerLauncher.Config cfg = Settings.launchConfig();
        List<String> cmd;
        try {
            cmd = ServerLauncher.command(cfg, ServerLauncher.isWindows());
        } catch (IllegalArgumentException e) {
            int answer = choose("No OmniClas server answers at " + Settings.url() + ".\n\n" + e.getMessage(),
                    "Server Settings...", "Cancel");
            if (answer == 0) IJ.doCommand("Server Settings...");
            Recorder.disableCommandRecording(); // nothing ran
            return false;
        }
        String dead = died();
        String text = (dead != null ? dead + "\nStart it again?\n\n" : "No OmniClas server answers at " + Settings.url() + ".\nStart one now?\n\n")
                + "Program: " + String.join(" ", cmd.subList(0, cmd.indexOf("serve") + 1)) + "\nModels: " + Settings.modelsRootText() + "\nDataset roots: "
                + (cfg.datasetRoots.isEmpty() ? "(none: training will be refused)" : String.join("; ", cfg.datasetRoots))
                + "\n(it stops when ImageJ quits)";
        int answer = choose(text, dead != null ? "Start it again" : "Start server", "Server Settings...", "Cancel");
        if (answer == 1) IJ.doCommand("Server Settings...");
        if (answer != 0) {
            Recorder.disableCommandRecording(); // nothing ran
            return false;
        }
        try {
            start(cfg);
            return true;
        } catch (OmniClasException | IOException e) {
            Reporter.error(TITLE_START, e.getMessage());
            return false;
        }
    }

    private static final String TITLE_START = "OmniClas server";

    /**
     * Starts a server for {@code cfg} (stopping one Fiji started before) and waits until it answers;
     * Escape cancels the wait.
     */
    public static synchronized Dto.Health start(ServerLauncher.Config cfg) throws IOException, OmniClasException {
        stop();
        started = ServerLauncher.start(cfg);
        IJ.log("OmniClas: starting the server: " + String.join(" ", started.command()) + "  (log: " + started.logFile() + ")");
        IJ.showStatus("OmniClas: starting the server (the first start can take a minute; Esc cancels)...");
        stopWithImageJ();
        try {
            Dto.Health h;
            try {
                h = started.awaitHealth(quick(), START_TIMEOUT_MS, () -> IJ.escapePressed());
            } catch (OmniClasException e) {
                if (!started.refusedParentPid()) throw e;
                IJ.log("OmniClas: this omniclas is older than --parent-pid; started again without it. Update it, or "
                        + "the server stays behind when Fiji is killed.");
                cfg.parentPid = 0;
                started = ServerLauncher.start(cfg);
                h = started.awaitHealth(quick(), START_TIMEOUT_MS, () -> IJ.escapePressed());
            }
            IJ.showStatus("OmniClas: server " + h.version + " started at " + Settings.url());
            IJ.log("OmniClas: server " + h.version + " answers at " + Settings.url());
            return h;
        } catch (OmniClasException e) {
            IJ.resetEscape();
            started.stop();
            started = null;
            throw e;
        }
    }

    /** Stops the server Fiji started, if any. @return true when one was running */
    public static synchronized boolean stop() {
        if (started == null) return false;
        boolean alive = started.isAlive();
        started.stop();
        started = null;
        if (alive) IJ.log("OmniClas: stopped the server Fiji started");
        return alive;
    }

    /** The server Fiji started and still runs, or null. */
    public static synchronized ServerLauncher running() {
        return started != null && started.isAlive() ? started : null;
    }

    /**
     * "The server Fiji started has stopped (exit code 1; log: /tmp/omniclas-server-x.log)." when the server Fiji
     * started is gone without being stopped; null otherwise (none started, or it runs).
     */
    public static synchronized String died() {
        if (started == null || started.isAlive()) return null;
        return "The server Fiji started has stopped (" + started.exitText() + "; log: " + started.logFile() + ").";
    }

    private static boolean watching;

    /** Besides the JVM shutdown hook: ImageJ closing its window (Fiji may keep the JVM alive) stops the server. */
    private static void stopWithImageJ() {
        ImageJ ij = IJ.getInstance();
        if (ij == null || watching) return;
        watching = true;
        ij.addWindowListener(new WindowAdapter() {
            @Override public void windowClosed(WindowEvent e) { stop(); }
        });
    }

    /**
     * The roots training datasets must lie under, and where that is known from: the server's /health (newer
     * servers publish them), else the settings a Fiji-started server got. Never starts a server.
     */
    public static Roots datasetRoots() {
        try {
            Dto.Health h = new HttpOmniClasClient(Settings.url(), Settings.token()).setTimeouts(1000, 3000).health();
            if (h.datasetRoots != null) {
                List<Path> roots = new ArrayList<>();
                for (String r : h.datasetRoots) roots.add(Paths.get(r));
                return new Roots(roots, "the server");
            }
        } catch (OmniClasException e) {
            // no server: fall back to the settings
        }
        return new Roots(Settings.datasetRoots(), "Server Settings");
    }

    /** Dataset roots and where they come from ("the server" or "Server Settings"). */
    public static final class Roots {
        public final List<Path> roots;
        public final String source;
        Roots(List<Path> roots, String source) { this.roots = roots; this.source = source; }

        public String text() {
            List<String> s = new ArrayList<>();
            for (Path p : roots) s.add(p.toString());
            return s.isEmpty() ? "(none set)" : String.join("; ", s);
        }
    }

    /** A modal choice on the event thread; returns the index of the button pressed, -1 when closed. */
    static int choose(String message, String... buttons) {
        AtomicInteger answer = new AtomicInteger(-1);
        Runnable r = () -> answer.set(JOptionPane.showOptionDialog(IJ.getInstance(), ScreenFit.wrap(message), "OmniClas",
                JOptionPane.DEFAULT_OPTION, JOptionPane.QUESTION_MESSAGE, null, buttons, buttons[0]));
        Edt.runAndWait(r);
        return answer.get();
    }
}

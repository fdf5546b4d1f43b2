package org.omniclas.fiji.plugins;

import ij.IJ;
import ij.gui.GenericDialog;
import ij.plugin.PlugIn;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.HttpOmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.client.ServerLauncher;
import org.omniclas.fiji.ui.Options;
import org.omniclas.fiji.ui.Reporter;
import org.omniclas.fiji.ui.ServerGate;
import org.omniclas.fiji.ui.Settings;

import java.awt.Button;
import java.awt.TextField;
import java.io.IOException;
import java.util.Vector;

/**
 * Plugins > OmniClas > Server Settings...: server URL and token, and how Fiji starts a server when none answers
 * (the OmniClas environment, models folder, dataset roots); start or stop that server now (ImageJ preferences).
 * Macro: {@code run("Server Settings...", "url=http://127.0.0.1:5000 token=[] environment=[/opt/omniclas-env]
 * models_root=[/data/models] dataset_roots=[/data/datasets] start");} (flags: test, start, stop)
 */
public class Server_Settings implements PlugIn {
    @Override
    public void run(String arg) {
        Options o = new Options("OmniClas - Server Settings");
        o.addString("URL", Settings.url(), 30);
        GenericDialog gd = o.dialog();
        if (gd != null) gd.setEchoChar('*');
        o.addString("Token (empty if the server needs none)", ij.Prefs.get(Settings.KEY_TOKEN, ""), 30);
        o.addMessage("Starting a server from Fiji (when none answers on this computer):");
        o.addFile("Environment (OmniClas environment folder, its omniclas or its python; empty: omniclas on the PATH)",
                Settings.executable());
        o.addDirectory("Models_root (empty: the server's default, shared with the command line)", Settings.modelsRoot());
        o.addString("Dataset_roots (folders your datasets lie under, separated by ;)", Settings.datasetRootsText(), 40);
        o.addCheckbox("Test connection after saving", false);
        o.addCheckbox("Start the server now", false);
        o.addCheckbox("Stop the server Fiji started", false);
        if (gd != null) {
            gd.addButton("Test connection", e -> {
                Vector<?> fields = gd.getStringFields();
                String url = ((TextField) fields.get(0)).getText();
                String token = ((TextField) fields.get(1)).getText();
                ((Button) e.getSource()).setEnabled(false);
                new Thread(() -> {
                    test(url, token);
                    ((Button) e.getSource()).setEnabled(true);
                }, "OmniClas connection test").start();
            });
            ServerLauncher mine = ServerGate.running();
            String dead = ServerGate.died();
            gd.addMessage(mine != null ? "Fiji started a server: " + String.join(" ", mine.command()) + "\n(log: " + mine.logFile() + ")"
                    : dead != null ? dead + " Tick \"Start the server now\" to start it again."
                    : "Fiji has not started a server.");
        }
        if (!o.show()) return;
        String url = o.nextString().trim();
        String token = o.nextString().trim();
        String executable = o.nextString().trim();
        String modelsRoot = o.nextString().trim();
        String datasetRoots = o.nextString().trim();
        boolean test = o.nextBoolean();
        boolean start = o.nextBoolean();
        boolean stop = o.nextBoolean();
        Settings.save(url, token);
        Settings.saveServerStart(executable, modelsRoot, datasetRoots);
        String dead = ServerGate.died();
        if (stop && !ServerGate.stop()) IJ.log("OmniClas: " + (dead != null ? dead + " Nothing to stop."
                : "Fiji has not started a server; nothing to stop."));
        if (start) start();
        if (test) test(url, token);
    }

    /** Starts a server for the settings unless one already answers. */
    private static void start() {
        if (!Settings.isLoopback(Settings.url())) {
            Reporter.error("Fiji starts servers on this computer only; the URL " + Settings.url() + " is not 127.0.0.1 or localhost.");
            return;
        }
        try {
            Dto.Health h = new HttpOmniClasClient(Settings.url(), Settings.token()).setTimeouts(2000, 10000).health();
            IJ.log("OmniClas: a server " + h.version + " already answers at " + Settings.url() + "; none started.");
            return;
        } catch (OmniClasException e) {
            if (!e.isConnectionFailure()) {
                Reporter.error(e);
                return;
            }
        }
        try {
            ServerGate.start(Settings.launchConfig());
        } catch (IllegalArgumentException | IOException | OmniClasException e) {
            Reporter.error("OmniClas server", e.getMessage());
        }
    }

    /** Checks GET /health; a message on success, the Reporter on failure. */
    public static boolean test(String url, String token) {
        try {
            Dto.Health h = new HttpOmniClasClient(url, token).setTimeouts(3000, 10000).health();
            Reporter.info("Connected to OmniClas " + h.version + " at " + url
                    + (h.authRequired ? " (the server requires a token)" : ""));
            return true;
        } catch (OmniClasException e) {
            Reporter.error(e);
            return false;
        }
    }
}

package org.omniclas.fiji.plugins;

import ij.IJ;
import ij.gui.GenericDialog;
import ij.plugin.PlugIn;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.HttpOmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.ui.Options;
import org.omniclas.fiji.ui.Reporter;
import org.omniclas.fiji.ui.Settings;

import java.awt.Button;
import java.awt.TextField;
import java.util.Vector;

/**
 * Plugins > OmniClas > Server Settings...: server URL and token (ImageJ preferences).
 * Macro: {@code run("Server Settings...", "url=http://127.0.0.1:5000 token=[] test");}
 */
public class Server_Settings implements PlugIn {
    @Override
    public void run(String arg) {
        Options o = new Options("OmniClas - Server Settings");
        o.addString("URL", Settings.url(), 30);
        GenericDialog gd = o.dialog();
        if (gd != null) gd.setEchoChar('*');
        o.addString("Token (empty if the server needs none)", Prefs_token(), 30);
        o.addCheckbox("Test connection after saving", false);
        if (gd != null) {
            gd.addButton("Test connection", e -> {
                Vector<?> fields = gd.getStringFields();
                String url = ((TextField) fields.get(0)).getText();
                String token = ((TextField) fields.get(1)).getText();
                ((Button) e.getSource()).setEnabled(false);
                new Thread(() -> {
                    test(url, token, true);
                    ((Button) e.getSource()).setEnabled(true);
                }, "OmniClas connection test").start();
            });
            gd.addMessage("Start the server with:  omniclas serve");
        }
        if (!o.show()) return;
        String url = o.nextString().trim();
        String token = o.nextString().trim();
        boolean test = o.nextBoolean();
        Settings.save(url, token);
        if (test) test(url, token, false);
    }

    private static String Prefs_token() {
        return ij.Prefs.get(Settings.KEY_TOKEN, "");
    }

    /** Checks GET /health; a message on success, the Reporter on failure. */
    public static boolean test(String url, String token, boolean dialog) {
        try {
            Dto.Health h = new HttpOmniClasClient(url, token).setTimeouts(3000, 10000).health();
            String msg = "Connected to OmniClas " + h.version + " at " + url
                    + (h.authRequired ? " (the server requires a token)" : "");
            if (dialog) IJ.showMessage("OmniClas", msg);
            else IJ.log("OmniClas: " + msg);
            return true;
        } catch (OmniClasException e) {
            Reporter.error(e);
            return false;
        }
    }
}

package org.omniclas.fiji.ui;

import ij.Prefs;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.omniclas.fiji.client.ServerLauncher;

import java.util.List;

import static org.junit.Assert.*;

/** A server Fiji starts uses the one registry the command line uses, unless Server Settings names another. */
public class SettingsTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    @Test public void theServersOwnModelsFolderUnlessOneIsSet() throws Exception {
        String before = Prefs.get(Settings.KEY_MODELS_ROOT, null);
        try {
            Prefs.set(Settings.KEY_MODELS_ROOT, (String) null);
            ServerLauncher.Config c = Settings.launchConfig();
            c.executable = tmp.newFile("omniclas").getPath();
            assertFalse(ServerLauncher.command(c, false).contains("--models-root")); // ~/OmniClas/models or $OMNICLAS_MODELS
            assertTrue(Settings.modelsRootText().startsWith("the server's default"));
            Prefs.set(Settings.KEY_MODELS_ROOT, "/data/models");
            c = Settings.launchConfig();
            c.executable = tmp.getRoot().toPath().resolve("omniclas").toString();
            List<String> cmd = ServerLauncher.command(c, false);
            assertEquals("/data/models", cmd.get(cmd.indexOf("--models-root") + 1));
        } finally {
            Prefs.set(Settings.KEY_MODELS_ROOT, before);
        }
    }
}

package org.omniclas.fiji.plugins;

import ij.plugin.PlugIn;
import org.junit.Test;

import java.util.Map;

import static org.junit.Assert.*;

public class CommandsTest {
    @Test public void pluginsConfigNamesExistingPlugIns() throws Exception {
        Map<String, String> cmds = Commands.fromPluginsConfig();
        assertEquals(7, cmds.size());
        assertEquals("org.omniclas.fiji.plugins.Classify_Image", cmds.get("Classify Image"));
        assertEquals("org.omniclas.fiji.plugins.Models_Browser(\"jobs\")", cmds.get("Jobs..."));
        for (String cls : cmds.values()) {
            assertTrue(cls, PlugIn.class.isAssignableFrom(Class.forName(cls.replaceFirst("\\(.*$", ""))));
        }
    }
}

package org.omniclas.fiji.plugins;

import ij.IJ;
import ij.Menus;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Makes the OmniClas commands known to ImageJ when the plugin jar is on the class path instead of in the
 * plugins folder (scripts, pyimagej/scyjava sessions, tests): {@code Commands.register()} then
 * {@code IJ.run("Classify Image", "model=NAME")} works.
 */
public final class Commands {
    private Commands() {}

    /** Command → class (with its argument, as ImageJ's command table keeps it: {@code Class("arg")}), from plugins.config. */
    public static Map<String, String> fromPluginsConfig() throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        try (InputStream in = Commands.class.getResourceAsStream("/plugins.config")) {
            if (in == null) return out;
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            String line;
            while ((line = r.readLine()) != null) {
                line = line.trim();
                if (line.isEmpty() || line.startsWith("#")) continue;
                int q1 = line.indexOf('"'), q2 = line.indexOf('"', q1 + 1);
                if (q1 < 0 || q2 < 0) continue;
                String command = line.substring(q1 + 1, q2);
                String cls = line.substring(q2 + 1).replaceFirst("^\\s*,\\s*", "").trim();
                if (!cls.isEmpty() && !command.equals("-")) out.put(command, cls);
            }
        }
        return out;
    }

    /**
     * Adds the commands to ImageJ's command table (initialising ImageJ's menus if needed). In a headless plain
     * ImageJ 1.x only these commands can then be run with IJ.run: its own menus cannot be built headless.
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    public static int register() {
        Hashtable table = Menus.getCommands();
        if (table == null) {
            try {
                Method init = IJ.class.getDeclaredMethod("init");
                init.setAccessible(true);
                init.invoke(null);
            } catch (ReflectiveOperationException | RuntimeException e) {
                // Headless plain ImageJ 1.x fails building its AWT menus (Fiji patches this); the command
                // table exists by then, which is all IJ.run needs for the OmniClas commands.
            }
            table = Menus.getCommands();
            if (table == null) throw new IllegalStateException("ImageJ's command table is not available.");
        }
        int n = 0;
        try {
            for (Map.Entry<String, String> e : fromPluginsConfig().entrySet()) {
                if (!table.containsKey(e.getKey())) {
                    table.put(e.getKey(), e.getValue());
                    n++;
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return n;
    }
}

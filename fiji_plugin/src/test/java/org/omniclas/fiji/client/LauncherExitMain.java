package org.omniclas.fiji.client;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Run by {@link ServerLauncherTest} in a JVM of its own: starts args[0] through {@link ServerLauncher} (the program
 * writes its pid to $PIDFILE), waits until it runs, then exits the JVM as ImageJ does when it quits.
 */
public final class LauncherExitMain {
    private LauncherExitMain() {}

    public static void main(String[] args) throws Exception {
        ServerLauncher.Config c = new ServerLauncher.Config();
        c.executable = args[0];
        c.logFile = Paths.get(args[1]);
        ServerLauncher.start(c);
        Path pidFile = Paths.get(System.getenv("PIDFILE"));
        for (int i = 0; i < 200 && !Files.exists(pidFile); i++) Thread.sleep(50);
        System.exit(0); // the shutdown hook must stop the program
    }
}

package org.omniclas.fiji.client;

import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Pattern;

/**
 * Starts {@code omniclas serve} on loopback for the plugin (the ilastik4ij way: the settings name the executable
 * or its environment), waits for {@code /health}, and stops it again: on {@link #stop()}, and when the JVM exits
 * (ImageJ quitting) through a shutdown hook. Its output goes to a log file, shown when the start fails. No ImageJ.
 */
public final class ServerLauncher {
    private static final Pattern PYTHON = Pattern.compile("python[0-9.]*(\\.exe)?", Pattern.CASE_INSENSITIVE);

    /** What to start. */
    public static final class Config {
        /** The {@code omniclas} executable, a Python that has omniclas installed, or the environment folder. */
        public String executable = "";
        public int port = 5000;
        public String modelsRoot = "";
        public List<String> datasetRoots = new ArrayList<>();
        public Path logFile;
        /** The process the server watches and stops with (ImageJ's own), even when it is killed; 0: none. */
        public long parentPid = currentPid();
    }

    private final Process process;
    private final Path logFile;
    private final List<String> command;
    private final Thread hook;

    private ServerLauncher(Process process, Path logFile, List<String> command) {
        this.process = process;
        this.logFile = logFile;
        this.command = command;
        this.hook = new Thread(this::stopNow, "OmniClas server shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    public static boolean isWindows() {
        return System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("windows");
    }

    /**
     * The command line: {@code <omniclas> serve --host 127.0.0.1 --port N [--parent-pid PID] [--models-root DIR]
     * [--dataset-root DIR]...} where {@code <omniclas>} is the executable, or {@code <python> -m omniclas}.
     * @throws IllegalArgumentException with a message for the user when the executable cannot be found
     */
    public static List<String> command(Config c, boolean windows) {
        List<String> cmd = new ArrayList<>(executable(c.executable, windows));
        cmd.addAll(Arrays.asList("serve", "--host", "127.0.0.1", "--port", String.valueOf(c.port)));
        if (c.parentPid > 0) {
            cmd.add("--parent-pid");
            cmd.add(String.valueOf(c.parentPid));
        }
        if (c.modelsRoot != null && !c.modelsRoot.trim().isEmpty()) {
            cmd.add("--models-root");
            cmd.add(c.modelsRoot.trim());
        }
        for (String r : c.datasetRoots) {
            if (r.trim().isEmpty()) continue;
            cmd.add("--dataset-root");
            cmd.add(r.trim());
        }
        return cmd;
    }

    /**
     * This JVM's process id: {@code ProcessHandle.current().pid()} on Java 9+ (called by reflection, as Fiji may
     * still run Java 8), else the "pid@host" name of the runtime; 0 when neither tells.
     */
    public static long currentPid() {
        try {
            Class<?> handle = Class.forName("java.lang.ProcessHandle");
            Object current = handle.getMethod("current").invoke(null);
            return (Long) handle.getMethod("pid").invoke(current);
        } catch (ReflectiveOperationException | RuntimeException java8) {
            String name = java.lang.management.ManagementFactory.getRuntimeMXBean().getName();
            try {
                return Long.parseLong(name.substring(0, name.indexOf('@')));
            } catch (RuntimeException unknown) {
                return 0;
            }
        }
    }

    /** Where conda-like installers put an environment named "omniclas" (environment.yml), under the home folder. */
    static final String[] CONDA_ROOTS = {"miniconda3", "anaconda3", "miniforge3", "mambaforge", "micromamba", ".conda"};

    public static List<String> executable(String setting, boolean windows) {
        return executable(setting, windows, Paths.get(System.getProperty("user.home")));
    }

    /**
     * The program part of the command: an {@code omniclas} executable as is, a Python as {@code python -m omniclas},
     * an environment folder by what it holds ({@code bin/omniclas}, {@code Scripts\omniclas.exe}, its Python).
     * An empty setting looks for {@code omniclas} on the PATH, then for a conda environment named omniclas
     * ({@code ~/miniconda3/envs/omniclas} and the like).
     */
    static List<String> executable(String setting, boolean windows, Path home) {
        String s = setting == null ? "" : setting.trim();
        if (s.isEmpty()) {
            Path onPath = onPath(windows ? "omniclas.exe" : "omniclas");
            if (onPath != null) return Arrays.asList(onPath.toString());
            for (String root : CONDA_ROOTS) {
                Path env = home.resolve(root).resolve("envs").resolve("omniclas");
                if (Files.isDirectory(env)) {
                    try {
                        return executable(env.toString(), windows, home);
                    } catch (IllegalArgumentException notThere) {
                        // an empty or broken environment: keep looking
                    }
                }
            }
            throw new IllegalArgumentException("The OmniClas environment is not set, no omniclas command is on the PATH,\n"
                    + "and there is no conda environment named omniclas in your home folder.\n"
                    + "Set it in Plugins > OmniClas > Server Settings... (the environment folder, its omniclas\n"
                    + "executable, or its Python).");
        }
        Path p = Paths.get(s);
        if (Files.isDirectory(p)) {
            String[] candidates = windows
                    ? new String[]{"Scripts/omniclas.exe", "omniclas.exe", "python.exe", "Scripts/python.exe"}
                    : new String[]{"bin/omniclas", "bin/python3", "bin/python"};
            for (String c : candidates) {
                Path f = p.resolve(c);
                if (Files.isRegularFile(f)) return program(f);
            }
            throw new IllegalArgumentException("The OmniClas environment " + p + " holds none of " + String.join(", ", candidates)
                    + ".\nSet the environment folder where OmniClas is installed (Server Settings...).");
        }
        if (!Files.isRegularFile(p)) {
            throw new IllegalArgumentException("The OmniClas executable " + p + " does not exist (Server Settings...).");
        }
        return program(p);
    }

    private static List<String> program(Path f) {
        String name = f.getFileName().toString();
        return PYTHON.matcher(name).matches() ? Arrays.asList(f.toString(), "-m", "omniclas") : Arrays.asList(f.toString());
    }

    private static Path onPath(String name) {
        String path = System.getenv("PATH");
        if (path == null) return null;
        for (String dir : path.split(Pattern.quote(File.pathSeparator))) {
            if (dir.isEmpty()) continue;
            Path f = Paths.get(dir, name);
            if (Files.isRegularFile(f) && Files.isExecutable(f)) return f;
        }
        return null;
    }

    /** Starts the server (output appended to the log file). Returns at once; see {@link #awaitHealth}. */
    public static ServerLauncher start(Config c) throws IOException {
        List<String> cmd = command(c, isWindows());
        Files.createDirectories(c.logFile.toAbsolutePath().getParent());
        Files.write(c.logFile, ("$ " + String.join(" ", cmd) + "\n").getBytes(StandardCharsets.UTF_8));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(c.logFile.toFile()));
        pb.redirectInput(ProcessBuilder.Redirect.PIPE);
        pb.environment().put("PYTHONUNBUFFERED", "1"); // so the log shows what happened, as it happens
        try {
            return new ServerLauncher(pb.start(), c.logFile, cmd);
        } catch (IOException e) {
            throw new IOException("Cannot run " + cmd.get(0) + ": " + e.getMessage(), e);
        }
    }

    public List<String> command() { return command; }

    /**
     * True when the server exited because it is older than {@code --parent-pid} (argparse refused the flag): the
     * caller starts it again without the flag.
     */
    public boolean refusedParentPid() {
        if (process.isAlive() || !command.contains("--parent-pid")) return false;
        String log = logTail(40);
        return log.contains("unrecognized arguments") && log.contains("--parent-pid");
    }
    public Path logFile() { return logFile; }
    public boolean isAlive() { return process.isAlive(); }

    /** "exit code 1" once the process ended, "running" before. */
    public String exitText() { return process.isAlive() ? "running" : "exit code " + process.exitValue(); }

    /**
     * Polls {@code GET /health} until the server answers.
     * @throws OmniClasException when the server exits first (with its log), when {@code timeoutMs} passes, or
     *     when {@code cancelled} says so
     */
    public Dto.Health awaitHealth(OmniClasClient client, long timeoutMs, BooleanSupplier cancelled) throws OmniClasException {
        long end = System.currentTimeMillis() + timeoutMs;
        while (true) {
            try {
                return client.health();
            } catch (OmniClasException e) {
                if (!e.isConnectionFailure()) throw e;
            }
            if (!process.isAlive()) {
                throw new OmniClasException(0, "The OmniClas server stopped (exit code " + process.exitValue()
                        + ") before it answered. Its log (" + logFile + "):\n\n" + logTail(25), null);
            }
            if (cancelled != null && cancelled.getAsBoolean()) {
                stop();
                throw new OmniClasException(0, "Starting the OmniClas server was cancelled.", null);
            }
            if (System.currentTimeMillis() > end) {
                String tail = logTail(25);
                stop();
                throw new OmniClasException(0, "The OmniClas server did not answer within " + timeoutMs / 1000
                        + " s; it was stopped. Its log (" + logFile + "):\n\n" + tail, null);
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new OmniClasException(0, "Interrupted while waiting for the OmniClas server.", null);
            }
        }
    }

    /** Stops the server (SIGTERM, then a hard kill after 10 s) and forgets its shutdown hook. */
    public void stop() {
        stopNow();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException alreadyExiting) {
            // the JVM is shutting down: the hook is running or ran
        }
    }

    private void stopNow() {
        if (!process.isAlive()) return;
        process.destroy(); // SIGTERM: the server stops its training worker and marks a running job interrupted
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** The last lines of the server's log. */
    public String logTail(int lines) {
        return tail(logFile, lines);
    }

    static String tail(Path file, int lines) {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            long len = f.length();
            long from = Math.max(0, len - 16384);
            byte[] buf = new byte[(int) (len - from)];
            f.seek(from);
            f.readFully(buf);
            String[] all = new String(buf, StandardCharsets.UTF_8).split("\r?\n");
            int start = Math.max(0, all.length - lines);
            return String.join("\n", Arrays.asList(all).subList(start, all.length));
        } catch (IOException e) {
            return "(cannot read " + file + ": " + e.getMessage() + ")";
        }
    }
}

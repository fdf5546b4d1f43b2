package org.omniclas.fiji.client;

import org.junit.Assume;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;

import static org.junit.Assert.*;

/** The command line Fiji runs to start a server, and what the user reads when it cannot. */
public class ServerLauncherTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    private Path file(String rel) throws IOException {
        Path p = tmp.getRoot().toPath().resolve(rel);
        Files.createDirectories(p.getParent());
        return Files.write(p, new byte[0]);
    }

    private ServerLauncher.Config config(String executable) {
        ServerLauncher.Config c = new ServerLauncher.Config();
        c.executable = executable;
        c.port = 5123;
        c.modelsRoot = "/data/models";
        c.datasetRoots = Arrays.asList("/data/sets", "/home/me/cells");
        c.logFile = tmp.getRoot().toPath().resolve("logs/server.log");
        return c;
    }

    @Test public void theOmniclasExecutable() throws IOException {
        Path exe = file("env/bin/omniclas");
        String pid = String.valueOf(ServerLauncher.currentPid());
        assertEquals(Arrays.asList(exe.toString(), "serve", "--host", "127.0.0.1", "--port", "5123", "--parent-pid", pid,
                "--models-root", "/data/models", "--dataset-root", "/data/sets", "--dataset-root", "/home/me/cells"),
                ServerLauncher.command(config(exe.toString()), false));
    }

    /** The server watches ImageJ's process and stops when it dies, even by SIGKILL (no shutdown hook runs then). */
    @Test public void theServerIsToldImageJsProcessId() throws Exception {
        Assume.assumeTrue("needs /proc", Files.isDirectory(Paths.get("/proc/self")));
        String self = Paths.get("/proc/self").toRealPath().getFileName().toString(); // this JVM's pid, as Linux says
        assertEquals(Long.parseLong(self), ServerLauncher.currentPid());
        List<String> cmd = ServerLauncher.command(config(file("env/bin/omniclas").toString()), false);
        assertEquals(self, cmd.get(cmd.indexOf("--parent-pid") + 1));
        ServerLauncher.Config none = config(file("env/bin/omniclas").toString());
        none.parentPid = 0;
        assertFalse(ServerLauncher.command(none, false).contains("--parent-pid"));
    }

    /** An omniclas older than --parent-pid refuses it (argparse): the launcher says so, and Fiji starts it without. */
    @Test public void anOlderServerThatRefusesTheFlagIsRecognised() throws Exception {
        Assume.assumeTrue("needs /bin/sh", Files.isExecutable(Paths.get("/bin/sh")) && !ServerLauncher.isWindows());
        Path script = tmp.getRoot().toPath().resolve("omniclas");
        Files.write(script, ("#!/bin/sh\necho \"omniclas: error: unrecognized arguments: --parent-pid $7\" >&2\nexit 2\n").getBytes());
        assertTrue(script.toFile().setExecutable(true));
        ServerLauncher s = ServerLauncher.start(config(script.toString()));
        HttpOmniClasClient nobody = new HttpOmniClasClient("http://127.0.0.1:" + freePort(), null);
        try {
            s.awaitHealth(nobody, 60000, null);
            fail();
        } catch (OmniClasException expected) {
            assertTrue(s.refusedParentPid());
        }
        ServerLauncher.Config without = config(script.toString());
        without.parentPid = 0;
        ServerLauncher old = ServerLauncher.start(without);
        try {
            old.awaitHealth(nobody, 60000, null);
            fail();
        } catch (OmniClasException expected) {
            assertFalse("no flag was sent, so none was refused", old.refusedParentPid());
        }
    }

    @Test public void aPythonRunsTheModule() throws IOException {
        Path py = file("env/bin/python3.11");
        assertEquals(Arrays.asList(py.toString(), "-m", "omniclas", "serve"), ServerLauncher.command(config(py.toString()), false).subList(0, 4));
        Path win = file("conda/python.exe");
        assertEquals(Arrays.asList(win.toString(), "-m", "omniclas"), ServerLauncher.executable(win.toString(), true));
    }

    @Test public void anEnvironmentFolderByWhatItHolds() throws IOException {
        Path py = file("venv/bin/python");
        Path venv = py.getParent().getParent();
        assertEquals(Arrays.asList(py.toString(), "-m", "omniclas"), ServerLauncher.executable(venv.toString(), false));
        Path exe = file("venv/bin/omniclas"); // the console script wins over the Python
        assertEquals(Arrays.asList(exe.toString()), ServerLauncher.executable(venv.toString(), false));
        Path winExe = file("condaenv/Scripts/omniclas.exe");
        file("condaenv/python.exe");
        assertEquals(Arrays.asList(winExe.toString()), ServerLauncher.executable(winExe.getParent().getParent().toString(), true));
        Path winPy = file("winvenv/Scripts/python.exe");
        assertEquals(Arrays.asList(winPy.toString(), "-m", "omniclas"), ServerLauncher.executable(winPy.getParent().getParent().toString(), true));
    }

    /** Nothing set and nothing on the PATH: the conda environment environment.yml creates is found by itself. */
    @Test public void aCondaEnvironmentNamedOmniclasIsFound() throws IOException {
        Path home = tmp.newFolder("home").toPath();
        Assume.assumeTrue("omniclas is on this machine's PATH", onPathHere() == null);
        try {
            ServerLauncher.executable("", false, home);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("The OmniClas environment is not set"));
        }
        Path exe = home.resolve("miniforge3/envs/omniclas/bin/omniclas");
        Files.createDirectories(exe.getParent());
        Files.write(exe, new byte[0]);
        assertEquals(Arrays.asList(exe.toString()), ServerLauncher.executable("", false, home));
    }

    private static Path onPathHere() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Paths.get(dir, "omniclas"))) return Paths.get(dir, "omniclas");
        }
        return null;
    }

    @Test public void whatIsWrongIsSaid() throws IOException {
        try {
            ServerLauncher.executable("/no/such/omniclas", false);
            fail();
        } catch (IllegalArgumentException e) {
            assertEquals("The OmniClas executable /no/such/omniclas does not exist (Server Settings...).", e.getMessage());
        }
        Path empty = tmp.newFolder("empty").toPath();
        try {
            ServerLauncher.executable(empty.toString(), false);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("The OmniClas environment " + empty + " holds none of bin/omniclas"));
        }
    }

    /** A server that exits before it answers: the message carries its log. */
    @Test public void aServerThatStopsShowsItsLog() throws Exception {
        Path sh = Paths.get("/bin/sh");
        Assume.assumeTrue("needs /bin/sh", Files.isExecutable(sh) && !ServerLauncher.isWindows());
        Path script = tmp.getRoot().toPath().resolve("omniclas");
        Files.write(script, "#!/bin/sh\necho \"usage: omniclas serve: error: argument --port: $5\" >&2\nexit 2\n".getBytes());
        assertTrue(script.toFile().setExecutable(true));
        ServerLauncher.Config c = config(script.toString());
        ServerLauncher s = ServerLauncher.start(c);
        HttpOmniClasClient nobody = new HttpOmniClasClient("http://127.0.0.1:" + freePort(), null);
        try {
            s.awaitHealth(nobody, 60000, null);
            fail();
        } catch (OmniClasException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("The OmniClas server stopped (exit code 2) before it answered."));
            assertTrue(e.getMessage(), e.getMessage().contains("error: argument --port: 5123"));
            assertTrue(e.getMessage(), e.getMessage().contains("$ " + script + " serve --host 127.0.0.1 --port 5123"));
        }
        assertFalse(s.isAlive());
        assertEquals("exit code 2", s.exitText()); // what Fiji says of a server it started that died (issue 22)
        s.stop();
    }

    /** The JVM exits (ImageJ quitting): the shutdown hook stops the server Fiji started. */
    @Test public void theServerStopsWhenTheJvmExits() throws Exception {
        Assume.assumeTrue("needs /bin/sh and /proc", Files.isExecutable(Paths.get("/bin/sh")) && Files.isDirectory(Paths.get("/proc")));
        Path script = tmp.getRoot().toPath().resolve("omniclas");
        Files.write(script, "#!/bin/sh\necho $$ > \"$PIDFILE\"\nexec sleep 300\n".getBytes());
        assertTrue(script.toFile().setExecutable(true));
        Path pidFile = tmp.getRoot().toPath().resolve("server.pid");
        String cp = Paths.get(ServerLauncher.class.getProtectionDomain().getCodeSource().getLocation().toURI()) + java.io.File.pathSeparator
                + Paths.get(LauncherExitMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        ProcessBuilder pb = new ProcessBuilder(Paths.get(System.getProperty("java.home"), "bin", "java").toString(), "-cp", cp,
                LauncherExitMain.class.getName(), script.toString(), tmp.getRoot().toPath().resolve("server.log").toString());
        pb.environment().put("PIDFILE", pidFile.toString());
        pb.redirectErrorStream(true);
        Process jvm = pb.start();
        assertTrue("the JVM did not exit", jvm.waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(0, jvm.exitValue());
        String pid = new String(Files.readAllBytes(pidFile)).trim();
        assertFalse("the server (pid " + pid + ") outlived the JVM", Files.exists(Paths.get("/proc", pid)));
    }

    @Test public void aProgramThatCannotRun() throws IOException {
        Path notExecutable = file("bin/omniclas");
        Assume.assumeTrue(notExecutable.toFile().setExecutable(false) && !ServerLauncher.isWindows());
        try {
            ServerLauncher.start(config(notExecutable.toString()));
            fail();
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("Cannot run " + notExecutable));
        }
    }

    private static int freePort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test public void logTail() throws IOException {
        Path log = tmp.getRoot().toPath().resolve("x.log");
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= 100; i++) sb.append("line ").append(i).append('\n');
        Files.write(log, sb.toString().getBytes());
        List<String> last = Arrays.asList(ServerLauncher.tail(log, 3).split("\n"));
        assertEquals(Arrays.asList("line 98", "line 99", "line 100"), last);
    }
}

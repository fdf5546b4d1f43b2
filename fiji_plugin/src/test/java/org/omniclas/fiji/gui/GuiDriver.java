package org.omniclas.fiji.gui;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import ij.gui.GenericDialog;

import javax.imageio.ImageIO;
import javax.swing.JButton;
import javax.swing.JList;
import javax.swing.JTextField;
import javax.swing.SwingUtilities;
import java.awt.Component;
import java.awt.Container;
import java.awt.Frame;
import java.awt.Graphics2D;
import java.awt.Point;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.Robot;
import java.awt.Window;
import java.awt.event.InputEvent;
import java.awt.event.KeyEvent;
import java.awt.event.WindowEvent;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Writer;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What the GUI harness needs to drive ImageJ like a person under Xvfb: real mouse and key events
 * (java.awt.Robot), finding windows and widgets, waiting for conditions (never fixed sleeps as checks),
 * screenshots (full screen into the artifacts folder; cropped, small PNGs for the documentation into
 * $OMNICLAS_SCREENSHOT_DIR), and plain HTTP to the server (not the plugin's client) to check what happened there.
 */
abstract class GuiDriver {
    protected static final long DOC_PNG_LIMIT = 150_000;
    protected final File out;
    protected final File docDir;
    protected final Robot robot;
    protected final Writer log;
    protected final Map<String, String> opt = new HashMap<>();

    protected GuiDriver(File out) throws Exception {
        this.out = out;
        String dd = System.getenv("OMNICLAS_SCREENSHOT_DIR");
        this.docDir = dd == null || dd.trim().isEmpty() ? null : new File(dd.trim());
        if (docDir != null) docDir.mkdirs();
        this.robot = new Robot();
        robot.setAutoDelay(40);
        this.log = new FileWriter(new File(out, "harness.log"));
    }

    /** The harness's output folder, {@code args[0]}, made if needed. */
    protected static File outDir(String[] args) {
        File out = new File(args[0]);
        out.mkdirs();
        return out;
    }

    protected interface Scenario { void run(String first, String second) throws Exception; }

    /**
     * A harness's main: options from {@code args[3..]} (key=value), the scenario on {@code args[1]} and
     * {@code args[2]}, then DONE, or FAILED with the trace, the plugin's last error and screenshot
     * {@code failureShot}; exits 0 or 1.
     */
    protected void runAndExit(String[] args, String failureShot, Scenario scenario) throws IOException {
        for (int i = 3; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq > 0) opt.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        int rc = 0;
        try {
            scenario.run(args[1], args[2]);
            say("DONE");
        } catch (Throwable t) {
            say("FAILED " + t);
            for (StackTraceElement e : t.getStackTrace()) say("  at " + e);
            say("LAST_ERROR " + org.omniclas.fiji.ui.Reporter.lastError());
            shot(failureShot);
            rc = 1;
        } finally {
            log.close();
            System.exit(rc);
        }
    }

    protected String need(String key) {
        String v = opt.get(key);
        if (v == null || v.isEmpty()) throw new IllegalArgumentException("harness option " + key + "= is missing");
        return v;
    }

    private static final long STARTED = System.currentTimeMillis();

    /** A timed line on stdout only, to find where a slow run spends its time. */
    protected static void trace(String s) {
        System.out.printf("[trace %7.1f s] %s%n", (System.currentTimeMillis() - STARTED) / 1000.0, s);
    }

    protected void say(String s) throws IOException {
        System.out.println("[harness] " + s);
        log.write(String.format("%7.1f s  %s%n", (System.currentTimeMillis() - STARTED) / 1000.0, s));
        log.flush();
    }

    protected void shot(String name) {
        trace("shot " + name);
        try {
            robot.waitForIdle();
            Rectangle screen = new Rectangle(java.awt.Toolkit.getDefaultToolkit().getScreenSize());
            ImageIO.write(robot.createScreenCapture(screen), "png", new File(out, name + ".png"));
        } catch (Exception e) {
            System.out.println("[harness] screenshot failed: " + e);
        }
    }

    protected static <T> T onEdt(Callable<T> c) throws Exception {
        AtomicReference<T> r = new AtomicReference<>();
        AtomicReference<Exception> err = new AtomicReference<>();
        SwingUtilities.invokeAndWait(() -> {
            try {
                r.set(c.call());
            } catch (Exception e) {
                err.set(e);
            }
        });
        if (err.get() != null) throw err.get();
        return r.get();
    }

    protected static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    protected interface Check { boolean ok() throws Exception; }

    protected static void waitFor(String what, long ms, Check c) throws Exception {
        long start = System.currentTimeMillis(), end = start + ms;
        while (System.currentTimeMillis() < end) {
            if (c.ok()) {
                if (System.currentTimeMillis() - start > 1000) trace("waited " + (System.currentTimeMillis() - start) + " ms for " + what);
                return;
            }
            sleep(100);
        }
        throw new IllegalStateException("timed out waiting for " + what);
    }

    protected static Set<Window> visibleWindows() {
        Set<Window> s = new HashSet<>();
        for (Window w : Window.getWindows()) if (w.isShowing()) s.add(w);
        return s;
    }

    protected static Window newWindow(Set<Window> before) {
        for (Window w : Window.getWindows()) if (w.isShowing() && !before.contains(w)) return w;
        return null;
    }

    protected static String title(Window w) {
        if (w instanceof Frame) return ((Frame) w).getTitle();
        if (w instanceof java.awt.Dialog) return ((java.awt.Dialog) w).getTitle();
        return w.getName();
    }

    @SuppressWarnings("unchecked")
    protected static <T extends Component> T find(Container root, Class<T> type, String name) {
        for (Component c : root.getComponents()) {
            if (type.isInstance(c) && (name == null || name.equals(c.getName()))) return (T) c;
            if (c instanceof Container) {
                T t = find((Container) c, type, name);
                if (t != null) return t;
            }
        }
        return null;
    }

    /**
     * A real mouse click at (x, y) in {@code c}. A window that has just appeared may not be mapped on the X server
     * yet (Xvfb has no window manager), so the click is repeated (up to 3 times) until {@code c} has received it.
     */
    protected void click(Component c, int x, int y, int modifiers) throws Exception {
        AtomicReference<Boolean> got = new AtomicReference<>(false);
        java.awt.event.AWTEventListener l = e -> {
            if (e.getID() == java.awt.event.MouseEvent.MOUSE_RELEASED && e.getSource() instanceof Component
                    && SwingUtilities.isDescendingFrom((Component) e.getSource(), c)) got.set(true);
        };
        java.awt.Toolkit.getDefaultToolkit().addAWTEventListener(l, java.awt.AWTEvent.MOUSE_EVENT_MASK);
        try {
            for (int attempt = 1; ; attempt++) {
                Point p = onEdt(c::getLocationOnScreen);
                if (modifiers != 0) robot.keyPress(modifiers);
                robot.mouseMove(p.x + x, p.y + y);
                robot.mousePress(InputEvent.BUTTON1_DOWN_MASK);
                robot.mouseRelease(InputEvent.BUTTON1_DOWN_MASK);
                if (modifiers != 0) robot.keyRelease(modifiers);
                settleEvents();
                long end = System.currentTimeMillis() + 1500;
                while (!got.get() && System.currentTimeMillis() < end) sleep(50);
                if (got.get() || attempt == 3) return;
                say("click on " + c.getClass().getSimpleName() + " '" + c.getName() + "' at " + (p.x + x) + "," + (p.y + y)
                        + " did not arrive, again");
                Window w = c instanceof Window ? (Window) c : SwingUtilities.getWindowAncestor(c);
                if (w != null) settle(w);
                sleep(300);
            }
        } finally {
            java.awt.Toolkit.getDefaultToolkit().removeAWTEventListener(l);
        }
    }

    /**
     * Without a window manager, Java sometimes keeps a stale position for a window that was centred before it was
     * shown (it believes (0,0) while X shows it centred), so clicks computed from getLocationOnScreen miss.
     * Moving it by a pixel and back makes AWT move the X window to the position Java believes in.
     */
    protected void settle(Window w) throws Exception {
        sleep(250);
        onEdt(() -> {
            Point p = w.getLocation();
            w.setLocation(p.x + 1, p.y + 1);
            w.setLocation(p.x, p.y);
            return null;
        });
        robot.waitForIdle();
        sleep(250);
        onScreen(w);
    }

    /** Issue 22: every window the harness meets lies within the screen it opened on, buttons included. */
    protected static void onScreen(Window w) throws Exception {
        Rectangle b = onEdt(w::getBounds);
        Rectangle screen = onEdt(() -> w.getGraphicsConfiguration().getBounds());
        if (!screen.contains(b)) throw new IllegalStateException("'" + title(w) + "' at " + b + " is not within the screen " + screen);
    }

    protected void click(Component c) throws Exception {
        click(c, c.getWidth() / 2, c.getHeight() / 2, 0);
    }

    protected void key(int code) {
        robot.keyPress(code);
        robot.keyRelease(code);
        settleEvents();
    }

    /**
     * Lets the events just sent reach Swing and be handled. Not {@code robot.waitForIdle()}: while a text field has
     * focus its blinking caret keeps the queue busy, and waitForIdle then gives up only after 10 s, every time.
     */
    protected static void settleEvents() {
        sleep(60);
        try {
            SwingUtilities.invokeAndWait(() -> { });
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    protected void type(String text) {
        for (char ch : text.toCharArray()) {
            boolean upper = Character.isUpperCase(ch);
            int code = KeyEvent.getExtendedKeyCodeForChar(Character.toLowerCase(ch));
            if (upper) robot.keyPress(KeyEvent.VK_SHIFT);
            robot.keyPress(code);
            robot.keyRelease(code);
            if (upper) robot.keyRelease(KeyEvent.VK_SHIFT);
        }
        settleEvents();
    }

    /** Types into the text field of a newly shown input dialog and presses Enter. */
    protected void answerInputDialog(Set<Window> before, String text) throws Exception {
        waitFor("input dialog", 10000, () -> newWindow(before) != null);
        Window d = newWindow(before);
        settle(d);
        JTextField field = onEdt(() -> find(d, JTextField.class, null));
        if (field == null) throw new IllegalStateException("no text field in " + title(d));
        click(field);
        robot.keyPress(KeyEvent.VK_CONTROL);
        key(KeyEvent.VK_A);
        robot.keyRelease(KeyEvent.VK_CONTROL);
        type(text);
        sleep(200);
        say("typed '" + onEdt(field::getText) + "' into " + title(d));
        key(KeyEvent.VK_ENTER);
        waitFor("dialog closed", 10000, () -> !d.isShowing());
    }

    protected int jitter = 12;

    protected void selectCells(JList<?> grid, int from, int to) throws Exception {
        Rectangle a = onEdt(() -> grid.getCellBounds(from, from));
        jitter = -jitter; // two quick clicks on one spot would be a double-click (opens the image in ImageJ)
        click(grid, a.x + a.width / 2 + jitter, a.y + a.height / 2, 0);
        if (to != from) {
            Rectangle b = onEdt(() -> grid.getCellBounds(to, to));
            click(grid, b.x + b.width / 2, b.y + b.height / 2, KeyEvent.VK_SHIFT);
        }
        sleep(200);
    }

    // ------------------------------------------------------------------ plain HTTP (not the plugin's client)

    /** The answer of {@code con} as a JSON object; the connection is closed after. */
    private static JsonObject readJson(HttpURLConnection con) throws IOException {
        try (InputStream in = con.getInputStream()) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            byte[] b = new byte[8192];
            int n;
            while ((n = in.read(b)) > 0) buf.write(b, 0, n);
            return new Gson().fromJson(new String(buf.toByteArray(), StandardCharsets.UTF_8), JsonObject.class);
        } finally {
            con.disconnect();
        }
    }

    protected JsonObject getJson(String path) throws IOException {
        HttpURLConnection con = (HttpURLConnection) new URL(need("url").replaceAll("/+$", "") + "/api/v1" + path).openConnection();
        con.setConnectTimeout(5000);
        con.setReadTimeout(30000);
        return readJson(con);
    }

    protected List<String> serverModels() throws IOException {
        List<String> names = new ArrayList<>();
        for (JsonElement m : getJson("/models").getAsJsonArray("models")) names.add(m.getAsJsonObject().get("name").getAsString());
        return names;
    }

    protected String serverJobState(String id) throws IOException {
        return getJson("/jobs/" + id).get("state").getAsString();
    }

    // ------------------------------------------------------------------ widgets and screenshots

    /**
     * Clicks a button that closes its dialog. A dialog that has just appeared may not be mapped on the X server
     * yet (no window manager under Xvfb), so a click that did not land is repeated.
     */
    protected void clickToClose(Component button, Window dialog) throws Exception {
        sleep(400);
        for (int attempt = 1; ; attempt++) {
            click(button);
            try {
                waitFor("dialog '" + title(dialog) + "' closed", 3000, () -> !dialog.isShowing());
                return;
            } catch (IllegalStateException e) {
                if (attempt == 3) throw e;
                say("click on '" + title(dialog) + "' did not land, again");
            }
        }
    }

    protected static JButton buttonLabelled(Container root, String text) throws Exception {
        JButton b = onEdt(() -> findButton(root, text));
        if (b == null) throw new IllegalStateException("no button '" + text + "'");
        return b;
    }

    protected static JButton findButton(Container root, String text) {
        for (Component c : root.getComponents()) {
            if (c instanceof JButton && text.equals(((JButton) c).getText())) return (JButton) c;
            if (c instanceof Container) {
                JButton b = findButton((Container) c, text);
                if (b != null) return b;
            }
        }
        return null;
    }

    /** A PNG for the documentation: the union of the windows' bounds, scaled down until it is under 150 KB. */
    protected void docShot(String name, Window... windows) {
        if (docDir == null) return;
        try {
            robot.waitForIdle();
            sleep(300);
            Rectangle r = null;
            for (Window w : windows) {
                Rectangle b = onEdt(w::getBounds);
                r = r == null ? b : r.union(b);
            }
            r = r.intersection(new Rectangle(java.awt.Toolkit.getDefaultToolkit().getScreenSize()));
            BufferedImage img = robot.createScreenCapture(r);
            byte[] png = png(img);
            double scale = 1.0;
            while (png.length > DOC_PNG_LIMIT && scale > 0.3) {
                scale *= 0.85;
                png = png(scaled(img, scale));
            }
            Files.write(new File(docDir, name + ".png").toPath(), png);
            say("DOCSHOT " + name + ".png " + png.length + " bytes, scale " + String.format(java.util.Locale.ROOT, "%.2f", scale));
        } catch (Exception e) {
            System.out.println("[harness] doc screenshot failed: " + e);
        }
    }

    protected static BufferedImage scaled(BufferedImage img, double f) {
        int w = (int) Math.round(img.getWidth() * f), h = (int) Math.round(img.getHeight() * f);
        BufferedImage o = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = o.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(img, 0, 0, w, h, null);
        g.dispose();
        return o;
    }

    protected static byte[] png(BufferedImage img) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        ImageIO.write(img, "png", b);
        return b.toByteArray();
    }

    protected static int count(String dataset, String dir) {
        File[] f = new File(dataset, dir).listFiles(x -> x.isFile() && !x.getName().startsWith("."));
        return f == null ? -1 : f.length;
    }

    /** Closes every window opened since {@code before}: GenericDialogs are cancelled, the rest disposed. */
    protected void closeAll(Set<Window> before) throws Exception {
        for (int round = 0; round < 5; round++) {
            Window w = newWindow(before);
            if (w == null) return;
            if (w instanceof GenericDialog) {
                GenericDialog gd = (GenericDialog) w;
                SwingUtilities.invokeAndWait(() -> gd.windowClosing(new WindowEvent(gd, WindowEvent.WINDOW_CLOSING)));
            } else {
                SwingUtilities.invokeAndWait(w::dispose);
            }
            sleep(700); // the plugin may open a follow-up (e.g. an error) window
        }
    }
    protected JsonObject postJson(String path, String body) throws IOException {
        HttpURLConnection con = (HttpURLConnection) new URL(need("url").replaceAll("/+$", "") + "/api/v1" + path).openConnection();
        con.setRequestMethod("POST");
        con.setDoOutput(true);
        con.setRequestProperty("Content-Type", "application/json");
        try (OutputStream o = con.getOutputStream()) {
            o.write(body.getBytes(StandardCharsets.UTF_8));
        }
        return readJson(con);
    }

    /** The first visible window of a class, or null. */
    protected static <W extends Window> W showing(Class<W> type) {
        for (Window w : Window.getWindows()) if (w.isShowing() && type.isInstance(w)) return type.cast(w);
        return null;
    }

    /** The first visible window with this title, or null. */
    protected static Window titled(String title) {
        for (Window w : Window.getWindows()) if (w.isShowing() && title.equals(title(w))) return w;
        return null;
    }
}

package org.omniclas.fiji.gui;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.Menus;
import ij.gui.GenericDialog;
import ij.gui.ImageWindow;
import ij.measure.ResultsTable;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.ui.ImageClassifier;
import org.omniclas.fiji.ui.LabelWindow;
import org.omniclas.fiji.ui.ModelsWindow;
import org.omniclas.fiji.ui.Settings;
import org.omniclas.fiji.ui.TrainWizard;

import javax.imageio.ImageIO;
import javax.swing.AbstractButton;
import javax.swing.JButton;
import javax.swing.JCheckBox;
import javax.swing.JComboBox;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JTable;
import javax.swing.JTextField;
import javax.swing.SwingUtilities;
import java.awt.Button;
import java.awt.Checkbox;
import java.awt.Choice;
import java.awt.Component;
import java.awt.Container;
import java.awt.Frame;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.TextField;
import java.awt.Menu;
import java.awt.MenuBar;
import java.awt.Point;
import java.awt.Rectangle;
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
import java.io.Writer;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;

/**
 * GUI test driver (not a unit test): run under Xvfb by tests/test_fiji_gui.py.
 * Starts ImageJ, checks the Plugins > OmniClas menu, opens every OmniClas dialog and screenshots it, then drives a
 * labelling session with real mouse/key events (java.awt.Robot): add category "Cells", assign 3 images with key 1,
 * assign one more and undo it, add "Debris" and assign 1 image with key 2, rename "Cells" to "Nuclear".
 * With a live server (option url=...) it goes on: "Ask the model..." on a second dataset (suggestions, sort by
 * uncertainty, accept with A and Enter), Classify Image on three open images, the Models window's Rename and
 * Delete, and the Train wizard up to the progress window's Cancel button.
 * Args: outDir sourceDir datasetDir [key=value ...] with keys url, model, rename_from, rename_to, delete,
 * ask_source, ask_dataset, train_dataset. Writes outDir/harness.log and screenshots; exit code 0 = all steps ran.
 * Documentation screenshots (cropped to the windows, small PNGs) go to $OMNICLAS_SCREENSHOT_DIR when it is set.
 */
public final class GuiHarness {
    private static final long DOC_PNG_LIMIT = 150_000;
    private final File out;
    private final File docDir;
    private final Robot robot;
    private final Writer log;
    private final Map<String, String> opt = new HashMap<>();

    private GuiHarness(File out) throws Exception {
        this.out = out;
        String dd = System.getenv("OMNICLAS_SCREENSHOT_DIR");
        this.docDir = dd == null || dd.trim().isEmpty() ? null : new File(dd.trim());
        if (docDir != null) docDir.mkdirs();
        this.robot = new Robot();
        robot.setAutoDelay(40);
        this.log = new FileWriter(new File(out, "harness.log"));
    }

    public static void main(String[] args) throws Exception {
        File out = new File(args[0]);
        out.mkdirs();
        GuiHarness h = new GuiHarness(out);
        for (int i = 3; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq > 0) h.opt.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        int rc = 0;
        try {
            h.run(args[1], args[2]);
            if (h.opt.containsKey("url")) h.withServer(args[1]);
            else h.say("no url= given: server steps skipped");
            h.say("DONE");
        } catch (Throwable t) {
            h.say("FAILED " + t);
            for (StackTraceElement e : t.getStackTrace()) h.say("  at " + e);
            h.shot("zz_failure");
            rc = 1;
        } finally {
            h.log.close();
        }
        System.exit(rc);
    }

    private void say(String s) throws IOException {
        System.out.println("[harness] " + s);
        log.write(s + "\n");
        log.flush();
    }

    private void shot(String name) {
        try {
            robot.waitForIdle();
            Rectangle screen = new Rectangle(java.awt.Toolkit.getDefaultToolkit().getScreenSize());
            ImageIO.write(robot.createScreenCapture(screen), "png", new File(out, name + ".png"));
        } catch (Exception e) {
            System.out.println("[harness] screenshot failed: " + e);
        }
    }

    private static <T> T onEdt(Callable<T> c) throws Exception {
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

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private interface Check { boolean ok() throws Exception; }

    private static void waitFor(String what, long ms, Check c) throws Exception {
        long end = System.currentTimeMillis() + ms;
        while (System.currentTimeMillis() < end) {
            if (c.ok()) return;
            sleep(100);
        }
        throw new IllegalStateException("timed out waiting for " + what);
    }

    private static Set<Window> visibleWindows() {
        Set<Window> s = new HashSet<>();
        for (Window w : Window.getWindows()) if (w.isShowing()) s.add(w);
        return s;
    }

    private static Window newWindow(Set<Window> before) {
        for (Window w : Window.getWindows()) if (w.isShowing() && !before.contains(w)) return w;
        return null;
    }

    private static LabelWindow labelWindow() {
        for (Window w : Window.getWindows()) if (w.isShowing() && w instanceof LabelWindow) return (LabelWindow) w;
        return null;
    }

    private static String title(Window w) {
        if (w instanceof Frame) return ((Frame) w).getTitle();
        if (w instanceof java.awt.Dialog) return ((java.awt.Dialog) w).getTitle();
        return w.getName();
    }

    @SuppressWarnings("unchecked")
    private static <T extends Component> T find(Container root, Class<T> type, String name) {
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
    private void click(Component c, int x, int y, int modifiers) throws Exception {
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
                robot.waitForIdle();
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
    private void settle(Window w) throws Exception {
        sleep(250);
        onEdt(() -> {
            Point p = w.getLocation();
            w.setLocation(p.x + 1, p.y + 1);
            w.setLocation(p.x, p.y);
            return null;
        });
        robot.waitForIdle();
        sleep(250);
    }

    private void click(Component c) throws Exception {
        click(c, c.getWidth() / 2, c.getHeight() / 2, 0);
    }

    private void key(int code) {
        robot.keyPress(code);
        robot.keyRelease(code);
        robot.waitForIdle();
    }

    private void type(String text) {
        for (char ch : text.toCharArray()) {
            boolean upper = Character.isUpperCase(ch);
            int code = KeyEvent.getExtendedKeyCodeForChar(Character.toLowerCase(ch));
            if (upper) robot.keyPress(KeyEvent.VK_SHIFT);
            robot.keyPress(code);
            robot.keyRelease(code);
            if (upper) robot.keyRelease(KeyEvent.VK_SHIFT);
        }
        robot.waitForIdle();
    }

    /** Types into the text field of a newly shown input dialog and presses Enter. */
    private void answerInputDialog(Set<Window> before, String text) throws Exception {
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

    private int jitter = 12;

    private void selectCells(JList<?> grid, int from, int to) throws Exception {
        Rectangle a = onEdt(() -> grid.getCellBounds(from, from));
        jitter = -jitter; // two quick clicks on one spot would be a double-click (opens the image in ImageJ)
        click(grid, a.x + a.width / 2 + jitter, a.y + a.height / 2, 0);
        if (to != from) {
            Rectangle b = onEdt(() -> grid.getCellBounds(to, to));
            click(grid, b.x + b.width / 2, b.y + b.height / 2, KeyEvent.VK_SHIFT);
        }
        sleep(200);
    }

    private void run(String source, String dataset) throws Exception {
        ImageJ ij = new ImageJ();
        waitFor("ImageJ window", 20000, ij::isShowing);
        ij.setLocation(0, 0);
        sleep(800);
        shot("00_imagej");

        // ---- the Plugins > OmniClas menu
        MenuBar bar = Menus.getMenuBar();
        Menu omni = null;
        for (int i = 0; i < bar.getMenuCount(); i++) {
            Menu m = bar.getMenu(i);
            if (!"Plugins".equals(m.getLabel())) continue;
            for (int k = 0; k < m.getItemCount(); k++) {
                if (m.getItem(k) instanceof Menu && "OmniClas".equals(m.getItem(k).getLabel())) omni = (Menu) m.getItem(k);
            }
        }
        if (omni == null) throw new IllegalStateException("no Plugins > OmniClas menu");
        List<String> items = new ArrayList<>();
        for (int k = 0; k < omni.getItemCount(); k++) items.add(omni.getItem(k).getLabel());
        say("MENU " + String.join("|", items));

        // ---- every dialog
        String[][] commands = {{"Server Settings...", "01_server_settings"}, {"Classify Image", "02_classify_image"},
                {"Classify Folder...", "03_classify_folder"}, {"Train Classifier...", "04_train"},
                {"Models...", "05_models"}, {"Label Images...", "06_label_dialog"}};
        for (String[] c : commands) {
            Set<Window> before = visibleWindows();
            IJ.doCommand(c[0]);
            try {
                waitFor(c[0] + " window", 15000, () -> newWindow(before) != null);
            } catch (IllegalStateException e) {
                say("WINDOW " + c[0] + " -> none");
                continue;
            }
            sleep(700);
            Window w = newWindow(before);
            shot(c[1]);
            say("WINDOW " + c[0] + " -> " + w.getClass().getSimpleName() + " '" + title(w) + "'");
            closeAll(before);
        }

        // ---- labelling session
        Set<Window> before = visibleWindows();
        Thread t = new Thread(() -> IJ.run("Label Images...", "source=[" + source + "] dataset=[" + dataset + "]"), "label");
        t.start();
        waitFor("label window", 60000, () -> labelWindow() != null);
        LabelWindow lw = labelWindow();
        onEdt(() -> { lw.setBounds(0, 0, 1100, 760); return null; });
        sleep(1500); // thumbnails
        shot("07_label_window");
        @SuppressWarnings("unchecked")
        JList<Object> grid = onEdt(() -> find(lw.getContentPane(), JList.class, "grid"));
        @SuppressWarnings("unchecked")
        JList<Object> cats = onEdt(() -> find(lw.getContentPane(), JList.class, "categories"));
        AbstractButton add = onEdt(() -> find(lw.getContentPane(), AbstractButton.class, "addCategory"));
        AbstractButton rename = onEdt(() -> find(lw.getContentPane(), AbstractButton.class, "renameCategory"));
        say("grid shows " + onEdt(() -> grid.getModel().getSize()));

        Set<Window> b1 = visibleWindows();
        click(add);
        answerInputDialog(b1, "Cells");
        waitFor("category Cells", 5000, () -> new File(dataset, "Cells").isDirectory());

        selectCells(grid, 0, 2);
        say("selected " + onEdt(() -> grid.getSelectedIndices().length));
        key(KeyEvent.VK_1);
        waitFor("3 images in Cells", 5000, () -> count(dataset, "Cells") == 3);
        selectCells(grid, 0, 0);
        key(KeyEvent.VK_1);
        waitFor("4 images in Cells", 5000, () -> count(dataset, "Cells") == 4);
        robot.keyPress(KeyEvent.VK_CONTROL);
        key(KeyEvent.VK_Z);
        robot.keyRelease(KeyEvent.VK_CONTROL);
        waitFor("undo back to 3", 5000, () -> count(dataset, "Cells") == 3);

        Set<Window> b2 = visibleWindows();
        click(add);
        answerInputDialog(b2, "Debris");
        waitFor("category Debris", 5000, () -> new File(dataset, "Debris").isDirectory());
        selectCells(grid, 0, 0);
        key(KeyEvent.VK_2);
        waitFor("1 image in Debris", 5000, () -> count(dataset, "Debris") == 1);
        sleep(800);
        shot("08_label_assigned");

        int cellsIndex = onEdt(() -> {
            for (int i = 0; i < cats.getModel().getSize(); i++) if ("Cells".equals(cats.getModel().getElementAt(i))) return i;
            return -1;
        });
        Rectangle cb = onEdt(() -> cats.getCellBounds(cellsIndex, cellsIndex));
        click(cats, cb.x + 20, cb.y + cb.height / 2, 0);
        Set<Window> b3 = visibleWindows();
        click(rename);
        answerInputDialog(b3, "Nuclear");
        waitFor("Cells renamed to Nuclear", 5000, () -> new File(dataset, "Nuclear").isDirectory() && !new File(dataset, "Cells").exists());
        sleep(800);
        shot("09_label_renamed");
        say("COUNTS Nuclear=" + count(dataset, "Nuclear") + " Debris=" + count(dataset, "Debris") + " unlabelled=" + count(dataset, "unlabelled"));
        onEdt(() -> { lw.dispose(); return null; });
    }

    // ================================================================== steps with a live server

    private String need(String key) {
        String v = opt.get(key);
        if (v == null || v.isEmpty()) throw new IllegalArgumentException("harness option " + key + "= is missing");
        return v;
    }

    private void withServer(String source) throws Exception {
        Settings.save(need("url"), "");
        say("server " + Settings.url());
        long t0 = System.currentTimeMillis();
        askTheModel();
        say("TIME ask_model " + (System.currentTimeMillis() - t0) + " ms");
        t0 = System.currentTimeMillis();
        classifyImages(source);
        say("TIME classify " + (System.currentTimeMillis() - t0) + " ms");
        t0 = System.currentTimeMillis();
        modelsWindow();
        say("TIME models " + (System.currentTimeMillis() - t0) + " ms");
        t0 = System.currentTimeMillis();
        trainAndCancel();
        say("TIME train_cancel " + (System.currentTimeMillis() - t0) + " ms");
    }

    /** Confidence of each shown image's suggestion (NaN where none), in grid order. */
    private static List<Double> shownConfidences(LabelWindow lw, JList<?> grid) throws Exception {
        return onEdt(() -> {
            List<Double> c = new ArrayList<>();
            for (int i = 0; i < grid.getModel().getSize(); i++) {
                Dto.PredictResult r = lw.suggestion((Path) grid.getModel().getElementAt(i));
                c.add(r == null ? Double.NaN : r.confidence);
            }
            return c;
        });
    }

    private static boolean ascending(List<Double> c) {
        for (int i = 0; i < c.size(); i++) {
            if (Double.isNaN(c.get(i))) return false;
            if (i > 0 && c.get(i) < c.get(i - 1)) return false;
        }
        return !c.isEmpty();
    }

    private static List<String> shownNames(JList<?> grid) throws Exception {
        return onEdt(() -> {
            List<String> n = new ArrayList<>();
            for (int i = 0; i < grid.getModel().getSize(); i++) n.add(((Path) grid.getModel().getElementAt(i)).getFileName().toString());
            return n;
        });
    }

    /** "Ask the model..." on a fresh dataset: suggestions, sort by uncertainty, accept with A and with Enter. */
    private void askTheModel() throws Exception {
        String model = need("model");
        String dataset = need("ask_dataset");
        Thread t = new Thread(() -> IJ.run("Label Images...", "source=[" + need("ask_source") + "] dataset=[" + dataset + "]"), "label-ask");
        t.start();
        waitFor("second label window", 60000, () -> labelWindow() != null);
        LabelWindow lw = labelWindow();
        onEdt(() -> { lw.setBounds(0, 0, 960, 600); return null; });
        @SuppressWarnings("unchecked")
        JList<Object> grid = onEdt(() -> find(lw.getContentPane(), JList.class, "grid"));
        JCheckBox sort = onEdt(() -> find(lw.getContentPane(), JCheckBox.class, "sortUncertainty"));
        JLabel status = onEdt(() -> find(lw.getContentPane(), JLabel.class, "status"));
        AbstractButton ask = onEdt(() -> find(lw.getContentPane(), AbstractButton.class, "ask"));
        int total = onEdt(() -> grid.getModel().getSize());
        say("ask dataset shows " + total);

        Set<Window> before = visibleWindows();
        click(ask);
        waitFor("Ask the model dialog", 20000, () -> newWindow(before) != null);
        Window d = newWindow(before);
        settle(d);
        @SuppressWarnings("unchecked")
        JComboBox<Object> combo = onEdt(() -> find(d, JComboBox.class, null));
        if (combo == null) throw new IllegalStateException("no model choice in " + title(d));
        onEdt(() -> { combo.setSelectedItem(model); return null; });
        if (!model.equals(onEdt(combo::getSelectedItem))) throw new IllegalStateException("model " + model + " not offered");
        clickToClose(buttonLabelled(d, "OK"), d);
        waitFor("suggestions", 120000, () -> onEdt(status::getText).startsWith("Suggestions for"));
        say("status: " + onEdt(status::getText));
        List<Double> conf = shownConfidences(lw, grid);
        say("ORDER " + conf);
        if (!onEdt(sort::isSelected)) throw new IllegalStateException("sort by uncertainty not switched on");
        if (conf.size() != total || !ascending(conf)) throw new IllegalStateException("unlabelled not sorted by ascending confidence: " + conf);
        shot("10_ask_model");

        click(sort); // off: by name
        waitFor("sort off", 5000, () -> !onEdt(sort::isSelected));
        List<String> names = shownNames(grid);
        List<String> sorted = new ArrayList<>(names);
        java.util.Collections.sort(sorted);
        if (!names.equals(sorted)) throw new IllegalStateException("sort off: not by name " + names);
        click(sort); // on again
        waitFor("sort on", 5000, () -> onEdt(sort::isSelected));
        if (!ascending(shownConfidences(lw, grid))) throw new IllegalStateException("sort on again: not ascending");
        say("SORT_TOGGLE ok");

        // A accepts the least certain image's suggestion
        selectCells(grid, 0, 0);
        List<Object[]> accepted = new ArrayList<>();
        accepted.addAll(selectedSuggestions(lw, grid));
        key(KeyEvent.VK_A);
        waitMoved(dataset, accepted);
        // Enter accepts three at once
        selectCells(grid, 0, 2);
        List<Object[]> three = selectedSuggestions(lw, grid);
        if (three.size() != 3) throw new IllegalStateException("expected 3 selected, got " + three.size());
        key(KeyEvent.VK_ENTER);
        waitMoved(dataset, three);
        accepted.addAll(three);
        for (Object[] a : accepted) say("ACCEPTED " + a[0] + " -> " + a[1] + " " + a[2]);
        List<Double> after = shownConfidences(lw, grid);
        say("ORDER_AFTER " + after);
        if (after.size() != total - 4 || !ascending(after)) throw new IllegalStateException("after accepting: " + after);
        selectCells(grid, 0, 1);
        sleep(600);
        shot("11_ask_accepted");
        docShot("label_window", lw);
        onEdt(() -> { lw.dispose(); return null; });
        t.join(10000);
    }

    /** {file name, suggested class, confidence} of the selected images. */
    private static List<Object[]> selectedSuggestions(LabelWindow lw, JList<?> grid) throws Exception {
        return onEdt(() -> {
            List<Object[]> s = new ArrayList<>();
            for (Object o : grid.getSelectedValuesList()) {
                Dto.PredictResult r = lw.suggestion((Path) o);
                if (r == null) throw new IllegalStateException("no suggestion for " + o);
                s.add(new Object[]{((Path) o).getFileName().toString(), r.className, r.confidence});
            }
            return s;
        });
    }

    private static void waitMoved(String dataset, List<Object[]> moved) throws Exception {
        waitFor("accepted images moved", 10000, () -> {
            for (Object[] m : moved) {
                if (!new File(new File(dataset, (String) m[1]), (String) m[0]).isFile()) return false;
                if (new File(new File(dataset, "unlabelled"), (String) m[0]).exists()) return false;
            }
            return true;
        });
    }

    /** Classify Image on three open real images (dialog: model choice, All_open ticked) → "OmniClas Results". */
    private void classifyImages(String source) throws Exception {
        String model = need("model");
        File[] files = new File(source).listFiles(f -> f.getName().endsWith(".png"));
        if (files == null || files.length < 3) throw new IllegalStateException("no images in " + source);
        Arrays.sort(files);
        List<ImagePlus> imps = new ArrayList<>();
        int x = 0;
        for (int i = 0; i < 3; i++) {
            ImagePlus imp = IJ.openImage(files[i * 7].getPath());
            imp.show();
            waitFor("image window", 10000, () -> imp.getWindow() != null && imp.getWindow().isShowing());
            IJ.run(imp, "Set... ", "zoom=400");
            sleep(300);
            ImageWindow w = imp.getWindow();
            final int px = x;
            onEdt(() -> { w.setLocation(px, 110); return null; });
            x += onEdt(w::getWidth) + 4;
            imps.add(imp);
        }
        IJ.selectWindow(imps.get(0).getID());
        Set<Window> before = visibleWindows();
        IJ.doCommand("Classify Image");
        waitFor("Classify Image dialog", 15000, () -> newWindow(before) instanceof GenericDialog);
        GenericDialog gd = (GenericDialog) newWindow(before);
        settle(gd);
        sleep(300);
        Choice choice = (Choice) gd.getChoices().get(0);
        onEdt(() -> { choice.select(model); return null; });
        Checkbox all = (Checkbox) gd.getCheckboxes().get(0);
        click(all, 8, all.getHeight() / 2, 0);
        waitFor("All_open ticked", 3000, all::getState);
        clickToClose(gd.getButtons()[0], gd);
        waitFor("OmniClas Results", 60000, () -> ImageClassifier.lastResults() != null && resultsWindow() != null);
        ResultsTable rt = ImageClassifier.lastResults();
        StringBuilder rows = new StringBuilder();
        for (int i = 0; i < rt.size(); i++) rows.append(rt.getStringValue("image", i)).append(':').append(rt.getStringValue("class", i)).append(' ');
        say("CLASSIFIED " + rt.size() + " rows: " + rows.toString().trim());
        if (rt.size() != 3) throw new IllegalStateException("expected 3 result rows");
        Window results = resultsWindow();
        int top = 110 + onEdt(imps.get(0).getWindow()::getHeight) + 4;
        onEdt(() -> { results.setBounds(0, top, 760, 200); return null; });
        sleep(800);
        shot("12_classify_results");
        List<Window> ws = new ArrayList<>();
        ws.add(results);
        for (ImagePlus imp : imps) ws.add(imp.getWindow());
        docShot("classify_results", ws.toArray(new Window[0]));
        for (ImagePlus imp : imps) {
            imp.changes = false;
            imp.close();
        }
        onEdt(() -> { results.dispose(); return null; });
    }

    private static Window resultsWindow() {
        for (Window w : Window.getWindows()) if (w.isShowing() && ImageClassifier.TABLE.equals(title(w))) return w;
        return null;
    }

    private static ModelsWindow modelsWin() {
        for (Window w : Window.getWindows()) if (w.isShowing() && w instanceof ModelsWindow) return (ModelsWindow) w;
        return null;
    }

    private static List<String> tableNames(JTable table) throws Exception {
        return onEdt(() -> {
            List<String> n = new ArrayList<>();
            for (int r = 0; r < table.getRowCount(); r++) n.add(String.valueOf(table.getValueAt(r, 0)));
            return n;
        });
    }

    private void selectRow(JTable table, String name) throws Exception {
        int row = tableNames(table).indexOf(name);
        if (row < 0) throw new IllegalStateException("no row " + name);
        Rectangle r = onEdt(() -> table.getCellRect(row, 0, true));
        click(table, r.x + 20, r.y + r.height / 2, 0);
        waitFor("row " + name + " selected", 3000, () -> onEdt(table::getSelectedRow) == row);
    }

    /** Models...: rename one model, delete another, each checked on the server (GET /api/v1/models). */
    private void modelsWindow() throws Exception {
        String from = need("rename_from"), to = need("rename_to"), del = need("delete");
        IJ.doCommand("Models...");
        waitFor("models window", 15000, () -> modelsWin() != null);
        ModelsWindow mw = modelsWin();
        onEdt(() -> { mw.setBounds(0, 110, 1000, 220); return null; });
        JTable table = onEdt(() -> find(mw.getContentPane(), JTable.class, "models"));
        waitFor("models listed", 20000, () -> tableNames(table).containsAll(Arrays.asList(from, del, need("model"))));
        say("models window lists " + tableNames(table));
        selectRow(table, need("model"));
        sleep(500);
        shot("13_models");
        docShot("models_window", mw);

        selectRow(table, from);
        Set<Window> b1 = visibleWindows();
        click(onEdt(() -> find(mw.getContentPane(), JButton.class, "rename")));
        answerInputDialog(b1, to);
        waitFor("renamed in the list", 20000, () -> tableNames(table).contains(to) && !tableNames(table).contains(from));
        List<String> server = serverModels();
        say("SERVER_MODELS after rename " + server);
        if (!server.contains(to) || server.contains(from)) throw new IllegalStateException("rename not on the server: " + server);

        selectRow(table, del);
        Set<Window> b2 = visibleWindows();
        click(onEdt(() -> find(mw.getContentPane(), JButton.class, "delete")));
        waitFor("confirm dialog", 10000, () -> newWindow(b2) != null);
        Window confirm = newWindow(b2);
        settle(confirm);
        sleep(300);
        shot("14_models_delete_confirm");
        clickToClose(buttonLabelled(confirm, "OK"), confirm);
        waitFor("deleted from the list", 20000, () -> !tableNames(table).contains(del) && onEdt(table::getRowCount) > 0);
        server = serverModels();
        say("SERVER_MODELS after delete " + server);
        if (server.contains(del)) throw new IllegalStateException("delete not on the server: " + server);
        onEdt(() -> { mw.dispose(); return null; });
    }

    /** Train Classifier...: both wizard dialogs for real, then Cancel in the progress window while the job runs. */
    private void trainAndCancel() throws Exception {
        String dataset = need("train_dataset");
        int logStart = IJ.getLog() == null ? 0 : IJ.getLog().length();
        Set<Window> b1 = visibleWindows();
        IJ.doCommand("Train Classifier...");
        waitFor("train step 1", 15000, () -> newWindow(b1) instanceof GenericDialog);
        GenericDialog step1 = (GenericDialog) newWindow(b1);
        settle(step1);
        sleep(300);
        TextField dsField = (TextField) step1.getStringFields().get(0);
        onEdt(() -> { dsField.setText(dataset); return null; });
        Set<Window> b2 = visibleWindows();
        clickToClose(step1.getButtons()[0], step1);
        waitFor("train step 2", 20000, () -> newWindow(b2) instanceof GenericDialog);
        GenericDialog gd = (GenericDialog) newWindow(b2);
        settle(gd);
        sleep(700);
        shot("15_train_wizard");
        docShot("train_wizard", gd);
        // nd, one backbone, a short schedule: the job runs long enough to be cancelled while it trains
        Choice process = (Choice) gd.getChoices().get(0);
        Choice head = (Choice) gd.getChoices().get(1);
        onEdt(() -> { process.select("nd"); head.select("finetune"); return null; }); // finetune reports epochs
        for (Object o : gd.getCheckboxes()) {
            Checkbox c = (Checkbox) o;
            String label = c.getLabel().replace(' ', '_'); // GenericDialog shows underscores as spaces
            if (label.startsWith("efficientnet")) { // a backbone
                boolean want = "efficientnet_lite0".equals(label);
                onEdt(() -> { c.setState(want); return null; });
            }
        }
        @SuppressWarnings("unchecked")
        List<TextField> nums = new ArrayList<>((java.util.Vector<TextField>) gd.getNumericFields());
        String[] values = {"0.8", "1", "2", "20", "64", "16", "0"}; // threshold, iterations, frozen, unfrozen, size, batch, seed
        onEdt(() -> { for (int i = 0; i < values.length; i++) nums.get(i).setText(values[i]); return null; });
        TextField name = (TextField) gd.getStringFields().get(0);
        onEdt(() -> { name.setText(""); return null; });
        clickToClose(gd.getButtons()[0], gd);
        waitFor("progress window", 30000, () -> progressWindow() != null);
        Window pw = progressWindow();
        JLabel label = onEdt(() -> find(((JFrame) pw).getContentPane(), JLabel.class, null));
        String jobId = waitJobId(logStart);
        say("JOB_ID " + jobId);
        waitFor("job running", 60000, () -> onEdt(label::getText).contains(": running"));
        try { // cancel while it trains (the screenshot then shows real progress)
            waitFor("first epoch", 40000, () -> onEdt(label::getText).matches(".*epoch [1-9].*"));
        } catch (IllegalStateException e) {
            say("no epoch reported yet; cancelling anyway");
        }
        say("progress: " + onEdt(label::getText));
        sleep(1200);
        shot("16_training_progress");
        docShot("training_progress", pw);
        click(onEdt(() -> find(((JFrame) pw).getContentPane(), JButton.class, "cancel")));
        waitFor("progress window closed", 60000, () -> !pw.isShowing());
        waitFor("cancelled in the Log", 10000, () -> IJ.getLog().substring(logStart).contains("job " + jobId + " cancelled"));
        String state = serverJobState(jobId);
        say("JOB " + jobId + " state " + state);
        if (!"cancelled".equals(state)) throw new IllegalStateException("job state " + state + " after Cancel");
    }

    private static Window progressWindow() {
        for (Window w : Window.getWindows()) if (w.isShowing() && "OmniClas training".equals(title(w))) return w;
        return null;
    }

    private static String waitJobId(int logStart) throws Exception {
        Pattern p = Pattern.compile("training job (\\S+) submitted");
        String[] id = new String[1];
        waitFor("job id in the Log", 20000, () -> {
            String l = IJ.getLog();
            Matcher m = p.matcher(l == null ? "" : l.substring(Math.min(logStart, l.length())));
            if (m.find()) id[0] = m.group(1);
            return id[0] != null;
        });
        return id[0];
    }

    // ------------------------------------------------------------------ plain HTTP (not the plugin's client)

    private JsonObject getJson(String path) throws IOException {
        HttpURLConnection con = (HttpURLConnection) new URL(need("url").replaceAll("/+$", "") + "/api/v1" + path).openConnection();
        con.setConnectTimeout(5000);
        con.setReadTimeout(30000);
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

    private List<String> serverModels() throws IOException {
        List<String> names = new ArrayList<>();
        for (JsonElement m : getJson("/models").getAsJsonArray("models")) names.add(m.getAsJsonObject().get("name").getAsString());
        return names;
    }

    private String serverJobState(String id) throws IOException {
        return getJson("/jobs/" + id).get("state").getAsString();
    }

    // ------------------------------------------------------------------ widgets and screenshots

    /**
     * Clicks a button that closes its dialog. A dialog that has just appeared may not be mapped on the X server
     * yet (no window manager under Xvfb), so a click that did not land is repeated.
     */
    private void clickToClose(Component button, Window dialog) throws Exception {
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

    private static JButton buttonLabelled(Container root, String text) throws Exception {
        JButton b = onEdt(() -> findButton(root, text));
        if (b == null) throw new IllegalStateException("no button '" + text + "'");
        return b;
    }

    private static JButton findButton(Container root, String text) {
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
    private void docShot(String name, Window... windows) {
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

    private static BufferedImage scaled(BufferedImage img, double f) {
        int w = (int) Math.round(img.getWidth() * f), h = (int) Math.round(img.getHeight() * f);
        BufferedImage o = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = o.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(img, 0, 0, w, h, null);
        g.dispose();
        return o;
    }

    private static byte[] png(BufferedImage img) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        ImageIO.write(img, "png", b);
        return b.toByteArray();
    }

    private static int count(String dataset, String dir) {
        File[] f = new File(dataset, dir).listFiles(x -> x.isFile() && !x.getName().startsWith("."));
        return f == null ? -1 : f.length;
    }

    /** Closes every window opened since {@code before}: GenericDialogs are cancelled, the rest disposed. */
    private void closeAll(Set<Window> before) throws Exception {
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
}

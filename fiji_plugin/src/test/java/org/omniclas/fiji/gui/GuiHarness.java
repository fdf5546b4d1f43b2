package org.omniclas.fiji.gui;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.Menus;
import ij.gui.GenericDialog;
import ij.gui.ImageWindow;
import ij.measure.ResultsTable;
import ij.plugin.frame.Recorder;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.ui.ImageClassifier;
import org.omniclas.fiji.ui.JobMonitor;
import org.omniclas.fiji.ui.LabelWindow;
import org.omniclas.fiji.ui.ModelsWindow;
import org.omniclas.fiji.ui.ServerGate;
import org.omniclas.fiji.ui.Settings;
import org.omniclas.fiji.ui.TrainDialog;
import org.omniclas.fiji.ui.TrainWizard;

import javax.swing.AbstractButton;
import javax.swing.JButton;
import javax.swing.JCheckBox;
import javax.swing.JComboBox;
import javax.swing.JComponent;
import javax.swing.JDialog;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JTabbedPane;
import javax.swing.JTable;
import javax.swing.JTextArea;
import javax.swing.JTextField;
import java.awt.Button;
import java.awt.Checkbox;
import java.awt.Choice;
import java.awt.Component;
import java.awt.Container;
import java.awt.Menu;
import java.awt.MenuBar;
import java.awt.Rectangle;
import java.awt.Window;
import java.awt.event.KeyEvent;
import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GUI test scenario (not a unit test): run under Xvfb by tests/test_fiji_gui.py; drives ImageJ with real mouse and
 * key events ({@link GuiDriver}).
 * <p>Without a server: the Plugins > OmniClas menu, every command's first window, and a labelling session
 * (keys stay with their categories when one that sorts first is added, undo, rename).
 * <p>With a live server (option url=): "Ask the model..." (suggestions, sort by uncertainty, accept with A, undo of
 * an accept removes the class folder it created, Enter), Classify Image, the Models tab (rename, delete), the Train
 * wizard (options per process from the server, what applies, advanced section) up to Cancel in the progress
 * window, the Jobs tab (list, log tail, resume, cancel), a short training to the end (per-class table, Register
 * dialog beside it, the Recorder line), and registering from the Jobs tab.
 * <p>Option mode=start_server: no server answers; the command offers to start one, the server Fiji starts answers,
 * and ImageJ quits (File > Quit), which must stop it; with then=kill it waits instead, for the test to kill it.
 * <p>Args: outDir sourceDir datasetDir [key=value ...] with keys url, model, rename_from, rename_to, delete, ask_source,
 * ask_dataset, train_dataset, tag, mode, executable, models_root, dataset_root. Writes outDir/harness.log and
 * screenshots; exit code 0 = all steps ran.
 */
public final class GuiHarness extends GuiDriver {
    private Recorder recorder;

    private GuiHarness(File out) throws Exception {
        super(out);
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
            if ("start_server".equals(h.opt.get("mode"))) {
                h.startServerFromFiji();
                return; // ImageJ quits the JVM
            }
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
            if (!"start_server".equals(h.opt.get("mode")) || rc != 0) {
                h.log.close();
                System.exit(rc);
            }
        }
    }

    private ImageJ startImageJ() throws Exception {
        ImageJ ij = new ImageJ();
        waitFor("ImageJ window", 20000, ij::isShowing);
        ij.setLocation(0, 0);
        sleep(800);
        return ij;
    }

    private void ctrl(int code) {
        robot.keyPress(KeyEvent.VK_CONTROL);
        key(code);
        robot.keyRelease(KeyEvent.VK_CONTROL);
    }

    // ================================================================== without a server

    private void run(String source, String dataset) throws Exception {
        startImageJ();
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
        findCommands();

        // ---- every command's first window (no server answers: the commands that need one offer to start it)
        String[][] commands = {{"Server Settings...", "01_server_settings"}, {"Classify Image", "02_classify_image"},
                {"Classify Folder...", "03_classify_folder"}, {"Train Classifier...", "04_train"},
                {"Models...", "05_models"}, {"Jobs...", "05_jobs"}, {"Label Images...", "06_label_dialog"}};
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
            say("WINDOW " + c[0] + " -> " + w.getClass().getSimpleName() + " '" + title(w) + "'"
                    + (w instanceof JDialog && texts(w).contains("No OmniClas server answers") ? " OFFERS_START" : "")
                    + (w instanceof ij.gui.MessageDialog ? " SAYS " + org.omniclas.fiji.ui.Reporter.lastError() : ""));
            org.omniclas.fiji.ui.Reporter.clearLastError();
            closeAll(before);
        }
        outsideRoots(dataset);
        labelling(source, dataset);
    }

    /** The plugin once installed, for the README: ImageJ's Find Commands lists Plugins > OmniClas. */
    private void findCommands() throws Exception {
        Set<Window> before = visibleWindows();
        IJ.doCommand("Find Commands...");
        waitFor("Find Commands", 15000, () -> newWindow(before) != null);
        Window finder = newWindow(before);
        settle(finder);
        JTextField prompt = onEdt(() -> find(finder, JTextField.class, null));
        click(prompt);
        type("omniclas");
        JTable found = onEdt(() -> find(finder, JTable.class, null));
        waitFor("OmniClas commands found", 5000, () -> onEdt(found::getRowCount) >= 7);
        say("FIND_COMMANDS " + onEdt(found::getRowCount) + " rows");
        onEdt(() -> { finder.setLocation(0, 110); return null; });
        sleep(500);
        docShot("fiji_install", finder);
        onEdt(() -> { finder.dispose(); return null; });
    }

    /** Label Images says at once when the dataset is not under the server's dataset roots; Cancel leaves no folder. */
    private void outsideRoots(String dataset) throws Exception {
        File outside = new File(new File(dataset).getParentFile(), "outside_roots");
        Set<Window> before = visibleWindows();
        IJ.doCommand("Label Images...");
        waitFor("Label Images dialog", 15000, () -> newWindow(before) instanceof GenericDialog);
        GenericDialog gd = (GenericDialog) newWindow(before);
        settle(gd);
        java.awt.TextField ds = (java.awt.TextField) gd.getStringFields().get(1);
        onEdt(() -> { ds.setText(outside.getPath()); return null; });
        Set<Window> before2 = visibleWindows();
        clickToClose(gd.getButtons()[0], gd);
        waitFor("roots warning", 15000, () -> newWindow(before2) instanceof GenericDialog);
        GenericDialog warning = (GenericDialog) newWindow(before2);
        settle(warning);
        say("ROOTS_WARNING " + title(warning) + ": " + String.join(" ", awtTexts(warning)));
        clickToClose(warning.getButtons()[1], warning); // Cancel
        sleep(500);
        say("OUTSIDE_CREATED " + outside.exists());
    }

    private static List<String> awtTexts(Container root) {
        List<String> out = new ArrayList<>();
        for (Component c : root.getComponents()) {
            if (c instanceof java.awt.Label) out.add(((java.awt.Label) c).getText());
            if (c instanceof Container) out.addAll(awtTexts((Container) c));
        }
        return out;
    }

    /** All text of a window's labels and text areas (JOptionPane messages are in labels). */
    private static String texts(Container root) {
        StringBuilder sb = new StringBuilder();
        for (Component c : root.getComponents()) {
            if (c instanceof JLabel) sb.append(((JLabel) c).getText()).append('\n');
            if (c instanceof JTextArea) sb.append(((JTextArea) c).getText()).append('\n');
            if (c instanceof Container) sb.append(texts((Container) c));
        }
        return sb.toString();
    }

    private static LabelWindow labelWindow() {
        return showing(LabelWindow.class);
    }

    /** Keys 1-9 stay with their category: "Artefact" sorts first but gets key 3, after Cells (1) and Debris (2). */
    private void labelling(String source, String dataset) throws Exception {
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
        AbstractButton unassign = onEdt(() -> find(lw.getContentPane(), AbstractButton.class, "unassign"));
        say("UNASSIGN_BUTTON " + onEdt(unassign::getText));
        say("grid shows " + onEdt(() -> grid.getModel().getSize()));

        addCategory(add, "Cells");
        selectCells(grid, 0, 2);
        key(KeyEvent.VK_1);
        waitFor("3 images in Cells", 5000, () -> count(dataset, "Cells") == 3);
        selectCells(grid, 0, 0);
        key(KeyEvent.VK_1);
        waitFor("4 images in Cells", 5000, () -> count(dataset, "Cells") == 4);
        ctrl(KeyEvent.VK_Z);
        waitFor("undo back to 3", 5000, () -> count(dataset, "Cells") == 3);

        addCategory(add, "Debris");
        selectCells(grid, 0, 0);
        key(KeyEvent.VK_2);
        waitFor("1 image in Debris", 5000, () -> count(dataset, "Debris") == 1);

        addCategory(add, "Artefact"); // sorts before Cells and Debris
        selectCells(grid, 0, 0);
        key(KeyEvent.VK_1);
        waitFor("key 1 still means Cells", 5000, () -> count(dataset, "Cells") == 4);
        selectCells(grid, 0, 0);
        key(KeyEvent.VK_3);
        waitFor("key 3 is Artefact", 5000, () -> count(dataset, "Artefact") == 1);
        say("CATEGORY_LIST " + categoryTexts(cats));
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
        onEdt(() -> { cats.setSelectedIndex(1); return null; }); // back to the unlabelled images
        waitFor("unlabelled shown", 5000, () -> onEdt(() -> grid.getModel().getSize()) == count(dataset, "unlabelled"));
        selectCells(grid, 0, 0);
        key(KeyEvent.VK_1);
        waitFor("key 1 follows the rename", 5000, () -> count(dataset, "Nuclear") == 5);
        sleep(800);
        shot("09_label_renamed");
        say("CATEGORY_LIST " + categoryTexts(cats));
        say("COUNTS Nuclear=" + count(dataset, "Nuclear") + " Debris=" + count(dataset, "Debris") + " Artefact="
                + count(dataset, "Artefact") + " unlabelled=" + count(dataset, "unlabelled"));
        onEdt(() -> { lw.dispose(); return null; });
    }

    private void addCategory(AbstractButton add, String name) throws Exception {
        Set<Window> before = visibleWindows();
        click(add);
        waitFor("Add category dialog", 10000, () -> newWindow(before) != null);
        Window d = newWindow(before);
        settle(d);
        // the keyboard is in the name field from the start (issue 22)
        waitFor("focus in the name field", 5000, () -> onEdt(() -> d.getFocusOwner() instanceof JTextField));
        answerInputDialog(before, name);
        waitFor("category " + name, 5000, () -> new File(labelWindow().getDataset().getRoot().toFile(), name).isDirectory());
    }

    /** The category list as shown: "[1] Cells (4)|[2] Debris (1)|...". */
    private static String categoryTexts(JList<Object> cats) throws Exception {
        return onEdt(() -> {
            List<String> out = new ArrayList<>();
            for (int i = 2; i < cats.getModel().getSize(); i++) {
                Component c = cats.getCellRenderer().getListCellRendererComponent(cats, cats.getModel().getElementAt(i), i, false, false);
                out.add(((JLabel) c).getText());
            }
            return String.join("|", out);
        });
    }

    // ================================================================== with a live server

    private void withServer(String source) throws Exception {
        Settings.save(need("url"), "");
        Settings.saveServerStart("", Settings.modelsRoot(), need("dataset_root")); // the live server's root
        say("server " + Settings.url());
        recorder = new Recorder(false); // the Macro Recorder, recording (its window is not needed)
        long t0 = System.currentTimeMillis();
        askTheModel();
        say("TIME ask_model " + (System.currentTimeMillis() - t0) + " ms");
        t0 = System.currentTimeMillis();
        classifyImages(source);
        say("TIME classify " + (System.currentTimeMillis() - t0) + " ms");
        statusAfterFailure(source);
        t0 = System.currentTimeMillis();
        modelsWindow();
        say("TIME models " + (System.currentTimeMillis() - t0) + " ms");
        t0 = System.currentTimeMillis();
        String cancelled = trainWizardAndCancel();
        say("TIME train_cancel " + (System.currentTimeMillis() - t0) + " ms");
        t0 = System.currentTimeMillis();
        jobsResumeAndCancel(cancelled);
        say("TIME jobs " + (System.currentTimeMillis() - t0) + " ms");
        t0 = System.currentTimeMillis();
        String finished = trainToTheEnd();
        say("TIME train_finish " + (System.currentTimeMillis() - t0) + " ms");
        t0 = System.currentTimeMillis();
        registerFromJobs(finished);
        say("TIME register " + (System.currentTimeMillis() - t0) + " ms");
    }

    /** The truncated image the test puts among the unlabelled ones of "Ask the model". */
    static final String BROKEN = "broken.png";

    /** Confidence of each shown image's suggestion (NaN where none), in grid order; the unreadable image left out. */
    private static List<Double> shownConfidences(LabelWindow lw, JList<?> grid) throws Exception {
        return onEdt(() -> {
            List<Double> c = new ArrayList<>();
            for (int i = 0; i < grid.getModel().getSize(); i++) {
                Path p = (Path) grid.getModel().getElementAt(i);
                if (p.getFileName().toString().equals(BROKEN)) continue;
                Dto.PredictResult r = lw.suggestion(p);
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


    /** "Ask the model..." on a fresh dataset: suggestions, sort by uncertainty, accept with A (and undo it) and with Enter. */
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
        int shown = onEdt(() -> grid.getModel().getSize());
        int total = shown - (new File(new File(dataset, "unlabelled"), BROKEN).isFile() ? 1 : 0); // readable ones
        say("ask dataset shows " + shown);

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
        waitFor("suggestions", 120000, () -> onEdt(status::getText).contains("have a suggestion"));
        say("ASK_STATUS " + onEdt(status::getText));
        if (lw.suggestion(new File(new File(dataset, "unlabelled"), BROKEN).toPath()) != null) {
            throw new IllegalStateException("a suggestion for the unreadable " + BROKEN);
        }
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

        // A accepts the least certain image's suggestion; its class folder is new, so Ctrl+Z must remove it again
        selectCells(grid, 0, 0);
        List<Object[]> accepted = new ArrayList<>();
        accepted.addAll(selectedSuggestions(lw, grid));
        String firstClass = (String) accepted.get(0)[1];
        key(KeyEvent.VK_A);
        waitMoved(dataset, accepted);
        ctrl(KeyEvent.VK_Z);
        waitFor("undo of the accept", 10000, () -> new File(new File(dataset, "unlabelled"), (String) accepted.get(0)[0]).isFile()
                && !new File(dataset, firstClass).exists());
        say("UNDO_ACCEPT ok: " + accepted.get(0)[0] + " back in unlabelled, folder " + firstClass + " removed");
        waitFor("undone image listed again", 10000, () -> shownNames(grid).contains((String) accepted.get(0)[0]));
        selectCells(grid, 0, 0);
        accepted.clear();
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

    /** A command that fails (a model the server does not know) leaves no stale text in ImageJ's status bar. */
    private void statusAfterFailure(String source) throws Exception {
        File[] files = new File(source).listFiles(f -> f.getName().endsWith(".png"));
        ImagePlus imp = IJ.openImage(files[0].getPath());
        imp.show();
        waitFor("image window", 10000, () -> imp.getWindow() != null && imp.getWindow().isShowing());
        Set<Window> before = visibleWindows();
        Thread t = new Thread(() -> IJ.run("Classify Image", "model=no_such_model_xyz"), "status");
        t.start();
        waitFor("error dialog", 30000, () -> newWindow(before) != null);
        Window error = newWindow(before);
        settle(error);
        say("STATUS_AFTER_ERROR [" + ImageJ.getStatusBarText() + "] " + title(error) + ": " + org.omniclas.fiji.ui.Reporter.lastError());
        clickToClose(awtButton(error, "OK"), error);
        t.join(10000);
        imp.changes = false;
        imp.close();
    }

    private static Window resultsWindow() {
        for (Window w : Window.getWindows()) if (w.isShowing() && ImageClassifier.TABLE.equals(title(w))) return w;
        return null;
    }

    private static ModelsWindow modelsWin() {
        return showing(ModelsWindow.class);
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
        onEdt(() -> { table.scrollRectToVisible(r); return null; }); // many jobs: the row may be below the view
        robot.waitForIdle();
        click(table, r.x + 20, r.y + r.height / 2, 0);
        waitFor("row " + name + " selected", 3000, () -> onEdt(table::getSelectedRow) == row);
    }

    /** Models...: rename one model, delete another, each checked on the server (GET /api/v1/models). */
    private void modelsWindow() throws Exception {
        String from = need("rename_from"), to = need("rename_to"), del = need("delete");
        IJ.doCommand("Models...");
        waitFor("models window", 15000, () -> modelsWin() != null);
        ModelsWindow mw = modelsWin();
        onEdt(() -> { mw.setBounds(0, 110, 1000, 300); return null; });
        JTable table = onEdt(() -> find(mw.getContentPane(), JTable.class, "models"));
        waitFor("models listed", 20000, () -> tableNames(table).containsAll(Arrays.asList(from, del, need("model"))));
        say("models window lists " + tableNames(table));
        selectRow(table, need("model"));
        sleep(500);
        shot("13_models");
        docShot("models_window", mw);
        reportWithoutBrowser(mw);

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
        modelVersions(mw, table);
        onEdt(() -> { mw.dispose(); return null; });
    }



    /** Open report where no browser can be opened (this JVM runs with -Domniclas.browser=): the path, to copy. */
    private void reportWithoutBrowser(ModelsWindow mw) throws Exception {
        click(onEdt(() -> find(mw.getContentPane(), JButton.class, "open report")));
        waitFor("report path dialog", 30000, () -> titled(org.omniclas.fiji.ui.ReportOpener.TITLE) != null);
        Window d = titled(org.omniclas.fiji.ui.ReportOpener.TITLE);
        settle(d);
        say("REPORT_DIALOG " + texts(d).replace('\n', '|'));
        clickToClose(buttonLabelled(d, org.omniclas.fiji.ui.ReportOpener.COPY_PATH), d);
        String copied = onEdt(() -> (String) java.awt.Toolkit.getDefaultToolkit().getSystemClipboard()
                .getData(java.awt.datatransfer.DataFlavor.stringFlavor));
        say("REPORT_PATH " + copied);
        String head = new String(java.nio.file.Files.readAllBytes(java.nio.file.Paths.get(copied)), "UTF-8").trim();
        say("REPORT_HEAD " + head.substring(0, Math.min(15, head.length())).toLowerCase()); // (deleted when ImageJ quits)
    }

    /**
     * A model with two versions: the Version column says so, the older version can be picked in it (the row then
     * shows that version), and Delete offers to delete only that version.
     */
    private void modelVersions(ModelsWindow mw, JTable table) throws Exception {
        String name = need("versions");
        int row = tableNames(table).indexOf(name);
        say("VERSION_CELL " + onEdt(() -> table.getValueAt(row, 1)));
        selectRow(table, name);
        Rectangle cell = onEdt(() -> table.getCellRect(row, 1, true));
        click(table, cell.x + cell.width / 2, cell.y + cell.height / 2, 0); // opens the version choice
        waitFor("version choice", 5000, () -> onEdt(table::isEditing));
        @SuppressWarnings("unchecked")
        JComboBox<String> versions = (JComboBox<String>) onEdt(table::getEditorComponent);
        say("VERSION_CHOICES " + onEdt(() -> {
            List<String> items = new ArrayList<>();
            for (int i = 0; i < versions.getItemCount(); i++) items.add(versions.getItemAt(i));
            return String.join(",", items);
        }));
        onEdt(() -> { versions.setSelectedItem("1"); return null; }); // a choice applies at once
        waitFor("version 1 shown", 20000, () -> String.valueOf(onEdt(() -> table.getValueAt(row, 1))).startsWith("1 of 2"));
        say("VERSION_PICKED " + onEdt(() -> table.getValueAt(row, 1)));
        sleep(300);
        docShot("models_versions", mw);
        Set<Window> before = visibleWindows();
        click(onEdt(() -> find(mw.getContentPane(), JButton.class, "delete")));
        waitFor("delete choice", 10000, () -> newWindow(before) != null);
        Window choice = newWindow(before);
        settle(choice);
        say("VERSION_DELETE " + texts(choice).replace('\n', '|'));
        clickToClose(buttonLabelled(choice, "Version 1 only"), choice);
        waitFor("version 1 deleted", 20000, () -> getJson("/models/" + name).getAsJsonArray("versions").size() == 1);
        say("VERSIONS_LEFT " + getJson("/models/" + name).getAsJsonArray("versions"));
    }

    // ------------------------------------------------------------------ the Train wizard

    private static TrainDialog trainDialog() {
        return showing(TrainDialog.class);
    }

    private static <T extends Component> T named(Container root, Class<T> type, String name) throws Exception {
        T c = onEdt(() -> find(root, type, name));
        if (c == null) throw new IllegalStateException("no " + type.getSimpleName() + " named " + name);
        return c;
    }

    /** Option rows that show now ("name=value" each; the advanced ones only when their section is open). */
    private List<String> shownOptions(TrainDialog d, List<String> names) throws Exception {
        return onEdt(() -> {
            List<String> out = new ArrayList<>();
            for (String n : names) {
                JComponent c = find(d.getContentPane(), JComponent.class, n);
                if (c != null && c.isShowing()) out.add(n + "=" + valueOf(c));
            }
            return out;
        });
    }

    private static String valueOf(JComponent c) {
        if (c instanceof JComboBox) return String.valueOf(((JComboBox<?>) c).getSelectedItem());
        if (c instanceof JTextField) return ((JTextField) c).getText();
        if (c instanceof JCheckBox) return String.valueOf(((JCheckBox) c).isSelected());
        List<String> ticked = new ArrayList<>();
        for (Component b : c.getComponents()) if (b instanceof JCheckBox && ((JCheckBox) b).isSelected()) ticked.add(((JCheckBox) b).getText());
        return String.join(",", ticked);
    }

    private List<String> optionNames() throws Exception {
        List<String> names = new ArrayList<>();
        for (JsonElement o : getJson("/processes").getAsJsonArray("options")) names.add(o.getAsJsonObject().get("name").getAsString());
        return names;
    }

    private TrainDialog openWizard(String dataset) throws Exception {
        IJ.doCommand("Train Classifier...");
        waitFor("Train dialog", 20000, () -> trainDialog() != null);
        TrainDialog d = trainDialog();
        settle(d);
        JTextField ds = named(d.getContentPane(), JTextField.class, "dataset");
        JLabel summary = named(d.getContentPane(), JLabel.class, "summary");
        onEdt(() -> { ds.setText(dataset); return null; });
        String expected = org.omniclas.fiji.dataset.DatasetCheck.of(java.nio.file.Paths.get(dataset)).summary();
        waitFor("dataset summary", 10000, () -> onEdt(summary::getText).equals(expected));
        say("WIZARD_SUMMARY " + onEdt(summary::getText));
        return d;
    }

    private void selectProcess(TrainDialog d, String id) throws Exception {
        @SuppressWarnings("unchecked")
        JComboBox<String> p = named(d.getContentPane(), JComboBox.class, "process");
        onEdt(() -> { p.setSelectedItem(id); return null; });
        waitFor("process " + id, 3000, () -> id.equals(onEdt(p::getSelectedItem)));
    }

    private void choose(TrainDialog d, String option, String value) throws Exception {
        @SuppressWarnings("unchecked")
        JComboBox<String> c = named(d.getContentPane(), JComboBox.class, option);
        onEdt(() -> { c.setSelectedItem(value); return null; });
    }

    /**
     * The wizard for real: defaults and shown options per process (said as WIZARD lines, checked by the test),
     * the rules that show threshold and epochs, one backbone at most for D.D., the advanced section; then I.M.D.D.
     * with all its defaults is trained and cancelled in the progress window. Returns the job id.
     */
    private String trainWizardAndCancel() throws Exception {
        String dataset = need("train_dataset");
        List<String> names = optionNames();
        int logStart = IJ.getLog() == null ? 0 : IJ.getLog().length();
        TrainDialog d = openWizard(dataset);
        JComboBox<?> process = named(d.getContentPane(), JComboBox.class, "process");
        say("WIZARD_DEFAULT_PROCESS " + onEdt(process::getSelectedItem));
        JTextArea description = named(d.getContentPane(), JTextArea.class, "description");
        for (String p : new String[]{"nd", "dd", "idd", "md", "imd", "mdd", "imdd"}) {
            selectProcess(d, p);
            say("WIZARD " + p + " " + String.join(" ", shownOptions(d, names)));
            say("WIZARD_DESCRIPTION " + p + " " + onEdt(description::getText));
        }
        choose(d, "selection", "balanced");
        say("WIZARD imdd+selection=balanced " + String.join(" ", shownOptions(d, names)));
        choose(d, "selection", "threshold");
        choose(d, "head", "finetune");
        say("WIZARD imdd+head=finetune " + String.join(" ", shownOptions(d, names)));
        choose(d, "head", "linear");

        selectProcess(d, "dd"); // one backbone only: ticking a second one unticks the first
        click(named(d.getContentPane(), JCheckBox.class, "backbones:efficientnet_lite2"));
        say("WIZARD dd+click " + String.join(" ", shownOptions(d, names)));
        AbstractButton advanced = named(d.getContentPane(), AbstractButton.class, "advanced");
        click(advanced);
        waitFor("advanced options", 3000, () -> onEdt(() -> find(d.getContentPane(), JComponent.class, "seed").isShowing()));
        say("WIZARD dd+advanced " + String.join(" ", shownOptions(d, names)));
        click(advanced);

        selectProcess(d, "imdd"); // its defaults again
        // The paper's fine-tuning: minutes of work, so Cancel always lands on a running job (linear heads on this
        // small dataset can finish between two clicks).
        choose(d, "head", "finetune");
        JTextField name = named(d.getContentPane(), JTextField.class, "model_name");
        onEdt(() -> { name.setText(""); return null; });
        sleep(500);
        shot("15_train_wizard");
        docShot("train_wizard", d);
        clickToClose(named(d.getContentPane(), JButton.class, "train"), d);

        waitFor("progress window", 30000, () -> titled(JobMonitor.TITLE) != null);
        Window pw = titled(JobMonitor.TITLE);
        JLabel label = onEdt(() -> find(((JFrame) pw).getContentPane(), JLabel.class, null));
        String jobId = waitJobId(logStart);
        say("JOB_ID " + jobId);
        waitFor("job running", 90000, () -> onEdt(label::getText).contains(": running"));
        JTextArea log = named(((JFrame) pw).getContentPane(), JTextArea.class, "log");
        waitFor("log tail", 30000, () -> onEdt(log::getText).contains("starting job"));
        say("PROGRESS_LOG " + onEdt(log::getText).replace('\n', '|'));
        say("progress: " + onEdt(label::getText));
        sleep(1000);
        shot("16_training_progress");
        docShot("training_progress", pw);
        // Cancel asks first: "Keep training" leaves the job running, then "Cancel job" cancels it
        JButton cancelTraining = named(((JFrame) pw).getContentPane(), JButton.class, "cancel");
        Window confirm = confirmCancel(cancelTraining);
        say("CANCEL_CONFIRM " + texts(confirm).replace('\n', '|'));
        shot("16b_cancel_confirm");
        clickToClose(buttonLabelled(confirm, JobMonitor.KEEP_TRAINING), confirm);
        sleep(2500);
        say("AFTER_KEEP " + serverJobState(jobId) + " " + onEdt(cancelTraining::isEnabled));
        Window sure = confirmCancel(cancelTraining);
        clickToClose(buttonLabelled(sure, JobMonitor.CANCEL_JOB), sure);
        waitFor("progress window closed", 90000, () -> !pw.isShowing());
        waitFor("cancelled in the Log", 10000, () -> IJ.getLog().substring(logStart).contains("job " + jobId + " cancelled"));
        String state = serverJobState(jobId);
        say("JOB " + jobId + " state " + state);
        if (!"cancelled".equals(state)) throw new IllegalStateException("job state " + state + " after Cancel");
        sleep(500); // the command thread hands back to the Recorder
        say("RECORDER_AFTER_CANCEL " + recorder.getText().replace('\n', '|'));
        return jobId;
    }

    /** Clicks a Cancel button and returns the "are you sure?" dialog it opens. */
    private Window confirmCancel(JButton cancel) throws Exception {
        Set<Window> before = visibleWindows();
        click(cancel);
        waitFor("cancel confirmation", 10000, () -> newWindow(before) != null
                && JobMonitor.CONFIRM_TITLE.equals(title(newWindow(before))));
        Window w = newWindow(before);
        settle(w);
        return w;
    }

    private static String waitJobId(int logStart) throws Exception {
        Pattern p = Pattern.compile("training job (\\S+) submitted");
        String[] id = new String[1];
        waitFor("job id in the Log", 30000, () -> {
            String l = IJ.getLog();
            Matcher m = p.matcher(l == null ? "" : l.substring(Math.min(logStart, l.length())));
            if (m.find()) id[0] = m.group(1);
            return id[0] != null;
        });
        return id[0];
    }

    // ------------------------------------------------------------------ the Jobs tab

    private JTable openJobs() throws Exception {
        IJ.doCommand("Jobs...");
        waitFor("jobs window", 15000, () -> showing(ModelsWindow.class) != null);
        ModelsWindow mw = showing(ModelsWindow.class);
        onEdt(() -> { mw.setBounds(0, 110, 1000, 520); return null; });
        JTabbedPane tabs = named(mw.getContentPane(), JTabbedPane.class, "tabs");
        waitFor("Jobs tab", 5000, () -> onEdt(tabs::getSelectedIndex) == 1);
        return named(mw.getContentPane(), JTable.class, "jobs");
    }

    /**
     * The Jobs tab: the cancelled job with its log; Resume sends it back to the server (a second attempt; whether
     * the engine can continue depends on its checkpoint: see the report); Cancel job stops a running I.M.D.D. job
     * started here for that purpose.
     */
    private void jobsResumeAndCancel(String jobId) throws Exception {
        JTable table = openJobs();
        ModelsWindow mw = showing(ModelsWindow.class);
        waitFor("job listed", 20000, () -> tableNames(table).contains(jobId));
        selectRow(table, jobId);
        JTextArea log = named(mw.getContentPane(), JTextArea.class, "jobLog");
        JLabel line = named(mw.getContentPane(), JLabel.class, "jobLine");
        JButton resume = named(mw.getContentPane(), JButton.class, "resumeJob");
        waitFor("job log", 20000, () -> onEdt(log::getText).contains("cancel"));
        waitFor("Resume offered", 10000, () -> onEdt(resume::isEnabled));
        say("JOBS_LINE " + onEdt(line::getText));
        click(resume);
        waitFor("resumed on the server", 30000, () -> getJson("/jobs/" + jobId).get("attempts").getAsInt() >= 2);
        // Fiji follows the resumed job as the wizard does: a progress window, and a status bar that says running
        waitFor("progress window of the resumed job", 30000, () -> titled(JobMonitor.TITLE) != null);
        Window resumedProgress = titled(JobMonitor.TITLE);
        onEdt(() -> { resumedProgress.setLocation(0, 640); return null; }); // below the Jobs tab, off its buttons
        waitFor("status bar follows the resumed job", 90000, () -> ImageJ.getStatusBarText().contains("job " + jobId + ": running"));
        say("STATUS_AFTER_RESUME " + ImageJ.getStatusBarText());
        waitFor("resume in the log", 20000, () -> onEdt(log::getText).contains("resume requested"));
        say("JOBS_RESUMED " + jobId + " " + onEdt(line::getText));
        say("JOBS_LOG " + onEdt(log::getText).replace('\n', '|'));

        String other = postJson("/jobs", "{\"dataset\": \"" + need("train_dataset") + "\", \"process\": \"imdd\"}")
                .get("job_id").getAsString();
        say("JOBS_OTHER " + other);
        waitFor("other job listed", 20000, () -> tableNames(table).contains(other));
        selectRow(table, other);
        try { // for the picture only: a running job with its progress
            waitFor("other job running", 30000, () -> onEdt(line::getText).contains(": running"));
        } catch (IllegalStateException notYet) {
            say("the other job is not running yet");
        }
        sleep(1500);
        shot("17_jobs_running");
        docShot("jobs_window", mw);
        JButton cancel = named(mw.getContentPane(), JButton.class, "cancelJob");
        waitFor("Cancel offered", 10000, () -> onEdt(cancel::isEnabled));
        Window confirm = confirmCancel(cancel);
        say("JOBS_CANCEL_CONFIRM " + texts(confirm).replace('\n', '|'));
        clickToClose(buttonLabelled(confirm, JobMonitor.CANCEL_JOB), confirm);
        waitFor("cancelled on the server", 90000, () -> "cancelled".equals(serverJobState(other)));
        waitFor("cancelled in the Jobs tab", 20000, () -> onEdt(line::getText).contains(": cancelled"));
        say("JOBS_CANCELLED " + other + " " + onEdt(line::getText));
        String resumed = serverJobState(jobId);
        if (resumed.equals("queued") || resumed.equals("running")) postJson("/jobs/" + jobId + "/cancel", "{}"); // free the worker
        waitFor("the worker is free", 90000, () -> !Arrays.asList("queued", "running").contains(serverJobState(jobId)));
        onEdt(() -> { mw.dispose(); return null; });
    }

    /** N.D. with one backbone at 64 px, to the end: per-class table, Register dialog beside it, the Recorder line. */
    private String trainToTheEnd() throws Exception {
        int logStart = IJ.getLog() == null ? 0 : IJ.getLog().length();
        TrainDialog d = openWizard(need("train_dataset"));
        selectProcess(d, "nd");
        click(named(d.getContentPane(), JCheckBox.class, "backbones:efficientnet_lite1"));
        click(named(d.getContentPane(), JCheckBox.class, "backbones:efficientnet_lite2"));
        click(named(d.getContentPane(), AbstractButton.class, "advanced"));
        JTextField size = named(d.getContentPane(), JTextField.class, "image_size");
        onEdt(() -> { size.setText("64"); return null; });
        JTextField name = named(d.getContentPane(), JTextField.class, "model_name");
        JLabel problems = named(d.getContentPane(), JLabel.class, "problems");
        onEdt(() -> { name.setText(need("model")); return null; }); // a name in use: the wizard warns
        waitFor("name-in-use warning", 5000, () -> onEdt(problems::getText).contains("exists (version"));
        say("WIZARD_NAME_WARNING " + onEdt(problems::getText).replaceAll("<[^>]+>", " ").trim());
        onEdt(() -> { name.setText(""); return null; });
        say("WIZARD fast " + String.join(" ", shownOptions(d, optionNames())));
        clickToClose(named(d.getContentPane(), JButton.class, "train"), d);
        String jobId = waitJobId(logStart);
        say("FAST_JOB_ID " + jobId);
        waitFor("Register dialog", 300000, () -> titled("OmniClas - Register model") != null);
        Window reg = titled("OmniClas - Register model");
        Window table = titled("OmniClas Training " + jobId);
        if (table == null) throw new IllegalStateException("no per-class table window");
        settle(reg);
        Rectangle rb = onEdt(reg::getBounds), tb = onEdt(table::getBounds);
        say("REGISTER_DIALOG " + rb + " TABLE " + tb);
        if (rb.intersects(tb)) throw new IllegalStateException("the Register dialog covers the per-class table");
        ResultsTable rt = TrainWizard.lastTrainingTable();
        List<String> cells = new ArrayList<>();
        for (int r = 0; r < rt.size(); r++) {
            cells.add(rt.getStringValue("class", r) + ":" + rt.getStringValue("precision", r) + "/" + rt.getStringValue("recall", r));
        }
        say("PER_CLASS " + String.join(" ", cells));
        shot("18_register");
        clickToClose(awtButton(reg, "Don't register"), reg);
        waitFor("training command done", 10000, () -> IJ.getLog().substring(logStart).contains("job " + jobId + " finished"));
        sleep(800); // the command thread hands its options to the Recorder
        say("RECORDER " + recorder.getText().replace('\n', '|'));
        onEdt(() -> { table.dispose(); return null; });
        return jobId;
    }

    private static Button awtButton(Container root, String label) throws Exception {
        Button b = onEdt(() -> findAwtButton(root, label));
        if (b == null) throw new IllegalStateException("no button '" + label + "'");
        return b;
    }

    private static Button findAwtButton(Container root, String label) {
        for (Component c : root.getComponents()) {
            if (c instanceof Button && label.equals(((Button) c).getLabel().trim())) return (Button) c;
            if (c instanceof Container) {
                Button b = findAwtButton((Container) c, label);
                if (b != null) return b;
            }
        }
        return null;
    }

    private void registerFromJobs(String jobId) throws Exception {
        String model = "gui-registered-" + need("tag");
        JTable table = openJobs();
        ModelsWindow mw = showing(ModelsWindow.class);
        waitFor("finished job listed", 20000, () -> tableNames(table).contains(jobId));
        selectRow(table, jobId);
        Set<Window> before = visibleWindows();
        click(named(mw.getContentPane(), JButton.class, "registerJob"));
        answerInputDialog(before, need("model")); // a name in use: a warning, and another name is offered
        waitFor("name-in-use warning", 10000, () -> titled("Model name in use") != null);
        Window warning = titled("Model name in use");
        settle(warning);
        say("REGISTER_NAME_WARNING " + texts(warning).replace('\n', '|'));
        Set<Window> b3 = visibleWindows();
        b3.remove(warning);
        clickToClose(buttonLabelled(warning, org.omniclas.fiji.ui.ModelNames.OTHER_NAME), warning);
        waitFor("the name asked again", 10000, () -> newWindow(b3) != null && onEdt(() -> find(newWindow(b3), JTextField.class, null)) != null);
        JTextField again = onEdt(() -> find(newWindow(b3), JTextField.class, null));
        say("NAME_OFFERED " + onEdt(again::getText));
        answerInputDialog(b3, model);
        waitFor("registered on the server", 30000, () -> serverModels().contains(model));
        say("REGISTERED " + model);
        // the Models tab lists it without a click on Refresh
        JTable models = named(mw.getContentPane(), JTable.class, "models");
        waitFor("the Models tab refreshed", 20000, () -> tableNames(models).contains(model));
        say("MODELS_TAB_REFRESHED " + model);
        onEdt(() -> { mw.dispose(); return null; });
    }

    // ================================================================== starting the server from Fiji

    /**
     * No server answers at url=: Models... offers to start one with the settings' environment; the started server
     * answers /health; then File > Quit (ImageJ exits the JVM) must stop it (checked by the test).
     */
    private void startServerFromFiji() throws Exception {
        ImageJ ij = startImageJ();
        Settings.save(need("url"), "");
        Settings.saveServerStart(need("executable"), need("models_root"), need("dataset_root"));
        Set<Window> before = visibleWindows();
        IJ.doCommand("Models...");
        waitFor("offer to start a server", 20000, () -> newWindow(before) != null);
        Window offer = newWindow(before);
        settle(offer);
        say("OFFER " + texts(offer).replace('\n', '|'));
        docShot("server_start", offer);
        clickToClose(buttonLabelled(offer, "Start server"), offer);
        waitFor("models window after the start", ServerGate.START_TIMEOUT_MS, () -> showing(ModelsWindow.class) != null);
        JsonObject health = getJson("/health");
        say("SERVER_STARTED " + health);
        say("SERVER_COMMAND " + String.join(" ", ServerGate.running().command()));
        JLabel status = named(showing(ModelsWindow.class).getContentPane(), JLabel.class, "modelsStatus");
        waitFor("models listed", 20000, () -> onEdt(status::getText).contains("model(s) on"));
        if ("kill".equals(opt.get("then"))) { // the test kills this JVM with SIGKILL: no shutdown hook runs
            say("WAITING_FOR_KILL");
            sleep(600000);
            System.exit(3);
        }
        say("DONE");
        log.close();
        ij.exitWhenQuitting(true);
        ij.quit(); // File > Quit: ImageJ closes its windows and exits the JVM
        sleep(60000);
        System.exit(3); // not reached when ImageJ quits
    }
}

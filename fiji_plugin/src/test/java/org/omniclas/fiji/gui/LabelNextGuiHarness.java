package org.omniclas.fiji.gui;

import ij.IJ;
import ij.ImageJ;
import org.omniclas.fiji.dataset.CategoryKeys;
import org.omniclas.fiji.ui.JobMonitor;
import org.omniclas.fiji.ui.LabelWindow;
import org.omniclas.fiji.ui.Reporter;

import javax.swing.AbstractButton;
import javax.swing.JLabel;
import javax.swing.JList;
import java.awt.event.KeyEvent;
import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * GUI test scenario of Label next (issue 25), run under Xvfb by tests/test_fiji_label_next.py against a live
 * server: Label Images on a fresh dataset, "Label next" (the cold-start batch, a reason under each thumbnail),
 * key 1 files the first suggested image, which leaves the batch. With {@code retrain=1}, "Retrain quickly" then
 * trains N.D. and the batch comes back with the model's guesses. Prints what it saw; exit code 0 = all steps ran.
 * <p>Args: outDir source dataset url=... [retrain=1]
 */
public final class LabelNextGuiHarness extends GuiDriver {
    private LabelNextGuiHarness(String[] args) throws Exception {
        super(outDir(args));
    }

    public static void main(String[] args) throws Exception {
        LabelNextGuiHarness h = new LabelNextGuiHarness(args);
        h.runAndExit(args, "zz_label_next_failure", h::run);
    }

    private void run(String source, String dataset) throws Exception {
        Reporter.setHandler((title, message) -> { }); // an error is read from lastError, not a dialog that blocks
        ImageJ ij = new ImageJ();
        waitFor("ImageJ window", 20000, ij::isShowing);
        Thread t = new Thread(() -> IJ.run("Label Images...", "source=[" + source + "] dataset=[" + dataset + "]"), "label");
        t.start();
        waitFor("label window", 60000, () -> showing(LabelWindow.class) != null);
        LabelWindow lw = showing(LabelWindow.class);
        onEdt(() -> { lw.setBounds(0, 0, 1100, 760); return null; });
        @SuppressWarnings("unchecked")
        JList<Path> grid = onEdt(() -> find(lw.getContentPane(), JList.class, "grid"));
        JLabel status = onEdt(() -> find(lw.getContentPane(), JLabel.class, "status"));
        AbstractButton next = onEdt(() -> find(lw.getContentPane(), AbstractButton.class, "labelNext"));
        String key1 = CategoryKeys.of(new File(dataset).toPath()).category(1);
        say("KEY1 " + key1);

        click(next);
        // the server reads the pool's features first (seconds once the feature store has them)
        waitFor("the Label next batch", 300000, () -> onEdt(() -> lw.showsLabelNext() && grid.getModel().getSize() > 0)
                || Reporter.lastError() != null);
        if (Reporter.lastError() != null) throw new IllegalStateException("Label next: " + Reporter.lastError());
        int n = onEdt(() -> grid.getModel().getSize());
        say("BATCH " + n);
        for (String line : shown(lw, grid)) say("SHOWN " + line);
        say("STATUS " + onEdt(status::getText));
        sleep(1000); // thumbnails, for the screenshot only
        shot("40_label_next");
        docShot("label_next", lw);

        Path first = onEdt(() -> grid.getModel().getElementAt(0));
        selectCells(grid, 0, 0);
        key(KeyEvent.VK_1);
        File filed = new File(new File(dataset, key1), first.getFileName().toString());
        waitFor("the image filed into " + key1, 30000, filed::isFile);
        waitFor("the image gone from the batch", 30000, () -> onEdt(() -> grid.getModel().getSize() == n - 1
                && !contains(grid, first) && lw.showsLabelNext()));
        say("FILED " + first.getFileName() + " -> " + key1);
        say("AFTER " + onEdt(() -> grid.getModel().getSize()));
        say("SELECTED_NOW " + onEdt(() -> grid.getSelectedValue() == null ? "none" : grid.getSelectedValue().getFileName().toString()));
        shot("41_label_next_filed");

        if ("1".equals(opt.get("retrain"))) retrain(lw, grid, status);
        onEdt(() -> { lw.dispose(); return null; });
    }

    /**
     * Retrain quickly: first refused before anything is sent while a class folder is empty (the plugin's error, as
     * Train Classifier gives it); then the progress window shows, and the batch comes back from the new model.
     */
    private void retrain(LabelWindow lw, JList<Path> grid, JLabel status) throws Exception {
        AbstractButton retrain = onEdt(() -> find(lw.getContentPane(), AbstractButton.class, "retrain"));
        File empty = new File(lw.getDataset().getRoot().toFile(), "Debris");
        if (!empty.mkdir()) throw new IllegalStateException("cannot make " + empty);
        click(retrain);
        waitFor("the refusal", 30000, () -> Reporter.lastError() != null);
        say("REFUSED " + Reporter.lastError().replace('\n', '|'));
        Reporter.clearLastError();
        if (!empty.delete()) throw new IllegalStateException("cannot remove " + empty);
        if (!onEdt(retrain::isEnabled)) throw new IllegalStateException("Retrain quickly stayed disabled");

        click(retrain);
        click(retrain);
        // (the window shows at least one poll interval, 1 s: long enough to be seen every 0.1 s)
        waitFor("the progress window", 60000, () -> titled(JobMonitor.TITLE) != null || Reporter.lastError() != null);
        say("PROGRESS_WINDOW " + (titled(JobMonitor.TITLE) != null));
        waitFor("the batch of the retrained model", 600000, () -> Reporter.lastError() != null
                || onEdt(() -> lw.nextBatch().job() != null && retrain.isEnabled() && lw.showsLabelNext()
                        && grid.getModel().getSize() > 0));
        if (Reporter.lastError() != null) throw new IllegalStateException("Retrain quickly: " + Reporter.lastError());
        say("JOB " + lw.nextBatch().job());
        say("RETRAINED_BATCH " + onEdt(() -> grid.getModel().getSize()));
        for (String line : shown(lw, grid)) say("GUESS " + line);
        say("RETRAINED_STATUS " + onEdt(status::getText));
        sleep(1000);
        shot("42_label_next_retrained");

        // A accepts the shown guess of the first image: filed into that class, out of the batch
        int n = onEdt(() -> grid.getModel().getSize());
        Path first = onEdt(() -> grid.getModel().getElementAt(0));
        String guess = lw.nextBatch().guess(first);
        selectCells(grid, 0, 0);
        key(KeyEvent.VK_A);
        File accepted = new File(first.getParent().getParent().resolve(guess).toFile(), first.getFileName().toString());
        waitFor("the guess accepted", 30000, accepted::isFile);
        waitFor("the accepted image gone from the batch", 30000,
                () -> onEdt(() -> grid.getModel().getSize() == n - 1 && !contains(grid, first)));
        say("ACCEPTED " + first.getFileName() + " -> " + guess);
    }

    /** "name | text under its thumbnail" for each image shown. */
    private static List<String> shown(LabelWindow lw, JList<Path> grid) throws Exception {
        return onEdt(() -> {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < grid.getModel().getSize(); i++) {
                Path p = grid.getModel().getElementAt(i);
                out.add(p.getFileName() + " | " + lw.nextBatch().label(p));
            }
            return out;
        });
    }

    private static boolean contains(JList<Path> grid, Path p) {
        for (int i = 0; i < grid.getModel().getSize(); i++) if (grid.getModel().getElementAt(i).equals(p)) return true;
        return false;
    }
}

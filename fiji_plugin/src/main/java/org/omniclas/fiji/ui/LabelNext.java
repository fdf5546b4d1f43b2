package org.omniclas.fiji.ui;

import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.OmniClasClient;

import javax.swing.JButton;
import javax.swing.SwingWorker;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The "Label next" and "Retrain quickly" buttons of the labelling window: the server's calls off the EDT, the
 * batch shown in the window's own grid (so the category keys, Undo and the moves are the main view's).
 */
final class LabelNext {
    private final LabelWindow window;
    private final Path root;
    final NextBatch batch;
    final JButton nextButton = new JButton("Label next");
    final JButton retrainButton = new JButton("Retrain quickly");

    LabelNext(LabelWindow window, Path root) {
        this.window = window;
        this.root = root;
        this.batch = new NextBatch(root);
        nextButton.setName("labelNext");
        nextButton.setToolTipText("The " + NextBatch.SIZE + " unlabelled images the model needs most (before any model: typical, diverse ones)");
        nextButton.addActionListener(e -> fetch());
        retrainButton.setName("retrain");
        retrainButton.setToolTipText("Train N.D. (no distillation) on the labelled images, then ask for the next batch");
        retrainButton.addActionListener(e -> retrain());
    }

    /** The model "Ask the model" used: the next batch comes from it unless this window retrained one. */
    void asked(String model) {
        if (batch.job() == null) batch.useModel(model);
    }

    private void busy(boolean on) {
        nextButton.setEnabled(!on);
        retrainButton.setEnabled(!on);
    }

    /** Asks the server for the next batch and shows it. */
    void fetch() {
        busy(true);
        window.setStatus("Asking the server which images to label next...");
        new SwingWorker<Boolean, Void>() {
            @Override protected Boolean doInBackground() throws Exception {
                OmniClasClient c = ServerGate.connect(); // offers to start a server when none answers
                if (c == null) return false;
                batch.request(c, NextBatch.SIZE);
                return true;
            }
            @Override protected void done() {
                busy(false);
                try {
                    if (get()) window.showNext();
                    else window.setStatus("Label next: no server at " + Settings.url() + ".");
                } catch (Exception e) {
                    window.setStatus("Label next: the server gave no batch.");
                    Reporter.unexpected("Label next", e.getCause() != null ? e.getCause() : e);
                }
            }
        }.execute();
    }

    /** N.D. on the dataset (its features are cached), followed in the progress window, then the next batch. */
    void retrain() {
        List<String> problems;
        try {
            problems = batch.retrainProblems();
        } catch (IOException e) {
            Reporter.unexpected("Cannot read the dataset folder", e);
            return;
        }
        if (!problems.isEmpty()) {
            Reporter.error("Retrain quickly: " + root + " cannot be trained on yet:\n- " + String.join("\n- ", problems));
            return;
        }
        busy(true);
        window.setStatus("Retrain quickly: sending an N.D. training job...");
        new SwingWorker<Dto.Job, Void>() {
            @Override protected Dto.Job doInBackground() throws Exception {
                OmniClasClient c = ServerGate.connect();
                if (c == null) return null;
                Dto.Job sent = batch.submitRetrain(c);
                Dto.Job job = new JobMonitor(c, sent.id(), "N.D. (no distillation) on " + root + ", for the next batch").follow();
                if ("finished".equals(job.state)) {
                    batch.useJob(job.id());
                    batch.request(c, NextBatch.SIZE);
                }
                return job;
            }
            @Override protected void done() {
                busy(false);
                Dto.Job job;
                try {
                    job = get();
                } catch (Exception e) {
                    window.setStatus("Retrain quickly stopped.");
                    Reporter.unexpected("Retrain quickly", e.getCause() != null ? e.getCause() : e);
                    return;
                }
                if (job == null) {
                    window.setStatus("Retrain quickly: no server at " + Settings.url() + ".");
                } else if ("finished".equals(job.state)) {
                    window.showNext(); // (no Log window: it would cover the grid)
                } else if ("cancelled".equals(job.state)) {
                    window.setStatus("Retrain quickly: job " + job.id() + " cancelled; the batch is unchanged.");
                } else {
                    window.setStatus("Retrain quickly: job " + job.id() + " " + job.state + ".");
                    Reporter.error("Retrain quickly: training job " + job.id() + " " + job.state
                            + (job.error != null ? ":\n" + job.error : "."));
                }
            }
        }.execute();
    }
}

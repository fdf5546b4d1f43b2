package org.omniclas.fiji.ui;

import ij.IJ;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.JobText;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;

import javax.swing.BorderFactory;
import javax.swing.JButton;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JPanel;
import javax.swing.JProgressBar;
import javax.swing.JScrollPane;
import javax.swing.JTextArea;
import javax.swing.SwingUtilities;
import javax.swing.WindowConstants;
import java.awt.BorderLayout;
import java.awt.Dimension;
import java.awt.FlowLayout;
import java.util.List;

/**
 * Follows a job until it ends: IJ.showStatus / IJ.showProgress (and the Log, unattended), and on a
 * desktop a small window with the job's options, a progress bar, the log tail and a Cancel button. Blocks the
 * calling thread (never call it on the EDT).
 */
public class JobMonitor {
    public static final String TITLE = "OmniClas training";
    private final OmniClasClient client;
    private final String jobId;
    private final org.omniclas.fiji.client.ShownProgress shown = new org.omniclas.fiji.client.ShownProgress();
    private volatile boolean cancelRequested;
    private long pollMs = 1000;
    private volatile JFrame frame;
    private JProgressBar bar;
    private JLabel label;
    private JTextArea log;
    private final String options;
    private boolean window = true;

    /** @param options the job's options as text for people (shown above the progress bar), or null */
    public JobMonitor(OmniClasClient client, String jobId, String options) {
        this.client = client;
        this.jobId = jobId;
        this.options = options;
    }

    public JobMonitor pollEvery(long ms) { this.pollMs = ms; return this; }

    /**
     * No progress window: the Jobs view shows the job (a predict job). The status bar and the progress bar
     * still follow it, and the Log too when unattended; Esc asks to cancel it.
     */
    public JobMonitor withoutWindow() { this.window = false; return this; }

    /** Ask for cancellation (from any thread), without asking the user. */
    public void cancel() { cancelRequested = true; }

    public static final String CONFIRM_TITLE = "Cancel training?";
    public static final String CANCEL_JOB = "Cancel job";
    public static final String KEEP_TRAINING = "Keep training";
    public static final String KEEP_CLASSIFYING = "Keep classifying";

    /**
     * "Are you sure?" before a running job is cancelled from a window (macros and batch mode cancel without
     * asking). Safe from any thread; the default answer keeps the job running.
     */
    public static boolean confirmCancel(java.awt.Component parent, String jobId) {
        return confirmCancel(parent, jobId, false);
    }

    /** The same for a predict job ({@code predict}): it continues from the images it has done. */
    public static boolean confirmCancel(java.awt.Component parent, String jobId, boolean predict) {
        String[] buttons = {CANCEL_JOB, predict ? KEEP_CLASSIFYING : KEEP_TRAINING};
        String text = predict
                ? "Cancel classification job " + jobId + "?\n\nIt stops at its next batch. Resume (Jobs...) continues it later,\n"
                        + "from the images it has done."
                : "Cancel training job " + jobId + "?\n\nIt stops at its next step. Resume (Jobs...) continues it later,\n"
                        + "from the last stage it finished.";
        java.util.concurrent.atomic.AtomicInteger answer = new java.util.concurrent.atomic.AtomicInteger(-1);
        Edt.runAndWait(() -> answer.set(javax.swing.JOptionPane.showOptionDialog(parent, ScreenFit.wrap(text),
                predict ? "Cancel classification?" : CONFIRM_TITLE, javax.swing.JOptionPane.DEFAULT_OPTION,
                javax.swing.JOptionPane.WARNING_MESSAGE, null, buttons, buttons[1])));
        return answer.get() == 0;
    }

    /** Polls until the job is finished, failed, cancelled or interrupted; returns its last state. */
    public Dto.Job follow() throws OmniClasException {
        if (window && !Reporter.unattended()) {
            // built before the first poll, so the finally below always sees (and disposes) it
            if (SwingUtilities.isEventDispatchThread()) buildWindow();
            else {
                try {
                    SwingUtilities.invokeAndWait(this::buildWindow);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (java.lang.reflect.InvocationTargetException e) {
                    IJ.log("OmniClas: no progress window (" + e.getCause() + ")");
                }
            }
        }
        int failures = 0;
        boolean cancelSent = false;
        String lastLine = null;
        long lastLog = 0;
        try {
            while (true) {
                if (IJ.escapePressed() && !cancelSent && (frame != null || !window && !Reporter.unattended())) {
                    IJ.resetEscape();
                    if (confirmCancel(frame, jobId, !window)) cancel();
                }
                if (cancelRequested && !cancelSent) {
                    IJ.showStatus("OmniClas: cancelling job " + jobId + "...");
                    client.cancelJob(jobId);
                    cancelSent = true;
                }
                Dto.Job job;
                try {
                    job = shown.show(client.job(jobId)); // a late answer never moves the bar back
                    failures = 0;
                } catch (OmniClasException e) {
                    if (!e.isConnectionFailure() || ++failures > 5) throw e;
                    sleep(2000);
                    continue;
                }
                String line = JobText.describe(job);
                IJ.showStatus(line);
                if (job.progress != null && job.progress.fraction != null) IJ.showProgress(job.progress.fraction);
                if (frame == null && (window || Reporter.unattended()) && !line.equals(lastLine)) IJ.log(line);
                lastLine = line;
                List<String> tail = null;
                if (frame != null && System.currentTimeMillis() - lastLog > 3000) {
                    lastLog = System.currentTimeMillis();
                    try {
                        tail = client.jobLog(jobId, 30);
                    } catch (OmniClasException ignored) {
                        // the log is a nicety
                    }
                }
                updateWindow(job, line, tail);
                if (job.isDone()) {
                    IJ.showProgress(1.0);
                    return job;
                }
                sleep(pollMs);
            }
        } finally {
            if (frame != null) SwingUtilities.invokeLater(() -> frame.dispose());
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void buildWindow() {
        frame = new JFrame(TITLE);
        frame.setName("omniclas-training");
        frame.setDefaultCloseOperation(WindowConstants.DO_NOTHING_ON_CLOSE);
        bar = new JProgressBar(0, 1000);
        bar.setStringPainted(true);
        label = new JLabel("OmniClas job " + jobId + ": queued");
        log = new JTextArea(12, 70);
        log.setEditable(false);
        log.setLineWrap(true); // long log lines wrap instead of scrolling the view sideways
        log.setWrapStyleWord(true);
        log.setName("log");
        JButton cancel = new JButton("Cancel training");
        cancel.setName("cancel");
        cancel.addActionListener(e -> {
            if (!confirmCancel(frame, jobId)) return;
            cancel();
            cancel.setEnabled(false);
            label.setText("Cancelling...");
        });
        JPanel top = new JPanel(new BorderLayout(4, 4));
        top.setBorder(BorderFactory.createEmptyBorder(8, 8, 8, 8));
        top.add(label, BorderLayout.NORTH);
        top.add(bar, BorderLayout.CENTER);
        if (options != null) {
            JLabel opts = new JLabel("<html><body style='width: 520px'>" + options.replace("&", "&amp;").replace("<", "&lt;") + "</body></html>");
            opts.setName("options");
            top.add(opts, BorderLayout.SOUTH);
        }
        JPanel buttons = new JPanel(new FlowLayout(FlowLayout.RIGHT));
        buttons.add(cancel);
        frame.getContentPane().add(top, BorderLayout.NORTH);
        frame.getContentPane().add(new JScrollPane(log), BorderLayout.CENTER);
        frame.getContentPane().add(buttons, BorderLayout.SOUTH);
        frame.setMinimumSize(new Dimension(500, 250));
        frame.pack();
        frame.setLocationRelativeTo(null);
        ScreenFit.install();
        ScreenFit.fit(frame);
        frame.setVisible(true);
    }

    private void updateWindow(Dto.Job job, String line, List<String> tail) {
        if (frame == null) return;
        SwingUtilities.invokeLater(() -> {
            label.setText(line);
            if (job.progress != null && job.progress.fraction != null) {
                bar.setValue((int) Math.round(job.progress.fraction * 1000));
                bar.setString(JobText.percent(job.progress.fraction));
            }
            if (tail != null) {
                java.util.List<String> lines = new java.util.ArrayList<>();
                for (String t : tail) lines.add(JobText.logLine(t));
                log.setText(String.join("\n", lines));
                log.setCaretPosition(log.getDocument().getLength()); // show the newest lines
            }
        });
    }
}

package org.omniclas.fiji.ui;

import ij.IJ;
import org.omniclas.fiji.client.Dto;
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
import java.awt.GraphicsEnvironment;
import java.util.List;

/**
 * Follows a training job until it ends: IJ.showStatus / IJ.showProgress, and on a desktop a small window with
 * a progress bar, the log tail and a Cancel button. Blocks the calling thread (never call it on the EDT).
 */
public class JobMonitor {
    private final OmniClasClient client;
    private final String jobId;
    private volatile boolean cancelRequested;
    private long pollMs = 1000;
    private volatile JFrame frame;
    private JProgressBar bar;
    private JLabel label;
    private JTextArea log;

    public JobMonitor(OmniClasClient client, String jobId) {
        this.client = client;
        this.jobId = jobId;
    }

    public JobMonitor pollEvery(long ms) { this.pollMs = ms; return this; }

    /** Ask for cancellation (from any thread). */
    public void cancel() { cancelRequested = true; }

    /** One status line: "training efficientnet_lite0 — iteration 1/5, epoch 3/10, 42%, ETA 2 min". */
    public static String describe(Dto.Job job) {
        StringBuilder sb = new StringBuilder("OmniClas job " + job.id() + ": " + job.state);
        Dto.JobProgress p = job.progress;
        if (p != null) {
            if (p.stage != null) sb.append(", ").append(p.stage);
            if (p.model != null) sb.append(" ").append(p.model);
            // "iteration 0/0, epoch 0/0" before anything is known says nothing: only counters that mean something
            if (p.iteration != null && (p.iteration > 0 || (p.maxIterations != null && p.maxIterations > 0)))
                sb.append(", iteration ").append(p.iteration).append(p.maxIterations != null && p.maxIterations > 0 ? "/" + p.maxIterations : "");
            if (p.epoch != null && (p.epoch > 0 || (p.epochs != null && p.epochs > 0)))
                sb.append(", epoch ").append(p.epoch).append(p.epochs != null && p.epochs > 0 ? "/" + p.epochs : "");
            if (p.fraction != null) sb.append(", ").append(Math.round(p.fraction * 100)).append("%");
            if (p.etaSeconds != null && p.etaSeconds > 0) sb.append(", ETA ").append(formatEta(p.etaSeconds));
            if (p.message != null && !p.message.isEmpty()) sb.append(" - ").append(p.message);
        }
        return sb.toString();
    }

    public static String formatEta(double seconds) {
        long s = Math.round(seconds);
        if (s < 60) return s + " s";
        if (s < 3600) return (s / 60) + " min " + (s % 60) + " s";
        return (s / 3600) + " h " + ((s % 3600) / 60) + " min";
    }

    /** Polls until the job is finished, failed, cancelled or interrupted; returns its last state. */
    public Dto.Job follow() throws OmniClasException {
        if (!GraphicsEnvironment.isHeadless()) {
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
                if ((cancelRequested || (IJ.escapePressed() && !GraphicsEnvironment.isHeadless())) && !cancelSent) {
                    IJ.resetEscape();
                    IJ.showStatus("OmniClas: cancelling job " + jobId + "...");
                    client.cancelJob(jobId);
                    cancelSent = true;
                }
                Dto.Job job;
                try {
                    job = client.job(jobId);
                    failures = 0;
                } catch (OmniClasException e) {
                    if (!e.isConnectionFailure() || ++failures > 5) throw e;
                    sleep(2000);
                    continue;
                }
                String line = describe(job);
                IJ.showStatus(line);
                if (job.progress != null && job.progress.fraction != null) IJ.showProgress(job.progress.fraction);
                if (GraphicsEnvironment.isHeadless() && !line.equals(lastLine)) IJ.log(line);
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
        frame = new JFrame("OmniClas training");
        frame.setDefaultCloseOperation(WindowConstants.DO_NOTHING_ON_CLOSE);
        bar = new JProgressBar(0, 1000);
        bar.setStringPainted(true);
        label = new JLabel("OmniClas job " + jobId + ": queued");
        log = new JTextArea(12, 70);
        log.setEditable(false);
        log.setLineWrap(true); // long log lines (the job spec) wrap instead of scrolling the view sideways
        log.setWrapStyleWord(true);
        JButton cancel = new JButton("Cancel training");
        cancel.setName("cancel");
        cancel.addActionListener(e -> {
            cancel();
            cancel.setEnabled(false);
            label.setText("Cancelling...");
        });
        JPanel top = new JPanel(new BorderLayout(4, 4));
        top.setBorder(BorderFactory.createEmptyBorder(8, 8, 8, 8));
        top.add(label, BorderLayout.NORTH);
        top.add(bar, BorderLayout.CENTER);
        JPanel buttons = new JPanel(new FlowLayout(FlowLayout.RIGHT));
        buttons.add(cancel);
        frame.getContentPane().add(top, BorderLayout.NORTH);
        frame.getContentPane().add(new JScrollPane(log), BorderLayout.CENTER);
        frame.getContentPane().add(buttons, BorderLayout.SOUTH);
        frame.setMinimumSize(new Dimension(500, 250));
        frame.pack();
        frame.setLocationRelativeTo(null);
        frame.setVisible(true);
    }

    private void updateWindow(Dto.Job job, String line, List<String> tail) {
        if (frame == null) return;
        SwingUtilities.invokeLater(() -> {
            label.setText(line);
            if (job.progress != null && job.progress.fraction != null) {
                bar.setValue((int) Math.round(job.progress.fraction * 1000));
                bar.setString(Math.round(job.progress.fraction * 100) + "%");
            }
            if (tail != null) {
                log.setText(String.join("\n", tail));
                log.setCaretPosition(log.getDocument().getLength()); // show the newest lines
            }
        });
    }
}

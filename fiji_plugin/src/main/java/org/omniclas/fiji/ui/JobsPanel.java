package org.omniclas.fiji.ui;

import ij.IJ;
import ij.measure.ResultsTable;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.JobText;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;

import javax.swing.BorderFactory;
import javax.swing.JButton;
import javax.swing.JLabel;
import javax.swing.JPanel;
import javax.swing.JProgressBar;
import javax.swing.JScrollPane;
import javax.swing.JSplitPane;
import javax.swing.JOptionPane;
import javax.swing.JTable;
import javax.swing.JTextArea;
import javax.swing.ListSelectionModel;
import javax.swing.SwingWorker;
import javax.swing.Timer;
import javax.swing.table.AbstractTableModel;
import java.awt.BorderLayout;
import java.awt.FlowLayout;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * The server's jobs (training, and predict jobs: Classify Folder on a large folder): list with state and progress; for the selected job its progress, options and log
 * tail; Cancel, Resume (interrupted, failed or cancelled jobs), Register... (finished jobs) and Open report.
 * Refreshes every 2 s while shown. Server calls run in SwingWorkers.
 */
public class JobsPanel extends JPanel {
    private static final long serialVersionUID = 1L;
    public static final String TABLE = "OmniClas Jobs";
    static final int LOG_TAIL = 200;

    private final OmniClasClient client;
    private final JobTable model = new JobTable();
    private final JTable table = new JTable(model);
    private final JLabel line = new JLabel(" ");
    private final JLabel options = new JLabel(" ");
    private final JProgressBar bar = new JProgressBar(0, 1000);
    private final JTextArea log = new JTextArea(10, 80);
    private final JLabel status = new JLabel(" ");
    private final JButton cancel = button("Cancel job", "cancelJob", this::cancelSelected);
    private final JButton resume = button("Resume", "resumeJob", this::resumeSelected);
    private final JButton register = button("Register...", "registerJob", this::registerSelected);
    private final JButton report = button("Open report", "jobReport", this::openReport);
    private final Timer timer = new Timer(2000, e -> refresh());
    private final org.omniclas.fiji.client.ShownProgress shown = new org.omniclas.fiji.client.ShownProgress();
    private boolean busy;
    private Dto.Catalog catalog;
    private boolean restoring; // the list is being reloaded: selection events are ours, not the user's

    public JobsPanel(OmniClasClient client) {
        super(new BorderLayout(4, 4));
        this.client = client;
        setName("jobsPanel");
        table.setName("jobs");
        table.setSelectionMode(ListSelectionModel.SINGLE_SELECTION);
        table.getSelectionModel().addListSelectionListener(e -> {
            if (!e.getValueIsAdjusting() && !restoring) showSelected(true);
        });
        int[] widths = {110, 90, 60, 180, 60, 140, 90};
        for (int c = 0; c < widths.length; c++) table.getColumnModel().getColumn(c).setPreferredWidth(widths[c]);
        // the State column fits its longest text ("interrupted (resumable)"), which it used to cut
        java.awt.FontMetrics fm = table.getFontMetrics(table.getFont());
        int state = 0;
        for (String s : new String[]{"interrupted", "cancelled", "finished", "running", "queued", "failed"}) {
            state = Math.max(state, fm.stringWidth(JobTable.stateText(s, true)));
        }
        table.getColumnModel().getColumn(JobTable.STATE).setPreferredWidth(state + 16);
        table.getColumnModel().getColumn(JobTable.STATE).setMinWidth(state + 16);
        line.setName("jobLine");
        options.setName("jobOptions");
        bar.setStringPainted(true);
        bar.setName("jobProgress");
        log.setName("jobLog");
        log.setEditable(false);
        log.setLineWrap(true);
        log.setWrapStyleWord(true);
        status.setName("jobsStatus");

        JPanel detail = new JPanel(new BorderLayout(4, 4));
        JPanel top = new JPanel(new BorderLayout(2, 2));
        top.add(line, BorderLayout.NORTH);
        top.add(bar, BorderLayout.CENTER);
        top.add(options, BorderLayout.SOUTH);
        detail.add(top, BorderLayout.NORTH);
        detail.add(new JScrollPane(log), BorderLayout.CENTER);
        detail.setBorder(BorderFactory.createEmptyBorder(4, 4, 4, 4));
        JSplitPane split = new JSplitPane(JSplitPane.VERTICAL_SPLIT, new JScrollPane(table), detail);
        split.setResizeWeight(0.45);

        JPanel buttons = new JPanel(new FlowLayout(FlowLayout.RIGHT));
        buttons.add(button("Refresh", "refreshJobs", this::refresh));
        buttons.add(cancel);
        buttons.add(resume);
        buttons.add(register);
        buttons.add(report);
        JPanel south = new JPanel(new BorderLayout());
        status.setBorder(BorderFactory.createEmptyBorder(2, 6, 2, 6));
        south.add(status, BorderLayout.CENTER);
        south.add(buttons, BorderLayout.EAST);
        add(split, BorderLayout.CENTER);
        add(south, BorderLayout.SOUTH);
        enableButtons(null);
    }

    private static JButton button(String text, String name, Runnable action) {
        JButton b = new JButton(text);
        b.setName(name);
        b.addActionListener(e -> action.run());
        return b;
    }

    /** Starts the periodic refresh (the window calls it while this tab is shown). */
    public void startRefreshing() {
        loadCatalog();
        refresh();
        timer.start();
    }

    /** The server's option rules, once: a job's options line leaves out those that do not apply to it. */
    private void loadCatalog() {
        if (catalog != null) return;
        new SwingWorker<Dto.Catalog, Void>() {
            @Override protected Dto.Catalog doInBackground() throws Exception { return client.catalog(); }
            @Override protected void done() {
                try {
                    catalog = get();
                    showSelected(false);
                } catch (Exception e) {
                    // an older server: every option is listed
                }
            }
        }.execute();
    }

    public void stopRefreshing() { timer.stop(); }

    private Dto.Job selected() {
        int row = table.getSelectedRow();
        return row < 0 ? null : model.rows.get(table.convertRowIndexToModel(row));
    }

    /** Reloads the list (keeping the selection) and the selected job's log. */
    public void refresh() {
        if (busy) return;
        busy = true;
        new SwingWorker<List<Dto.Job>, Void>() {
            @Override protected List<Dto.Job> doInBackground() throws Exception { return client.jobs(); }
            @Override protected void done() {
                busy = false;
                try {
                    List<Dto.Job> jobs = new ArrayList<>();
                    for (Dto.Job j : get()) jobs.add(shown.show(j)); // a late answer never moves a bar back
                    String keep = selected() == null ? null : selected().id(); // as now: the user may have clicked meanwhile
                    restoring = true;
                    try {
                        model.set(jobs);
                        for (int i = 0; i < model.rows.size(); i++) {
                            if (model.rows.get(i).id().equals(keep)) table.setRowSelectionInterval(i, i);
                        }
                    } finally {
                        restoring = false;
                    }
                    status.setText(jobs.size() + " job(s) on " + Settings.url());
                    showSelected(false);
                } catch (java.util.concurrent.ExecutionException e) {
                    timer.stop(); // a dead server: no stream of errors; Refresh tries again
                    status.setText("Cannot list the jobs: " + firstLine(e.getCause().getMessage()));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }.execute();
    }

    private void showSelected(boolean fresh) {
        Dto.Job job = selected();
        enableButtons(job);
        if (job == null) {
            line.setText(" ");
            options.setText(" ");
            bar.setValue(0);
            bar.setString("");
            log.setText("");
            return;
        }
        line.setText(JobText.describe(job));
        options.setText("<html><body style='width: 700px'>" + esc(job.isPredict() ? JobText.task(job) : job.specText("dataset"))
                + "<br>" + esc(JobText.options(job.spec, job.isPredict() ? null : catalog)) + "</body></html>");
        double f = "finished".equals(job.state) ? 1.0 : job.progress != null && job.progress.fraction != null ? job.progress.fraction : 0.0;
        bar.setValue((int) Math.round(f * 1000));
        bar.setString(JobText.percent(f));
        if (fresh) log.setText("");
        String id = job.id();
        new SwingWorker<List<String>, Void>() {
            @Override protected List<String> doInBackground() throws Exception { return client.jobLog(id, LOG_TAIL); }
            @Override protected void done() {
                try {
                    if (selected() == null || !id.equals(selected().id())) return;
                    List<String> lines = new ArrayList<>();
                    for (String l : get()) lines.add(JobText.logLine(l));
                    String text = String.join("\n", lines);
                    if (!text.equals(log.getText())) {
                        log.setText(text);
                        log.setCaretPosition(log.getDocument().getLength());
                    }
                } catch (Exception e) {
                    // the log is a nicety; the list shows the state
                }
            }
        }.execute();
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    private static String firstLine(String s) {
        if (s == null) return "";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    private void enableButtons(Dto.Job job) {
        cancel.setEnabled(job != null && (job.isActive() || "interrupted".equals(job.state)));
        resume.setEnabled(job != null && job.resumable);
        register.setEnabled(job != null && "finished".equals(job.state) && !job.isPredict());
        report.setEnabled(job != null && "finished".equals(job.state) && !job.isPredict());
    }

    /** Runs a server call off the event thread, then refreshes; failures go to the Reporter. */
    private void act(String what, Callable<String> call) {
        status.setText(what);
        new SwingWorker<String, Void>() {
            @Override protected String doInBackground() throws Exception { return call.call(); }
            @Override protected void done() {
                try {
                    status.setText(get());
                } catch (java.util.concurrent.ExecutionException e) {
                    status.setText("Failed: " + firstLine(e.getCause().getMessage()));
                    Reporter.unexpected("OmniClas jobs", e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                refresh();
            }
        }.execute();
    }

    private void cancelSelected() {
        Dto.Job job = selected();
        if (job == null || (job.isActive() && !JobMonitor.confirmCancel(this, job.id(), job.isPredict()))) return;
        act("Cancelling job " + job.id() + "...", () -> "Job " + job.id() + ": " + client.cancelJob(job.id()).state
                + (job.isActive() ? " (a running job stops at its next batch)" : ""));
    }

    /**
     * Resumes the job, then follows it in a progress window and registers it as the Train wizard would; a
     * predict job is followed here and its results shown as Classify Folder shows them.
     */
    private void resumeSelected() {
        Dto.Job job = selected();
        if (job == null) return;
        act("Resuming job " + job.id() + "...", () -> {
            Dto.Job resumed = client.resumeJob(job.id());
            if (resumed.id() == null) resumed.id = job.id();
            Thread follow = new Thread(() -> {
                try {
                    if (job.isPredict()) FolderJob.showResumed(client, job);
                    else TrainWizard.followResumed(client, resumed, true);
                } catch (OmniClasException e) {
                    Reporter.error(e);
                }
                javax.swing.SwingUtilities.invokeLater(this::refresh);
            }, "OmniClas resumed job " + job.id());
            follow.setDaemon(true);
            follow.start();
            return "Job " + job.id() + " resumed: " + resumed.state
                    + (job.isPredict() ? "; its results show when it ends." : "; a progress window follows it.");
        });
    }

    /** Asks for the name (warning when it is in use: a new version of that model), then registers off the EDT. */
    private void registerSelected() {
        Dto.Job job = selected();
        if (job == null) return;
        String asked = Settings.modelNameOf(job.id()); // the name the Train wizard was given
        status.setText("Asking the server for its models...");
        new SwingWorker<List<Dto.Model>, Void>() {
            @Override protected List<Dto.Model> doInBackground() throws Exception { return client.models(); }
            @Override protected void done() {
                List<Dto.Model> existing;
                try {
                    existing = get();
                } catch (Exception e) {
                    existing = new ArrayList<>(); // registering tells what is wrong
                }
                status.setText(" ");
                String name = askName(job, asked != null ? asked : defaultModelName(job), existing);
                if (name == null) return;
                act("Registering...", () -> {
                    Dto.Model m = client.registerJob(job.id(), name);
                    Settings.put(Settings.KEY_LAST_MODEL, m.name);
                    Settings.forgetModelName(job.id());
                    IJ.log("OmniClas: registered the model of job " + job.id() + " as " + m.name + " (version " + m.version + ")");
                    ModelsWindow.modelsChanged();
                    return "Registered as model \"" + m.name + "\" (version " + m.version + ").";
                });
            }
        }.execute();
    }

    /** The name to register under, or null; a name in use is confirmed (a new version) or replaced. */
    private String askName(Dto.Job job, String proposal, List<Dto.Model> existing) {
        while (true) {
            String name = TextPrompt.ask(this, "Register the model of job " + job.id() + " as:", "Register model", proposal);
            if (name == null || name.trim().isEmpty()) return null;
            String bad = ModelNames.problem(name.trim());
            if (bad != null) {
                JOptionPane.showMessageDialog(this, ScreenFit.wrap(bad), "Register model", JOptionPane.WARNING_MESSAGE);
                proposal = ModelNames.sanitize(name.trim(), ModelNames.MAX_LENGTH);
                continue;
            }
            ModelNames.Answer answer = ModelNames.ask(this, existing, name.trim(), job.result == null ? null : job.result.classes);
            if (answer == ModelNames.Answer.NEW_VERSION) return name.trim();
            if (answer == ModelNames.Answer.CANCEL) return null;
            proposal = ModelNames.freeName(existing, name.trim());
        }
    }

    private void openReport() {
        Dto.Job job = selected();
        if (job == null) return;
        ReportOpener.fetchAndOpen(this, client, client.jobReportUrl(job.id()), "job " + job.id(), status::setText);
    }

    /** "<dataset folder>_classifier". */
    public static String defaultModelName(Dto.Job job) {
        String ds = job.specText("dataset");
        return ModelNames.propose(ds.isEmpty() ? null : String.valueOf(Paths.get(ds).getFileName()));
    }

    // ------------------------------------------------------------------ macro form

    /**
     * {@code run("Jobs...", "action=list|cancel|resume|register job=ID [name=NAME]")}: list prints the jobs to the
     * Log and fills the table "OmniClas Jobs".
     */
    public static void runMacro(OmniClasClient client, Map<String, String> opt) throws OmniClasException {
        String action = opt.containsKey("action") ? opt.get("action") : "list";
        switch (action) {
            case "list":
                List<Dto.Job> jobs = client.jobs();
                IJ.log("OmniClas: " + jobs.size() + " job(s) on " + Settings.url());
                for (Dto.Job j : jobs) IJ.log("  " + JobText.describe(j).replaceFirst("^OmniClas job ", "") + "  ["
                        + (j.isPredict() ? JobText.task(j) : j.specText("process") + ", " + j.specText("dataset")) + "]");
                last = toTable(jobs);
                if (!java.awt.GraphicsEnvironment.isHeadless()) last.show(TABLE);
                break;
            case "cancel":
                IJ.log("OmniClas: job " + require(opt, "job") + ": " + client.cancelJob(opt.get("job")).state);
                break;
            case "resume": { // like Train Classifier: follows the job to its end and registers it (or shows its results)
                Dto.Job resumed = client.resumeJob(require(opt, "job"));
                if (resumed.id() == null) resumed.id = opt.get("job");
                IJ.log("OmniClas: job " + opt.get("job") + " resumed: " + resumed.state);
                Dto.Job current = resumed.isPredict() ? resumed : client.job(resumed.id()); // (with its spec)
                if (current.isPredict()) FolderJob.showResumed(client, current);
                else TrainWizard.followResumed(client, resumed, false);
                break;
            }
            case "register":
                Dto.Model m = client.registerJob(require(opt, "job"), require(opt, "name"));
                IJ.log("OmniClas: registered the model of job " + opt.get("job") + " as " + m.name);
                break;
            default:
                throw new IllegalArgumentException("Jobs...: action=" + action + " is not one of list, cancel, resume, register.");
        }
    }

    private static volatile ResultsTable last;

    public static ResultsTable lastTable() { return last; }

    static String require(Map<String, String> opt, String key) {
        String v = opt.get(key);
        if (v == null || v.isEmpty()) throw new IllegalArgumentException("option " + key + "= is missing.");
        return v;
    }

    static ResultsTable toTable(List<Dto.Job> jobs) {
        ResultsTable rt = new ResultsTable();
        for (Dto.Job j : jobs) {
            rt.incrementCounter();
            rt.addValue("job", j.id());
            rt.addValue("state", j.state);
            rt.addValue("process", j.isPredict() ? Dto.Job.PREDICT : j.specText("process"));
            rt.addValue("dataset", JobText.folder(j));
            rt.addValue("created", j.created == null ? "" : j.created);
            rt.addValue("resumable", j.resumable ? 1 : 0);
            Double acc = j.result == null ? null : j.result.testAccuracy;
            rt.addValue("test_accuracy", acc == null ? Double.NaN : acc);
            rt.setDecimalPlaces(rt.getColumnIndex("test_accuracy"), 4);
        }
        return rt;
    }

    static final class JobTable extends AbstractTableModel {
        private static final long serialVersionUID = 1L;
        static final String[] COLS = {"Job", "State", "Process", "Dataset", "Progress", "Created", "Test accuracy"};
        static final int STATE = 1;
        List<Dto.Job> rows = new ArrayList<>();

        static String stateText(String state, boolean resumable) {
            return state + (resumable ? " (resumable)" : "");
        }

        void set(List<Dto.Job> jobs) {
            rows = new ArrayList<>(jobs);
            fireTableDataChanged();
        }

        @Override public int getRowCount() { return rows.size(); }
        @Override public int getColumnCount() { return COLS.length; }
        @Override public String getColumnName(int c) { return COLS[c]; }

        @Override public Object getValueAt(int r, int c) {
            Dto.Job j = rows.get(r);
            switch (c) {
                case 0: return j.id();
                case STATE: return stateText(j.state, j.resumable);
                case 2: return j.isPredict() ? "classify (" + j.specText("model") + ")" : j.specText("process");
                case 3: {
                    String ds = JobText.folder(j);
                    return ds.isEmpty() ? "" : Paths.get(ds).getFileName().toString();
                }
                case 4: return "finished".equals(j.state) ? JobText.percent(1) : j.progress != null && j.progress.fraction != null && j.isActive()
                        ? JobText.percent(j.progress.fraction) : "";
                case 5: return j.created == null ? "" : j.created.replace('T', ' ').replaceFirst("(\\d\\d:\\d\\d):\\d\\d.*$", "$1");
                default: return j.result == null || j.result.testAccuracy == null ? "" : IJ.d2s(j.result.testAccuracy * 100, 1) + " %";
            }
        }
    }
}

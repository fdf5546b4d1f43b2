package org.omniclas.fiji.ui;

import ij.IJ;
import ij.measure.ResultsTable;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;

import javax.swing.BorderFactory;
import javax.swing.JButton;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JOptionPane;
import javax.swing.JPanel;
import javax.swing.JScrollPane;
import javax.swing.JTabbedPane;
import javax.swing.JTable;
import javax.swing.ListSelectionModel;
import javax.swing.SwingUtilities;
import javax.swing.SwingWorker;
import javax.swing.table.AbstractTableModel;
import java.awt.BorderLayout;
import java.awt.Dimension;
import java.awt.FlowLayout;
import java.awt.GraphicsEnvironment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Models... and Jobs...: one window with two tabs. Models: the registry (classes, backbone, metrics, date;
 * rename, delete, report). Jobs: the server's training jobs ({@link JobsPanel}).
 */
public class ModelsWindow extends JFrame {
    private static final long serialVersionUID = 1L;
    public static final String TABLE = "OmniClas Models";
    public static final String TITLE = "OmniClas Models and Jobs";
    private static ModelsWindow instance;
    private static volatile ResultsTable last;

    private final OmniClasClient client = Settings.client();
    private final ModelTable model = new ModelTable();
    private final JTable table = new JTable(model);
    private final JLabel status = new JLabel(" ");
    private final List<JButton> buttons = new ArrayList<>();
    private final JTabbedPane tabs = new JTabbedPane();
    private final JobsPanel jobs = new JobsPanel(client);

    /**
     * Adds the "Model" field to a dialog: a choice of the registered models, or a text field when the server
     * has none. Returns the names (possibly empty), or null (after reporting) when the server is unreachable.
     */
    public static String[] modelChoices(OmniClasClient client, Options o) {
        List<Dto.Model> models;
        try {
            models = client.models();
        } catch (OmniClasException e) {
            Reporter.error(e);
            return null;
        }
        String[] names = ModelNames.choices(models); // older versions as name@N
        String lastModel = Settings.get(Settings.KEY_LAST_MODEL, names.length > 0 ? names[0] : "");
        if (names.length > 0) {
            boolean known = false;
            for (String n : names) known |= n.equals(lastModel);
            o.addChoice("Model", names, known ? lastModel : names[0]);
        } else {
            o.addString("Model", "", 20);
            o.addMessage("The server has no registered model yet (see Train Classifier...).");
        }
        return names;
    }

    /**
     * Macro / unattended form: {@code action=list|delete|rename model=NAME new_name=NAME2}. Every action ends
     * with the list of models in the Log and in the table "OmniClas Models".
     */
    public static void runMacro(String options) {
        Map<String, String> opt = Options.parse(options);
        String action = opt.containsKey("action") ? opt.get("action") : "list";
        OmniClasClient client = ServerGate.connect();
        if (client == null) return;
        try {
            if (action.equals("delete")) {
                client.deleteModel(require(opt, "model"));
                IJ.log("OmniClas: deleted model " + opt.get("model"));
            } else if (action.equals("rename")) {
                Dto.Model m = client.renameModel(require(opt, "model"), require(opt, "new_name"));
                IJ.log("OmniClas: renamed model " + opt.get("model") + " to " + m.name);
            } else if (action.equals("export")) {
                String format = opt.containsKey("format") ? opt.get("format") : "bioimageio";
                java.nio.file.Path file = java.nio.file.Paths.get(require(opt, "file"));
                client.exportModel(require(opt, "model"), format, file);
                IJ.log("OmniClas: exported model " + opt.get("model") + " (" + format + ") to " + file);
            } else if (!action.equals("list")) {
                throw new IllegalArgumentException("Models...: action=" + action
                        + " is not one of list, delete, rename, export.");
            }
            List<Dto.Model> models = client.models();
            IJ.log("OmniClas: " + models.size() + " model(s) on " + Settings.url());
            for (Dto.Model m : models) IJ.log("  " + describe(m));
            ResultsTable rt = toTable(models);
            last = rt;
            if (!GraphicsEnvironment.isHeadless()) rt.show(TABLE);
        } catch (OmniClasException e) {
            Reporter.error(e);
        } catch (IllegalArgumentException e) {
            Reporter.error(e.getMessage());
        }
    }

    /** Macro / unattended form of Jobs... (see {@link JobsPanel#runMacro}). */
    public static void runJobsMacro(String options) {
        OmniClasClient client = ServerGate.connect();
        if (client == null) return;
        try {
            JobsPanel.runMacro(client, Options.parse(options));
        } catch (OmniClasException e) {
            Reporter.error(e);
        } catch (IllegalArgumentException e) {
            Reporter.error("Jobs...: " + e.getMessage());
        }
    }

    /** "cells (version 2): CytoplasmicGFP, NoGFP; efficientnet_lite0; test accuracy 91.0 %; 2024-05-01 10:00". */
    static String describe(Dto.Model m) {
        Double acc = m.testAccuracy();
        return m.name + (m.version == null ? "" : " (version " + m.version + ")") + ": "
                + (m.classes == null ? "" : String.join(", ", m.classes))
                + (m.backbone == null ? "" : "; " + m.backbone)
                + (acc == null ? "" : "; test accuracy " + IJ.d2s(acc * 100, 1) + " %")
                + (m.created == null ? "" : "; " + m.created);
    }

    private static String require(Map<String, String> opt, String key) {
        String v = opt.get(key);
        if (v == null || v.isEmpty()) throw new IllegalArgumentException("Models...: option " + key + "= is missing.");
        return v;
    }

    public static ResultsTable lastTable() { return last; }

    public static ResultsTable toTable(List<Dto.Model> models) {
        ResultsTable rt = new ResultsTable();
        for (Dto.Model m : models) {
            rt.incrementCounter();
            rt.addValue("name", m.name);
            rt.addValue("version", m.version == null ? "" : m.version);
            rt.addValue("framework", m.framework == null ? "" : m.framework);
            rt.addValue("backbone", m.backbone == null ? "" : m.backbone);
            rt.addValue("classes", m.classes == null ? "" : String.join(";", m.classes));
            Double acc = m.testAccuracy();
            rt.addValue("test_accuracy", acc == null ? Double.NaN : acc);
            rt.setDecimalPlaces(rt.getColumnIndex("test_accuracy"), 4);
            rt.addValue("created", m.created == null ? "" : m.created);
        }
        return rt;
    }

    /** Reloads the list of an open Models window (after a registration elsewhere). */
    public static void modelsChanged() {
        SwingUtilities.invokeLater(() -> {
            if (instance != null && instance.isDisplayable()) instance.refresh();
        });
    }

    /** Opens (or brings to front) the window on its Models tab, or on its Jobs tab. */
    public static void open(boolean jobsTab) {
        SwingUtilities.invokeLater(() -> {
            if (instance == null || !instance.isDisplayable()) instance = new ModelsWindow();
            instance.setVisible(true);
            instance.setExtendedState(instance.getExtendedState() & ~java.awt.Frame.ICONIFIED); // Jobs... restores it
            instance.toFront();
            instance.refresh();
            instance.tabs.setSelectedIndex(jobsTab ? 1 : 0);
            if (jobsTab) instance.jobs.startRefreshing();
        });
    }

    private ModelsWindow() {
        super(TITLE);
        table.setSelectionMode(ListSelectionModel.SINGLE_SELECTION);
        table.setAutoCreateRowSorter(true);
        table.setName("models");
        int[] widths = {150, 80, 220, 120, 80, 90, 160, 120};
        for (int c = 0; c < widths.length; c++) table.getColumnModel().getColumn(c).setPreferredWidth(widths[c]);
        table.getColumnModel().getColumn(ModelTable.VERSION).setCellEditor(new VersionEditor());
        table.putClientProperty("terminateEditOnFocusLost", Boolean.TRUE);
        JPanel south = new JPanel(new BorderLayout());
        JPanel bp = new JPanel(new FlowLayout(FlowLayout.RIGHT));
        bp.add(button("Refresh", this::refresh));
        bp.add(button("Rename...", this::renameSelected));
        bp.add(button("Delete...", this::deleteSelected));
        bp.add(button("Open report", this::openReport));
        bp.add(button("Export...", this::exportSelected));
        status.setBorder(BorderFactory.createEmptyBorder(2, 6, 2, 6));
        status.setName("modelsStatus");
        south.add(status, BorderLayout.CENTER);
        south.add(bp, BorderLayout.EAST);
        JPanel models = new JPanel(new BorderLayout());
        models.add(new JScrollPane(table), BorderLayout.CENTER);
        models.add(south, BorderLayout.SOUTH);
        tabs.addTab("Models", models);
        tabs.addTab("Jobs", jobs);
        tabs.setName("tabs");
        tabs.addChangeListener(e -> {
            if (tabs.getSelectedIndex() == 1) jobs.startRefreshing();
            else jobs.stopRefreshing();
        });
        addWindowListener(new java.awt.event.WindowAdapter() {
            @Override public void windowClosed(java.awt.event.WindowEvent e) { jobs.stopRefreshing(); }
        });
        getContentPane().add(tabs, BorderLayout.CENTER);
        setDefaultCloseOperation(DISPOSE_ON_CLOSE);
        setPreferredSize(new Dimension(980, 420));
        pack();
        setLocationRelativeTo(null);
        ScreenFit.install();
        ScreenFit.fit(this);
    }

    private JButton button(String text, Runnable action) {
        JButton b = new JButton(text);
        b.setName(text.replace("...", "").toLowerCase());
        b.addActionListener(e -> action.run());
        buttons.add(b);
        return b;
    }

    private Dto.Model selected() {
        int row = table.getSelectedRow();
        if (row < 0) {
            JOptionPane.showMessageDialog(this, "Select a model first.", "OmniClas", JOptionPane.INFORMATION_MESSAGE);
            return null;
        }
        return model.rows.get(table.convertRowIndexToModel(row));
    }

    /** Runs a server call off the EDT, then refreshes the list. */
    private void background(String what, Callable<List<Dto.Model>> call) {
        status.setText(what);
        for (JButton b : buttons) b.setEnabled(false);
        new SwingWorker<List<Dto.Model>, Void>() {
            @Override protected List<Dto.Model> doInBackground() throws Exception { return call.call(); }
            @Override protected void done() {
                for (JButton b : buttons) b.setEnabled(true);
                try {
                    List<Dto.Model> models = get();
                    model.set(models);
                    status.setText(models.size() + " model(s) on " + Settings.url());
                } catch (java.util.concurrent.ExecutionException e) {
                    String msg = e.getCause().getMessage() == null ? "" : e.getCause().getMessage().split("\n")[0];
                    status.setText("Failed: " + msg);
                    Reporter.unexpected("OmniClas models", e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }.execute();
    }

    public void refresh() {
        background("Loading models...", client::models);
    }

    /** Shows another version of a model in its row (its classes, metrics, date); the buttons then act on it. */
    private void showVersion(int row, String name, int version, List<Integer> versions) {
        status.setText("Loading " + name + " version " + version + "...");
        new SwingWorker<Dto.Model, Void>() {
            @Override protected Dto.Model doInBackground() throws Exception { return client.model(name + "@" + version); }
            @Override protected void done() {
                try {
                    Dto.Model m = get();
                    m.name = name;
                    if (m.versions == null) m.versions = versions;
                    model.replace(row, m);
                    status.setText(name + ": version " + m.version + " of " + versions.size());
                } catch (java.util.concurrent.ExecutionException e) {
                    status.setText("Failed: " + e.getCause().getMessage());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }.execute();
    }

    /** The Version cell: a choice of the model's versions, newest first. */
    private final class VersionEditor extends javax.swing.DefaultCellEditor {
        private static final long serialVersionUID = 1L;
        private int row = -1;

        VersionEditor() {
            super(new javax.swing.JComboBox<String>());
            getComboBox().setName("versionChoice");
            setClickCountToStart(1);
        }

        @SuppressWarnings("unchecked")
        private javax.swing.JComboBox<String> getComboBox() { return (javax.swing.JComboBox<String>) getComponent(); }

        @Override public java.awt.Component getTableCellEditorComponent(JTable t, Object value, boolean selected, int r, int c) {
            row = t.convertRowIndexToModel(r);
            Dto.Model m = model.rows.get(row);
            javax.swing.JComboBox<String> combo = getComboBox();
            combo.removeAllItems();
            List<Integer> versions = m.versions == null ? new ArrayList<>() : m.versions;
            for (int i = versions.size() - 1; i >= 0; i--) combo.addItem(String.valueOf(versions.get(i)));
            combo.setSelectedItem(ModelTable.versionText(m));
            return combo;
        }

        @Override public boolean stopCellEditing() {
            Object chosen = getComboBox().getSelectedItem();
            boolean stopped = super.stopCellEditing();
            if (chosen != null && row >= 0 && row < model.rows.size()) {
                Dto.Model m = model.rows.get(row);
                if (!chosen.toString().equals(ModelTable.versionText(m))) {
                    showVersion(row, m.name, Integer.parseInt(chosen.toString()), m.versions);
                }
            }
            return stopped;
        }
    }

    private void renameSelected() {
        Dto.Model m = selected();
        if (m == null) return;
        String name = TextPrompt.ask(this, "New name for model \"" + m.name + "\":", "Rename model", m.name);
        if (name == null || name.trim().isEmpty() || name.trim().equals(m.name)) return;
        background("Renaming...", () -> {
            client.renameModel(m.name, name.trim());
            return client.models();
        });
    }

    /** Deletes the model, or only the version shown in its row when it has several (the user chooses). */
    private void deleteSelected() {
        Dto.Model m = selected();
        if (m == null) return;
        int count = m.versions == null ? 1 : m.versions.size();
        String target;
        if (count > 1) {
            String one = "Version " + ModelTable.versionText(m) + " only";
            String all = "All " + count + " versions";
            String[] buttons = {one, all, "Cancel"};
            int answer = JOptionPane.showOptionDialog(this, "Delete model \"" + m.name + "\" version " + ModelTable.versionText(m)
                    + ", or all its " + count + " versions, from the registry?\nThis cannot be undone.", "Delete model",
                    JOptionPane.DEFAULT_OPTION, JOptionPane.WARNING_MESSAGE, null, buttons, buttons[2]);
            if (answer != 0 && answer != 1) return;
            target = answer == 0 ? m.name + "@" + ModelTable.versionText(m) : m.name;
        } else {
            int ok = JOptionPane.showConfirmDialog(this, "Delete model \"" + m.name + "\" from the registry?\nThis cannot be undone.",
                    "Delete model", JOptionPane.OK_CANCEL_OPTION, JOptionPane.WARNING_MESSAGE);
            if (ok != JOptionPane.OK_OPTION) return;
            target = m.name;
        }
        background("Deleting...", () -> {
            client.deleteModel(target);
            return client.models();
        });
    }

    /** A save dialog for a BioImage Model Zoo package (or ONNX), then the download, off the EDT. */
    private void exportSelected() {
        Dto.Model m = selected();
        if (m == null) return;
        String[] formats = {"BioImage Model Zoo package (.zip)", "ONNX (.onnx)"};
        Object choice = JOptionPane.showInputDialog(this, "Export model \"" + m.name + "\" version "
                + ModelTable.versionText(m) + " as:", "Export model",
                JOptionPane.PLAIN_MESSAGE, null, formats, formats[0]);
        if (choice == null) return;
        boolean zoo = choice == formats[0];
        javax.swing.JFileChooser chooser = new javax.swing.JFileChooser();
        chooser.setSelectedFile(new java.io.File(m.name + (m.version == null ? "" : "-v" + m.version)
                + (zoo ? ".bioimageio.zip" : ".onnx")));
        if (chooser.showSaveDialog(this) != javax.swing.JFileChooser.APPROVE_OPTION) return;
        java.nio.file.Path file = chooser.getSelectedFile().toPath();
        status.setText("Exporting " + m.name + "...");
        inBackground("OmniClas export", () -> client.exportModel(m.ref(), zoo ? "bioimageio" : "onnx", file),
                "Exported " + m.name + " to " + file, "Export failed.");
    }

    private void openReport() {
        Dto.Model m = selected();
        if (m == null) return;
        ReportOpener.fetchAndOpen(this, client, client.modelReportUrl(m.ref()), m.name + " version " + ModelTable.versionText(m),
                status::setText);
    }

    private interface Task { void run() throws Exception; }

    /** Runs {@code task} off the EDT; the status line says how it ended, and a failure is reported under {@code title}. */
    private void inBackground(String title, Task task, String doneText, String failedText) {
        new SwingWorker<Void, Void>() {
            @Override protected Void doInBackground() throws Exception {
                task.run();
                return null;
            }
            @Override protected void done() {
                try {
                    get();
                    status.setText(doneText);
                } catch (java.util.concurrent.ExecutionException e) {
                    status.setText(failedText);
                    Reporter.unexpected(title, e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }.execute();
    }

    /** "macro F1 0.912, images 40" (test accuracy has its own column). */
    static String formatMetrics(Map<String, Double> metrics) {
        if (metrics == null) return "";
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, Double> e : metrics.entrySet()) {
            if (e.getKey().equals("test_accuracy") || e.getValue() == null) continue;
            if (sb.length() > 0) sb.append(", ");
            String k = e.getKey().startsWith("test_") ? e.getKey().substring(5) : e.getKey();
            double v = e.getValue();
            sb.append(k.replace("macro_f1", "macro F1").replace('_', ' ')).append(' ')
                    .append(v == Math.rint(v) && Math.abs(v) > 1 ? String.valueOf((long) v) : IJ.d2s(v, 3));
        }
        return sb.toString();
    }

    static final class ModelTable extends AbstractTableModel {
        private static final long serialVersionUID = 1L;
        static final String[] COLS = {"Name", "Version", "Classes", "Backbone", "Framework", "Test accuracy", "Metrics", "Created"};
        static final int VERSION = 1;
        List<Dto.Model> rows = new ArrayList<>();

        void set(List<Dto.Model> models) {
            rows = new ArrayList<>(models);
            fireTableDataChanged();
        }

        void replace(int row, Dto.Model m) {
            rows.set(row, m);
            fireTableRowsUpdated(row, row);
        }

        /** "2" (the number of the version shown). */
        static String versionText(Dto.Model m) {
            return m.version == null ? "" : m.version.replaceFirst("\\.0$", "");
        }

        /** The version column: the number, with the count when there are more ("2 of 3 \u25be" offers a choice). */
        static String versionCell(Dto.Model m) {
            int count = m.versions == null ? 1 : m.versions.size();
            return count > 1 ? versionText(m) + " of " + count + " \u25be" : versionText(m);
        }

        @Override public boolean isCellEditable(int r, int c) {
            return c == VERSION && rows.get(r).versions != null && rows.get(r).versions.size() > 1;
        }

        @Override public int getRowCount() { return rows.size(); }
        @Override public int getColumnCount() { return COLS.length; }
        @Override public String getColumnName(int c) { return COLS[c]; }

        @Override public Object getValueAt(int r, int c) {
            Dto.Model m = rows.get(r);
            switch (c) {
                case 0: return m.name;
                case VERSION: return versionCell(m);
                case 2: return m.classes == null ? "" : String.join(", ", m.classes);
                case 3: return m.backbone;
                case 4: return m.framework;
                case 5: return m.testAccuracy() == null ? "" : IJ.d2s(m.testAccuracy() * 100, 1) + " %";
                case 6: return formatMetrics(m.metrics);
                default: return m.created == null ? "" : m.created.replace('T', ' ').replaceFirst("(\\d\\d:\\d\\d):\\d\\d.*$", "$1");
            }
        }
    }
}

package org.omniclas.fiji.ui;

import ij.IJ;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.TrainingOptions;
import org.omniclas.fiji.dataset.DatasetCheck;

import javax.swing.BorderFactory;
import javax.swing.DefaultListCellRenderer;
import javax.swing.JButton;
import javax.swing.JCheckBox;
import javax.swing.JComboBox;
import javax.swing.JComponent;
import javax.swing.JDialog;
import javax.swing.JFileChooser;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JPanel;
import javax.swing.JTextArea;
import javax.swing.JTextField;
import javax.swing.JToggleButton;
import javax.swing.Timer;
import javax.swing.event.DocumentEvent;
import javax.swing.event.DocumentListener;
import java.awt.BorderLayout;
import java.awt.Component;
import java.awt.FlowLayout;
import java.awt.Font;
import java.awt.Frame;
import java.awt.GridBagConstraints;
import java.awt.GridBagLayout;
import java.awt.GridLayout;
import java.awt.Insets;
import java.io.IOException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The Train Classifier dialog, drawn from what the server describes ({@link TrainingOptions}): the dataset with
 * what it holds and what is wrong with it, the process and its whole description, the options that apply to it
 * (re-filled with the process's defaults when it changes, re-evaluated when a controlling option changes), the
 * advanced ones behind a toggle, and the model name. Train stays disabled while anything is wrong.
 */
public final class TrainDialog extends JDialog {
    private static final long serialVersionUID = 1L;
    public static final String TITLE = "OmniClas - Train Classifier";

    /** What the user chose. */
    public static final class Choice {
        public final Path dataset;
        public final String modelName;
        Choice(Path dataset, String modelName) { this.dataset = dataset; this.modelName = modelName; }
    }

    private final TrainingOptions form;
    private final ServerGate.Roots roots;
    private final boolean rootsAuthoritative;
    private final JTextField dataset = new JTextField(40);
    private final JLabel summary = new JLabel(" ");
    private final JComboBox<String> process;
    private final JTextArea description = new JTextArea(2, 60);
    private final Map<String, Row> rows = new LinkedHashMap<>();
    private final Map<String, String> badInput = new LinkedHashMap<>();
    private final JToggleButton advancedToggle = new JToggleButton();
    private final JPanel advancedPanel = new JPanel(new GridBagLayout());
    private final JTextField modelName = new JTextField(25);
    private final JLabel problems = new JLabel(" ");
    private final JButton train = new JButton("Train");
    private final Timer rescan = new Timer(300, e -> scanDataset());
    private final List<Dto.Model> existing; // the registered models: a name in use makes a new version
    private DatasetCheck check;
    private boolean updating;
    private boolean modelNameEdited;
    private Choice choice;

    /** Shows the dialog (modal) and returns the choice, or null when cancelled. Any thread but the event thread's caller. */
    public static Choice ask(TrainingOptions form, ServerGate.Roots roots, boolean rootsAuthoritative, String lastDataset,
                             List<Dto.Model> existing) {
        AtomicReference<Choice> out = new AtomicReference<>();
        Runnable r = () -> {
            TrainDialog d = new TrainDialog(form, roots, rootsAuthoritative, lastDataset, existing);
            d.setVisible(true); // modal
            out.set(d.choice);
        };
        Edt.runAndWait(r);
        return out.get();
    }

    private TrainDialog(TrainingOptions form, ServerGate.Roots roots, boolean rootsAuthoritative, String lastDataset,
                        List<Dto.Model> existing) {
        super((Frame) IJ.getInstance(), TITLE, true);
        this.form = form;
        this.existing = existing;
        this.roots = roots;
        this.rootsAuthoritative = rootsAuthoritative;
        setName("omniclas-train");
        process = new JComboBox<>(form.processIds().toArray(new String[0]));
        process.setName("process");
        process.setRenderer(new DefaultListCellRenderer() {
            private static final long serialVersionUID = 1L;
            @Override public Component getListCellRendererComponent(JList<?> l, Object v, int i, boolean s, boolean f) {
                String id = String.valueOf(v);
                for (Dto.ProcessInfo p : form.processes()) if (p.id.equals(id)) id = label(p);
                return super.getListCellRendererComponent(l, id, i, s, f);
            }
        });
        dataset.setName("dataset");
        dataset.setText(lastDataset == null ? "" : lastDataset);
        summary.setName("summary");
        description.setName("description");
        description.setEditable(false);
        description.setLineWrap(true);
        description.setWrapStyleWord(true);
        description.setOpaque(false);
        description.setFont(summary.getFont());
        modelName.setName("model_name");
        problems.setName("problems");
        train.setName("train");
        advancedToggle.setName("advanced");
        advancedPanel.setName("advancedOptions");

        JPanel basicPanel = new JPanel(new GridBagLayout());
        basicPanel.setName("options");
        for (Dto.OptionInfo o : form.options()) {
            Row row = Row.of(o, this::edited);
            rows.put(o.name, row);
            row.addTo(o.advanced ? advancedPanel : basicPanel);
        }

        JPanel main = new JPanel(new GridBagLayout());
        main.setBorder(BorderFactory.createEmptyBorder(10, 10, 4, 10));
        int y = 0;
        JButton browse = new JButton("Browse...");
        browse.setName("browse");
        browse.addActionListener(e -> browse());
        JPanel dsRow = new JPanel(new BorderLayout(4, 0));
        dsRow.add(dataset, BorderLayout.CENTER);
        dsRow.add(browse, BorderLayout.EAST);
        add(main, new JLabel("Dataset"), dsRow, y++);
        add(main, null, summary, y++);
        add(main, new JLabel("Process"), process, y++);
        add(main, null, description, y++);
        add(main, null, section("Options"), y++);
        add(main, null, basicPanel, y++);
        add(main, null, advancedToggle, y++);
        add(main, null, advancedPanel, y++);
        add(main, new JLabel("Model name"), modelName, y++);
        add(main, null, new JLabel("(the trained model is registered under this name; empty: not registered)"), y++);
        add(main, null, problems, y++);

        JButton cancel = new JButton("Cancel");
        cancel.setName("cancel");
        cancel.addActionListener(e -> dispose());
        train.addActionListener(e -> accept());
        JPanel buttons = new JPanel(new FlowLayout(FlowLayout.RIGHT));
        buttons.add(train);
        buttons.add(cancel);
        getContentPane().add(main, BorderLayout.CENTER);
        getContentPane().add(buttons, BorderLayout.SOUTH);
        getRootPane().setDefaultButton(train);

        process.addActionListener(e -> {
            if (updating) return;
            form.select((String) process.getSelectedItem());
            fill();
        });
        advancedToggle.addActionListener(e -> relayout());
        dataset.getDocument().addDocumentListener(new DocumentListener() {
            @Override public void insertUpdate(DocumentEvent e) { rescan.restart(); }
            @Override public void removeUpdate(DocumentEvent e) { rescan.restart(); }
            @Override public void changedUpdate(DocumentEvent e) { rescan.restart(); }
        });
        rescan.setRepeats(false);
        modelName.getDocument().addDocumentListener(new DocumentListener() {
            @Override public void insertUpdate(DocumentEvent e) { nameChanged(); }
            @Override public void removeUpdate(DocumentEvent e) { nameChanged(); }
            @Override public void changedUpdate(DocumentEvent e) { }
        });

        scanDataset();
        // AutoML runs N.D. alone when there is nothing unlabelled; a server without it: N.D. for such a dataset
        String first = !form.processIds().contains("auto") && check != null && check.unlabelled == 0
                && form.processIds().contains("nd") ? "nd" : form.process().id;
        form.select(first);
        fill();
        pack();
        setLocationRelativeTo(null);
        ScreenFit.install();
        ScreenFit.fit(this);
    }

    private void nameChanged() {
        if (!updating) modelNameEdited = true;
        recheck();
    }

    /** How the process list shows a process: AutoML as the recommended choice, the others by id and name. */
    static String label(Dto.ProcessInfo p) {
        return "auto".equals(p.id) ? "Automatic (recommended)" : p.id + "  (" + p.name + ")";
    }

    private static JLabel section(String text) {
        JLabel l = new JLabel(text);
        l.setFont(l.getFont().deriveFont(Font.BOLD));
        return l;
    }

    private static void add(JPanel p, JComponent label, JComponent field, int y) {
        GridBagConstraints c = new GridBagConstraints();
        c.gridy = y;
        c.insets = new Insets(3, 3, 3, 3);
        c.anchor = GridBagConstraints.WEST;
        if (label != null) {
            c.gridx = 0;
            p.add(label, c);
            c.gridx = 1;
        } else {
            c.gridx = 0;
            c.gridwidth = 2;
        }
        c.fill = GridBagConstraints.HORIZONTAL;
        c.weightx = 1;
        p.add(field, c);
    }

    // ------------------------------------------------------------------ state → view

    /** Shows the process's values in every row (after a process change). */
    private void fill() {
        updating = true;
        try {
            process.setSelectedItem(form.process().id);
            for (Row r : rows.values()) r.show(form.value(r.option.name));
            badInput.clear();
            Dto.ProcessInfo p = form.process();
            description.setText(p.name + ": " + (p.description == null ? "" : p.description));
        } finally {
            updating = false;
        }
        relayout();
    }

    /** Shows the options that apply, the advanced ones only when asked for, then re-checks everything. */
    private void relayout() {
        int advancedShown = 0;
        for (Row r : rows.values()) {
            boolean applies = form.applies(r.option.name);
            r.setVisible(applies);
            if (applies && r.option.advanced) advancedShown++;
        }
        advancedToggle.setText((advancedToggle.isSelected() ? "\u25be Advanced options" : "\u25b8 Advanced options") + " (" + advancedShown + ")");
        advancedPanel.setVisible(advancedToggle.isSelected());
        recheck();
        if (isShowing()) {
            pack();
            ScreenFit.fit(this);
        }
    }

    /** A row's input changed: into the model; a controlling option re-evaluates which rows show. */
    private void edited(Row row) {
        if (updating) return;
        Dto.OptionInfo o = row.option;
        if ("backbones".equals(o.name) && row instanceof MultiRow && form.process().maxBackbones != null
                && form.process().maxBackbones == 1) {
            updating = true;
            try {
                ((MultiRow) row).keepOnly(((MultiRow) row).lastTicked);
            } finally {
                updating = false;
            }
        }
        try {
            form.set(o.name, row.read());
            badInput.remove(o.name);
        } catch (IllegalArgumentException e) {
            badInput.put(o.name, e.getMessage());
        }
        if (form.controlsOthers(o.name)) relayout();
        else recheck();
    }

    private void scanDataset() {
        String text = dataset.getText().trim();
        check = null;
        if (!text.isEmpty()) {
            try {
                check = DatasetCheck.of(Paths.get(text));
            } catch (IOException | InvalidPathException e) {
                summary.setText("Cannot read " + text + ": " + e.getMessage());
            }
        }
        if (check != null) {
            summary.setText(check.summary());
            if (!modelNameEdited) {
                updating = true;
                Path name = check.root.getFileName();
                modelName.setText(ModelNames.propose(name == null ? null : name.toString()));
                updating = false;
            }
        } else if (text.isEmpty()) {
            summary.setText("Choose the dataset folder: <dataset>/<class>/<image>, and optionally <dataset>/unlabelled/.");
        }
        recheck();
    }

    private List<String> errors() {
        List<String> out = new ArrayList<>();
        if (check == null) out.add("No dataset folder.");
        else {
            out.addAll(check.errors(form.process().needsUnlabelled));
            if (rootsAuthoritative && !DatasetCheck.underRoots(check.root, roots.roots)) out.add(outsideRoots());
        }
        String name = modelName.getText().trim();
        if (!name.isEmpty() && ModelNames.problem(name) != null) out.add(ModelNames.problem(name));
        out.addAll(badInput.values());
        out.addAll(form.problems());
        return out;
    }

    private String outsideRoots() {
        return "The dataset is not under the server's dataset roots (" + roots.source + "): " + roots.text() + ".";
    }

    private void recheck() {
        List<String> errors = errors();
        List<String> warnings = new ArrayList<>();
        if (check != null && !rootsAuthoritative && !DatasetCheck.underRoots(check.root, roots.roots)) warnings.add(outsideRoots());
        String inUse = ModelNames.warning(existing, modelName.getText());
        if (inUse != null) warnings.add(inUse);
        StringBuilder html = new StringBuilder("<html><body style='width: 460px'>");
        for (String e : errors) html.append("<font color='#b00000'>\u2716 ").append(esc(e)).append("</font><br>");
        for (String w : warnings) html.append("<font color='#a06000'>\u26a0 ").append(esc(w)).append("</font><br>");
        html.append("</body></html>");
        problems.setText(errors.isEmpty() && warnings.isEmpty() ? " " : html.toString());
        train.setEnabled(errors.isEmpty());
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>");
    }

    private void browse() {
        JFileChooser fc = new JFileChooser(dataset.getText().trim().isEmpty() ? System.getProperty("user.home") : dataset.getText().trim());
        fc.setFileSelectionMode(JFileChooser.DIRECTORIES_ONLY);
        fc.setDialogTitle("Dataset folder");
        if (fc.showOpenDialog(this) == JFileChooser.APPROVE_OPTION) dataset.setText(fc.getSelectedFile().getPath());
    }

    private void accept() {
        rescan.stop();
        scanDataset();
        if (!errors().isEmpty()) return;
        choice = new Choice(check.root, modelName.getText().trim());
        dispose();
    }

    // ------------------------------------------------------------------ one row per option

    private interface Edited { void changed(Row row); }

    /** The label and the input of one option; its tooltip is the option's help. */
    private abstract static class Row {
        final Dto.OptionInfo option;
        final JLabel label;
        final JComponent field;
        final Edited edited;

        Row(Dto.OptionInfo option, JLabel label, JComponent field, Edited edited) {
            this.option = option;
            this.label = label;
            this.field = field;
            this.edited = edited;
            field.setName(option.name);
            field.setToolTipText(option.help);
            if (label != null) label.setToolTipText(option.help);
        }

        static Row of(Dto.OptionInfo o, Edited e) {
            String type = o.type == null ? "" : o.type;
            switch (type) {
                case "choice": return new ChoiceRow(o, e);
                case "multichoice": return new MultiRow(o, e);
                case "boolean": return new BoolRow(o, e);
                default: return new TextRow(o, e);
            }
        }

        void addTo(JPanel p) {
            TrainDialog.add(p, label, field, p.getComponentCount());
        }

        void setVisible(boolean v) {
            if (label != null) label.setVisible(v);
            field.setVisible(v);
        }

        abstract void show(Object value);

        abstract Object read();
    }

    private static final class ChoiceRow extends Row {
        ChoiceRow(Dto.OptionInfo o, Edited e) {
            super(o, new JLabel(o.label), new JComboBox<>(o.choices.toArray(new String[0])), e);
            combo().addActionListener(a -> edited.changed(this));
        }
        @SuppressWarnings("unchecked") JComboBox<String> combo() { return (JComboBox<String>) field; }
        @Override void show(Object value) { combo().setSelectedItem(value); }
        @Override Object read() { return combo().getSelectedItem(); }
    }

    private static final class MultiRow extends Row {
        final List<JCheckBox> boxes = new ArrayList<>();
        JCheckBox lastTicked;

        MultiRow(Dto.OptionInfo o, Edited e) {
            super(o, new JLabel(o.label), new JPanel(new GridLayout(0, Math.min(3, Math.max(1, o.choices.size())), 8, 0)), e);
            for (String c : o.choices) {
                JCheckBox b = new JCheckBox(c);
                b.setName(o.name + ":" + c);
                b.setToolTipText(o.help);
                b.addActionListener(a -> {
                    if (b.isSelected()) lastTicked = b;
                    edited.changed(this);
                });
                boxes.add(b);
                field.add(b);
            }
        }

        void keepOnly(JCheckBox keep) {
            if (keep == null) return;
            for (JCheckBox b : boxes) if (b != keep) b.setSelected(false);
        }

        @Override void show(Object value) {
            List<?> v = value instanceof List ? (List<?>) value : new ArrayList<>();
            for (JCheckBox b : boxes) b.setSelected(v.contains(b.getText()));
        }

        @Override Object read() {
            List<String> out = new ArrayList<>();
            for (JCheckBox b : boxes) if (b.isSelected()) out.add(b.getText());
            return out;
        }
    }

    private static final class BoolRow extends Row {
        BoolRow(Dto.OptionInfo o, Edited e) {
            super(o, null, new JCheckBox(o.label), e);
            ((JCheckBox) field).addActionListener(a -> edited.changed(this));
        }
        @Override void show(Object value) { ((JCheckBox) field).setSelected(Boolean.TRUE.equals(value)); }
        @Override Object read() { return ((JCheckBox) field).isSelected(); }
    }

    private static final class TextRow extends Row {
        TextRow(Dto.OptionInfo o, Edited e) {
            super(o, new JLabel(o.label), new JTextField(8), e);
            ((JTextField) field).getDocument().addDocumentListener(new DocumentListener() {
                @Override public void insertUpdate(DocumentEvent d) { edited.changed(TextRow.this); }
                @Override public void removeUpdate(DocumentEvent d) { edited.changed(TextRow.this); }
                @Override public void changedUpdate(DocumentEvent d) { }
            });
        }
        @Override void show(Object value) { ((JTextField) field).setText(TrainingOptions.text(value)); }
        @Override Object read() { return TrainingOptions.parse(option, ((JTextField) field).getText()); }
    }
}

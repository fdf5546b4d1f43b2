package org.omniclas.fiji.ui;

import ij.IJ;
import ij.ImagePlus;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.dataset.CategoryKeys;
import org.omniclas.fiji.dataset.DatasetFolder;

import javax.swing.AbstractAction;
import javax.swing.BorderFactory;
import javax.swing.DefaultListModel;
import javax.swing.InputMap;
import javax.swing.JButton;
import javax.swing.JCheckBox;
import javax.swing.JComboBox;
import javax.swing.JComponent;
import javax.swing.JFileChooser;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JOptionPane;
import javax.swing.JPanel;
import javax.swing.JScrollPane;
import javax.swing.JSplitPane;
import javax.swing.KeyStroke;
import javax.swing.ListSelectionModel;
import javax.swing.SwingUtilities;
import javax.swing.SwingWorker;
import javax.swing.WindowConstants;
import java.awt.BorderLayout;
import java.awt.Dimension;
import java.awt.FlowLayout;
import java.awt.GridLayout;
import java.awt.event.ActionEvent;
import java.awt.event.KeyEvent;
import java.awt.event.MouseAdapter;
import java.awt.event.MouseEvent;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Label Images window: thumbnail grid (lazy, cached), categories with counts, keys 1-9 to assign, 0/U to
 * un-assign, A/Enter to accept the model's suggestion, Ctrl+Z to undo, double-click to open in ImageJ.
 * All file operations go through {@link DatasetFolder}; network calls run in SwingWorkers.
 */
public class LabelWindow extends JFrame {
    private static final long serialVersionUID = 1L;
    public static final int THUMB = 96;
    static final String ALL = "\u0000all";
    static final String UNLABELLED = "\u0000unlabelled";
    static final String LABEL_NEXT = "\u0000next";

    private final DatasetFolder ds;
    private final CategoryKeys keys;
    private final ThumbnailCache thumbs;
    private DefaultListModel<Path> gridModel = new DefaultListModel<>();
    private final JList<Path> grid = new JList<>(gridModel);
    private final DefaultListModel<String> catModel = new DefaultListModel<>();
    private final JList<String> catList = new JList<>(catModel);
    private final JComboBox<String> target = new JComboBox<>();
    private final JCheckBox sortUncertain = new JCheckBox("Unlabelled by uncertainty");
    private final JLabel status = new JLabel(" ");
    private final Map<Path, Dto.PredictResult> suggestions = new ConcurrentHashMap<>();
    private final Map<String, Integer> counts = new HashMap<>();
    private List<String> categories = new ArrayList<>();
    private Map<Path, String> categoryOf = new HashMap<>();
    private final AskModel ask;
    private final LabelNext next;

    public static LabelWindow open(DatasetFolder ds) {
        final LabelWindow[] w = new LabelWindow[1];
        Runnable r = () -> {
            w[0] = new LabelWindow(ds);
            w[0].setVisible(true);
        };
        Edt.runAndWait(r);
        return w[0];
    }

    public LabelWindow(DatasetFolder ds) {
        super("OmniClas labelling - " + ds.getRoot());
        this.ds = ds;
        this.keys = CategoryKeys.of(ds.getRoot());
        this.thumbs = new ThumbnailCache(THUMB, 4000, p -> SwingUtilities.invokeLater(grid::repaint));
        this.next = new LabelNext(this, ds.getRoot());
        this.ask = new AskModel(this, ds, suggestions, next::asked);
        setName("omniclas-label-window");
        setDefaultCloseOperation(WindowConstants.DISPOSE_ON_CLOSE);
        addWindowListener(new WindowAdapter() {
            @Override public void windowClosed(WindowEvent e) {
                thumbs.shutdown();
                ask.cancel();
            }
        });

        // ---- grid
        grid.setName("grid");
        grid.setLayoutOrientation(JList.HORIZONTAL_WRAP);
        grid.setVisibleRowCount(-1);
        grid.setFixedCellWidth(THUMB + 40); // room for "? CytoplasmicGFP 97%"
        grid.setFixedCellHeight(THUMB + 40);
        grid.setSelectionMode(ListSelectionModel.MULTIPLE_INTERVAL_SELECTION);
        grid.setCellRenderer(new LabelCells.Thumb(thumbs, p -> categoryOf.get(p), suggestions::get, next.batch));
        grid.addMouseListener(new MouseAdapter() {
            @Override public void mouseClicked(MouseEvent e) {
                if (e.getClickCount() == 2) {
                    int i = grid.locationToIndex(e.getPoint());
                    if (i >= 0 && grid.getCellBounds(i, i).contains(e.getPoint())) openInImageJ(gridModel.get(i));
                }
            }
        });
        grid.getSelectionModel().addListSelectionListener(e -> updateStatus());

        // ---- categories
        catList.setName("categories");
        catList.setSelectionMode(ListSelectionModel.SINGLE_SELECTION);
        catList.setCellRenderer(new LabelCells.Category(counts, keys));
        catList.addListSelectionListener(e -> { if (!e.getValueIsAdjusting()) fillGrid(null); });
        JPanel catButtons = new JPanel(new GridLayout(0, 1, 2, 2));
        catButtons.add(button("Add category...", "addCategory", this::addCategory));
        catButtons.add(button("Rename...", "renameCategory", this::renameCategory));
        catButtons.add(button("Delete...", "deleteCategory", this::deleteCategory));
        JPanel left = new JPanel(new BorderLayout(4, 4));
        left.add(new JLabel("Categories (keys 1-9)"), BorderLayout.NORTH);
        left.add(new JScrollPane(catList), BorderLayout.CENTER);
        left.add(catButtons, BorderLayout.SOUTH);
        left.setBorder(BorderFactory.createEmptyBorder(4, 4, 4, 4));
        left.setPreferredSize(new Dimension(220, 400));

        // ---- toolbar
        JPanel tools = new JPanel(new WrapLayout(FlowLayout.LEFT, 4, 2)); // wraps in a narrow window
        target.setName("target");
        target.setPrototypeDisplayValue("Category name");
        tools.add(new JLabel("Assign selected to"));
        tools.add(target);
        tools.add(button("Assign", "assign", () -> {
            Object t = target.getSelectedItem();
            if (t != null) assignSelected(t.toString());
        }));
        tools.add(button("Unassign (key 0)", "unassign", () -> assignSelected(null)));
        tools.add(button("Undo (Ctrl+Z)", "undo", this::undo));
        tools.add(button("Import...", "import", this::importFolder));
        tools.add(ask.button);
        sortUncertain.setName("sortUncertainty");
        sortUncertain.addActionListener(e -> fillGrid(null));
        tools.add(sortUncertain);
        tools.add(next.nextButton);
        tools.add(next.retrainButton);

        JSplitPane split = new JSplitPane(JSplitPane.HORIZONTAL_SPLIT, left, new JScrollPane(grid));
        split.setDividerLocation(220);
        status.setBorder(BorderFactory.createEmptyBorder(2, 6, 2, 6));
        status.setName("status");
        getContentPane().add(tools, BorderLayout.NORTH);
        getContentPane().add(split, BorderLayout.CENTER);
        getContentPane().add(status, BorderLayout.SOUTH);
        installKeys();
        setPreferredSize(new Dimension(1000, 700));
        pack();
        setLocationRelativeTo(null);
        ScreenFit.install();
        ScreenFit.fit(this);
        refresh();
        catList.setSelectedIndex(1); // Unlabelled
    }

    public DatasetFolder getDataset() { return ds; }

    /** The Label next batch (empty until "Label next" or "Retrain quickly" asked the server). */
    public NextBatch nextBatch() { return next.batch; }

    /** Whether the grid shows the Label next batch. */
    public boolean showsLabelNext() { return LABEL_NEXT.equals(catList.getSelectedValue()); }

    /** The model's suggestion for an image (after "Ask the model..."), or null. */
    public Dto.PredictResult suggestion(Path image) { return suggestions.get(image); }

    private JButton button(String text, String name, Runnable action) {
        JButton b = new JButton(text);
        b.setName(name);
        b.addActionListener(e -> action.run());
        return b;
    }

    private void installKeys() {
        JComponent root = (JComponent) getContentPane();
        InputMap im = root.getInputMap(JComponent.WHEN_ANCESTOR_OF_FOCUSED_COMPONENT);
        for (int k = 1; k <= CategoryKeys.KEYS; k++) {
            final int key = k;
            String name = "assign" + k;
            im.put(KeyStroke.getKeyStroke(KeyEvent.VK_0 + k, 0), name);
            im.put(KeyStroke.getKeyStroke(KeyEvent.VK_NUMPAD0 + k, 0), name);
            root.getActionMap().put(name, action(() -> {
                String c = keys.category(key);
                if (c != null) assignSelected(c);
                else setStatus("No category has key " + key + ".");
            }));
        }
        im.put(KeyStroke.getKeyStroke(KeyEvent.VK_0, 0), "unassign");
        im.put(KeyStroke.getKeyStroke(KeyEvent.VK_U, 0), "unassign");
        root.getActionMap().put("unassign", action(() -> assignSelected(null)));
        im.put(KeyStroke.getKeyStroke(KeyEvent.VK_A, 0), "accept");
        grid.getInputMap(JComponent.WHEN_FOCUSED).put(KeyStroke.getKeyStroke(KeyEvent.VK_ENTER, 0), "accept");
        root.getActionMap().put("accept", action(this::acceptSuggestions));
        grid.getActionMap().put("accept", action(this::acceptSuggestions));
        im.put(KeyStroke.getKeyStroke(KeyEvent.VK_Z, java.awt.Toolkit.getDefaultToolkit().getMenuShortcutKeyMask()), "undo");
        root.getActionMap().put("undo", action(this::undo));
    }

    private static AbstractAction action(Runnable r) {
        return new AbstractAction() {
            private static final long serialVersionUID = 1L;
            @Override public void actionPerformed(ActionEvent e) { r.run(); }
        };
    }

    // ------------------------------------------------------------------ model of the view

    /** Re-reads the dataset folder and redraws everything (categories in key order). */
    public void refresh() {
        try {
            List<String> found = ds.categories();
            keys.sync(found);
            categories = keys.ordered(found);
            Map<Path, String> where = new HashMap<>();
            counts.clear();
            List<Path> unl = ds.images(null);
            for (Path p : unl) where.put(p, null);
            counts.put(UNLABELLED, unl.size());
            int total = unl.size();
            for (String c : categories) {
                List<Path> imgs = ds.images(c);
                for (Path p : imgs) where.put(p, c);
                counts.put(c, imgs.size());
                total += imgs.size();
            }
            counts.put(ALL, total);
            categoryOf = where;
        } catch (IOException e) {
            Reporter.unexpected("Cannot read the dataset folder", e);
            return;
        }
        String selected = catList.getSelectedValue();
        List<String> items = new ArrayList<>();
        items.add(ALL);
        items.add(UNLABELLED);
        if (!next.batch.isEmpty()) {
            items.add(LABEL_NEXT);
            counts.put(LABEL_NEXT, waiting().size());
        }
        items.addAll(categories);
        boolean same = items.size() == catModel.size();
        for (int i = 0; same && i < items.size(); i++) same = items.get(i).equals(catModel.get(i));
        if (!same) {
            catModel.clear();
            for (String s : items) catModel.addElement(s);
            if (selected != null && items.contains(selected)) catList.setSelectedValue(selected, true);
            else catList.setSelectedIndex(1);
        } else {
            catList.repaint();
        }
        Object t = target.getSelectedItem();
        target.removeAllItems();
        for (String c : categories) target.addItem(c);
        if (t != null && categories.contains(t.toString())) target.setSelectedItem(t);
        fillGrid(null);
    }

    /** Fills the grid for the chosen filter; keeps the selection near {@code keepIndex} (or the same files). */
    private void fillGrid(Integer keepIndex) {
        String filter = catList.getSelectedValue();
        if (filter == null) filter = UNLABELLED;
        Set<Path> wasSelected = new HashSet<>(grid.getSelectedValuesList());
        List<Path> items = new ArrayList<>();
        if (LABEL_NEXT.equals(filter)) items.addAll(waiting()); // best first, as the server ranked them
        else for (Map.Entry<Path, String> e : categoryOf.entrySet()) {
            String c = e.getValue();
            if (ALL.equals(filter) || (UNLABELLED.equals(filter) && c == null) || filter.equals(c)) items.add(e.getKey());
        }
        Comparator<Path> byName = Comparator.comparing((Path p) -> p.getFileName().toString()).thenComparing(Path::toString);
        if (LABEL_NEXT.equals(filter)) {
            // kept in rank order
        } else if (sortUncertain.isSelected()) {
            items.sort(Comparator.comparingDouble((Path p) -> {
                Dto.PredictResult r = suggestions.get(p);
                return categoryOf.get(p) == null && r != null ? r.confidence : 2.0;
            }).thenComparing(byName));
        } else {
            items.sort(byName);
        }
        DefaultListModel<Path> m = new DefaultListModel<>();
        for (Path p : items) m.addElement(p);
        gridModel = m;
        grid.setModel(m);
        if (keepIndex != null) {
            if (!gridModel.isEmpty()) {
                int i = Math.min(keepIndex, gridModel.size() - 1);
                grid.setSelectedIndex(i);
                grid.ensureIndexIsVisible(i);
            }
        } else if (!wasSelected.isEmpty()) {
            List<Integer> idx = new ArrayList<>();
            for (int i = 0; i < gridModel.size(); i++) if (wasSelected.contains(gridModel.get(i))) idx.add(i);
            grid.setSelectedIndices(idx.stream().mapToInt(Integer::intValue).toArray());
        }
        updateStatus();
    }

    /** The batch's images still in unlabelled/, best first. */
    private List<Path> waiting() {
        return next.batch.waiting(p -> categoryOf.containsKey(p) && categoryOf.get(p) == null);
    }

    /** Shows the Label next batch (after the server answered). */
    void showNext() {
        refresh();
        catList.setSelectedValue(LABEL_NEXT, true);
        fillGrid(0);
        grid.requestFocusInWindow(); // the category keys act at once
    }

    private void updateStatus() {
        if (LABEL_NEXT.equals(catList.getSelectedValue())) {
            List<Path> sel = grid.getSelectedValuesList();
            String notes = next.batch.notes();
            status.setText(next.batch.summary(gridModel.size())
                    + (sel.size() == 1 ? "  |  " + next.batch.describe(sel.get(0)) : "  |  keys 1-9 file the selected images")
                    + (notes.isEmpty() ? "" : "  |  " + notes));
            status.setToolTipText("<html><body style='width: 500px'>" // the whole line, however narrow the window
                    + status.getText().replace("&", "&amp;").replace("<", "&lt;") + "</body></html>");
            return;
        }
        status.setToolTipText(null);
        int sel = grid.getSelectedIndices().length;
        Integer un = counts.get(UNLABELLED);
        status.setText(gridModel.size() + " shown, " + sel + " selected, " + (un == null ? 0 : un) + " unlabelled"
                + (ds.canUndo() ? "  |  Ctrl+Z undoes the last move" : ""));
    }

    void setStatus(String s) { status.setText(s); }

    void repaintGrid() { grid.repaint(); }

    /** After "Ask the model": the unlabelled images, least certain first, the first one selected. */
    void showAsked() {
        sortUncertain.setSelected(true);
        catList.setSelectedIndex(1);
        fillGrid(0);
    }

    /** A file moved (filed, undone, accepted): its thumbnail, suggestion and batch entry follow it. */
    private void moved(Path from, Path to) {
        thumbs.renamed(from, to);
        Dto.PredictResult r = suggestions.remove(from);
        if (r != null) suggestions.put(to, r);
        next.batch.renamed(from, to);
    }

    // ------------------------------------------------------------------ actions

    /** Moves the selected images into {@code category} (null = back to unlabelled/). */
    public void assignSelected(String category) {
        List<Path> sel = grid.getSelectedValuesList();
        if (sel.isEmpty()) {
            setStatus("Select images first (click, Shift/Ctrl+click).");
            return;
        }
        int first = grid.getMinSelectionIndex();
        move(sel, category, first);
    }

    private void move(List<Path> images, String category, int keepIndex) {
        try {
            List<Path> to = ds.moveAll(images, category);
            for (int i = 0; i < images.size(); i++) moved(images.get(i), to.get(i));
            refreshKeeping(keepIndex);
            setStatus(images.size() + " image(s) moved to " + (category == null ? DatasetFolder.UNLABELLED : category)
                    + ".  Ctrl+Z undoes.");
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Cannot move the images", e);
            refresh();
        }
    }

    private void refreshKeeping(int keepIndex) {
        grid.clearSelection();
        String selected = catList.getSelectedValue();
        refresh();
        if (selected != null) catList.setSelectedValue(selected, false);
        fillGrid(keepIndex);
    }

    public void undo() {
        try {
            List<DatasetFolder.Move> done = ds.undo();
            for (DatasetFolder.Move m : done) moved(m.from, m.to);
            refresh();
            setStatus(done.isEmpty() ? "Nothing to undo." : "Undone: " + done.size() + " image(s) moved back.");
        } catch (IOException e) {
            Reporter.unexpected("Undo failed", e);
            refresh();
        }
    }

    /** The class shown under an image: the Label next batch's guess, else Ask the model's; null when none. */
    private String guessOf(Path p) {
        String guess = next.batch.guess(p);
        Dto.PredictResult r = suggestions.get(p);
        return guess != null ? guess : r == null ? null : r.className;
    }

    /**
     * Moves the selected images that have a suggestion to the suggested category, creating it if needed, as one
     * undoable step: Ctrl+Z puts the images back and removes a category folder this step created.
     */
    public void acceptSuggestions() {
        List<Path> sel = grid.getSelectedValuesList();
        Map<String, List<Path>> byClass = new LinkedHashMap<>();
        for (Path p : sel) {
            String guess = guessOf(p);
            if (guess == null) continue;
            if (!categories.contains(guess)) {
                String why = DatasetFolder.validateName(guess, categories);
                if (why != null) {
                    Reporter.error("Suggested class \"" + guess + "\" cannot be a category: " + why);
                    return;
                }
            }
            byClass.computeIfAbsent(guess, k -> new ArrayList<>()).add(p);
        }
        if (byClass.isEmpty()) {
            setStatus("No suggestion for the selection; use \"Ask the model...\" or \"Retrain quickly\" first.");
            return;
        }
        int first = grid.getMinSelectionIndex();
        int n = 0;
        try {
            Map<Path, Path> moved = ds.assign(byClass);
            for (Map.Entry<Path, Path> e : moved.entrySet()) {
                moved(e.getKey(), e.getValue());
                n++;
            }
            refreshKeeping(first);
            setStatus(n + " suggestion(s) accepted into " + String.join(", ", byClass.keySet()) + ".  Ctrl+Z undoes.");
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Cannot move the images", e);
            refresh();
        }
    }

    public void addCategory() {
        String name = TextPrompt.ask(this, "Name of the new category:", "Add category", "");
        if (name == null) return;
        name = name.trim();
        String why = DatasetFolder.validateName(name, categories);
        if (why != null) {
            JOptionPane.showMessageDialog(this, ScreenFit.wrap(why), "Add category", JOptionPane.WARNING_MESSAGE);
            return;
        }
        try {
            ds.createCategory(name);
            refresh();
            target.setSelectedItem(name);
            int key = keys.keyOf(name);
            setStatus("Category \"" + name + "\" created; " + (key == 0 ? "keys 1-9 are all taken: use Assign." : "key " + key + " assigns to it."));
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Cannot create the category", e);
        }
    }

    private String selectedCategory(String verb) {
        String c = catList.getSelectedValue();
        if (c == null || c.startsWith("\u0000")) {
            JOptionPane.showMessageDialog(this, "Select the category to " + verb + " in the list first.", "OmniClas",
                    JOptionPane.INFORMATION_MESSAGE);
            return null;
        }
        return c;
    }

    public void renameCategory() {
        String old = selectedCategory("rename");
        if (old == null) return;
        String name = TextPrompt.ask(this, "New name for \"" + old + "\":", "Rename category", old);
        if (name == null || name.trim().equals(old)) return;
        name = name.trim();
        List<String> others = new ArrayList<>(categories);
        others.remove(old);
        String why = DatasetFolder.validateName(name, others);
        if (why != null) {
            JOptionPane.showMessageDialog(this, ScreenFit.wrap(why), "Rename category", JOptionPane.WARNING_MESSAGE);
            return;
        }
        try {
            Path oldDir = ds.dirOf(old);
            Path newDir = ds.renameCategory(old, name);
            keys.renamed(old, name);
            for (Path p : new ArrayList<>(categoryOf.keySet())) {
                if (p.startsWith(oldDir)) moved(p, newDir.resolve(oldDir.relativize(p)));
            }
            catList.clearSelection();
            refresh();
            catList.setSelectedValue(name, true);
            setStatus("Category \"" + old + "\" renamed to \"" + name + "\".");
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Cannot rename the category", e);
            refresh();
        }
    }

    public void deleteCategory() {
        String c = selectedCategory("delete");
        if (c == null) return;
        Integer n = counts.get(c);
        int ok = JOptionPane.showConfirmDialog(this, "Delete category \"" + c + "\"?\nIts " + (n == null ? 0 : n)
                + " image(s) go back to unlabelled (Ctrl+Z undoes).", "Delete category", JOptionPane.OK_CANCEL_OPTION);
        if (ok != JOptionPane.OK_OPTION) return;
        try {
            ds.deleteCategory(c);
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Cannot delete the category", e);
        }
        catList.setSelectedIndex(1);
        refresh();
    }

    private void importFolder() {
        JFileChooser fc = new JFileChooser(Settings.get(Settings.KEY_LAST_SOURCE, System.getProperty("user.home")));
        fc.setFileSelectionMode(JFileChooser.DIRECTORIES_ONLY);
        fc.setDialogTitle("Folder of images to copy into the dataset");
        if (fc.showOpenDialog(this) != JFileChooser.APPROVE_OPTION) return;
        Path src = fc.getSelectedFile().toPath();
        Settings.put(Settings.KEY_LAST_SOURCE, src.toString());
        setStatus("Copying images from " + src + "...");
        new SwingWorker<DatasetFolder.Import, Void>() {
            @Override protected DatasetFolder.Import doInBackground() throws Exception { return ds.importFrom(src); }
            @Override protected void done() {
                try {
                    DatasetFolder.Import done = get();
                    refresh();
                    setStatus(done.summary().split("\n")[0]);
                    if (!done.unreadable.isEmpty()) {
                        JOptionPane.showMessageDialog(LabelWindow.this, ScreenFit.wrap(done.summary()), "Import", JOptionPane.WARNING_MESSAGE);
                    }
                } catch (Exception e) {
                    Reporter.unexpected("Import failed", e.getCause() != null ? e.getCause() : e);
                }
            }
        }.execute();
    }

    private void openInImageJ(Path p) {
        new Thread(() -> {
            ImagePlus imp = IJ.openImage(p.toString());
            if (imp != null) imp.show();
            else Reporter.error("ImageJ cannot open " + p);
        }, "OmniClas open").start();
    }
}

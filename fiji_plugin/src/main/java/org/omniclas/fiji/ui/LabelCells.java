package org.omniclas.fiji.ui;

import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.dataset.CategoryKeys;

import javax.swing.BorderFactory;
import javax.swing.DefaultListCellRenderer;
import javax.swing.ImageIcon;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JPanel;
import javax.swing.ListCellRenderer;
import javax.swing.SwingConstants;
import java.awt.BorderLayout;
import java.awt.Color;
import java.awt.Component;
import java.awt.Dimension;
import java.awt.GridLayout;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Function;

/** How the labelling window draws its grid's images and its category list. */
final class LabelCells {
    private LabelCells() {}

    /** A thumbnail, its file name, and its class, the Label next batch's guess or reason, or Ask the model's guess. */
    static final class Thumb extends JPanel implements ListCellRenderer<Path> {
        private static final long serialVersionUID = 1L;
        private final JLabel icon = new JLabel();
        private final JLabel name = new JLabel();
        private final JLabel info = new JLabel();
        private final ImageIcon blank = new ImageIcon(new BufferedImage(LabelWindow.THUMB, LabelWindow.THUMB, BufferedImage.TYPE_INT_RGB));

        private final ThumbnailCache thumbs;
        private final Function<Path, String> categoryOf;
        private final Function<Path, Dto.PredictResult> suggestions;
        private final NextBatch batch;

        Thumb(ThumbnailCache thumbs, Function<Path, String> categoryOf, Function<Path, Dto.PredictResult> suggestions,
              NextBatch batch) {
            super(new BorderLayout(0, 1));
            this.thumbs = thumbs;
            this.categoryOf = categoryOf;
            this.suggestions = suggestions;
            this.batch = batch;
            icon.setHorizontalAlignment(SwingConstants.CENTER);
            icon.setPreferredSize(new Dimension(LabelWindow.THUMB, LabelWindow.THUMB));
            name.setFont(name.getFont().deriveFont(10f));
            info.setFont(info.getFont().deriveFont(10f));
            JPanel text = new JPanel(new GridLayout(2, 1));
            text.setOpaque(false);
            text.add(name);
            text.add(info);
            add(icon, BorderLayout.CENTER);
            add(text, BorderLayout.SOUTH);
        }

        @Override
        public Component getListCellRendererComponent(JList<? extends Path> list, Path p, int index, boolean selected, boolean focus) {
            BufferedImage img = thumbs.get(p);
            icon.setIcon(img == null ? blank : new ImageIcon(img));
            name.setText(p.getFileName().toString());
            String cat = categoryOf.apply(p);
            Dto.PredictResult r = suggestions.apply(p);
            String guess = batch.guess(p);
            String suggested = guess != null || r == null ? batch.label(p) : null; // the class shown is what A takes
            Color border = selected ? list.getSelectionBackground() : list.getBackground();
            if (cat != null) {
                info.setText(cat);
                info.setForeground(new Color(0, 100, 0));
            } else if (suggested != null) {
                Dto.Suggestion s = batch.get(p);
                info.setText(suggested);
                info.setForeground(guess != null && s.confidence != null ? byConfidence(s.confidence) : new Color(0, 70, 160));
            } else if (r != null) {
                info.setText("? " + r.className + " " + Math.round(r.confidence * 100) + "%");
                info.setForeground(byConfidence(r.confidence));
            } else {
                info.setText("unlabelled");
                info.setForeground(Color.GRAY);
            }
            setBackground(selected ? list.getSelectionBackground() : list.getBackground());
            name.setForeground(selected ? list.getSelectionForeground() : list.getForeground());
            setBorder(BorderFactory.createLineBorder(border, 3));
            setToolTipText(suggested != null && cat == null ? batch.describe(p) : r == null || cat != null ? p.toString()
                    : p + "  (model: " + r.className + ", " + Math.round(r.confidence * 100) + "%)");
            return this;
        }
    }

    /** A guess's colour: green when the model is sure, amber, red when it is guessing. */
    static Color byConfidence(double c) {
        return c >= 0.8 ? new Color(0, 110, 0) : c >= 0.5 ? new Color(160, 100, 0) : new Color(180, 0, 0);
    }

    /** A category entry: "[key] name (count)", or All images, Unlabelled, Label next. */
    static final class Category extends DefaultListCellRenderer {
        private static final long serialVersionUID = 1L;
        private final Map<String, Integer> counts;
        private final CategoryKeys keys;

        Category(Map<String, Integer> counts, CategoryKeys keys) {
            this.counts = counts;
            this.keys = keys;
        }

        @Override
        public Component getListCellRendererComponent(JList<?> list, Object value, int index, boolean selected, boolean focus) {
            String v = (String) value;
            Integer n = counts.get(v);
            String text;
            if (LabelWindow.ALL.equals(v)) text = "All images";
            else if (LabelWindow.UNLABELLED.equals(v)) text = "Unlabelled";
            else if (LabelWindow.LABEL_NEXT.equals(v)) text = "Label next";
            else {
                int k = keys.keyOf(v);
                text = (k > 0 ? "[" + k + "] " : "") + v;
            }
            return super.getListCellRendererComponent(list, text + " (" + (n == null ? 0 : n) + ")", index, selected, focus);
        }
    }
}

package org.omniclas.fiji.ui;

import java.awt.Component;
import java.awt.Container;
import java.awt.Dimension;
import java.awt.FlowLayout;
import java.awt.Insets;

/**
 * A {@link FlowLayout} whose preferred size follows the wrapped rows, so a toolbar in a BorderLayout's NORTH grows
 * a second row instead of hiding the components that do not fit in a narrow window.
 */
public class WrapLayout extends FlowLayout {
    private static final long serialVersionUID = 1L;

    public WrapLayout(int align, int hgap, int vgap) {
        super(align, hgap, vgap);
    }

    @Override public Dimension preferredLayoutSize(Container target) { return size(target, true); }

    @Override public Dimension minimumLayoutSize(Container target) {
        Dimension d = size(target, false);
        d.width -= getHgap() + 1;
        return d;
    }

    private Dimension size(Container target, boolean preferred) {
        synchronized (target.getTreeLock()) {
            // the parent's width: during a resize it is already the new one, the target's is not yet
            Container parent = target.getParent();
            int width = 0;
            if (parent != null && parent.getWidth() > 0) {
                Insets pi = parent.getInsets();
                width = parent.getWidth() - pi.left - pi.right;
            }
            if (width <= 0) width = target.getWidth();
            if (width <= 0) width = Integer.MAX_VALUE;
            Insets in = target.getInsets();
            int max = width - (in.left + in.right + getHgap() * 2);
            Dimension dim = new Dimension(0, 0);
            int rowW = 0, rowH = 0;
            for (Component m : target.getComponents()) {
                if (!m.isVisible()) continue;
                Dimension d = preferred ? m.getPreferredSize() : m.getMinimumSize();
                if (rowW + d.width > max && rowW > 0) {
                    addRow(dim, rowW, rowH);
                    rowW = 0;
                    rowH = 0;
                }
                if (rowW != 0) rowW += getHgap();
                rowW += d.width;
                rowH = Math.max(rowH, d.height);
            }
            addRow(dim, rowW, rowH);
            dim.width += in.left + in.right + getHgap() * 2;
            dim.height += in.top + in.bottom + getVgap() * 2;
            return dim;
        }
    }

    private void addRow(Dimension dim, int rowW, int rowH) {
        dim.width = Math.max(dim.width, rowW);
        if (dim.height > 0) dim.height += getVgap();
        dim.height += rowH;
    }
}

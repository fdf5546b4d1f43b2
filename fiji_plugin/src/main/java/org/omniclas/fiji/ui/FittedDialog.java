package org.omniclas.fiji.ui;

import ij.gui.GenericDialog;

import java.awt.Color;
import java.awt.Font;
import java.awt.Point;
import java.awt.Rectangle;

/**
 * A {@link GenericDialog} that fits the screen it opens on: messages wrapped at {@link ScreenFit#COLUMNS}
 * characters, and, once packed, placed where asked ({@link #placeBeside}) and moved inside the screen.
 */
public class FittedDialog extends GenericDialog {
    private Rectangle beside;

    public FittedDialog(String title) {
        super(title);
        ScreenFit.install();
    }

    /** Opens right of {@code other}, else below it, else left of it, as far as the screen allows. */
    public void placeBeside(Rectangle other) { this.beside = other; }

    @Override
    public void addMessage(String text) {
        super.addMessage(ScreenFit.wrap(text));
    }

    @Override
    public void addMessage(String text, Font font) {
        super.addMessage(ScreenFit.wrap(text), font);
    }

    @Override
    public void addMessage(String text, Font font, Color color) {
        super.addMessage(ScreenFit.wrap(text), font, color);
    }

    @Override
    public void setVisible(boolean visible) {
        if (visible) {
            if (beside != null) {
                Rectangle screen = ScreenFit.screenOf(beside);
                Point p = besideOf(beside, getSize(), screen);
                setLocation(p.x, p.y);
            }
            ScreenFit.fit(this);
        }
        super.setVisible(visible);
    }

    /**
     * Where a window of {@code size} goes so that it does not cover {@code other}: right of it, else below it, else
     * left of it; {@link ScreenFit#fit} then keeps it on the screen whatever was chosen.
     */
    static Point besideOf(Rectangle other, java.awt.Dimension size, Rectangle screen) {
        int gap = 12;
        if (other.x + other.width + gap + size.width <= screen.x + screen.width) return new Point(other.x + other.width + gap, other.y);
        if (other.y + other.height + gap + size.height <= screen.y + screen.height) return new Point(other.x, other.y + other.height + gap);
        return new Point(Math.max(screen.x, other.x - gap - size.width), other.y);
    }
}

package org.omniclas.fiji.ui;

import org.junit.Test;

import java.awt.Dimension;
import java.awt.Point;
import java.awt.Rectangle;

import static org.junit.Assert.*;

/** Windows stay on their screen, long lines wrap, and the Register dialog never covers the per-class table. */
public class ScreenFitTest {
    private static final Rectangle SCREEN = new Rectangle(0, 0, 1600, 900);

    /** Issue 22: a dialog 939 px wide opened at x = 1034 on a 1600 px screen. */
    @Test public void aWindowPastTheRightEdgeMovesBackOnScreen() {
        Rectangle fitted = ScreenFit.within(new Rectangle(1034, 200, 939, 300), SCREEN);
        assertEquals(new Rectangle(661, 200, 939, 300), fitted);
        assertTrue(SCREEN.contains(fitted));
    }

    @Test public void aWindowLargerThanTheScreenIsShrunkToIt() {
        Rectangle second = new Rectangle(1600, 0, 1280, 1024); // a second screen right of the first
        assertEquals(new Rectangle(1600, 0, 1280, 1024), ScreenFit.within(new Rectangle(1500, -40, 2000, 2000), second));
    }

    @Test public void aWindowThatFitsStaysWhereItIs() {
        Rectangle r = new Rectangle(10, 20, 300, 200);
        assertEquals(r, ScreenFit.within(r, SCREEN));
    }

    @Test public void longLinesWrapAtSpacesAndKeepTheirBreaks() {
        String automl = "AutoML: kept I.M.D.D./threshold (estimate 0.912 +- 0.018); candidates: N.D. 0.905, D.D. 0.899, "
                + "M.D. 0.910, I.D.D. 0.907, I.M.D. 0.908, M.D.D. 0.904; none beat it by more than paired noise";
        String wrapped = ScreenFit.wrap("Estimated accuracy 0.91\n" + automl, 80);
        for (String line : wrapped.split("\n")) assertTrue(line, line.length() <= 80);
        assertTrue(wrapped.startsWith("Estimated accuracy 0.91\nAutoML: kept"));
        assertEquals(("Estimated accuracy 0.91\n" + automl).replace("\n", " "), wrapped.replace("\n", " "));
        assertEquals("/a/very/long/path/without/any/space/in/it", ScreenFit.wrap("/a/very/long/path/without/any/space/in/it", 10));
    }

    @Test public void registerDialogNeverCoversTheTable() {
        Rectangle screen = new Rectangle(0, 0, 1280, 1024);
        Dimension dialog = new Dimension(480, 220);
        Rectangle table = new Rectangle(100, 100, 500, 300);
        Point p = FittedDialog.besideOf(table, dialog, screen);
        assertFalse(new Rectangle(p, dialog).intersects(table));
        assertEquals(new Point(612, 100), p);
        Rectangle wide = new Rectangle(300, 100, 900, 300); // no room on the right: below
        assertEquals(new Point(300, 412), FittedDialog.besideOf(wide, dialog, screen));
        Rectangle big = new Rectangle(600, 50, 680, 900); // no room right or below: left
        Point left = FittedDialog.besideOf(big, dialog, screen);
        assertFalse(new Rectangle(left, dialog).intersects(big));
    }
}

package org.omniclas.fiji.ui;

import java.awt.AWTEvent;
import java.awt.Dialog;
import java.awt.Dimension;
import java.awt.GraphicsConfiguration;
import java.awt.GraphicsDevice;
import java.awt.GraphicsEnvironment;
import java.awt.Insets;
import java.awt.Rectangle;
import java.awt.Toolkit;
import java.awt.Window;
import java.awt.event.WindowEvent;

/**
 * Keeps the plugin's windows on the screen they open on (issue 22: a Register dialog 939 px wide opened at x = 1034
 * on a 1600 px screen). Our windows call {@link #fit} once packed; message dialogs that the plugin does not build
 * (ImageJ's error box, Swing's option panes) are fitted when they open by {@link #install}'s listener, which also
 * re-packs a dialog that a window manager's decorations left too small for its buttons. Long message lines are
 * wrapped with {@link #wrap} so that no dialog grows wider than {@value #COLUMNS} characters.
 */
public final class ScreenFit {
    /** The widest line of text a dialog shows, in characters. */
    public static final int COLUMNS = 80;
    private static boolean installed;

    private ScreenFit() {}

    /** The usable part (without task bars) of the screen holding most of {@code r}; the default screen if none. */
    public static Rectangle screenOf(Rectangle r) {
        if (GraphicsEnvironment.isHeadless()) return new Rectangle(0, 0, Integer.MAX_VALUE / 2, Integer.MAX_VALUE / 2);
        GraphicsEnvironment ge = GraphicsEnvironment.getLocalGraphicsEnvironment();
        GraphicsConfiguration best = ge.getDefaultScreenDevice().getDefaultConfiguration();
        long most = 0;
        for (GraphicsDevice d : ge.getScreenDevices()) {
            GraphicsConfiguration gc = d.getDefaultConfiguration();
            Rectangle common = gc.getBounds().intersection(r);
            long area = common.isEmpty() ? 0 : (long) common.width * common.height;
            if (area > most) {
                most = area;
                best = gc;
            }
        }
        Rectangle b = best.getBounds();
        Insets in = Toolkit.getDefaultToolkit().getScreenInsets(best);
        return new Rectangle(b.x + in.left, b.y + in.top, b.width - in.left - in.right, b.height - in.top - in.bottom);
    }

    /** {@code window} moved (and, only when larger than the screen, shrunk) to lie within {@code screen}. */
    public static Rectangle within(Rectangle window, Rectangle screen) {
        int w = Math.min(window.width, screen.width);
        int h = Math.min(window.height, screen.height);
        int x = Math.max(screen.x, Math.min(window.x, screen.x + screen.width - w));
        int y = Math.max(screen.y, Math.min(window.y, screen.y + screen.height - h));
        return new Rectangle(x, y, w, h);
    }

    /** Moves a packed window inside the screen it is on. */
    public static void fit(Window w) {
        Rectangle now = w.getBounds();
        Rectangle fitted = within(now, screenOf(now));
        if (!fitted.equals(now)) w.setBounds(fitted);
    }

    /**
     * Every dialog that opens from now on is fitted to its screen, and re-packed first when it is smaller than its
     * content wants (so its buttons show). Harmless to other plugins' dialogs: a dialog that fits is left alone.
     */
    public static synchronized void install() {
        if (installed || GraphicsEnvironment.isHeadless()) return;
        installed = true;
        Toolkit.getDefaultToolkit().addAWTEventListener(e -> {
            if (e.getID() != WindowEvent.WINDOW_OPENED || !(e.getSource() instanceof Dialog)) return;
            Dialog d = (Dialog) e.getSource();
            Dimension want = d.getPreferredSize();
            if (d.isResizable() && (d.getWidth() < want.width || d.getHeight() < want.height)) d.pack();
            fit(d);
        }, AWTEvent.WINDOW_EVENT_MASK);
    }

    /** {@code text} with each line longer than {@code columns} broken at spaces (a word longer than that stays whole). */
    public static String wrap(String text, int columns) {
        if (text == null) return null;
        StringBuilder out = new StringBuilder();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (i > 0) out.append('\n');
            int width = 0;
            String[] words = lines[i].split(" ", -1);
            for (int k = 0; k < words.length; k++) {
                String word = words[k];
                if (k > 0 && width > 0 && width + 1 + word.length() > columns) {
                    out.append('\n');
                    width = 0;
                } else if (k > 0) {
                    out.append(' ');
                    width++;
                }
                out.append(word);
                width += word.length();
            }
        }
        return out.toString();
    }

    public static String wrap(String text) { return wrap(text, COLUMNS); }
}

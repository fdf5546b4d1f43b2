package org.omniclas.fiji.ui;

import javax.swing.SwingUtilities;

/** Swing work from any thread. */
final class Edt {
    private Edt() {
    }

    /** Runs {@code r} on the event thread and waits for it; an exception it throws comes back unchecked. */
    static void runAndWait(Runnable r) {
        if (SwingUtilities.isEventDispatchThread()) {
            r.run();
            return;
        }
        try {
            SwingUtilities.invokeAndWait(r);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw new IllegalStateException(e.getCause());
        }
    }
}

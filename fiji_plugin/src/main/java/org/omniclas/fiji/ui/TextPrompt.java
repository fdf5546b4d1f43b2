package org.omniclas.fiji.ui;

import javax.swing.JDialog;
import javax.swing.JOptionPane;
import javax.swing.JTextField;
import java.awt.Component;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;

/**
 * Asks for one line of text, with the keyboard in the text field from the start (issue 22: with a window manager,
 * JOptionPane's own input dialog left *Add category*'s field without focus), the message wrapped and the dialog on
 * its screen. Returns the text, or null when cancelled.
 */
public final class TextPrompt {
    private TextPrompt() {}

    public static String ask(Component parent, String message, String title, String initial) {
        JTextField field = new JTextField(initial == null ? "" : initial, 25);
        field.setName("prompt");
        JOptionPane pane = new JOptionPane(new Object[]{ScreenFit.wrap(message), field}, JOptionPane.PLAIN_MESSAGE,
                JOptionPane.OK_CANCEL_OPTION);
        JDialog dialog = pane.createDialog(parent, title);
        // after JOptionPane's own listener, which hands the focus to its OK button when the dialog first gains it
        dialog.addWindowFocusListener(new WindowAdapter() {
            private boolean first = true;

            @Override public void windowGainedFocus(WindowEvent e) {
                if (!first) return;
                first = false;
                field.selectAll();
                field.requestFocusInWindow();
            }
        });
        field.addActionListener(e -> pane.setValue(JOptionPane.OK_OPTION)); // Enter answers OK
        ScreenFit.install();
        dialog.setVisible(true);
        dialog.dispose();
        Object value = pane.getValue();
        return value instanceof Integer && (Integer) value == JOptionPane.OK_OPTION ? field.getText() : null;
    }
}

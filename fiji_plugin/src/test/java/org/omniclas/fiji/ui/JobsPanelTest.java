package org.omniclas.fiji.ui;

import org.junit.Test;
import org.omniclas.fiji.client.HttpOmniClasClient;

import javax.swing.JTable;
import java.awt.Component;
import java.awt.Container;
import java.awt.FontMetrics;

import static org.junit.Assert.*;

/** The Jobs tab's table (built headless here; nothing is shown). */
public class JobsPanelTest {
    private static JTable find(Container root, String name) {
        for (Component c : root.getComponents()) {
            if (c instanceof JTable && name.equals(c.getName())) return (JTable) c;
            if (c instanceof Container) {
                JTable t = find((Container) c, name);
                if (t != null) return t;
            }
        }
        return null;
    }

    /** "cancelled (resumable)" was cut to "cancelled (re..." in a 90 px column. */
    @Test public void theStateColumnFitsItsLongestText() {
        JTable table = find(new JobsPanel(new HttpOmniClasClient("http://127.0.0.1:9", null)), "jobs");
        assertNotNull(table);
        FontMetrics fm = table.getFontMetrics(table.getFont());
        int width = table.getColumnModel().getColumn(1).getPreferredWidth();
        for (String text : new String[]{"cancelled (resumable)", "interrupted (resumable)"}) {
            int needed = fm.stringWidth(text) + 2 * table.getIntercellSpacing().width + 4; // cell insets
            assertTrue(text + " needs " + needed + " px, the column has " + width, width >= needed);
            assertTrue(table.getColumnModel().getColumn(1).getMinWidth() >= needed);
        }
    }
}

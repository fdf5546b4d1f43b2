package org.omniclas.fiji.ui;

import ij.Macro;
import ij.gui.GenericDialog;

import java.awt.GraphicsEnvironment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A {@link GenericDialog} that also works unattended. On a desktop it is a plain GenericDialog (so macros
 * replay it and the Recorder records it). Unattended (headless, where plain ImageJ 1.x cannot build any dialog;
 * batch mode; {@code ImageJ -batch}), no dialog opens: values come from the macro options, with the same keys
 * GenericDialog uses: the label up to its first space, lower case ("Model" → model, "All_open images" → all_open).
 */
public class Options {
    private final GenericDialog gd;
    private final Map<String, String> macro;
    private final List<Object[]> fields = new ArrayList<>(); // {kind, key, default}
    private final Map<String, Integer> next = new java.util.HashMap<>();
    private boolean wasCanceled;

    public Options(String title) {
        if (Reporter.unattended()) {
            gd = null;
            macro = parse(Macro.getOptions());
        } else {
            gd = new FittedDialog(title); // wraps long lines and opens on the screen
            macro = null;
        }
    }

    public static boolean isHeadless() { return GraphicsEnvironment.isHeadless(); }

    /** True when there is a real dialog (desktop). */
    public boolean isInteractive() { return gd != null; }

    /** The underlying dialog (desktop only), for buttons and help. */
    public GenericDialog dialog() { return gd; }

    public static String key(String label) {
        String k = label;
        int i = k.indexOf(' ');
        if (i > -1) k = k.substring(0, i);
        i = k.indexOf(':');
        if (i > -1) k = k.substring(0, i);
        return k.toLowerCase(Locale.US);
    }

    public void addString(String label, String dflt, int columns) {
        if (gd != null) gd.addStringField(label, dflt, columns);
        fields.add(new Object[]{"s", key(label), dflt});
    }

    public void addDirectory(String label, String dflt) {
        if (gd != null) gd.addDirectoryField(label, dflt, 40);
        fields.add(new Object[]{"s", key(label), dflt});
    }

    public void addFile(String label, String dflt) {
        if (gd != null) gd.addFileField(label, dflt, 40);
        fields.add(new Object[]{"s", key(label), dflt});
    }

    public void addChoice(String label, String[] items, String dflt) {
        if (gd != null) gd.addChoice(label, items, dflt);
        fields.add(new Object[]{"c", key(label), dflt});
    }

    public void addNumber(String label, double dflt, int digits) {
        if (gd != null) gd.addNumericField(label, dflt, digits);
        fields.add(new Object[]{"n", key(label), dflt});
    }

    public void addCheckbox(String label, boolean dflt) {
        if (gd != null) gd.addCheckbox(label, dflt);
        fields.add(new Object[]{"b", key(label), dflt});
    }

    /**
     * Several checkboxes in a grid (one key per label), under a bold heading. The heading is a message of its
     * own: as a GenericDialog group heading it would sit in the grid's first cell, and since a GridLayout makes
     * every column as wide as its widest cell, a long heading made the dialog wider than the screen.
     */
    public void addCheckboxGroup(int rows, int columns, String[] labels, boolean[] dflt, String heading) {
        if (gd != null) {
            if (heading != null && !heading.isEmpty()) gd.addMessage(heading, new java.awt.Font("SansSerif", java.awt.Font.BOLD, 12));
            gd.addCheckboxGroup(rows, columns, labels, dflt);
        }
        for (int i = 0; i < labels.length; i++) fields.add(new Object[]{"b", key(labels[i]), dflt[i]});
    }

    public void addMessage(String text) {
        if (gd != null) gd.addMessage(text);
    }

    /** @return false when cancelled */
    public boolean show() {
        if (gd == null) return true;
        gd.showDialog();
        wasCanceled = gd.wasCanceled();
        return !wasCanceled;
    }

    public boolean wasCanceled() { return wasCanceled; }

    private Object[] nextField(String kind) {
        Integer from = next.get(kind);
        int seen = 0;
        for (Object[] f : fields) {
            if (!f[0].equals(kind)) continue;
            if (seen++ == (from == null ? 0 : from)) {
                next.put(kind, seen);
                return f;
            }
        }
        throw new IllegalStateException("no more fields of kind " + kind);
    }

    // Values must be read in the order the fields were added, per kind, exactly like GenericDialog.

    public String nextString() {
        Object[] f = nextField("s");
        if (gd != null) return gd.getNextString();
        String v = macro.get(f[1]);
        return v == null ? (String) f[2] : v;
    }

    public String nextChoice() {
        Object[] f = nextField("c");
        if (gd != null) return gd.getNextChoice();
        String v = macro.get(f[1]);
        return v == null ? (String) f[2] : v;
    }

    public double nextNumber() {
        Object[] f = nextField("n");
        if (gd != null) return gd.getNextNumber();
        String v = macro.get(f[1]);
        if (v == null) return (Double) f[2];
        try {
            return Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("\"" + v + "\" is not a number (option " + f[1] + ")");
        }
    }

    public boolean nextBoolean() {
        Object[] f = nextField("b");
        if (gd != null) return gd.getNextBoolean();
        // headless: a flag given in the options means true; with no options at all, the default
        if (macro.isEmpty()) return (Boolean) f[2];
        return macro.containsKey(f[1]);
    }

    /** Parses "key=value key=[value with spaces] flag" like ImageJ macro options. */
    public static Map<String, String> parse(String options) {
        Map<String, String> out = new LinkedHashMap<>();
        if (options == null) return out;
        String s = options;
        int i = 0;
        int n = s.length();
        while (i < n) {
            while (i < n && Character.isWhitespace(s.charAt(i))) i++;
            if (i >= n) break;
            int start = i;
            while (i < n && !Character.isWhitespace(s.charAt(i)) && s.charAt(i) != '=') i++;
            String key = s.substring(start, i).toLowerCase(Locale.US);
            if (i < n && s.charAt(i) == '=') {
                i++;
                String value;
                if (i < n && s.charAt(i) == '[') {
                    int end = s.indexOf(']', i + 1);
                    if (end < 0) end = n;
                    value = s.substring(i + 1, end);
                    i = Math.min(n, end + 1);
                } else {
                    int vs = i;
                    while (i < n && !Character.isWhitespace(s.charAt(i))) i++;
                    value = s.substring(vs, i);
                }
                out.put(key, value);
            } else {
                out.put(key, "");
            }
        }
        return out;
    }
}

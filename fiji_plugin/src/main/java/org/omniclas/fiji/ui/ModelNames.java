package org.omniclas.fiji.ui;

import org.omniclas.fiji.client.Dto;

import javax.swing.JOptionPane;
import java.awt.Component;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Registering under a name that exists makes that model's next version: the wizard and the register dialogs say
 * so before it happens and offer another name. Also the model choices of the Classify dialogs, older versions
 * included ({@code name@N}, as the server takes them).
 */
public final class ModelNames {
    public static final String NEW_VERSION = "Make version %d";
    public static final String OTHER_NAME = "Choose another name";

    public enum Answer { NEW_VERSION, OTHER_NAME, CANCEL }

    /** The registry's name rule (python_server/omniclas/registry/layout.py NAME_RE; a test keeps them equal). */
    public static final String NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$";
    private static final java.util.regex.Pattern NAME = java.util.regex.Pattern.compile(NAME_PATTERN);
    public static final int MAX_LENGTH = 100;
    static final String SUFFIX = "_classifier";

    private ModelNames() {}

    /**
     * Why the registry would refuse {@code name}, or null when it takes it: "model name "my cells ü": ' ' and 'ü'
     * are not allowed; use 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit".
     */
    public static String problem(String name) {
        if (name == null || NAME.matcher(name).matches()) return null;
        String rule = "use 1-" + MAX_LENGTH + " letters, digits, '_', '-' or '.', starting with a letter or digit";
        if (name.isEmpty()) return "A model name is empty: " + rule + ".";
        java.util.Set<String> bad = new java.util.LinkedHashSet<>();
        name.codePoints().filter(c -> !(c < 128 && (Character.isLetterOrDigit(c) || c == '_' || c == '-' || c == '.')))
                .forEach(c -> bad.add("'" + new String(Character.toChars(c)) + "'"));
        String why = !bad.isEmpty() ? String.join(" and ", bad) + (bad.size() == 1 ? " is" : " are") + " not allowed"
                : name.length() > MAX_LENGTH ? "it is " + name.length() + " characters long"
                : "it starts with '" + name.charAt(0) + "'";
        return "The model name \"" + name + "\" cannot be registered: " + why + "; " + rule + ".";
    }

    /**
     * A name the registry takes for a dataset folder (or "model"): {@code my cells ü} -> {@code my_cells_classifier}
     * (the wizard, its Register dialog and Jobs › Register... alike).
     */
    public static String propose(String dataset) {
        String base = (dataset == null ? "" : dataset.trim()).replaceAll("[^A-Za-z0-9._-]+", "_")
                .replaceAll("^[^A-Za-z0-9]+|_+$", "");
        if (base.isEmpty()) base = "model";
        return base.substring(0, Math.min(base.length(), MAX_LENGTH - SUFFIX.length())) + SUFFIX;
    }

    /** {@code name} made valid: each run of other characters becomes one '_', a letter or digit first, at most {@code max} long. */
    public static String sanitize(String name, int max) {
        String s = (name == null ? "" : name.trim()).replaceAll("[^A-Za-z0-9._-]+", "_");
        if (s.isEmpty() || !Character.isLetterOrDigit(s.charAt(0))) s = "m" + s;
        return s.substring(0, Math.min(s.length(), max));
    }

    public static Dto.Model find(List<Dto.Model> models, String name) {
        if (models == null || name == null) return null;
        for (Dto.Model m : models) if (m.name.equals(name.trim())) return m;
        return null;
    }

    /** "A model named "cells" exists (version 2): registering makes version 3 of it.", or null for a new name. */
    public static String warning(List<Dto.Model> models, String name) {
        return warning(models, name, null);
    }

    /**
     * The same, and when the new model's {@code classes} (null: unknown) differ from the existing model's, says so:
     * a script that reads the name's classes would get other ones.
     */
    public static String warning(List<Dto.Model> models, String name, List<String> classes) {
        Dto.Model m = find(models, name);
        if (m == null) return null;
        int latest = m.latestVersion();
        String differ = classesDiffer(m, classes);
        return "A model named \"" + m.name + "\" exists (version " + latest + "): registering makes version "
                + (latest + 1) + " of it." + differ + " Choose another name to keep them apart.";
    }

    /** " Its classes differ: version 2 has A, B, C; this model has A, B." or "" (the same, or not known). */
    public static String classesDiffer(Dto.Model existing, List<String> classes) {
        if (existing == null || classes == null || classes.isEmpty() || existing.classes == null
                || existing.classes.isEmpty() || existing.classes.equals(classes)) return "";
        return " Its classes differ: version " + existing.latestVersion() + " has " + String.join(", ", existing.classes)
                + "; this model has " + String.join(", ", classes) + ".";
    }

    /** {@code name_2}, {@code name_3}, ... whichever no model has. */
    public static String freeName(List<Dto.Model> models, String name) {
        for (int i = 2; ; i++) {
            String candidate = name + "_" + i;
            if (find(models, candidate) == null) return candidate;
        }
    }

    /** Asks (from any thread) whether to register as the next version of an existing model; NEW_VERSION when new. */
    public static Answer ask(Component parent, List<Dto.Model> models, String name) {
        return ask(parent, models, name, null);
    }

    /** The same, saying also when the new model's {@code classes} differ from the existing model's. */
    public static Answer ask(Component parent, List<Dto.Model> models, String name, List<String> classes) {
        Dto.Model m = find(models, name);
        if (m == null) return Answer.NEW_VERSION;
        String[] buttons = {String.format(NEW_VERSION, m.latestVersion() + 1), OTHER_NAME, "Cancel"};
        AtomicInteger answer = new AtomicInteger(-1);
        Edt.runAndWait(() -> answer.set(JOptionPane.showOptionDialog(parent, ScreenFit.wrap(warning(models, name, classes)), "Model name in use",
                JOptionPane.DEFAULT_OPTION, JOptionPane.WARNING_MESSAGE, null, buttons, buttons[1])));
        return answer.get() == 0 ? Answer.NEW_VERSION : answer.get() == 1 ? Answer.OTHER_NAME : Answer.CANCEL;
    }

    /** The Classify dialogs' choices: each model by name (its latest version), then its older versions as name@N. */
    public static String[] choices(List<Dto.Model> models) {
        List<String> out = new ArrayList<>();
        for (Dto.Model m : models) {
            out.add(m.name);
            if (m.versions == null) continue;
            for (int i = m.versions.size() - 2; i >= 0; i--) out.add(m.name + "@" + m.versions.get(i));
        }
        return out.toArray(new String[0]);
    }
}

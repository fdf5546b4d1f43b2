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

    private ModelNames() {}

    public static Dto.Model find(List<Dto.Model> models, String name) {
        if (models == null || name == null) return null;
        for (Dto.Model m : models) if (m.name.equals(name.trim())) return m;
        return null;
    }

    /** "A model named "cells" exists (version 2): registering makes version 3 of it.", or null for a new name. */
    public static String warning(List<Dto.Model> models, String name) {
        Dto.Model m = find(models, name);
        if (m == null) return null;
        int latest = m.latestVersion();
        return "A model named \"" + m.name + "\" exists (version " + latest + "): registering makes version "
                + (latest + 1) + " of it. Choose another name to keep them apart.";
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
        Dto.Model m = find(models, name);
        if (m == null) return Answer.NEW_VERSION;
        String[] buttons = {String.format(NEW_VERSION, m.latestVersion() + 1), OTHER_NAME, "Cancel"};
        AtomicInteger answer = new AtomicInteger(-1);
        Edt.runAndWait(() -> answer.set(JOptionPane.showOptionDialog(parent, ScreenFit.wrap(warning(models, name)), "Model name in use",
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

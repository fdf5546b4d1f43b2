package org.omniclas.fiji.dataset;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Keys 1-9 of the labelling window. A key, once given to a category, stays with it (through renames) until the
 * category is deleted; a new category gets the lowest free key. Categories found when a dataset is first opened
 * get keys in alphabetical order. One instance per dataset folder for the life of the JVM, so reopening the
 * labelling window keeps the keys. No Swing.
 */
public final class CategoryKeys {
    public static final int KEYS = 9;
    private static final Map<Path, CategoryKeys> BY_DATASET = new HashMap<>();

    private final String[] slots = new String[KEYS]; // slots[k - 1] = category of key k

    public static synchronized CategoryKeys of(Path datasetRoot) {
        return BY_DATASET.computeIfAbsent(datasetRoot.toAbsolutePath().normalize(), k -> new CategoryKeys());
    }

    /**
     * Brings the keys up to date with the category folders: a category that is gone frees its key, a new one
     * takes the lowest free key (new ones in the order given).
     */
    public synchronized void sync(List<String> categories) {
        for (int i = 0; i < KEYS; i++) if (slots[i] != null && !categories.contains(slots[i])) slots[i] = null;
        for (String c : categories) {
            if (keyOf(c) != 0) continue;
            for (int i = 0; i < KEYS; i++) {
                if (slots[i] == null) {
                    slots[i] = c;
                    break;
                }
            }
        }
    }

    /** A renamed category keeps its key. */
    public synchronized void renamed(String oldName, String newName) {
        for (int i = 0; i < KEYS; i++) if (oldName.equals(slots[i])) slots[i] = newName;
    }

    /** The key (1-9) of a category, 0 when it has none. */
    public synchronized int keyOf(String category) {
        for (int i = 0; i < KEYS; i++) if (slots[i] != null && slots[i].equals(category)) return i + 1;
        return 0;
    }

    /** The category of key 1-9, or null. */
    public synchronized String category(int key) {
        return key >= 1 && key <= KEYS ? slots[key - 1] : null;
    }

    /** The categories in key order; those without a key follow alphabetically. */
    public synchronized List<String> ordered(List<String> categories) {
        List<String> out = new ArrayList<>();
        for (String s : slots) if (s != null && categories.contains(s)) out.add(s);
        List<String> rest = new ArrayList<>();
        for (String c : categories) if (!out.contains(c)) rest.add(c);
        Collections.sort(rest, String.CASE_INSENSITIVE_ORDER);
        out.addAll(rest);
        return out;
    }
}

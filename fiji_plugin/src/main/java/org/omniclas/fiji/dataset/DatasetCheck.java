package org.omniclas.fiji.dataset;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * What the server will find in a dataset folder, checked before a training job is sent, with the server's own
 * rules (python_server/omniclas/data/dataset.py): at least two class folders, none empty, each with enough
 * images to hold out test and validation images (3, or 2 when {@code test/} exists), test classes matching the
 * training classes, and unlabelled images for the processes that distil. Reads only; changes nothing.
 */
public final class DatasetCheck {
    /** Image types the server trains on (a GIF can be labelled in Fiji but is not read for training). */
    public static final Set<String> TRAINING_EXTENSIONS = Collections.unmodifiableSet(new HashSet<>(Arrays.asList(
            "png", "jpg", "jpeg", "tif", "tiff", "bmp")));

    public final Path root;
    /** Training images per class folder, by name (sorted, case-insensitively). */
    public final Map<String, Integer> classes = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    public final int unlabelled;
    /** Test images per test class folder; null when there is no {@code test/} folder. */
    public final Map<String, Integer> test;
    private final List<String> layoutErrors = new ArrayList<>();

    private DatasetCheck(Path root, int unlabelled, Map<String, Integer> test) {
        this.root = root;
        this.unlabelled = unlabelled;
        this.test = test;
    }

    /** Scans {@code root}: {@code <class>/<image>}, {@code unlabelled/<image>}, {@code test/<class>/<image>}. */
    public static DatasetCheck of(Path root) throws IOException {
        Path r = root.toAbsolutePath().normalize();
        if (!Files.isDirectory(r)) {
            DatasetCheck c = new DatasetCheck(r, 0, null);
            c.layoutErrors.add(Files.exists(r) ? "The dataset path is not a folder: " + r : "The dataset folder does not exist: " + r);
            return c;
        }
        Map<String, Integer> test = null;
        Path testDir = r.resolve("test");
        if (Files.isDirectory(testDir)) {
            test = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            for (Path d : classDirs(testDir)) test.put(d.getFileName().toString(), count(d));
        }
        DatasetCheck c = new DatasetCheck(r, count(r.resolve(DatasetFolder.UNLABELLED)), test);
        for (Path d : classDirs(r)) {
            String name = d.getFileName().toString();
            if (!DatasetFolder.RESERVED.contains(name.toLowerCase(Locale.ROOT))) c.classes.put(name, count(d));
        }
        return c;
    }

    /** Images that count for training: the server's extensions, no hidden files. */
    public static boolean isTrainingImage(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return !n.startsWith(".") && dot > 0 && TRAINING_EXTENSIONS.contains(n.substring(dot + 1).toLowerCase(Locale.ROOT))
                && Files.isRegularFile(p);
    }

    private static int count(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return 0;
        int n = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) if (isTrainingImage(p)) n++;
        }
        return n;
    }

    private static List<Path> classDirs(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) if (Files.isDirectory(p) && !p.getFileName().toString().startsWith(".")) out.add(p);
        }
        Collections.sort(out);
        return out;
    }

    public int labelled() {
        int n = 0;
        for (int c : classes.values()) n += c;
        return n;
    }

    /** Images each class needs so the server can hold out test and validation images. */
    public int minimumPerClass() { return test == null ? 3 : 2; }

    /**
     * Why the server would refuse this dataset, one sentence each naming the folder or class; empty when it is fine.
     * @param needsUnlabelled whether the chosen process distils (needs {@code unlabelled/} images)
     */
    public List<String> errors(boolean needsUnlabelled) {
        List<String> out = new ArrayList<>(layoutErrors);
        if (!layoutErrors.isEmpty()) return out;
        if (classes.isEmpty()) {
            out.add("No class folders in " + root + ": label images first (Label Images...), or make one sub-folder per class.");
            return out;
        }
        List<String> empty = new ArrayList<>();
        for (Map.Entry<String, Integer> e : classes.entrySet()) {
            if (e.getValue() == 0) empty.add(e.getKey());
        }
        if (!empty.isEmpty()) {
            out.add((empty.size() == 1 ? "Class folder \"" + empty.get(0) + "\" is empty" : "Class folders \"" + String.join("\", \"", empty) + "\" are empty")
                    + " (no PNG, JPEG, TIFF or BMP images): label images into " + (empty.size() == 1 ? "it" : "them")
                    + ", or delete " + (empty.size() == 1 ? "the category" : "those categories") + ".");
        }
        if (classes.size() < 2) {
            out.add("Only one class (\"" + classes.keySet().iterator().next() + "\"): a classifier needs at least two.");
        }
        int need = minimumPerClass();
        for (Map.Entry<String, Integer> e : classes.entrySet()) {
            int n = e.getValue();
            if (n > 0 && n < need) {
                out.add("Class \"" + e.getKey() + "\" has " + n + (n == 1 ? " image" : " images") + "; at least " + need
                        + " are needed to hold out " + (test == null ? "test and validation" : "validation") + " images.");
            }
        }
        if (test != null) {
            int total = 0;
            for (Map.Entry<String, Integer> e : test.entrySet()) {
                total += e.getValue();
                if (!classes.containsKey(e.getKey())) {
                    out.add("Test class folder test/" + e.getKey() + " has no matching class; expected one of " + classes.keySet() + ".");
                }
            }
            if (total == 0) out.add("The test/ folder holds no images.");
        }
        if (needsUnlabelled && unlabelled == 0) {
            out.add("This process labels unlabelled images, and " + root.resolve(DatasetFolder.UNLABELLED)
                    + " has none: choose N.D. (nd), or copy unlabelled images in (Label Images...).");
        }
        return out;
    }

    /** "40 labelled images in 3 classes (A 10, B 20, C 10), 596 unlabelled". */
    public String summary() {
        if (!layoutErrors.isEmpty()) return layoutErrors.get(0);
        StringBuilder sb = new StringBuilder();
        sb.append(labelled()).append(" labelled images in ").append(classes.size()).append(classes.size() == 1 ? " class" : " classes");
        if (!classes.isEmpty()) {
            List<String> parts = new ArrayList<>();
            for (Map.Entry<String, Integer> e : classes.entrySet()) parts.add(e.getKey() + " " + e.getValue());
            sb.append(" (").append(String.join(", ", parts)).append(")");
        }
        sb.append(", ").append(unlabelled).append(" unlabelled");
        if (test != null) sb.append(", a test/ folder");
        return sb.toString();
    }

    /**
     * True when {@code dataset} lies under one of {@code roots} (symlinks followed where the paths exist, like the
     * server), or when no root is known.
     */
    public static boolean underRoots(Path dataset, List<Path> roots) {
        if (roots == null || roots.isEmpty()) return true;
        Path d = real(dataset);
        for (Path root : roots) {
            Path r = real(root);
            if (d.equals(r) || d.startsWith(r)) return true;
        }
        return false;
    }

    private static Path real(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        try {
            return abs.toRealPath();
        } catch (IOException e) {
            return abs;
        }
    }
}

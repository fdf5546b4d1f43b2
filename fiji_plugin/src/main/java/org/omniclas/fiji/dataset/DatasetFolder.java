package org.omniclas.fiji.dataset;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.HashMap;
import java.util.Map;
import java.util.Locale;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * An OmniClas dataset folder: {@code <root>/<class>/<image>} plus {@code <root>/unlabelled/<image>}.
 * All moves are renames within the folder ({@link StandardCopyOption#ATOMIC_MOVE} where the file system
 * allows), never overwrite (a clash gets a unique name) and can be undone batch by batch.
 * Methods are synchronized, so a background import and the window's moves do not interleave.
 */
public class DatasetFolder {
    public static final String UNLABELLED = "unlabelled";
    /** Folder names that cannot be categories. */
    public static final Set<String> RESERVED = Collections.unmodifiableSet(
            new HashSet<>(Arrays.asList(UNLABELLED, "test")));
    public static final Set<String> IMAGE_EXTENSIONS = Collections.unmodifiableSet(new HashSet<>(Arrays.asList(
            "png", "jpg", "jpeg", "tif", "tiff", "bmp", "gif")));
    public static final int MAX_UNDO = 100;

    /** One file move (from → to). */
    public static final class Move {
        public final Path from;
        public final Path to;
        Move(Path from, Path to) { this.from = from; this.to = to; }
    }

    /** One undoable step: file moves, and the category folders the step created (removed again by undo when empty). */
    private static final class Batch {
        final List<Move> moves = new ArrayList<>();
        final List<Path> createdDirs = new ArrayList<>();
        boolean isEmpty() { return moves.isEmpty() && createdDirs.isEmpty(); }
    }

    private final Path root;
    private final Deque<Batch> undo = new ArrayDeque<>();

    public DatasetFolder(Path root) throws IOException {
        this.root = root.toAbsolutePath().normalize();
        Files.createDirectories(this.root.resolve(UNLABELLED));
    }

    public Path getRoot() { return root; }
    public Path unlabelledDir() { return root.resolve(UNLABELLED); }

    // ---------------------------------------------------------------- queries

    public static boolean isImage(Path p) {
        String n = p.getFileName().toString();
        if (n.startsWith(".")) return false;
        int dot = n.lastIndexOf('.');
        return dot > 0 && IMAGE_EXTENSIONS.contains(n.substring(dot + 1).toLowerCase(Locale.ROOT))
                && Files.isRegularFile(p);
    }

    /** Category names (sub folders except unlabelled/, test/ and hidden ones), sorted. */
    public synchronized List<String> categories() throws IOException {
        List<String> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (Files.isDirectory(p) && !n.startsWith(".") && !RESERVED.contains(n.toLowerCase(Locale.ROOT))) {
                    out.add(n);
                }
            }
        }
        Collections.sort(out, String.CASE_INSENSITIVE_ORDER);
        return out;
    }

    /** Folder of a category; null or "unlabelled" mean the unlabelled folder. */
    public Path dirOf(String category) {
        return category == null || UNLABELLED.equals(category) ? unlabelledDir() : root.resolve(category);
    }

    /** Images of one category (null = unlabelled), sorted by name. */
    public synchronized List<Path> images(String category) throws IOException {
        Path dir = dirOf(category);
        if (!Files.isDirectory(dir)) return new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(DatasetFolder::isImage).sorted().collect(Collectors.toList());
        }
    }

    public synchronized int count(String category) throws IOException {
        return images(category).size();
    }

    /** All images: unlabelled ones first, then each category. */
    public synchronized List<Path> allImages() throws IOException {
        List<Path> out = new ArrayList<>(images(null));
        for (String c : categories()) out.addAll(images(c));
        return out;
    }

    /** The category an image lies in, null when it is unlabelled or outside the dataset. */
    public String categoryOf(Path image) {
        Path parent = image.toAbsolutePath().normalize().getParent();
        if (parent == null || !root.equals(parent.getParent())) return null;
        String n = parent.getFileName().toString();
        return UNLABELLED.equals(n) ? null : n;
    }

    // ---------------------------------------------------------------- names

    /** @return null if {@code name} is a valid new category name, else a message saying why not. */
    public static String validateName(String name, Collection<String> existing) {
        if (name == null || name.trim().isEmpty()) return "The category name is empty.";
        if (!name.equals(name.trim())) return "The category name must not start or end with spaces.";
        if (name.contains("/") || name.contains("\\") || name.contains(java.io.File.separator))
            return "The category name must not contain / or \\.";
        if (name.equals(".") || name.contains("..")) return "The category name must not contain \"..\".";
        if (name.startsWith(".")) return "The category name must not start with a dot.";
        for (char c : name.toCharArray()) {
            if (c < 32 || "<>:\"|?*".indexOf(c) >= 0) return "The category name must not contain <>:\"|?* or control characters.";
        }
        if (RESERVED.contains(name.toLowerCase(Locale.ROOT))) return "\"" + name + "\" is reserved.";
        if (name.length() > 100) return "The category name is too long (100 characters at most).";
        if (existing != null) {
            for (String e : existing) {
                if (e.equalsIgnoreCase(name)) return "A category named \"" + e + "\" already exists.";
            }
        }
        return null;
    }

    private void checkName(String name, Collection<String> existing) {
        String why = validateName(name, existing);
        if (why != null) throw new IllegalArgumentException(why);
    }

    private void checkCategory(String category) throws IOException {
        if (category == null || UNLABELLED.equals(category)) return;
        if (!categories().contains(category)) throw new IllegalArgumentException("No category named \"" + category + "\".");
    }

    // ---------------------------------------------------------------- categories

    public synchronized Path createCategory(String name) throws IOException {
        checkName(name, categories());
        return Files.createDirectory(root.resolve(name));
    }

    /** Renames the category folder; the undo history follows the new name. */
    public synchronized Path renameCategory(String oldName, String newName) throws IOException {
        checkCategory(oldName);
        if (oldName == null || UNLABELLED.equals(oldName)) throw new IllegalArgumentException("\"unlabelled\" cannot be renamed.");
        List<String> others = new ArrayList<>(categories());
        others.remove(oldName);
        checkName(newName, others);
        Path from = root.resolve(oldName);
        Path to = root.resolve(newName);
        if (oldName.equalsIgnoreCase(newName)) {
            // case-only change: go through a temporary name so case-insensitive file systems cope
            Path tmp = uniqueTarget(root, "." + newName + ".renaming");
            renameAtomic(from, tmp);
            renameAtomic(tmp, to);
        } else {
            if (Files.exists(to)) throw new FileAlreadyExistsException(to.toString());
            renameAtomic(from, to);
        }
        for (Batch batch : undo) {
            for (int i = 0; i < batch.moves.size(); i++) {
                Move m = batch.moves.get(i);
                batch.moves.set(i, new Move(rebase(m.from, from, to), rebase(m.to, from, to)));
            }
            batch.createdDirs.replaceAll(d -> rebase(d, from, to));
        }
        return to;
    }

    private static Path rebase(Path p, Path oldDir, Path newDir) {
        return p.startsWith(oldDir) ? newDir.resolve(oldDir.relativize(p)) : p;
    }

    /**
     * Deletes a category: its images go back to unlabelled/ (one undoable batch), then the folder is removed.
     * @return the number of images moved back
     */
    public synchronized int deleteCategory(String name) throws IOException {
        if (name == null || UNLABELLED.equals(name)) throw new IllegalArgumentException("\"unlabelled\" cannot be deleted.");
        checkCategory(name);
        Path dir = root.resolve(name);
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.collect(Collectors.toList());
        }
        for (Path f : files) {
            if (Files.isDirectory(f)) throw new IOException("Category folder " + dir + " contains sub folders; remove them first.");
        }
        Batch batch = new Batch();
        for (Path f : files) {
            if (isImage(f)) batch.moves.add(new Move(f, moveNoClobber(f, unlabelledDir())));
        }
        try (Stream<Path> s = Files.list(dir)) {
            if (s.findAny().isPresent()) {
                pushUndo(batch);
                throw new IOException("Category folder " + dir + " still holds files that are not images; it was kept.");
            }
        }
        Files.delete(dir);
        pushUndo(batch);
        return batch.moves.size();
    }

    // ---------------------------------------------------------------- moves

    /** Moves one image into a category (null/"unlabelled" = back to unlabelled). */
    public Path move(Path image, String category) throws IOException {
        return moveAll(Collections.singletonList(image), category).get(0);
    }

    /** Moves images into a category as one undoable batch. Images already there stay put. */
    public synchronized List<Path> moveAll(List<Path> images, String category) throws IOException {
        checkCategory(category);
        Batch batch = new Batch();
        try {
            return moveInto(images, category, batch);
        } finally {
            pushUndo(batch); // even a partly done batch can be undone
        }
    }

    /**
     * Moves each group of images into its category (null = unlabelled) as ONE undoable batch, creating the
     * categories that do not exist yet; undo moves the images back and removes those new folders again.
     * @return where each image went (images already in place map to themselves)
     */
    public synchronized Map<Path, Path> assign(Map<String, List<Path>> byCategory) throws IOException {
        List<String> existing = categories();
        for (String c : byCategory.keySet()) {
            if (c != null && !UNLABELLED.equals(c) && !existing.contains(c)) checkName(c, existing);
        }
        Batch batch = new Batch();
        Map<Path, Path> result = new java.util.LinkedHashMap<>();
        try {
            for (Map.Entry<String, List<Path>> e : byCategory.entrySet()) {
                String c = e.getKey();
                if (c != null && !UNLABELLED.equals(c) && !existing.contains(c)) {
                    batch.createdDirs.add(Files.createDirectory(root.resolve(c)));
                    existing = categories();
                }
                List<Path> to = moveInto(e.getValue(), c, batch);
                for (int i = 0; i < to.size(); i++) result.put(e.getValue().get(i), to.get(i));
            }
        } finally {
            pushUndo(batch);
        }
        return result;
    }

    private List<Path> moveInto(List<Path> images, String category, Batch batch) throws IOException {
        Path dir = dirOf(category);
        Files.createDirectories(dir);
        List<Path> result = new ArrayList<>();
        for (Path img : images) {
            Path src = img.toAbsolutePath().normalize();
            if (!src.startsWith(root)) throw new IllegalArgumentException(src + " is not inside the dataset " + root);
            if (!Files.isRegularFile(src)) throw new java.nio.file.NoSuchFileException(src.toString());
            if (dir.equals(src.getParent())) {
                result.add(src);
                continue;
            }
            Path dst = moveNoClobber(src, dir);
            batch.moves.add(new Move(src, dst));
            result.add(dst);
        }
        return result;
    }

    public synchronized boolean canUndo() { return !undo.isEmpty(); }

    /**
     * Undoes the last batch: moves its images back and removes the category folders it created, where they are
     * empty again. @return the moves done by the undo (from = where it was, to = restored path)
     */
    public synchronized List<Move> undo() throws IOException {
        Batch batch = undo.pollFirst();
        if (batch == null) return Collections.emptyList();
        List<Move> done = new ArrayList<>();
        for (int i = batch.moves.size() - 1; i >= 0; i--) {
            Move m = batch.moves.get(i);
            if (!Files.exists(m.to)) continue; // moved or deleted by someone else meanwhile
            Path targetDir = m.from.getParent();
            Files.createDirectories(targetDir);
            Path restored = moveNoClobber(m.to, targetDir, m.from.getFileName().toString());
            done.add(new Move(m.to, restored));
        }
        for (Path dir : batch.createdDirs) {
            if (Files.isDirectory(dir) && isEmptyDir(dir)) Files.delete(dir); // a folder holding anything stays
        }
        return done;
    }

    private static boolean isEmptyDir(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return !s.findAny().isPresent();
        }
    }

    private void pushUndo(Batch batch) {
        if (batch.isEmpty()) return;
        undo.addFirst(batch);
        while (undo.size() > MAX_UNDO) undo.removeLast();
    }

    // ---------------------------------------------------------------- import

    /** What an import did: how many images it copied, and the files it left out as unreadable ("NAME: reason"). */
    public static final class Import {
        public final int copied;
        public final List<String> unreadable;
        Import(int copied, List<String> unreadable) {
            this.copied = copied;
            this.unreadable = Collections.unmodifiableList(unreadable);
        }

        /** "12 image(s) copied into unlabelled/." plus, when some were left out, which and why. */
        public String summary() {
            String s = copied + " image(s) copied into " + UNLABELLED + "/.";
            if (unreadable.isEmpty()) return s;
            return s + " " + unreadable.size() + (unreadable.size() == 1 ? " file was" : " files were")
                    + " not copied, as " + (unreadable.size() == 1 ? "it is not a readable image" : "they are not readable images")
                    + ":\n" + String.join("\n", unreadable);
        }
    }

    /**
     * Copies the images of {@code source} (not its sub folders) into unlabelled/. Source files are only read.
     * Images whose exact bytes already lie somewhere in the dataset (any category) are skipped, so importing
     * the same folder twice does not duplicate anything; files that are not readable images are left out and named.
     */
    public Import importFrom(Path source) throws IOException {
        return importFrom(source, ImageFiles::problem);
    }

    /** @param problem why a file is not a readable image, or null when it is */
    public synchronized Import importFrom(Path source, Function<Path, String> problem) throws IOException {
        Path src = source.toAbsolutePath().normalize();
        if (src.equals(root) || src.startsWith(root)) throw new IllegalArgumentException("The source folder lies inside the dataset folder.");
        Map<Long, List<Path>> bySize = new HashMap<>();
        for (Path p : allImages()) bySize.computeIfAbsent(Files.size(p), k -> new ArrayList<>()).add(p);
        List<Path> files;
        try (Stream<Path> s = Files.list(src)) { // every file but hidden ones: a readme.txt is named, not passed over
            files = s.filter(p -> Files.isRegularFile(p) && !p.getFileName().toString().startsWith("."))
                    .sorted().collect(Collectors.toList());
        }
        int copied = 0;
        List<String> unreadable = new ArrayList<>();
        for (Path f : files) {
            if (!isImage(f)) {
                unreadable.add(f.getFileName() + ": not an image (" + String.join(", ", new java.util.TreeSet<>(IMAGE_EXTENSIONS)) + ")");
                continue;
            }
            if (alreadyThere(f, bySize)) continue;
            String why = problem.apply(f);
            if (why != null) {
                unreadable.add(f.getFileName() + ": " + why);
                continue;
            }
            Path dst = uniqueTarget(unlabelledDir(), f.getFileName().toString());
            try {
                Files.copy(f, dst, StandardCopyOption.COPY_ATTRIBUTES); // fails rather than overwrite
            } catch (FileAlreadyExistsException race) {
                dst = uniqueTarget(unlabelledDir(), f.getFileName().toString());
                Files.copy(f, dst, StandardCopyOption.COPY_ATTRIBUTES);
            }
            bySize.computeIfAbsent(Files.size(dst), k -> new ArrayList<>()).add(dst);
            copied++;
        }
        return new Import(copied, unreadable);
    }

    /** True when a file with the same bytes already lies somewhere in the dataset. */
    private static boolean alreadyThere(Path f, Map<Long, List<Path>> bySize) throws IOException {
        List<Path> same = bySize.get(Files.size(f));
        if (same == null) return false;
        byte[] a = Files.readAllBytes(f);
        for (Path p : same) {
            if (Arrays.equals(a, Files.readAllBytes(p))) return true;
        }
        return false;
    }

    // ---------------------------------------------------------------- low level

    /** {@code dir/name}, or {@code dir/stem_1.ext}, {@code stem_2.ext}, ... whichever does not exist. */
    public static Path uniqueTarget(Path dir, String name) {
        Path p = dir.resolve(name);
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return p;
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        String ext = dot > 0 ? name.substring(dot) : "";
        for (int i = 1; ; i++) {
            p = dir.resolve(stem + "_" + i + ext);
            if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return p;
        }
    }

    private static Path moveNoClobber(Path src, Path dir) throws IOException {
        return moveNoClobber(src, dir, src.getFileName().toString());
    }

    private static Path moveNoClobber(Path src, Path dir, String name) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path dst = uniqueTarget(dir, name);
            try {
                renameAtomic(src, dst);
                return dst;
            } catch (FileAlreadyExistsException e) {
                if (attempt > 10) throw e; // someone keeps creating files here
            }
        }
    }

    /**
     * Atomic rename that does not replace an existing target. ATOMIC_MOVE on POSIX would silently replace
     * a target appearing between our check and the rename, so the target is checked right before;
     * where atomic moves are not supported (other file store), a plain non-replacing move is used.
     */
    static void renameAtomic(Path src, Path dst) throws IOException {
        if (Files.exists(dst, java.nio.file.LinkOption.NOFOLLOW_LINKS)) throw new FileAlreadyExistsException(dst.toString());
        try {
            Files.move(src, dst, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(src, dst); // without REPLACE_EXISTING: fails if dst exists
        }
    }
}

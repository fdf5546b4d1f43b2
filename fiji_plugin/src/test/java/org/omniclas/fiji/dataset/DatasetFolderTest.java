package org.omniclas.fiji.dataset;

import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import static org.junit.Assert.*;

public class DatasetFolderTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();
    private Path root;
    private DatasetFolder ds;

    @Before public void setUp() throws IOException {
        root = tmp.newFolder("dataset").toPath();
        ds = new DatasetFolder(root);
    }

    private Path img(String dir, String name, String content) throws IOException {
        Path d = root.resolve(dir);
        Files.createDirectories(d);
        return Files.write(d.resolve(name), content.getBytes(StandardCharsets.UTF_8));
    }

    private static String read(Path p) throws IOException {
        return new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
    }

    @Test public void layoutAndListing() throws IOException {
        assertTrue(Files.isDirectory(root.resolve("unlabelled")));
        img("unlabelled", "a.png", "a");
        img("unlabelled", "notes.txt", "x");
        img("B", "b.tif", "b");
        Files.createDirectories(root.resolve("test"));
        Files.createDirectories(root.resolve(".hidden"));
        assertEquals(Collections.singletonList("B"), ds.categories());
        assertEquals(1, ds.count(null));
        assertEquals(1, ds.count("B"));
        assertEquals(2, ds.allImages().size());
        assertEquals("B", ds.categoryOf(root.resolve("B/b.tif")));
        assertNull(ds.categoryOf(root.resolve("unlabelled/a.png")));
    }

    @Test public void nameValidation() {
        List<String> existing = Arrays.asList("Cells", "Debris");
        assertNull(DatasetFolder.validateName("Nuclear GFP", existing));
        assertNull(DatasetFolder.validateName("class_1-b", existing));
        for (String bad : new String[]{"", "  ", "a/b", "a\\b", "..", "a..b", ".", ".hidden", "unlabelled", "Unlabelled",
                "test", "TEST", "cells", "Debris", " x", "x ", "a:b", "a*b", "a\u0001"}) {
            assertNotNull("should reject [" + bad + "]", DatasetFolder.validateName(bad, existing));
        }
        assertNotNull(DatasetFolder.validateName(null, existing));
    }

    @Test public void createRejectsInvalid() throws IOException {
        ds.createCategory("A");
        try {
            ds.createCategory("../evil");
            fail();
        } catch (IllegalArgumentException expected) { /* ok */ }
        try {
            ds.createCategory("a");
            fail();
        } catch (IllegalArgumentException expected) { /* duplicate, case-insensitive */ }
        assertFalse(Files.exists(root.getParent().resolve("evil")));
        assertEquals(Collections.singletonList("A"), ds.categories());
    }

    @Test public void moveAndUndo() throws IOException {
        Path a = img("unlabelled", "a.png", "a");
        Path b = img("unlabelled", "b.png", "b");
        ds.createCategory("X");
        List<Path> moved = ds.moveAll(Arrays.asList(a, b), "X");
        assertEquals(root.resolve("X/a.png"), moved.get(0));
        assertFalse(Files.exists(a));
        assertEquals(2, ds.count("X"));
        assertTrue(ds.canUndo());
        List<DatasetFolder.Move> undone = ds.undo();
        assertEquals(2, undone.size());
        assertEquals("a", read(a));
        assertEquals("b", read(b));
        assertEquals(0, ds.count("X"));
        assertFalse(ds.canUndo());
        assertTrue(ds.undo().isEmpty());
    }

    @Test public void unassignGoesBackToUnlabelled() throws IOException {
        Path a = img("X", "a.png", "a");
        Path back = ds.move(a, null);
        assertEquals(root.resolve("unlabelled/a.png"), back);
        Path again = ds.move(back, "unlabelled"); // already there: stays
        assertEquals(back, again);
    }

    @Test public void collisionsGetUniqueNamesNeverOverwrite() throws IOException {
        img("X", "a.png", "old");
        Path a = img("unlabelled", "a.png", "new");
        Path moved = ds.move(a, "X");
        assertEquals(root.resolve("X/a_1.png"), moved);
        assertEquals("old", read(root.resolve("X/a.png")));
        assertEquals("new", read(moved));
        Path a2 = img("unlabelled", "a.png", "newer");
        assertEquals(root.resolve("X/a_2.png"), ds.move(a2, "X"));
        // undo of a move whose origin name got taken meanwhile: unique name again
        img("unlabelled", "a.png", "squatter");
        Path restored = ds.undo().get(0).to;
        assertEquals(root.resolve("unlabelled/a_1.png"), restored);
        assertEquals("newer", read(restored));
        assertEquals("squatter", read(root.resolve("unlabelled/a.png")));
    }

    @Test public void renameCategoryRenamesFolderAndKeepsUndo() throws IOException {
        Path a = img("unlabelled", "a.png", "a");
        ds.createCategory("Old");
        ds.move(a, "Old");
        Path renamed = ds.renameCategory("Old", "New");
        assertEquals(root.resolve("New"), renamed);
        assertFalse(Files.exists(root.resolve("Old")));
        assertEquals("a", read(root.resolve("New/a.png")));
        assertEquals(Collections.singletonList("New"), ds.categories());
        ds.undo(); // the move recorded under Old/ follows the rename
        assertEquals("a", read(a));
        assertEquals(0, ds.count("New"));
    }

    @Test public void renameCaseOnlyAndRejects() throws IOException {
        ds.createCategory("cells");
        ds.createCategory("Other");
        ds.renameCategory("cells", "Cells");
        assertTrue(ds.categories().contains("Cells"));
        try {
            ds.renameCategory("Cells", "other");
            fail();
        } catch (IllegalArgumentException expected) { /* clash */ }
        try {
            ds.renameCategory("Cells", "unlabelled");
            fail();
        } catch (IllegalArgumentException expected) { /* reserved */ }
        try {
            ds.renameCategory("Nope", "Yes");
            fail();
        } catch (IllegalArgumentException expected) { /* unknown */ }
    }

    @Test public void deleteCategoryMovesImagesBackAndIsUndoable() throws IOException {
        img("X", "a.png", "a");
        img("unlabelled", "a.png", "other");
        assertEquals(1, ds.deleteCategory("X"));
        assertFalse(Files.exists(root.resolve("X")));
        assertEquals(2, ds.count(null));
        assertEquals("a", read(root.resolve("unlabelled/a_1.png")));
        ds.undo();
        assertEquals("a", read(root.resolve("X/a.png")));
        assertEquals("other", read(root.resolve("unlabelled/a.png")));
    }

    @Test public void deleteKeepsFolderWithForeignFiles() throws IOException {
        img("X", "a.png", "a");
        img("X", "readme.txt", "keep me");
        try {
            ds.deleteCategory("X");
            fail();
        } catch (IOException expected) { /* kept */ }
        assertTrue(Files.exists(root.resolve("X/readme.txt")));
        assertEquals(1, ds.count(null));
    }

    @Test public void importCopiesWithoutTouchingSourceAndSkipsDuplicates() throws IOException {
        Path src = tmp.newFolder("src").toPath();
        Files.write(src.resolve("c1.png"), "1".getBytes(StandardCharsets.UTF_8));
        Files.write(src.resolve("c2.jpg"), "22".getBytes(StandardCharsets.UTF_8));
        Files.write(src.resolve("skip.txt"), "t".getBytes(StandardCharsets.UTF_8));
        img("unlabelled", "c2.jpg", "different");
        DatasetFolder.Import first = ds.importFrom(src, f -> null);
        assertEquals(2, first.copied);
        // issue 22: a file that is not an image is named, not passed over
        assertEquals(java.util.Collections.singletonList("skip.txt: not an image (bmp, gif, jpeg, jpg, png, tif, tiff)"),
                first.unreadable);
        assertEquals("1", read(root.resolve("unlabelled/c1.png")));
        assertEquals("22", read(root.resolve("unlabelled/c2_1.jpg")));
        assertEquals("different", read(root.resolve("unlabelled/c2.jpg")));
        assertTrue(Files.exists(src.resolve("c1.png")));
        assertTrue(Files.exists(src.resolve("c2.jpg")));
        ds.createCategory("K");
        ds.move(root.resolve("unlabelled/c1.png"), "K");
        assertEquals(0, ds.importFrom(src, f -> null).copied); // same bytes already in the dataset (K/c1.png, unlabelled/c2_1.jpg)
        try {
            ds.importFrom(root.resolve("K"), f -> null);
            fail();
        } catch (IllegalArgumentException expected) { /* source inside dataset */ }
    }

    @Test public void movingOutsideImagesIsRefused() throws IOException {
        Path outside = tmp.newFile("x.png").toPath();
        ds.createCategory("X");
        try {
            ds.move(outside, "X");
            fail();
        } catch (IllegalArgumentException expected) { /* ok */ }
        try {
            ds.move(img("unlabelled", "a.png", "a"), "Missing");
            fail();
        } catch (IllegalArgumentException expected) { /* unknown category */ }
        assertTrue(Files.exists(outside));
    }

    /** Ask the model → A → Ctrl+Z: the image goes back and the category folder the accept created goes too. */
    @Test public void undoOfAcceptRemovesTheCategoryItCreated() throws IOException {
        ds.createCategory("Nuclear");
        Path a = img("unlabelled", "a.png", "a");
        Path b = img("unlabelled", "b.png", "b");
        java.util.Map<String, List<Path>> groups = new java.util.LinkedHashMap<>();
        groups.put("Cytoplasmic", Collections.singletonList(a)); // new category
        groups.put("Nuclear", Collections.singletonList(b));     // existing one
        java.util.Map<Path, Path> moved = ds.assign(groups);
        assertEquals(root.resolve("Cytoplasmic/a.png"), moved.get(a));
        assertEquals(Arrays.asList("Cytoplasmic", "Nuclear"), ds.categories());
        ds.undo(); // one step undoes the whole accept
        assertEquals("a", read(a));
        assertEquals("b", read(b));
        assertEquals(Collections.singletonList("Nuclear"), ds.categories()); // created by the accept: gone; Nuclear stays
        assertFalse(Files.exists(root.resolve("Cytoplasmic")));
        assertFalse(ds.canUndo());
    }

    @Test public void undoKeepsACreatedFolderThatHoldsSomethingElse() throws IOException {
        Path a = img("unlabelled", "a.png", "a");
        ds.assign(Collections.singletonMap("New", Collections.singletonList(a)));
        img("New", "notes.txt", "mine");
        ds.undo();
        assertEquals("a", read(a));
        assertTrue(Files.exists(root.resolve("New/notes.txt")));
    }

    @Test public void assignRefusesABadCategoryNameBeforeMovingAnything() throws IOException {
        Path a = img("unlabelled", "a.png", "a");
        try {
            ds.assign(Collections.singletonMap("../evil", Collections.singletonList(a)));
            fail();
        } catch (IllegalArgumentException expected) { /* ok */ }
        assertEquals("a", read(a));
        assertFalse(ds.canUndo());
    }

    @Test public void renameFollowsAFolderTheUndoWouldRemove() throws IOException {
        Path a = img("unlabelled", "a.png", "a");
        ds.assign(Collections.singletonMap("Cells", Collections.singletonList(a)));
        ds.renameCategory("Cells", "Nuclear");
        ds.undo();
        assertEquals("a", read(a));
        assertFalse(Files.exists(root.resolve("Nuclear")));
    }
}

package org.omniclas.fiji.dataset;

import ij.ImagePlus;
import ij.gui.Line;
import ij.gui.OvalRoi;
import ij.gui.Roi;
import ij.io.Opener;
import ij.process.FloatProcessor;
import ij.process.ShortProcessor;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.Assert.*;

public class ObjectLabelsTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    @Test public void roisBecomeLabelValuesAndOverlapsGoToAnotherLayer() {
        Roi a = new Roi(2, 2, 10, 10);
        Roi b = new OvalRoi(20, 20, 8, 8);
        Roi c = new Roi(8, 8, 6, 6); // overlaps a
        Roi d = new Roi(35, 35, 20, 20); // half outside a 40 x 40 image
        List<ShortProcessor> layers = ObjectLabels.layers(new Roi[]{a, b, c, d}, 40, 40);
        assertEquals(2, layers.size());
        assertEquals(1, layers.get(0).get(3, 3));
        assertEquals(2, layers.get(0).get(24, 24));
        assertEquals(0, layers.get(0).get(20, 20)); // outside the oval, inside its box
        assertEquals(3, layers.get(1).get(12, 12)); // c keeps its whole area on its own layer
        assertEquals(1, layers.get(0).get(11, 11));
        assertEquals(4, layers.get(0).get(39, 39));
        int area = 0;
        for (int i = 0; i < 40 * 40; i++) if (layers.get(1).get(i) == 3) area++;
        assertEquals(36, area);
    }

    @Test public void aRoiWithoutAreaIsRefusedByNumber() {
        try {
            ObjectLabels.layers(new Roi[]{new Roi(1, 1, 4, 4), new Line(0, 0, 10, 10)}, 20, 20);
            fail("a line has no area");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("ROI 2 "));
        }
    }

    @Test public void floatLabelImagesOfWholeNumbersGoAs16Bit() {
        FloatProcessor fp = new FloatProcessor(5, 5);
        fp.setf(1, 1, 7f);
        ImagePlus sent = new Opener().deserialize(ObjectLabels.labelImageTiff(new ImagePlus("labels", fp), 1));
        assertEquals(16, sent.getBitDepth());
        assertEquals(7, sent.getProcessor().get(1, 1));
        fp.setf(2, 2, 1.5f);
        try {
            ObjectLabels.labelImageTiff(new ImagePlus("labels.tif", fp), 1);
            fail("1.5 is no label");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().contains("labels.tif") && e.getMessage().contains("whole numbers"));
        }
    }

    @Test public void labelFilesAreMatchedByName() throws IOException {
        Path dir = tmp.newFolder("fields").toPath();
        Path image = Files.write(dir.resolve("A01.png"), new byte[]{1});
        Files.write(dir.resolve("A01_cp_masks.png"), new byte[]{1});
        Files.write(dir.resolve("B02.tif"), new byte[]{1});
        assertEquals(dir.resolve("A01_cp_masks.png"), ObjectLabels.match(image, dir));
        try {
            ObjectLabels.match(dir.resolve("B02.tif"), dir);
            fail("B02 has no label image");
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("B02_cp_masks") && e.getMessage().contains("B02.tif"));
        }
        Files.write(dir.resolve("A01_labels.tif"), new byte[]{1});
        try {
            ObjectLabels.match(image, dir);
            fail("two label images");
        } catch (IOException e) {
            assertTrue(e.getMessage().contains("several"));
        }
        assertTrue(ObjectLabels.isLabelFile(dir.resolve("A01_cp_masks.png")));
        assertFalse(ObjectLabels.isLabelFile(dir.resolve("A01.png")));
        assertFalse(ObjectLabels.isLabelFile(dir.resolve("notes_masks.txt")));
    }

    @Test public void cropsGoToUnlabelledOnceAndNothingElseIsWritten() throws IOException {
        DatasetFolder ds = new DatasetFolder(tmp.newFolder("dataset").toPath());
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(buf)) {
            for (String name : new String[]{"field__obj1.png", "field__obj2.png", "../escape.png", "objects.json"}) {
                zip.putNextEntry(new ZipEntry(name));
                zip.write(name.equals("objects.json") ? "{\"crops\":[]}".getBytes(StandardCharsets.UTF_8) : new byte[]{1, 2});
                zip.closeEntry();
            }
        }
        ObjectCrops.Unpacked first = ObjectCrops.unpack(buf.toByteArray(), ds);
        assertEquals(2, first.written);
        assertEquals("{\"crops\":[]}", first.summary);
        assertTrue(Files.isRegularFile(ds.unlabelledDir().resolve("field__obj2.png")));
        assertFalse(Files.exists(ds.getRoot().resolve("escape.png")));
        Files.createDirectories(ds.getRoot().resolve("Nuclear"));
        Files.move(ds.unlabelledDir().resolve("field__obj1.png"), ds.getRoot().resolve("Nuclear/field__obj1.png"));
        ObjectCrops.Unpacked again = ObjectCrops.unpack(buf.toByteArray(), ds);
        assertEquals(0, again.written);
        assertEquals(2, again.kept); // also the one labelled since
        assertFalse(Files.exists(ds.unlabelledDir().resolve("field__obj1.png")));
    }
}

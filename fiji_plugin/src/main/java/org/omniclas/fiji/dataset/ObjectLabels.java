package org.omniclas.fiji.dataset;

import ij.ImagePlus;
import ij.gui.Roi;
import ij.io.FileSaver;
import ij.process.FloatProcessor;
import ij.process.ImageProcessor;
import ij.process.ShortProcessor;

import java.awt.Rectangle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Label images for the server (docs/objects.md): drawn from ROIs, or taken from an open label image; and the rule
 * that finds an image's label file in a folder. No Swing.
 * <p>ROIs become label images (ROI n has value n, 16-bit) rather than crops cut here, so the server makes every
 * crop with the one code the CLI uses (padding, mask, bit depth): the same pixels for the same objects. A label
 * image holds one object per pixel, so overlapping ROIs go to separate layers, each sent beside its own copy of
 * the field.
 */
public final class ObjectLabels {
    /** Suffixes of label files beside their image, as Cellpose, StarDist scripts and ilastik name them. */
    public static final String[] SUFFIXES = {"", "_cp_masks", "_masks", "_mask", "_labels", "_label"};
    public static final String[] EXTENSIONS = {".png", ".tif", ".tiff"};
    /** ROIs one label image can number (16-bit). */
    public static final int MAX_ROIS = 65535;

    private ObjectLabels() {}

    /**
     * ROI {@code i} (from 0) drawn with value {@code i + 1} into the first layer where none of its pixels is taken.
     * Parts of a ROI outside the image are left out; a ROI with no pixel inside it (a point, a line) is refused.
     */
    public static List<ShortProcessor> layers(Roi[] rois, int width, int height) {
        if (rois.length > MAX_ROIS) {
            throw new IllegalArgumentException(rois.length + " ROIs; at most " + MAX_ROIS + " can be classified at once");
        }
        List<ShortProcessor> layers = new ArrayList<>();
        for (int i = 0; i < rois.length; i++) {
            Roi roi = rois[i];
            Rectangle r = roi.getBounds();
            ImageProcessor mask = roi.getMask();
            List<int[]> pixels = new ArrayList<>();
            for (int y = Math.max(0, r.y); y < Math.min(height, r.y + r.height); y++) {
                for (int x = Math.max(0, r.x); x < Math.min(width, r.x + r.width); x++) {
                    if (mask == null || mask.get(x - r.x, y - r.y) != 0) pixels.add(new int[]{x, y});
                }
            }
            if (pixels.isEmpty() || !roi.isArea()) {
                throw new IllegalArgumentException("ROI " + (i + 1) + " (" + name(roi) + ") has no area inside the "
                        + "image: only area ROIs (rectangles, ovals, polygons, freehand, traced) can be classified");
            }
            ShortProcessor layer = null;
            for (ShortProcessor candidate : layers) {
                if (free(candidate, pixels)) {
                    layer = candidate;
                    break;
                }
            }
            if (layer == null) {
                layer = new ShortProcessor(width, height);
                layers.add(layer);
            }
            for (int[] p : pixels) layer.set(p[0], p[1], i + 1);
        }
        return layers;
    }

    private static boolean free(ShortProcessor layer, List<int[]> pixels) {
        for (int[] p : pixels) if (layer.get(p[0], p[1]) != 0) return false;
        return true;
    }

    private static String name(Roi roi) {
        return roi.getName() == null ? roi.getTypeAsString() : roi.getName();
    }

    /** A label layer as an uncompressed 16-bit TIFF. */
    public static byte[] toTiff(ImageProcessor labels) {
        return new FileSaver(new ImagePlus("labels", labels)).serialize();
    }

    /**
     * Slice {@code slice} of an open label image as TIFF: 8- and 16-bit as they are; 32-bit (float in ImageJ) when
     * it holds whole numbers up to 65535, as 16-bit (the server takes integers only).
     */
    public static byte[] labelImageTiff(ImagePlus labels, int slice) {
        ImageProcessor ip = labels.getStack().getProcessor(slice);
        if (ip.getBitDepth() == 24) {
            throw new IllegalArgumentException(labels.getTitle() + " is an RGB image; a label image has one channel of "
                    + "whole numbers (0 = background, n = object n)");
        }
        if (ip instanceof FloatProcessor) {
            float[] px = (float[]) ip.getPixels();
            ShortProcessor sp = new ShortProcessor(ip.getWidth(), ip.getHeight());
            for (int i = 0; i < px.length; i++) {
                float v = px[i];
                if (v < 0 || v > MAX_ROIS || v != Math.rint(v)) {
                    throw new IllegalArgumentException(labels.getTitle() + " holds " + v + ": a label image holds whole "
                            + "numbers from 0 (background) to " + MAX_ROIS);
                }
                sp.set(i, (int) v);
            }
            ip = sp;
        } else {
            ip = ip.duplicate();
            ip.setColorModel(null);
        }
        return toTiff(ip);
    }

    /**
     * The label file of {@code image} in {@code folder}: {@code <stem><suffix><ext>} for a suffix of
     * {@link #SUFFIXES} and an extension of {@link #EXTENSIONS}, never the image itself.
     *
     * @throws IOException naming what was looked for, when there is none or more than one
     */
    public static Path match(Path image, Path folder) throws IOException {
        String name = image.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        List<Path> found = new ArrayList<>();
        for (String suffix : SUFFIXES) {
            for (String ext : EXTENSIONS) {
                for (String e : new String[]{ext, ext.toUpperCase(Locale.ROOT)}) {
                    Path p = folder.resolve(stem + suffix + e);
                    if (Files.isRegularFile(p) && !Files.isSameFile(p, image) && !found.contains(p)) found.add(p);
                }
            }
        }
        if (found.size() == 1) return found.get(0);
        if (found.isEmpty()) {
            throw new IOException(name + ": no label image in " + folder + " (looked for " + stem + ", " + stem
                    + "_cp_masks, " + stem + "_masks, " + stem + "_labels, ... as .png/.tif)");
        }
        throw new IOException(name + ": several label images in " + folder + ": " + found);
    }

    /** A file named like a label image ({@code *_masks.png}, ...): not an image to classify in a shared folder. */
    public static boolean isLabelFile(Path p) {
        String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
        int dot = name.lastIndexOf('.');
        if (dot < 0 || !java.util.Arrays.asList(EXTENSIONS).contains(name.substring(dot))) return false;
        String stem = name.substring(0, dot);
        for (int i = 1; i < SUFFIXES.length; i++) if (stem.endsWith(SUFFIXES[i]) && stem.length() > SUFFIXES[i].length()) return true;
        return false;
    }
}

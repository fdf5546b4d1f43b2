package org.omniclas.fiji.ui;

import ij.ImagePlus;
import ij.ImageStack;
import ij.io.FileSaver;
import ij.process.FloatProcessor;
import ij.process.ImageProcessor;

/** Turns slices of an {@link ImagePlus} (saved or not) into uncompressed TIFF bytes for /predict. */
public final class ImageEncoder {
    private ImageEncoder() {}

    /**
     * One slice (1-based) as an uncompressed single-image TIFF. 8-bit stays 8-bit (grey LUT), 16-bit stays
     * 16-bit, RGB stays RGB; 32-bit float is scaled to 16-bit (the server reads 8/16-bit images).
     */
    public static byte[] sliceToTiff(ImagePlus imp, int slice) {
        ImageStack stack = imp.getStack();
        ImageProcessor ip = stack.getProcessor(slice);
        if (ip instanceof FloatProcessor) {
            ip = ip.duplicate();
            ip.resetMinAndMax();
            ip = ip.convertToShortProcessor(true);
        } else if (ip.getBitDepth() != 24) {
            ip = ip.duplicate();
            ip.setColorModel(null); // send the data, not the display LUT
        }
        ImagePlus one = new ImagePlus("slice" + slice, ip);
        return new FileSaver(one).serialize();
    }

    /**
     * Number of images {@link #planeToTiff} yields: the stack size, or for a multi-channel (composite)
     * hyperstack the number of Z×T positions (each sent with all its channels).
     */
    public static int planeCount(ImagePlus imp) {
        return isMultiChannel(imp) ? imp.getNSlices() * imp.getNFrames() : imp.getStackSize();
    }

    public static boolean isMultiChannel(ImagePlus imp) {
        return imp.getNChannels() > 1 && imp.getBitDepth() != 24;
    }

    /**
     * Plane {@code n} (1-based) as TIFF: one slice, or for a multi-channel hyperstack all channels of one
     * Z/T position as an ImageJ hyperstack TIFF (channels=C), which the server reads as one C-channel image.
     */
    public static byte[] planeToTiff(ImagePlus imp, int n) {
        if (!isMultiChannel(imp)) return sliceToTiff(imp, n);
        int nz = imp.getNSlices();
        int z = (n - 1) % nz + 1, t = (n - 1) / nz + 1;
        ImageStack channels = new ImageStack(imp.getWidth(), imp.getHeight());
        for (int c = 1; c <= imp.getNChannels(); c++) {
            ImageProcessor ip = imp.getStack().getProcessor(imp.getStackIndex(c, z, t)).duplicate();
            if (ip instanceof FloatProcessor) {
                ip.resetMinAndMax();
                ip = ip.convertToShortProcessor(true);
            } else {
                ip.setColorModel(null);
            }
            channels.addSlice("c" + c, ip);
        }
        ImagePlus sub = new ImagePlus("plane" + n, channels);
        sub.setDimensions(imp.getNChannels(), 1, 1);
        sub.setOpenAsHyperStack(true);
        return new FileSaver(sub).serialize();
    }

    /** A safe upload file name for one slice: {@code <title>_s0001.tif}. */
    public static String sliceName(ImagePlus imp, int slice, int index) {
        String t = imp.getTitle() == null ? "image" : imp.getTitle();
        int dot = t.lastIndexOf('.');
        if (dot > 0) t = t.substring(0, dot);
        t = t.replaceAll("[^A-Za-z0-9._-]", "_");
        if (t.isEmpty()) t = "image";
        return String.format("%04d_%s_s%04d.tif", index, t, slice);
    }
}

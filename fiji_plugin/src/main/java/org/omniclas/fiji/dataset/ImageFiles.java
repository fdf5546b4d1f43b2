package org.omniclas.fiji.dataset;

import ij.io.FileInfo;
import ij.io.TiffDecoder;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;

/**
 * Whether an image file can be read, said quietly: ImageJ's own opener shows an error dialog with a bare
 * {@code javax.imageio.IIOException} and no file name, so files are checked here first. PNG, JPEG, GIF and BMP are
 * decoded with ImageIO (a truncated JPEG, which ImageIO only warns about, counts as unreadable); a TIFF's
 * directories are read and its pixel data must lie within the file. No Swing.
 */
public final class ImageFiles {
    private ImageFiles() {}

    /** The server's words for a file it cannot read (data/imageio.py), so both say the same of one file. */
    public static final String UNREADABLE = "not a readable PNG, JPEG, TIFF or BMP image";

    /**
     * Why {@code file} is not a readable image, or null when it is, in the server's words: "not a readable PNG, JPEG,
     * TIFF or BMP image (image file is truncated)", not ImageIO's "Unexpected end of ZLIB input stream".
     */
    public static String problem(Path file) {
        try {
            if (isTiff(file)) return tiffProblem(file);
            decode(file);
            return null;
        } catch (IOException e) {
            return UNREADABLE + " (" + serverWords(e) + ")";
        } catch (RuntimeException | OutOfMemoryError e) {
            return UNREADABLE + " (" + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")";
        }
    }

    private static String serverWords(IOException e) {
        String why = reason(e);
        String lower = why.toLowerCase(Locale.ROOT);
        if (e instanceof java.io.EOFException || lower.contains("unexpected end") || lower.contains("premature end")
                || lower.contains("truncated")) return "image file is truncated";
        if (why.equals(UNKNOWN)) return "unknown format";
        return why;
    }

    private static final String UNKNOWN = "not a PNG, JPEG, GIF or BMP image";

    public static boolean isTiff(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".tif") || name.endsWith(".tiff");
    }

    /**
     * A PNG, JPEG, GIF or BMP file decoded with ImageIO.
     * @throws IOException when it cannot be decoded whole (also for what ImageIO only warns about)
     */
    public static BufferedImage decode(Path file) throws IOException {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) throw new IOException("cannot be opened");
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) throw new IOException(UNKNOWN);
            ImageReader reader = readers.next();
            StringBuilder warning = new StringBuilder();
            reader.addIIOReadWarningListener((source, text) -> {
                if (warning.length() == 0) warning.append(text);
            });
            try {
                reader.setInput(in, true, true);
                BufferedImage image = reader.read(0);
                if (warning.length() > 0) throw new IOException(warning.toString());
                return image;
            } finally {
                reader.dispose();
            }
        }
    }

    private static String tiffProblem(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        FileInfo[] info = new TiffDecoder(dir.toString() + java.io.File.separator, file.getFileName().toString()).getTiffInfo();
        if (info == null || info.length == 0) return UNREADABLE + " (not a TIFF image)";
        long size = Files.size(file);
        for (FileInfo fi : info) {
            long end = fi.getOffset();
            if (fi.stripOffsets != null && fi.stripLengths != null) {
                for (int i = 0; i < fi.stripOffsets.length && i < fi.stripLengths.length; i++) {
                    end = Math.max(end, (fi.stripOffsets[i] & 0xffffffffL) + fi.stripLengths[i]);
                }
            }
            if (fi.compression == FileInfo.COMPRESSION_NONE) { // (an ImageJ stack: its pages one after the other)
                int pages = Math.max(1, fi.nImages);
                end = Math.max(end, fi.getOffset() + (long) fi.width * fi.height * fi.getBytesPerPixel() * pages
                        + (long) fi.gapBetweenImages * (pages - 1));
            }
            if (end > size) return UNREADABLE + " (image file is truncated: " + size + " of " + end + " bytes)";
        }
        return null;
    }

    private static String reason(Throwable e) {
        String msg = e.getMessage();
        Throwable cause = e.getCause();
        if (cause != null && cause.getMessage() != null && (msg == null || !msg.contains(cause.getMessage()))) {
            msg = (msg == null ? "" : msg + ": ") + cause.getMessage();
        }
        return msg == null || msg.isEmpty() ? e.getClass().getSimpleName() : msg;
    }
}

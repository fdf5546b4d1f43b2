package org.omniclas.fiji.client;

/** One image file sent to /predict. */
public final class ImagePart {
    public final String filename;
    public final byte[] data;
    public final String contentType;

    public ImagePart(String filename, byte[] data, String contentType) {
        this.filename = filename;
        this.data = data;
        this.contentType = contentType == null ? guessContentType(filename) : contentType;
    }

    public ImagePart(String filename, byte[] data) {
        this(filename, data, null);
    }

    public static String guessContentType(String filename) {
        String n = filename.toLowerCase(java.util.Locale.ROOT);
        if (n.endsWith(".png")) return "image/png";
        if (n.endsWith(".jpg") || n.endsWith(".jpeg")) return "image/jpeg";
        if (n.endsWith(".tif") || n.endsWith(".tiff")) return "image/tiff";
        return "application/octet-stream";
    }
}

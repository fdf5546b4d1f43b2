package org.omniclas.fiji.dataset;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/**
 * The crops zip of POST /crops ({@code <image stem>__obj<n>.png} per object, and objects.json) into a dataset's
 * unlabelled/ folder, for Label Images. A crop whose name is already anywhere in the dataset (unlabelled, or
 * labelled since) is left as it is, so taking the objects of a field twice copies nothing twice. No Swing.
 */
public final class ObjectCrops {
    public static final String SUMMARY = "objects.json";

    /** What an unpacking did: crops written, crops already there, and the zip's objects.json text. */
    public static final class Unpacked {
        public int written;
        public int kept;
        public String summary = "{}";
    }

    private ObjectCrops() {}

    public static Unpacked unpack(byte[] zip, DatasetFolder dataset) throws IOException {
        Set<String> present = new HashSet<>();
        for (Path p : dataset.allImages()) present.add(p.getFileName().toString());
        Unpacked out = new Unpacked();
        Files.createDirectories(dataset.unlabelledDir());
        try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(zip))) {
            for (ZipEntry e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
                String name = e.getName();
                byte[] data = readEntry(in);
                if (name.equals(SUMMARY)) {
                    out.summary = new String(data, java.nio.charset.StandardCharsets.UTF_8);
                    continue;
                }
                if (e.isDirectory() || name.contains("/") || name.contains("\\") || name.startsWith(".")
                        || !name.toLowerCase(java.util.Locale.ROOT).endsWith(".png")) {
                    continue; // only the flat crop files the server writes
                }
                if (!present.add(name)) {
                    out.kept++;
                    continue;
                }
                Path tmp = Files.createTempFile(dataset.unlabelledDir(), ".crop-", ".tmp");
                Files.write(tmp, data);
                Files.move(tmp, dataset.unlabelledDir().resolve(name));
                out.written++;
            }
        }
        return out;
    }

    private static byte[] readEntry(ZipInputStream in) throws IOException {
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        byte[] b = new byte[8192];
        for (int n = in.read(b); n > 0; n = in.read(b)) buf.write(b, 0, n);
        return buf.toByteArray();
    }
}

package org.omniclas.fiji.build;

import javax.xml.stream.XMLOutputFactory;
import javax.xml.stream.XMLStreamException;
import javax.xml.stream.XMLStreamWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.zip.GZIPOutputStream;

/**
 * Writes an ImageJ update site for the plugin jar, in the layout Fiji's updater (imagej-updater) reads, ready to
 * upload to a personal update site (https://imagej.net/update-sites):
 * <pre>
 *   update-site/db.xml.gz                                    the file list (gzipped XML, "pluginRecords")
 *   update-site/plugins/omniclas_fiji-0.1.0.jar-20240501120000   the jar, named "path-timestamp"
 * </pre>
 * Each file is recorded with its path in Fiji.app, the timestamp (yyyyMMddHHmmss of its modification time) that
 * also ends its uploaded name, its size, and the checksum the updater compares with the installed file: for a jar,
 * the SHA-1 of its entries in name order (name, then content), with comment lines of {@code .properties} files
 * and the manifest left out (the updater ignores what differs between two builds of the same sources); for other
 * files the SHA-1 of the path and the bytes. Part of the build (test sources): no plugin of its own is needed.
 */
public final class UpdateSite {
    public static final String DB = "db.xml.gz";

    /** One file of the site. */
    public static final class Entry {
        public final String path;        // in Fiji.app, e.g. plugins/omniclas_fiji-0.1.0.jar
        public final Path source;
        public final String description;
        public final List<String> authors;

        public Entry(String path, Path source, String description, List<String> authors) {
            this.path = path;
            this.source = source;
            this.description = description;
            this.authors = authors;
        }
    }

    private UpdateSite() {}

    /** Writes {@code site} (replacing what an earlier build left there) for the entries. */
    public static void write(Path site, List<Entry> entries) throws IOException {
        if (Files.isDirectory(site)) {
            List<Path> old = new ArrayList<>();
            try (java.util.stream.Stream<Path> s = Files.walk(site)) {
                s.forEach(old::add);
            }
            Collections.reverse(old);
            for (Path p : old) Files.delete(p);
        }
        Files.createDirectories(site);
        ByteArrayOutputStream xml = new ByteArrayOutputStream();
        try {
            XMLStreamWriter w = XMLOutputFactory.newInstance().createXMLStreamWriter(xml, "UTF-8");
            w.writeStartDocument("UTF-8", "1.0");
            w.writeCharacters("\n");
            w.writeStartElement("pluginRecords");
            for (Entry e : entries) {
                String timestamp = timestamp(Files.getLastModifiedTime(e.source));
                Path uploaded = site.resolve(e.path + "-" + timestamp);
                Files.createDirectories(uploaded.getParent());
                Files.copy(e.source, uploaded, StandardCopyOption.COPY_ATTRIBUTES);
                w.writeCharacters("\n  ");
                w.writeStartElement("plugin");
                w.writeAttribute("filename", e.path);
                w.writeCharacters("\n    ");
                w.writeStartElement("version");
                w.writeAttribute("checksum", checksum(e.path, e.source));
                w.writeAttribute("timestamp", timestamp);
                w.writeAttribute("filesize", String.valueOf(Files.size(e.source)));
                if (e.description != null) {
                    w.writeCharacters("\n      ");
                    w.writeStartElement("description");
                    w.writeCharacters(e.description);
                    w.writeEndElement();
                }
                for (String a : e.authors) {
                    w.writeCharacters("\n      ");
                    w.writeStartElement("author");
                    w.writeCharacters(a);
                    w.writeEndElement();
                }
                w.writeCharacters("\n    ");
                w.writeEndElement(); // version
                w.writeCharacters("\n  ");
                w.writeEndElement(); // plugin
            }
            w.writeCharacters("\n");
            w.writeEndElement();
            w.writeEndDocument();
            w.close();
        } catch (XMLStreamException e) {
            throw new IOException("Cannot write the update site's file list: " + e.getMessage(), e);
        }
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(site.resolve(DB)))) {
            out.write(xml.toByteArray());
        }
    }

    /** yyyyMMddHHmmss in local time, as the updater stamps a file by its modification time. */
    public static String timestamp(FileTime modified) {
        return new SimpleDateFormat("yyyyMMddHHmmss", Locale.ROOT).format(new Date(modified.toMillis()));
    }

    /** The updater's checksum of the file at {@code path} in Fiji.app. */
    public static String checksum(String path, Path file) throws IOException {
        MessageDigest sha1 = sha1();
        if (!path.endsWith(".jar")) {
            sha1.update(path.getBytes(StandardCharsets.US_ASCII));
            sha1.update(Files.readAllBytes(file));
            return hex(sha1.digest());
        }
        try (JarFile jar = new JarFile(file.toFile())) {
            List<JarEntry> entries = Collections.list(jar.entries());
            entries.sort((a, b) -> a.getName().compareTo(b.getName()));
            for (JarEntry entry : entries) {
                sha1.update(entry.getName().getBytes(StandardCharsets.US_ASCII));
                byte[] content;
                try (InputStream in = jar.getInputStream(entry)) {
                    content = readAll(in);
                }
                if (entry.getName().equals("META-INF/MANIFEST.MF")) continue; // ignored: it differs between builds
                if (entry.getName().endsWith(".properties")) content = withoutHashedLines(content);
                sha1.update(content);
            }
        }
        return hex(sha1.digest());
    }

    /**
     * A {@code .properties} file as the updater checksums it: comment lines (java.util.Properties writes the date
     * into one) reduced to their line break. Read the way the updater reads it, so that the checksums agree even
     * where its rule is odd (after an empty comment line "#", the next line counts as text).
     */
    static byte[] withoutHashedLines(byte[] in) {
        HashedLines lines = new HashedLines(in);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int ch; (ch = lines.read()) != -1; ) out.write(ch);
        return out.toByteArray();
    }

    private static final class HashedLines {
        private final byte[] in;
        private int pos;
        private boolean atLineStart = true;

        HashedLines(byte[] in) { this.in = in; }

        int read() {
            int ch = pos < in.length ? in[pos++] & 0xff : -1;
            if (atLineStart) {
                if (ch == '#') {
                    do {
                        ch = read();
                    } while (ch != '\n' && ch != -1);
                } else {
                    atLineStart = false;
                }
            } else if (ch == '\n') {
                atLineStart = true;
            }
            return ch;
        }
    }

    private static MessageDigest sha1() {
        try {
            return MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String hex(byte[] bytes) {
        StringBuilder sb = new StringBuilder();
        for (byte b : bytes) sb.append(String.format("%02x", b & 0xff));
        return sb.toString();
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
        return b.toByteArray();
    }
}

package org.omniclas.fiji.build;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.zip.GZIPInputStream;

import static org.junit.Assert.*;

/** The update site Fiji's updater reads: db.xml.gz lists each file with its checksum, timestamp and size. */
public class UpdateSiteTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    /** One file as db.xml.gz records it. */
    public static final class Record {
        public String filename, checksum, timestamp, description;
        public long filesize;
        public List<String> authors = new ArrayList<>();
    }

    /** Reads db.xml.gz as the updater does (gzip, then the pluginRecords XML). */
    public static List<Record> read(Path site) throws Exception {
        Document doc;
        try (InputStream in = new GZIPInputStream(Files.newInputStream(site.resolve(UpdateSite.DB)))) {
            doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(in);
        }
        assertEquals("pluginRecords", doc.getDocumentElement().getTagName());
        List<Record> out = new ArrayList<>();
        NodeList plugins = doc.getElementsByTagName("plugin");
        for (int i = 0; i < plugins.getLength(); i++) {
            Element p = (Element) plugins.item(i);
            Element v = (Element) p.getElementsByTagName("version").item(0);
            Record r = new Record();
            r.filename = p.getAttribute("filename");
            r.checksum = v.getAttribute("checksum");
            r.timestamp = v.getAttribute("timestamp");
            r.filesize = Long.parseLong(v.getAttribute("filesize"));
            NodeList d = v.getElementsByTagName("description");
            r.description = d.getLength() == 0 ? null : d.item(0).getTextContent();
            NodeList a = v.getElementsByTagName("author");
            for (int k = 0; k < a.getLength(); k++) r.authors.add(a.item(k).getTextContent());
            out.add(r);
        }
        return out;
    }

    private static void put(JarOutputStream jar, String name, byte[] content) throws IOException {
        jar.putNextEntry(new JarEntry(name));
        if (content != null) jar.write(content);
        jar.closeEntry();
    }

    /** A small jar: a manifest saying who built it, a pom.properties with a dated comment, a class. */
    private Path jar(String name, String builtBy, String date) throws IOException {
        Path file = tmp.getRoot().toPath().resolve(name);
        Manifest mf = new Manifest();
        mf.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        mf.getMainAttributes().putValue("Built-By", builtBy);
        try (OutputStream os = Files.newOutputStream(file); JarOutputStream jar = new JarOutputStream(os, mf)) {
            put(jar, "org/", null);
            put(jar, "org/omniclas/Plugin.class", new byte[]{(byte) 0xca, (byte) 0xfe, 0, 1});
            put(jar, "META-INF/maven/pom.properties", ("#" + date + "\nversion=0.1.0\n").getBytes(StandardCharsets.UTF_8));
            put(jar, "plugins.config", "Plugins>OmniClas, \"Models...\", x.Models\n".getBytes(StandardCharsets.UTF_8));
        }
        Files.setLastModifiedTime(file, FileTime.fromMillis(1714564800000L)); // 2024-05-01 12:00 UTC
        return file;
    }

    /** The checksum as written out by hand: SHA-1 over the entries in name order, name then content. */
    private static String byHand() throws Exception {
        MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
        String[][] entries = {
                {"META-INF/MANIFEST.MF", ""}, // the manifest's content is not counted
                {"META-INF/maven/pom.properties", "\nversion=0.1.0\n"}, // the comment line is not counted
                {"org/", ""}, {"org/omniclas/Plugin.class", null},
                {"plugins.config", "Plugins>OmniClas, \"Models...\", x.Models\n"}};
        for (String[] e : entries) {
            sha1.update(e[0].getBytes(StandardCharsets.US_ASCII));
            if (e[1] == null) sha1.update(new byte[]{(byte) 0xca, (byte) 0xfe, 0, 1});
            else sha1.update(e[1].getBytes(StandardCharsets.UTF_8));
        }
        return UpdateSite.hex(sha1.digest());
    }

    @Test public void dbXmlListsTheJarWithItsChecksumTimestampAndSize() throws Exception {
        Path jar = jar("omniclas_fiji-0.1.0.jar", "someone", "Wed May 01 12:00:00 UTC 2024");
        Path site = tmp.getRoot().toPath().resolve("update-site");
        UpdateSite.write(site, Collections.singletonList(new UpdateSite.Entry("plugins/omniclas_fiji-0.1.0.jar", jar,
                "Label, train and classify", Arrays.asList("OmniClas"))));
        List<Record> records = read(site);
        assertEquals(1, records.size());
        Record r = records.get(0);
        assertEquals("plugins/omniclas_fiji-0.1.0.jar", r.filename);
        assertEquals(byHand(), r.checksum);
        String stamp = UpdateSite.timestamp(Files.getLastModifiedTime(jar));
        assertTrue(stamp, stamp.matches("2024(0430|0501|0502)\\d{6}")); // yyyyMMddHHmmss, local time
        assertEquals(stamp, r.timestamp);
        assertEquals(Files.size(jar), r.filesize);
        assertEquals("Label, train and classify", r.description);
        assertEquals(Arrays.asList("OmniClas"), r.authors);
        Path uploaded = site.resolve("plugins/omniclas_fiji-0.1.0.jar-" + stamp); // the name the updater downloads
        assertArrayEquals(Files.readAllBytes(jar), Files.readAllBytes(uploaded));
        try (java.util.stream.Stream<Path> all = Files.walk(site)) {
            assertEquals(2, all.filter(Files::isRegularFile).count());
        }
    }

    /** A rebuild of the same sources (another builder, another date) has the same checksum: Fiji sees no update. */
    @Test public void whatDiffersBetweenBuildsDoesNotCount() throws Exception {
        String a = UpdateSite.checksum("plugins/a.jar", jar("a.jar", "someone", "Wed May 01 12:00:00 UTC 2024"));
        String b = UpdateSite.checksum("plugins/a.jar", jar("b.jar", "someone else", "Thu May 02 09:30:00 UTC 2024"));
        assertEquals(a, b);
        Path text = Files.write(tmp.getRoot().toPath().resolve("README"), "hello".getBytes(StandardCharsets.UTF_8));
        MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
        sha1.update("README".getBytes(StandardCharsets.US_ASCII));
        sha1.update("hello".getBytes(StandardCharsets.UTF_8));
        assertEquals(UpdateSite.hex(sha1.digest()), UpdateSite.checksum("README", text)); // other files: path + bytes
    }

    @Test public void commentLinesAreReadAsTheUpdaterReadsThem() {
        assertEquals("\nb\n\nd\n", new String(UpdateSite.withoutHashedLines("#a\nb\n#c\nd\n".getBytes(StandardCharsets.US_ASCII)),
                StandardCharsets.US_ASCII));
        assertEquals("\n#kept\n", new String(UpdateSite.withoutHashedLines("#\n#kept\n".getBytes(StandardCharsets.US_ASCII)),
                StandardCharsets.US_ASCII));
    }
}

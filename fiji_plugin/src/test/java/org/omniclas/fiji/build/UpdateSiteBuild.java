package org.omniclas.fiji.build;

import org.junit.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;

import static org.junit.Assert.*;

/**
 * Run by the build after the jar is made (pom.xml: surefire's "update-site" execution in the package phase, also
 * with -DskipTests): writes target/update-site/ for the plugin jar and reads it back as Fiji's updater would.
 */
public class UpdateSiteBuild {
    @Test public void writeTheUpdateSite() throws Exception {
        Path target = Paths.get(System.getProperty("omniclas.build.directory", "target"));
        Path jar = target.resolve(System.getProperty("omniclas.final.name", "omniclas_fiji") + ".jar");
        assertTrue("no plugin jar at " + jar, Files.isRegularFile(jar));
        Path site = target.resolve("update-site");
        String path = "plugins/" + jar.getFileName();
        UpdateSite.write(site, Collections.singletonList(new UpdateSite.Entry(path, jar,
                System.getProperty("omniclas.description"), Collections.singletonList("OmniClas"))));
        List<UpdateSiteTest.Record> records = UpdateSiteTest.read(site);
        assertEquals(1, records.size());
        UpdateSiteTest.Record r = records.get(0);
        assertEquals(path, r.filename);
        assertEquals(UpdateSite.checksum(path, jar), r.checksum);
        assertEquals(Files.size(jar), r.filesize);
        assertTrue(Files.isRegularFile(site.resolve(path + "-" + r.timestamp)));
        System.out.println("OmniClas update site: " + site.toAbsolutePath() + " (" + path + "-" + r.timestamp + ", " + UpdateSite.DB + ")");
    }
}

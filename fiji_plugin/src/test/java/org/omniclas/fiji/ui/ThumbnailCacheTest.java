package org.omniclas.fiji.ui;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.Assert.*;

/** Thumbnails of the labelling grid: loaded once each, and an unreadable file does not reload on every repaint. */
public class ThumbnailCacheTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    @Test public void anUnreadableFileIsTriedOnceNotOnEveryRepaint() throws Exception {
        Path bad = tmp.newFile("truncated.png").toPath();
        Files.write(bad, new byte[]{(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0});
        Path good = tmp.getRoot().toPath().resolve("cell.png");
        BufferedImage cell = new BufferedImage(40, 20, BufferedImage.TYPE_BYTE_GRAY);
        cell.getRaster().setSample(10, 10, 0, 200);
        ImageIO.write(cell, "png", good.toFile());

        AtomicInteger loads = new AtomicInteger();
        CountDownLatch both = new CountDownLatch(2);
        // The grid repaints when a thumbnail is ready, and a repaint asks for every visible thumbnail again.
        ThumbnailCache cache = new ThumbnailCache(64, 100, p -> { loads.incrementAndGet(); both.countDown(); });
        try {
            assertNull(cache.get(bad));
            assertNull(cache.get(good));
            assertTrue("thumbnails were not loaded", both.await(20, TimeUnit.SECONDS));
            for (int repaint = 0; repaint < 50; repaint++) assertNull(cache.get(bad));
            BufferedImage thumb = cache.get(good);
            assertNotNull(thumb);
            assertEquals(64, thumb.getWidth()); // the longer side fills the cell, the aspect ratio is kept
            assertEquals(32, thumb.getHeight());
            Thread.sleep(500);
            assertEquals("an unreadable file was loaded again", 2, loads.get());
            assertTrue(cache.unreadable(bad));
            assertFalse(cache.unreadable(good));
        } finally {
            cache.shutdown();
        }
    }
}

package org.omniclas.fiji.ui;

import ij.ImagePlus;
import ij.io.Opener;
import ij.process.ImageProcessor;
import org.omniclas.fiji.dataset.ImageFiles;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Thumbnails loaded on one background thread, newest request first (the cells just scrolled into view),
 * kept in an LRU cache so thousands of images stay smooth.
 */
public class ThumbnailCache {
    public interface Listener { void loaded(Path path); }

    private final int size;
    private final int capacity;
    private final Map<Path, BufferedImage> cache;
    private final Set<Path> pending = Collections.synchronizedSet(new HashSet<>());
    // Unreadable files are tried once: retrying on every repaint would reload them forever (each load repaints).
    private final Set<Path> failed = Collections.synchronizedSet(new HashSet<>());
    private final ThreadPoolExecutor executor;
    private final Listener listener;

    public ThumbnailCache(int size, int capacity, Listener listener) {
        this.size = size;
        this.capacity = capacity;
        this.listener = listener;
        this.cache = Collections.synchronizedMap(new LinkedHashMap<Path, BufferedImage>(256, 0.75f, true) {
            private static final long serialVersionUID = 1L;
            @Override protected boolean removeEldestEntry(Map.Entry<Path, BufferedImage> e) {
                return size() > ThumbnailCache.this.capacity;
            }
        });
        LinkedBlockingDeque<Runnable> lifo = new LinkedBlockingDeque<Runnable>() {
            private static final long serialVersionUID = 1L;
            @Override public boolean offer(Runnable r) { return super.offerFirst(r); }
        };
        executor = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS, lifo, r -> {
            Thread t = new Thread(r, "OmniClas thumbnails");
            t.setDaemon(true);
            t.setPriority(Thread.NORM_PRIORITY - 1);
            return t;
        });
    }

    /** The thumbnail if cached; otherwise null and a load is queued (the listener hears when it is ready). */
    public BufferedImage get(Path path) {
        BufferedImage img = cache.get(path);
        if (img != null || failed.contains(path) || !pending.add(path)) return img;
        executor.execute(() -> {
            try {
                BufferedImage t = load(path, size);
                if (t != null) cache.put(path, t);
                else failed.add(path);
            } catch (RuntimeException | OutOfMemoryError e) {
                failed.add(path); // unreadable image: stays blank
            } finally {
                pending.remove(path);
            }
            listener.loaded(path);
        });
        return null;
    }

    /** The file was moved: keep its thumbnail. */
    public void renamed(Path from, Path to) {
        BufferedImage img = cache.remove(from);
        if (img != null) cache.put(to, img);
        if (failed.remove(from)) failed.add(to);
    }

    /** Whether the file could not be read as an image (its cell shows no thumbnail). */
    public boolean unreadable(Path path) { return failed.contains(path); }

    public void shutdown() { executor.shutdownNow(); }

    public static BufferedImage load(Path path, int size) {
        // read quietly: ImageJ's opener shows a dialog, with no file name, for a file it cannot read
        ImagePlus imp;
        if (ImageFiles.isTiff(path)) {
            imp = ImageFiles.problem(path) == null ? new Opener().openImage(path.toString()) : null;
        } else {
            try {
                imp = new ImagePlus(path.getFileName().toString(), ImageFiles.decode(path));
            } catch (java.io.IOException unreadable) {
                imp = null;
            }
        }
        if (imp == null) return null;
        ImageProcessor ip = imp.getProcessor();
        if (ip.getBitDepth() == 16 || ip.getBitDepth() == 32) {
            ip.resetMinAndMax();
            ip = ip.convertToByte(true);
        }
        int w = ip.getWidth(), h = ip.getHeight();
        double scale = Math.min((double) size / w, (double) size / h);
        int tw = Math.max(1, (int) Math.round(w * scale)), th = Math.max(1, (int) Math.round(h * scale));
        java.awt.Image src = ip.getBufferedImage();
        BufferedImage out = new BufferedImage(tw, th, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION,
                scale > 1 ? RenderingHints.VALUE_INTERPOLATION_NEAREST_NEIGHBOR : RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(src, 0, 0, tw, th, null);
        g.dispose();
        imp.close();
        return out;
    }
}

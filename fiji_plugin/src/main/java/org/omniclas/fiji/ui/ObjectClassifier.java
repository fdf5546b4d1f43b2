package org.omniclas.fiji.ui;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.measure.ResultsTable;
import ij.plugin.filter.ThresholdToSelection;
import ij.plugin.frame.RoiManager;
import ij.process.ImageProcessor;
import ij.process.ShortProcessor;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.ImagePart;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.dataset.DatasetFolder;
import org.omniclas.fiji.dataset.ObjectLabels;

import java.awt.Color;
import java.awt.Rectangle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Classifies the objects of an image (docs/objects.md): ROIs of the ROI Manager or the objects of an open label
 * image, sent as the field plus a label image (see {@link ObjectLabels}). One row per object in the results
 * table; the image's overlay outlines each object in its class's colour (light grey when unsure) with a
 * "class (confidence)" label, ROIs
 * of the ROI Manager are renamed and coloured alike, and the Log lists the colours.
 */
public class ObjectClassifier {
    public static final String NONE = "None";
    public static final String ROI_MANAGER = "ROI Manager";
    public static final String NOT_CLASSIFIED = "not classified";
    /** Class colours, by the class's place in the model's class list (then around the hue circle). */
    static final Color[] PALETTE = {Color.red, new Color(0, 200, 0), new Color(40, 120, 255), Color.magenta,
            Color.cyan, Color.yellow, Color.orange, Color.pink};
    static final String[] PALETTE_NAMES = {"red", "green", "blue", "magenta", "cyan", "yellow", "orange", "pink"};
    static final Color UNCLASSIFIED = Color.gray;
    /** Objects classified but marked unsure (docs/calibration.md): check them by eye. */
    static final Color UNSURE = Color.lightGray;

    private final OmniClasClient client;
    private final String model;
    private final Map<String, String> options;
    private final List<String> failed = new ArrayList<>();

    /** @param options padding, mask_outside, min_area, exclude_border (text, as the server takes them) */
    public ObjectClassifier(OmniClasClient client, String model, Map<String, String> options) {
        this.client = client;
        this.model = model;
        this.options = options;
    }

    /** Server options from the dialog's values. */
    public static Map<String, String> options(double padding, String maskOutside, double minArea, boolean excludeBorder) {
        Map<String, String> o = new LinkedHashMap<>();
        o.put("padding", String.valueOf(padding));
        o.put("mask_outside", maskOutside);
        o.put("min_area", String.valueOf(Math.round(minArea)));
        o.put("exclude_border", String.valueOf(excludeBorder));
        return o;
    }

    /**
     * The object sources a dialog offers: none, the ROI Manager, and every open image but {@code except} that can be
     * a label image of it: grey values (8, 16 or 32 bits; an RGB image holds colours, not object numbers) and, when
     * {@code except} is given, its width and height.
     */
    public static String[] sources(ImagePlus except) {
        List<String> out = new ArrayList<>();
        out.add(NONE);
        out.add(ROI_MANAGER);
        int[] ids = WindowManager.getIDList();
        if (ids != null) for (int id : ids) {
            ImagePlus imp = WindowManager.getImage(id);
            if (imp != null && imp != except && canLabel(imp, except)) out.add(imp.getTitle());
        }
        return out.toArray(new String[0]);
    }

    public static boolean canLabel(ImagePlus labels, ImagePlus image) {
        int type = labels.getType();
        boolean grey = type == ImagePlus.GRAY8 || type == ImagePlus.GRAY16 || type == ImagePlus.GRAY32;
        return grey && (image == null || (labels.getWidth() == image.getWidth() && labels.getHeight() == image.getHeight()));
    }

    /** The ROIs of the ROI Manager (in batch mode, the macro's hidden one). */
    public static RoiManager roiManager() {
        RoiManager rm = RoiManager.getInstance2();
        if (rm == null || rm.getCount() == 0) {
            throw new IllegalArgumentException("The ROI Manager holds no ROIs: add the objects' outlines first "
                    + "(Analyze Particles... with Add to Manager, or roiManager(\"add\") in a macro).");
        }
        return rm;
    }

    /** The open image titled {@code title}, or an error naming it. */
    public static ImagePlus openImage(String title) {
        ImagePlus imp = WindowManager.getImage(title);
        if (imp == null) throw new IllegalArgumentException("No open image is titled \"" + title + "\" (objects=).");
        return imp;
    }

    // ------------------------------------------------------------------ one image

    /** What is sent for the objects of one image: the field (once per label layer) and the label images. */
    public static final class Request {
        public final List<ImagePart> images = new ArrayList<>();
        public final List<ImagePart> labels = new ArrayList<>();
        Roi[] rois;
        RoiManager rm;
        ImagePlus labelImage;
        int plane;
    }

    /**
     * The current plane of {@code imp} and the label image(s) of its objects from {@code source} (ROI Manager or
     * the title of an open label image); the parts are named {@code base.tif}, {@code base_layer<k>_labels.tif}.
     */
    public static Request request(ImagePlus imp, String source, String base) {
        Request q = new Request();
        q.plane = currentPlane(imp);
        byte[] field = ImageEncoder.planeToTiff(imp, q.plane);
        if (ROI_MANAGER.equals(source)) {
            q.rm = roiManager();
            q.rois = q.rm.getRoisAsArray();
            List<ShortProcessor> layers = ObjectLabels.layers(q.rois, imp.getWidth(), imp.getHeight());
            for (int k = 0; k < layers.size(); k++) {
                q.images.add(new ImagePart(base + ".tif", field, "image/tiff"));
                q.labels.add(new ImagePart(base + "_layer" + (k + 1) + "_labels.tif", ObjectLabels.toTiff(layers.get(k)),
                        "image/tiff"));
            }
        } else {
            q.labelImage = openImage(source);
            if (q.labelImage.getWidth() != imp.getWidth() || q.labelImage.getHeight() != imp.getHeight()) {
                throw new IllegalArgumentException(source + " is " + q.labelImage.getWidth() + " x "
                        + q.labelImage.getHeight() + " pixels, " + imp.getTitle() + " " + imp.getWidth() + " x "
                        + imp.getHeight() + ": a label image has the size of its image");
            }
            q.images.add(new ImagePart(base + ".tif", field, "image/tiff"));
            q.labels.add(new ImagePart(base + "_labels.tif",
                    ObjectLabels.labelImageTiff(q.labelImage, q.labelImage.getCurrentSlice()), "image/tiff"));
        }
        return q;
    }

    /** A file-name stem from an image title: {@code cells.tif} -> {@code cells}, odd characters as {@code _}. */
    public static String stem(ImagePlus imp) {
        String t = imp.getTitle() == null ? "image" : imp.getTitle();
        int dot = t.lastIndexOf('.');
        if (dot > 0) t = t.substring(0, dot);
        t = t.replaceAll("[^A-Za-z0-9._-]", "_").replaceAll("^\\.+", "");
        return t.isEmpty() ? "image" : t;
    }

    /** Objects of the current plane of {@code imp} from {@code source} (ROI Manager or a label image's title). */
    public ResultsTable classify(ImagePlus imp, String source, ResultsTable rt) throws OmniClasException {
        Request q = request(imp, source, stem(imp));
        Roi[] rois = q.rois;
        RoiManager rm = q.rm;
        ImagePlus labelImage = q.labelImage;
        int plane = q.plane;
        List<ImagePart> images = q.images;
        List<ImagePart> labels = q.labels;
        IJ.showStatus("OmniClas: classifying the objects of " + imp.getTitle() + "...");
        Dto.ObjectsResponse answer = client.predictObjects(model, images, labels, options);
        List<Dto.ObjectResult> objects = new ArrayList<>();
        for (Dto.ObjectResult r : answer.results) {
            if (r.object == null) throw new IllegalArgumentException(r.error == null ? "no objects" : r.error);
            objects.add(r);
        }
        objects.sort(Comparator.comparingInt(r -> r.object));
        List<String> classes = classesOf(objects);
        Overlay overlay = withoutOurs(imp.getOverlay()); // a second run replaces the first's outlines, not the user's
        ImageProcessor labelPlane = labelImage == null ? null
                : labelImage.getStack().getProcessor(labelImage.getCurrentSlice());
        for (Dto.ObjectResult r : objects) {
            addRow(rt, imp.getTitle(), plane, r, classes);
            Color colour = colour(classes, r);
            String name = r.className == null ? NOT_CLASSIFIED : String.format(Locale.ROOT, "%s (%.2f%s)", r.className,
                    r.confidence, r.isUnsure() ? ", unsure" : "");
            Roi roi = rois != null ? (Roi) rois[r.object - 1].clone() : outline(labelPlane, r);
            if (roi == null) continue;
            roi.setStrokeColor(colour);
            roi.setName(name);
            roi.setPosition(0);
            roi.setProperty(OVERLAY_TAG, "1");
            overlay.add(roi);
            if (rm != null) {
                rm.getRoi(r.object - 1).setStrokeColor(colour);
                rm.rename(r.object - 1, name);
            }
        }
        overlay.drawLabels(true);
        overlay.drawNames(true);
        overlay.setLabelColor(Color.white);
        imp.setOverlay(overlay);
        logSummary(answer.objects, imp.getTitle());
        legend(classes);
        return rt;
    }

    /** Marks the outlines a run adds to the overlay, so that the next run removes them and nothing else. */
    static final String OVERLAY_TAG = "omniclas";

    /** A copy of {@code overlay} (null: an empty one) without the outlines an earlier run added. */
    static Overlay withoutOurs(Overlay overlay) {
        Overlay out = new Overlay();
        if (overlay == null) return out;
        for (Roi r : overlay.toArray()) if (r.getProperty(OVERLAY_TAG) == null) out.add(r);
        return out;
    }

    /** The plane {@link ImageEncoder#planeToTiff} numbers for the image's current position. */
    static int currentPlane(ImagePlus imp) {
        if (!ImageEncoder.isMultiChannel(imp)) return imp.getCurrentSlice();
        return (imp.getT() - 1) * imp.getNSlices() + imp.getZ();
    }

    /** An object of a label image as a ROI: its pixels of its label value within its bounding box. */
    static Roi outline(ImageProcessor labels, Dto.ObjectResult r) {
        if (labels == null) return null;
        ImageProcessor box = labels.duplicate();
        box.setRoi(new Rectangle(r.bboxX, r.bboxY, r.bboxWidth, r.bboxHeight));
        box = box.crop();
        box.setThreshold(r.object, r.object, ImageProcessor.NO_LUT_UPDATE);
        Roi roi = ThresholdToSelection.run(new ImagePlus("object", box));
        if (roi == null) { // a binary mask: the server numbered its regions, the pixels keep one value
            box.setThreshold(1, Double.MAX_VALUE, ImageProcessor.NO_LUT_UPDATE);
            roi = ThresholdToSelection.run(new ImagePlus("object", box));
        }
        if (roi != null) roi.setLocation(r.bboxX + roi.getBounds().x, r.bboxY + roi.getBounds().y);
        return roi;
    }

    // ------------------------------------------------------------------ a folder

    /** Every image of {@code folder} with its label image from {@code labels} (matched by name): one row per object. */
    public ResultsTable classifyFolder(Path folder, Path labelFolder, ResultsTable rt) throws OmniClasException, IOException {
        List<Path> files;
        try (Stream<Path> s = Files.list(folder)) {
            files = s.filter(DatasetFolder::isImage).filter(p -> !ObjectLabels.isLabelFile(p)).sorted()
                    .collect(Collectors.toList());
        }
        if (files.isEmpty()) throw new IOException("No images (" + DatasetFolder.IMAGE_EXTENSIONS + ") in " + folder);
        int done = 0;
        for (Path f : files) {
            String name = f.getFileName().toString();
            try {
                Path labels = ObjectLabels.match(f, labelFolder);
                Dto.ObjectsResponse answer = client.predictObjects(model,
                        Collections.singletonList(new ImagePart(name, Files.readAllBytes(f))),
                        Collections.singletonList(new ImagePart(labels.getFileName().toString(), Files.readAllBytes(labels))),
                        options);
                List<String> classes = classesOf(answer.results);
                for (Dto.ObjectResult r : answer.results) addRow(rt, name, r.slice == null ? 1 : r.slice, r, classes);
                logSummary(answer.objects, name);
            } catch (IOException | OmniClasException e) {
                if (e instanceof OmniClasException && ((OmniClasException) e).getStatus() != 400
                        && ((OmniClasException) e).getStatus() != 413) {
                    throw (OmniClasException) e; // the request itself (model, server): not this image's fault
                }
                Dto.ObjectResult r = new Dto.ObjectResult(); // one image that cannot be read never sinks the folder
                r.error = e.getMessage() != null && e.getMessage().startsWith(name) ? e.getMessage() : name + ": " + e.getMessage();
                addRow(rt, name, 1, r, Collections.emptyList());
                failed.add(r.error);
            }
            IJ.showProgress(++done, files.size());
        }
        return rt;
    }

    // ------------------------------------------------------------------ table, colours

    /** The messages of the images whose objects could not be classified ("NAME: reason"). */
    public List<String> failed() { return failed; }

    /** One row (docs/objects.md, docs/results-csv.md): image, slice, object, x, y, bbox_x, bbox_y, bbox_width,
     * bbox_height, area, then class, confidence, p_<class>..., error ({@link ResultRows}). An image-level error has
     * no object columns filled. */
    static void addRow(ResultsTable rt, String image, Integer slice, Dto.ObjectResult r, List<String> classes) {
        ResultRows.begin(rt, image, slice);
        boolean known = r.object != null;
        double[] values = known ? new double[]{r.object, r.x, r.y, r.bboxX, r.bboxY, r.bboxWidth, r.bboxHeight, r.area}
                : new double[8];
        String[] columns = {"object", "x", "y", "bbox_x", "bbox_y", "bbox_width", "bbox_height", "area"};
        for (int i = 0; i < columns.length; i++) {
            if (known) rt.addValue(columns[i], values[i]);
            else rt.addValue(columns[i], "");
        }
        ResultRows.prediction(rt, r, classes);
        rt.setDecimalPlaces(rt.getColumnIndex("x"), 2);
        rt.setDecimalPlaces(rt.getColumnIndex("y"), 2);
    }

    /** The model's classes in its order (the order of every result's probabilities). */
    static List<String> classesOf(List<Dto.ObjectResult> results) {
        for (Dto.ObjectResult r : results) {
            if (r.probabilities != null && !r.probabilities.isEmpty()) return new ArrayList<>(r.probabilities.keySet());
        }
        return new ArrayList<>();
    }

    /** The colour of an object's outline: grey when unsure, else its class's. */
    public static Color colour(List<String> classes, Dto.PredictResult r) {
        return r.isUnsure() ? UNSURE : colour(classes, r.className);
    }

    /** The colour of a class: by its place in the model's class list. */
    public static Color colour(List<String> classes, String className) {
        int i = className == null ? -1 : classes.indexOf(className);
        if (i < 0) return UNCLASSIFIED;
        if (i < PALETTE.length) return PALETTE[i];
        return Color.getHSBColor((i * 0.618034f) % 1f, 0.8f, 1f);
    }

    static String colourName(List<String> classes, int i) {
        Color c = colour(classes, classes.get(i));
        return i < PALETTE_NAMES.length ? PALETTE_NAMES[i] : String.format("#%02x%02x%02x", c.getRed(), c.getGreen(), c.getBlue());
    }

    static void legend(List<String> classes) {
        if (classes.isEmpty()) return;
        StringBuilder sb = new StringBuilder("OmniClas colours:");
        for (int i = 0; i < classes.size(); i++) sb.append(i == 0 ? " " : ", ").append(classes.get(i)).append(" = ").append(colourName(classes, i));
        IJ.log(sb.append(", unsure = light grey, " + NOT_CLASSIFIED + " = grey").toString());
    }

    /** One Log line per label image sent: objects, classified, and what was special (border, small, absent values). */
    static void logSummary(List<Map<String, Object>> summaries, String image) {
        if (summaries == null) return;
        for (Map<String, Object> s : summaries) {
            StringBuilder sb = new StringBuilder("OmniClas: " + image + ": " + count(s, "objects") + " objects, "
                    + count(s, "classified") + " classified");
            if (count(s, "border") > 0) sb.append("; ").append(count(s, "border")).append(" on the border");
            if (count(s, "below_min_area") > 0) sb.append("; ").append(count(s, "below_min_area")).append(" below the minimum area");
            if (count(s, "absent_values") > 0) sb.append("; ").append(count(s, "absent_values")).append(" label values absent");
            if (Boolean.TRUE.equals(s.get("binary_mask"))) sb.append("; a binary mask: its regions are the objects");
            IJ.log(sb.toString());
        }
    }

    private static long count(Map<String, Object> s, String key) {
        Object v = s.get(key);
        return v instanceof Number ? ((Number) v).longValue() : 0;
    }
}

package org.omniclas.fiji.ui;

import ij.ImagePlus;

import java.util.Map;

/**
 * The object fields of a dialog (Classify Image, Label Images): where the objects come from and how they are
 * cropped. Macro keys: {@code objects=[ROI Manager]} or the title of an open label image, {@code padding=0.1},
 * {@code mask_outside=none|dim|blank}, {@code min_area=0}, {@code exclude_border}.
 */
public final class ObjectDialog {
    public static final double DEFAULT_PADDING = 0.0; // the server's default (docs/objects.md)
    public static final String[] MASK_OUTSIDE = {"none", "dim", "blank"};

    private final Options o;
    private String source = ObjectClassifier.NONE;
    private double padding = DEFAULT_PADDING;
    private String maskOutside = MASK_OUTSIDE[0];
    private double minArea;
    private boolean excludeBorder;

    private final boolean withSource;
    private boolean shown = true;

    /**
     * Label Images: the object fields only where they can be used. On a desktop with no image open, plain
     * labelling shows none of them (issue 22); a macro reads its keys as always.
     */
    public static ObjectDialog whenAnImageIsOpen(Options o, ImagePlus active) {
        if (active != null || !o.isInteractive()) {
            if (o.isInteractive()) o.addMessage("Objects of the active image (optional; None: label whole images):");
            return new ObjectDialog(o, active);
        }
        ObjectDialog none = new ObjectDialog(o);
        none.shown = false;
        return none;
    }

    private ObjectDialog(Options o) {
        this.o = o;
        this.withSource = true;
    }

    /** Adds the fields; {@code active}: the image the objects belong to (not offered as its own label image). */
    public ObjectDialog(Options o, ImagePlus active) {
        this(o, active, true);
    }

    /** Without {@code withSource}, only how objects are cropped (the objects come from elsewhere: a labels folder). */
    public ObjectDialog(Options o, ImagePlus active, boolean withSource) {
        this.o = o;
        this.withSource = withSource;
        if (withSource) o.addChoice("Objects (of the active image)", ObjectClassifier.sources(active), ObjectClassifier.NONE);
        o.addNumber("Padding (fraction of each object's box)", DEFAULT_PADDING, 2);
        o.addChoice("Mask_outside (pixels beside the object)", MASK_OUTSIDE, MASK_OUTSIDE[0]);
        o.addNumber("Min_area (px; smaller objects are not classified)", 0, 0);
        o.addCheckbox("Exclude_border objects", false);
    }

    /** Reads the fields; call after the fields added before them were read (Options reads per kind, in order). */
    public void read() {
        if (!shown) return; // no fields: whole images, no objects
        if (withSource) source = o.nextChoice();
        padding = o.nextNumber();
        maskOutside = o.nextChoice();
        minArea = o.nextNumber();
        excludeBorder = o.nextBoolean();
        if (!(padding >= 0 && padding <= 4)) throw new IllegalArgumentException("padding must be from 0 to 4, got " + padding);
        if (!(minArea >= 0)) throw new IllegalArgumentException("min_area must be 0 or more, got " + minArea);
    }

    public boolean wanted() { return source != null && !source.trim().isEmpty() && !ObjectClassifier.NONE.equals(source); }

    public String source() { return source.trim(); }

    public Map<String, String> serverOptions() {
        return ObjectClassifier.options(padding, maskOutside, minArea, excludeBorder);
    }
}

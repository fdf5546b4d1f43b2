package org.omniclas.fiji.gui;

import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.measure.ResultsTable;
import ij.plugin.filter.ThresholdToSelection;
import ij.plugin.frame.RoiManager;
import ij.process.ImageProcessor;
import org.omniclas.fiji.ui.ImageClassifier;

import java.awt.Choice;
import java.awt.Color;
import java.awt.Window;
import java.io.File;
import java.util.Set;

/**
 * GUI test scenario for objects (issue 16), run under Xvfb by tests/test_fiji_gui.py: ImageJ with the plugin, a
 * field of real cells open, one ROI per object of its label image in the ROI Manager (traced from the label image,
 * as Analyze Particles would add them), then Plugins > OmniClas > Classify Image with Objects = ROI Manager chosen
 * in the dialog and OK clicked. Prints the rows, the overlay's ROIs (name and colour) and the ROI Manager's ROIs.
 * <p>Args: outDir field labels url=... model=...; exit code 0 = all steps ran.
 */
public final class ObjectsGuiHarness extends GuiDriver {
    private ObjectsGuiHarness(File out) throws Exception {
        super(out);
    }

    public static void main(String[] args) throws Exception {
        File out = new File(args[0]);
        out.mkdirs();
        ObjectsGuiHarness h = new ObjectsGuiHarness(out);
        for (int i = 3; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq > 0) h.opt.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        int rc = 0;
        try {
            h.run(args[1], args[2]);
            h.say("DONE");
        } catch (Throwable t) {
            h.say("FAILED " + t);
            for (StackTraceElement e : t.getStackTrace()) h.say("  at " + e);
            h.shot("zz_objects_failure");
            rc = 1;
        } finally {
            h.log.close();
            System.exit(rc);
        }
    }

    private void run(String fieldPath, String labelsPath) throws Exception {
        ImageJ ij = new ImageJ();
        waitFor("ImageJ window", 20000, ij::isShowing);
        ImagePlus field = IJ.openImage(fieldPath);
        field.show();
        waitFor("field window", 10000, () -> field.getWindow() != null && field.getWindow().isShowing());
        onEdt(() -> { field.getWindow().setLocation(0, 110); return null; });

        // one ROI per object, in label order, traced from the label image
        ImagePlus labels = IJ.openImage(labelsPath);
        ImageProcessor ip = labels.getProcessor();
        RoiManager rm = onEdt(RoiManager::getRoiManager);
        int n = (int) ip.getStatistics().max;
        for (int v = 1; v <= n; v++) {
            ip.setThreshold(v, v, ImageProcessor.NO_LUT_UPDATE);
            Roi roi = ThresholdToSelection.run(labels);
            if (roi == null) continue;
            final Roi r = roi;
            onEdt(() -> { rm.addRoi(r); return null; });
        }
        say("ROIS " + rm.getCount());
        IJ.selectWindow(field.getID());

        Set<Window> before = visibleWindows();
        IJ.doCommand("Classify Image");
        waitFor("Classify Image dialog", 15000, () -> newWindow(before) instanceof GenericDialog);
        GenericDialog gd = (GenericDialog) newWindow(before);
        settle(gd);
        Choice model = (Choice) gd.getChoices().get(0);
        Choice objects = (Choice) gd.getChoices().get(1);
        onEdt(() -> { model.select(need("model")); return null; });
        onEdt(() -> { objects.select("ROI Manager"); return null; });
        say("OBJECTS_CHOICE " + onEdt(objects::getSelectedItem));
        clickToClose(gd.getButtons()[0], gd);
        waitFor("object rows", 120000, () -> ImageClassifier.lastResults() != null
                && ImageClassifier.lastResults().size() == rm.getCount() && field.getOverlay() != null);
        sleep(800);
        ResultsTable rt = ImageClassifier.lastResults();
        for (int i = 0; i < rt.size(); i++) {
            say("ROW " + (int) rt.getValue("object", i) + " " + rt.getStringValue("class", i) + " "
                    + rt.getStringValue("confidence", i) + " " + (int) rt.getValue("bbox_x", i) + " "
                    + (int) rt.getValue("bbox_y", i) + " " + (int) rt.getValue("area", i));
        }
        Overlay overlay = field.getOverlay();
        for (int i = 0; i < overlay.size(); i++) say("OVERLAY " + describe(overlay.get(i)));
        for (int i = 0; i < rm.getCount(); i++) say("MANAGER " + describe(rm.getRoi(i)));
        say("LOG " + IJ.getLog().replace('\n', '|'));
        Window table = (Window) WindowManager.getWindow(ImageClassifier.TABLE);
        int right = onEdt(() -> field.getWindow().getX() + field.getWindow().getWidth()) + 4;
        if (table != null) onEdt(() -> { table.setBounds(right, 110, 640, 330); return null; });
        sleep(800);
        shot("30_objects_classified");
        if (table != null) docShot("objects_classified", field.getWindow(), table);
        else docShot("objects_classified", field.getWindow());
        field.changes = false;
    }

    private static String describe(Roi roi) {
        Color c = roi.getStrokeColor();
        return (c == null ? "none" : c.getRed() + "," + c.getGreen() + "," + c.getBlue()) + " " + roi.getName();
    }
}

package org.omniclas.fiji.plugins;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.measure.ResultsTable;
import ij.plugin.PlugIn;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.ui.ImageClassifier;
import org.omniclas.fiji.ui.ModelsWindow;
import org.omniclas.fiji.ui.ObjectClassifier;
import org.omniclas.fiji.ui.ObjectDialog;
import org.omniclas.fiji.ui.Options;
import org.omniclas.fiji.ui.Reporter;
import org.omniclas.fiji.ui.ServerGate;
import org.omniclas.fiji.ui.Settings;

import java.io.IOException;
import java.util.List;

/**
 * Plugins > OmniClas > Classify Image: every slice of the active image (or of all open images) →
 * "OmniClas Results" (unattended also the standard Results table), optionally saved as CSV.
 * Macro: {@code run("Classify Image", "model=NAME [all_open] [csv=/path/results.csv]");}
 * <p>Objects (docs/objects.md): {@code objects=[ROI Manager]} or {@code objects=<title of an open label image>} gives
 * one row per object of the active image, coloured by class in its overlay; {@code padding=0.1
 * mask_outside=none|dim|blank min_area=0 [exclude_border]}.
 */
public class Classify_Image implements PlugIn {
    @Override
    public void run(String arg) {
        try {
            if (ImageClassifier.targets(false).isEmpty() && ImageClassifier.targets(true).isEmpty()) { // before the model, as TrackMate does
                Reporter.error("There is no image open.");
                return;
            }
            OmniClasClient client = ServerGate.connect();
            if (client == null) return;
            Options o = new Options("OmniClas - Classify Image");
            String[] names = ModelsWindow.modelChoices(client, o);
            if (names == null) return;
            o.addCheckbox("All_open images", false);
            o.addFile("CSV (empty = do not save)", "");
            ObjectDialog objects = new ObjectDialog(o, WindowManager.getCurrentImage());
            if (!o.show()) return;
            String model = names.length > 0 ? o.nextChoice() : o.nextString();
            boolean allOpen = o.nextBoolean();
            String csv = o.nextString().trim();
            objects.read();
            if (model == null || model.trim().isEmpty()) {
                Reporter.error("No model given; register one with Train Classifier... (option model=NAME).");
                return;
            }
            List<ImagePlus> images = ImageClassifier.targets(allOpen);
            if (images.isEmpty()) {
                Reporter.error("There is no image open.");
                return;
            }
            Settings.put(Settings.KEY_LAST_MODEL, model);
            ImageClassifier classifier = new ImageClassifier(client, model.trim());
            ResultsTable rt;
            if (objects.wanted()) {
                if (allOpen) {
                    Reporter.error("Objects are classified on the active image only; untick All_open.");
                    return;
                }
                rt = new ObjectClassifier(client, model.trim(), objects.serverOptions())
                        .classify(images.get(0), objects.source(), new ResultsTable());
            } else {
                rt = classifier.classifyImages(images, new ResultsTable());
            }
            ImageClassifier.show(rt);
            if (!csv.isEmpty()) ImageClassifier.saveCsv(rt, csv);
            ImageClassifier.tell(rt, classifier.failed());
        } catch (OmniClasException e) {
            Reporter.error(e);
        } catch (IllegalArgumentException e) {
            Reporter.error(e.getMessage());
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Classification failed", e);
        }
    }
}

package org.omniclas.fiji.plugins;

import ij.IJ;
import ij.ImagePlus;
import ij.measure.ResultsTable;
import ij.plugin.PlugIn;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.ui.ImageClassifier;
import org.omniclas.fiji.ui.ModelsWindow;
import org.omniclas.fiji.ui.Options;
import org.omniclas.fiji.ui.Reporter;
import org.omniclas.fiji.ui.Settings;

import java.util.List;

/**
 * Plugins > OmniClas > Classify Image: every slice of the active image (or of all open images) →
 * "OmniClas Results". Macro: {@code run("Classify Image", "model=NAME [all_open]");}
 */
public class Classify_Image implements PlugIn {
    @Override
    public void run(String arg) {
        try {
            OmniClasClient client = Settings.client();
            Options o = new Options("OmniClas - Classify Image");
            String[] names = ModelsWindow.modelChoices(client, o);
            if (names == null) return;
            o.addCheckbox("All_open images", false);
            if (!o.show()) return;
            String model = names.length > 0 ? o.nextChoice() : o.nextString();
            boolean allOpen = o.nextBoolean();
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
            ResultsTable rt = new ImageClassifier(client, model.trim()).classifyImages(images, ImageClassifier.table());
            ImageClassifier.show(rt);
            IJ.showStatus("OmniClas: " + rt.size() + " result rows");
        } catch (OmniClasException e) {
            Reporter.error(e);
        } catch (RuntimeException e) {
            Reporter.unexpected("Classification failed", e);
        }
    }
}

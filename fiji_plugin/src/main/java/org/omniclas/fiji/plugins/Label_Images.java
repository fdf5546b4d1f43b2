package org.omniclas.fiji.plugins;

import ij.IJ;
import ij.plugin.PlugIn;
import org.omniclas.fiji.dataset.DatasetFolder;
import org.omniclas.fiji.ui.LabelWindow;
import org.omniclas.fiji.ui.Options;
import org.omniclas.fiji.ui.Reporter;
import org.omniclas.fiji.ui.Settings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Plugins > OmniClas > Label Images...: copies a source folder's images into {@code <dataset>/unlabelled/}
 * (the source is never modified) and opens the labelling window.
 * Macro: {@code run("Label Images...", "source=/images dataset=/data/set");} (source may be empty)
 */
public class Label_Images implements PlugIn {
    @Override
    public void run(String arg) {
        Options o = new Options("OmniClas - Label Images");
        o.addDirectory("Source (images to copy in; may be empty)", Settings.get(Settings.KEY_LAST_SOURCE, ""));
        o.addDirectory("Dataset", Settings.get(Settings.KEY_LAST_DATASET, ""));
        o.addMessage("Images are copied into <dataset>/unlabelled/, then sorted into <dataset>/<category>/.");
        if (!o.show()) return;
        String source = o.nextString().trim();
        String dataset = o.nextString().trim();
        if (dataset.isEmpty()) {
            Reporter.error("No dataset folder given.");
            return;
        }
        try {
            DatasetFolder ds = new DatasetFolder(Paths.get(dataset));
            Settings.put(Settings.KEY_LAST_DATASET, ds.getRoot().toString());
            if (!source.isEmpty()) {
                Path src = Paths.get(source);
                if (!Files.isDirectory(src)) {
                    Reporter.error("Source folder not found:\n" + src);
                    return;
                }
                Settings.put(Settings.KEY_LAST_SOURCE, src.toString());
                IJ.showStatus("OmniClas: copying images into " + ds.unlabelledDir() + "...");
                int n = ds.importFrom(src);
                IJ.showStatus("OmniClas: " + n + " image(s) copied");
                if (Options.isHeadless()) IJ.log("OmniClas: " + n + " image(s) copied from " + src + " into " + ds.unlabelledDir());
            }
            if (Options.isHeadless()) {
                IJ.log("OmniClas: dataset " + ds.getRoot() + ": " + ds.categories().size() + " categories, "
                        + ds.count(null) + " unlabelled images (the labelling window needs a display)");
                return;
            }
            LabelWindow.open(ds);
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Label Images failed", e);
        }
    }
}

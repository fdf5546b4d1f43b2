package org.omniclas.fiji.plugins;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.plugin.PlugIn;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.dataset.DatasetCheck;
import org.omniclas.fiji.dataset.DatasetFolder;
import org.omniclas.fiji.dataset.ObjectCrops;
import org.omniclas.fiji.ui.LabelWindow;
import org.omniclas.fiji.ui.ObjectClassifier;
import org.omniclas.fiji.ui.ObjectDialog;
import org.omniclas.fiji.ui.Options;
import org.omniclas.fiji.ui.Reporter;
import org.omniclas.fiji.ui.ServerGate;
import org.omniclas.fiji.ui.Settings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Plugins > OmniClas > Label Images...: copies a source folder's images into {@code <dataset>/unlabelled/}
 * (the source is never modified) and opens the labelling window. The server trains on the dataset in place,
 * so it must lie under one of the server's dataset roots: the dialog says so and the choice is checked at once.
 * Macro: {@code run("Label Images...", "source=/images dataset=/data/set");} (source may be empty)
 * <p>Objects (docs/objects.md): with {@code objects=[ROI Manager]} or the title of an open label image, the active
 * image's objects are cropped by the server (as {@code omniclas crops} crops them: {@code padding= mask_outside=
 * min_area= exclude_border}) into unlabelled/ as {@code <image>__obj<n>.png}, to label as thumbnails.
 */
public class Label_Images implements PlugIn {
    @Override
    public void run(String arg) {
        ServerGate.Roots roots = ServerGate.datasetRoots();
        Options o = new Options("OmniClas - Label Images");
        o.addDirectory("Source (images to copy in; may be empty)", Settings.get(Settings.KEY_LAST_SOURCE, ""));
        o.addDirectory("Dataset", Settings.get(Settings.KEY_LAST_DATASET, ""));
        o.addMessage("Images are copied into <dataset>/unlabelled/, then sorted into <dataset>/<category>/.\n"
                + "Training reads the dataset on the server, in place: put it under one of the server's\n"
                + "dataset roots (" + roots.source + "): " + roots.text());
        ImagePlus active = WindowManager.getCurrentImage();
        ObjectDialog objects = ObjectDialog.whenAnImageIsOpen(o, active);
        if (!o.show()) return;
        String source = o.nextString().trim();
        String dataset = o.nextString().trim();
        try {
            objects.read();
        } catch (IllegalArgumentException e) {
            Reporter.error(e.getMessage());
            return;
        }
        if (dataset.isEmpty()) {
            Reporter.error("No dataset folder given (option dataset=).");
            return;
        }
        try {
            Path root = Paths.get(dataset).toAbsolutePath().normalize();
            if (!DatasetCheck.underRoots(root, roots.roots) && !outsideRootsAccepted(root, roots)) return;
            DatasetFolder ds = new DatasetFolder(root);
            Settings.put(Settings.KEY_LAST_DATASET, ds.getRoot().toString());
            if (!source.isEmpty()) {
                Path src = Paths.get(source);
                if (!Files.isDirectory(src)) {
                    Reporter.error("Source folder not found:\n" + src);
                    return;
                }
                Settings.put(Settings.KEY_LAST_SOURCE, src.toString());
                IJ.showStatus("OmniClas: copying images into " + ds.unlabelledDir() + "...");
                DatasetFolder.Import done = ds.importFrom(src);
                IJ.showStatus("OmniClas: " + done.copied + " image(s) copied");
                if (Reporter.unattended() || !done.unreadable.isEmpty()) {
                    IJ.log("OmniClas: " + done.copied + " image(s) copied from " + src + " into " + ds.unlabelledDir());
                }
                for (String bad : done.unreadable) IJ.log("OmniClas: not copied: " + bad);
                if (!done.unreadable.isEmpty() && !Reporter.unattended()) Reporter.info(done.summary());
            }
            if (objects.wanted() && !addObjectCrops(active, objects, ds)) return;
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

    /** The active image's objects as crops in unlabelled/ (made by the server); false when it failed (said). */
    private static boolean addObjectCrops(ImagePlus field, ObjectDialog objects, DatasetFolder ds) throws IOException {
        if (field == null) {
            Reporter.error("Objects are taken from the active image: open the image first.");
            return false;
        }
        OmniClasClient client = ServerGate.connect();
        if (client == null) return false;
        try {
            ObjectClassifier.Request q = ObjectClassifier.request(field, objects.source(), ObjectClassifier.stem(field));
            IJ.showStatus("OmniClas: cropping the objects of " + field.getTitle() + "...");
            ObjectCrops.Unpacked u = ObjectCrops.unpack(client.cropObjects(q.images, q.labels, objects.serverOptions()), ds);
            IJ.log("OmniClas: " + u.written + " object crop(s) of " + field.getTitle() + " added to " + ds.unlabelledDir()
                    + (u.kept > 0 ? "; " + u.kept + " already in the dataset, left as they were" : ""));
            return true;
        } catch (OmniClasException e) {
            Reporter.error(e);
        } catch (IllegalArgumentException e) {
            Reporter.error(e.getMessage());
        }
        return false;
    }

    /** Says that training will be refused; on a desktop the user may label anyway. */
    private static boolean outsideRootsAccepted(Path dataset, ServerGate.Roots roots) {
        String why = dataset + " is not under the server's dataset roots (" + roots.source + "): " + roots.text()
                + ".\nThe server would refuse to train on it. Choose a folder under a root, or add a root in Server Settings...";
        if (Reporter.unattended() || ij.Macro.getOptions() != null) {
            IJ.log("OmniClas warning: " + why);
            return true; // labelling itself works; training will say it again
        }
        return ij.IJ.showMessageWithCancel("OmniClas", why + "\n\nLabel the images there anyway?");
    }
}

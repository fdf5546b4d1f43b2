package org.omniclas.fiji.plugins;

import ij.IJ;
import ij.measure.ResultsTable;
import ij.plugin.PlugIn;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.ui.ImageClassifier;
import org.omniclas.fiji.ui.ModelsWindow;
import org.omniclas.fiji.ui.Options;
import org.omniclas.fiji.ui.Reporter;
import org.omniclas.fiji.ui.ServerGate;
import org.omniclas.fiji.ui.Settings;

import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Plugins > OmniClas > Classify Folder...: every image of a folder → "OmniClas Results" (unattended also the
 * standard Results table), saved as CSV. A file that cannot be read gets an error row; the others are classified.
 * Macro: {@code run("Classify Folder...", "model=NAME folder=/path csv=/path/results.csv");} (csv= empty: not saved)
 */
public class Classify_Folder implements PlugIn {
    /** The CSV field's label; the file it names is the one written. */
    public static final String CSV_LABEL = "CSV (empty = do not save; default <folder>/" + ImageClassifier.DEFAULT_CSV_NAME + ")";

    @Override
    public void run(String arg) {
        try {
            OmniClasClient client = ServerGate.connect();
            if (client == null) return;
            Options o = new Options("OmniClas - Classify Folder");
            String[] names = ModelsWindow.modelChoices(client, o);
            if (names == null) return;
            o.addDirectory("Folder", Settings.get("omniclas.classify_folder", ""));
            o.addFile(CSV_LABEL, "");
            if (!o.show()) return;
            String model = names.length > 0 ? o.nextChoice() : o.nextString();
            String folderText = o.nextString().trim();
            String csv = o.nextString().trim();
            if (folderText.isEmpty()) {
                Reporter.error("No folder given (option folder=).");
                return;
            }
            Path folder = Paths.get(folderText);
            if (!folder.toFile().isDirectory()) {
                Reporter.error("Folder not found:\n" + folder);
                return;
            }
            Settings.put("omniclas.classify_folder", folder.toString());
            Settings.put(Settings.KEY_LAST_MODEL, model);
            ImageClassifier classifier = new ImageClassifier(client, model.trim());
            ResultsTable rt = classifier.classifyFolder(folder, new ResultsTable());
            ImageClassifier.show(rt);
            if (csv.isEmpty() && o.isInteractive()) csv = ImageClassifier.defaultCsv(folder.toFile());
            if (!csv.isEmpty()) ImageClassifier.saveCsv(rt, csv);
            ImageClassifier.tell(rt, classifier.failed());
        } catch (OmniClasException e) {
            Reporter.error(e);
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Classification failed", e);
        }
    }
}

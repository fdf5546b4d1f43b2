package org.omniclas.fiji.plugins;

import ij.IJ;
import ij.measure.ResultsTable;
import ij.plugin.PlugIn;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.ui.FolderJob;
import org.omniclas.fiji.ui.ImageClassifier;
import org.omniclas.fiji.ui.ModelsWindow;
import org.omniclas.fiji.ui.ObjectClassifier;
import org.omniclas.fiji.ui.ObjectDialog;
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
 * Macro: {@code run("Classify Folder...", "model=NAME folder=/path csv=/path/results.csv");} (csv= empty: not saved;
 * nothing is ever written into the image folder unasked)
 * <p>With {@code labels=/path/to/label/images}: one row per object, each image with its label image matched by name
 * ({@code A01.png} -> {@code A01_cp_masks.png}, {@code A01_masks.tif}, ...; docs/objects.md), and the object
 * options {@code padding= mask_outside= min_area= exclude_border} of Classify Image.
 * <p>A folder of more than {@value FolderJob#THRESHOLD} images on a server of this machine runs as a predict job
 * on the server ({@link FolderJob}): the Jobs view shows it (cancel, resume), and its results fill the same table.
 * {@code job=auto|always|never} (default auto); a server that cannot take the job is logged, and the images are
 * sent as usual.
 */
public class Classify_Folder implements PlugIn {
    /** The CSV field's label; the file it names is the one written. */
    public static final String CSV_LABEL = "CSV (empty = do not save)";
    /** The job field's label (macro key job=). */
    public static final String JOB_LABEL = "Job (auto = on the server above " + FolderJob.THRESHOLD + " images)";

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
            o.addDirectory("Labels (folder of label images; empty = classify whole images)", "");
            ObjectDialog objects = new ObjectDialog(o, null, false);
            o.addChoice(JOB_LABEL, FolderJob.Mode.CHOICES, FolderJob.Mode.CHOICES[0]);
            if (!o.show()) return;
            String model = names.length > 0 ? o.nextChoice() : o.nextString();
            String folderText = o.nextString().trim();
            String csv = o.nextString().trim();
            String labels = o.nextString().trim();
            objects.read();
            FolderJob.Mode jobMode = FolderJob.Mode.parse(o.nextChoice());
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
            if (!labels.isEmpty() && !Paths.get(labels).toFile().isDirectory()) {
                Reporter.error("Labels folder not found:\n" + labels);
                return;
            }
            ImageClassifier classifier = new ImageClassifier(client, model.trim());
            ObjectClassifier objectClassifier = new ObjectClassifier(client, model.trim(), objects.serverOptions());
            FolderJob job = new FolderJob(client, model.trim());
            ResultsTable rt = labels.isEmpty() ? job.run(folder, jobMode, Settings.isLoopback(Settings.url()), new ResultsTable()) : null;
            if (job.wasCancelled()) return;
            boolean asJob = rt != null;
            if (rt == null) rt = labels.isEmpty() ? classifier.classifyFolder(folder, new ResultsTable())
                    : objectClassifier.classifyFolder(folder, Paths.get(labels), new ResultsTable());
            ImageClassifier.show(rt);
            if (!csv.isEmpty()) ImageClassifier.saveCsv(rt, csv);
            ImageClassifier.tell(rt, asJob ? job.failed() : labels.isEmpty() ? classifier.failed() : objectClassifier.failed());
        } catch (OmniClasException e) {
            Reporter.error(e);
        } catch (IllegalArgumentException e) {
            Reporter.error(e.getMessage());
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Classification failed", e);
        }
    }
}

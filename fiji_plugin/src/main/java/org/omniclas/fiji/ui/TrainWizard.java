package org.omniclas.fiji.ui;

import ij.IJ;
import ij.gui.GenericDialog;
import ij.measure.ResultsTable;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.dataset.DatasetFolder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Train Classifier... : dataset → process, backbones, head, test-time transforms, numbers → POST /jobs →
 * progress → results table → POST /jobs/id/register. Macro keys: dataset, process, one flag per backbone,
 * head, hflip vflip hvflip blur gamma, threshold, max_iterations, frozen_epochs, unfrozen_epochs, image_size,
 * batch_size, seed, model_name (empty: do not register).
 */
public class TrainWizard {
    public static final String TITLE = "OmniClas - Train Classifier";
    public static final String[] TRANSFORMS = {"hflip", "vflip", "hvflip", "blur", "gamma"};
    public static final String[] HEADS = {"linear", "finetune", "auto"};

    /** Built-in process list, used when the server does not answer GET /processes. */
    public static List<Dto.ProcessInfo> fallbackProcesses() {
        return Arrays.asList(
                new Dto.ProcessInfo("nd", "N.D.", false, "No distillation: plain supervised training on the labelled images"),
                new Dto.ProcessInfo("dd", "D.D.", true, "Data distillation: one model labels the unlabelled images (with test-time transforms), confident ones join training"),
                new Dto.ProcessInfo("idd", "I.D.D.", true, "Iterative data distillation: repeat D.D. until no new image passes the threshold"),
                new Dto.ProcessInfo("md", "M.D.", true, "Model distillation: several backbones vote on the unlabelled images"),
                new Dto.ProcessInfo("imd", "I.M.D.", true, "Iterative model distillation: repeat M.D. over several iterations"),
                new Dto.ProcessInfo("mdd", "M.D.D.", true, "Model and data distillation: several backbones plus test-time transforms vote"),
                new Dto.ProcessInfo("imdd", "I.M.D.D.", true, "Iterative model and data distillation: repeat M.D.D. (usually the most accurate, slowest)"));
    }

    /** Counts, without changing anything: {labelled images, categories with images, unlabelled images}. */
    public static int[] survey(Path root) throws IOException {
        int labelled = 0, classes = 0, unlabelled = 0;
        try (java.util.stream.Stream<Path> dirs = Files.list(root)) {
            for (Path d : (Iterable<Path>) dirs::iterator) {
                if (!Files.isDirectory(d)) continue;
                String n = d.getFileName().toString();
                if (n.startsWith(".") || n.equalsIgnoreCase("test")) continue;
                long c;
                try (java.util.stream.Stream<Path> files = Files.list(d)) {
                    c = files.filter(DatasetFolder::isImage).count();
                }
                if (n.equals(DatasetFolder.UNLABELLED)) unlabelled += c;
                else if (c > 0) {
                    labelled += c;
                    classes++;
                }
            }
        }
        return new int[]{labelled, classes, unlabelled};
    }

    public void run() {
        OmniClasClient client = Settings.client();
        try {
            // ---- step 1: dataset
            Options o1 = new Options(TITLE + " (1/2)");
            o1.addDirectory("Dataset", Settings.get(Settings.KEY_LAST_DATASET, ""));
            o1.addMessage("Layout: <dataset>/<class>/<image> and, optionally, <dataset>/unlabelled/<image>");
            if (!o1.show()) return;
            String datasetText = o1.nextString().trim();
            if (datasetText.isEmpty()) {
                Reporter.error("No dataset folder given.");
                return;
            }
            Path dataset = Paths.get(datasetText).toAbsolutePath().normalize();
            if (!Files.isDirectory(dataset)) {
                Reporter.error("Dataset folder not found:\n" + dataset);
                return;
            }
            Settings.put(Settings.KEY_LAST_DATASET, dataset.toString());
            int[] counts = survey(dataset);
            if (counts[1] < 2) {
                Reporter.error("The dataset needs at least 2 categories with images;\n" + dataset + " has " + counts[1] + ".");
                return;
            }
            boolean hasUnlabelled = counts[2] > 0;

            // ---- server lists
            IJ.showStatus("OmniClas: asking the server for processes and backbones...");
            List<Dto.ProcessInfo> processes;
            try {
                processes = client.processes();
                if (processes == null || processes.isEmpty()) processes = fallbackProcesses();
            } catch (OmniClasException e) {
                if (e.isConnectionFailure()) throw e;
                processes = fallbackProcesses();
            }
            List<Dto.ProcessInfo> offered = new ArrayList<>();
            for (Dto.ProcessInfo p : processes) if (hasUnlabelled || !p.needsUnlabelled) offered.add(p);
            if (offered.isEmpty()) offered.add(fallbackProcesses().get(0));
            List<Dto.Backbone> backbones = client.backbones();
            if (backbones.isEmpty()) {
                Reporter.error("The server offers no backbone.");
                return;
            }

            // ---- step 2: everything else
            Options o = new Options(TITLE + " (2/2)");
            o.addMessage(counts[0] + " labelled images in " + counts[1] + " categories, " + counts[2] + " unlabelled"
                    + (hasUnlabelled ? "" : " (so only processes without unlabelled images are offered)"));
            String[] ids = new String[offered.size()];
            StringBuilder help = new StringBuilder();
            for (int i = 0; i < ids.length; i++) {
                Dto.ProcessInfo p = offered.get(i);
                ids[i] = p.id;
                help.append(p.id).append(" (").append(p.name).append("): ").append(oneLine(p.description)).append("\n");
            }
            String dfltProcess = Arrays.asList(ids).contains("imdd") ? "imdd" : ids[0];
            o.addChoice("Process", ids, dfltProcess);
            o.addMessage(help.toString().trim());
            String[] bbNames = new String[backbones.size()];
            boolean[] bbDefault = new boolean[backbones.size()];
            boolean anyDefault = false;
            for (int i = 0; i < bbNames.length; i++) {
                bbNames[i] = backbones.get(i).name;
                bbDefault[i] = backbones.get(i).isDefault;
                anyDefault |= bbDefault[i];
            }
            if (!anyDefault) bbDefault[0] = true;
            o.addCheckboxGroup((bbNames.length + 2) / 3, Math.min(3, bbNames.length), bbNames, bbDefault, "Backbones");
            o.addChoice("Head", HEADS, "linear");  // the engine's default
            o.addCheckboxGroup(1, TRANSFORMS.length, TRANSFORMS, new boolean[]{true, true, true, false, false},
                    "Test-time transforms (for labelling unlabelled images)");
            o.addNumber("Threshold", 0.8, 2);
            o.addNumber("Max_iterations", 5, 0);
            o.addNumber("Frozen_epochs", 2, 0);
            o.addNumber("Unfrozen_epochs", 8, 0);
            o.addNumber("Image_size (0 = auto)", 0, 0);
            o.addNumber("Batch_size", 32, 0);
            o.addNumber("Seed", 0, 0);
            o.addString("Model_name (empty = do not register)", dataset.getFileName() + "_classifier", 25);
            if (!o.show()) return;

            Dto.JobSpec spec = new Dto.JobSpec();
            spec.dataset = dataset.toString();
            spec.process = o.nextChoice();
            spec.backbones = new ArrayList<>();
            for (String b : bbNames) if (o.nextBoolean()) spec.backbones.add(b);
            spec.head = o.nextChoice();
            spec.transforms = new ArrayList<>();
            for (String t : TRANSFORMS) if (o.nextBoolean()) spec.transforms.add(t);
            spec.threshold = o.nextNumber();
            spec.maxIterations = (int) o.nextNumber();
            spec.frozenEpochs = (int) o.nextNumber();
            spec.unfrozenEpochs = (int) o.nextNumber();
            int size = (int) o.nextNumber();
            spec.imageSize = size > 0 ? size : null;
            spec.batchSize = (int) o.nextNumber();
            spec.seed = (int) o.nextNumber();
            String modelName = o.nextString().trim();
            if (spec.backbones.isEmpty()) {
                Reporter.error("Choose at least one backbone.");
                return;
            }
            if (!hasUnlabelled && !"nd".equals(spec.process)) {
                for (Dto.ProcessInfo p : processes) {
                    if (p.id.equals(spec.process) && p.needsUnlabelled) {
                        Reporter.error("Process " + spec.process + " needs unlabelled images; " + dataset + " has none. Use nd.");
                        return;
                    }
                }
            }

            // ---- submit and follow
            Dto.Job created = client.submitJob(spec);
            String id = created.id();
            IJ.log("OmniClas: training job " + id + " submitted (" + spec.process + ", " + spec.backbones + ")");
            Dto.Job job = new JobMonitor(client, id).follow();
            finish(client, job, modelName, o.isInteractive() && ij.Macro.getOptions() == null);
        } catch (OmniClasException e) {
            Reporter.error(e);
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Training failed", e);
        }
    }

    private static String oneLine(String s) {
        if (s == null) return "";
        s = s.replace('\n', ' ').trim();
        return s.length() > 110 ? s.substring(0, 107) + "..." : s;
    }

    /** Results table + registration. Returns the registered model or null. */
    public static Dto.Model finish(OmniClasClient client, Dto.Job job, String modelName, boolean interactive)
            throws OmniClasException {
        if ("cancelled".equals(job.state)) {
            IJ.showStatus("OmniClas: job " + job.id() + " cancelled");
            IJ.log("OmniClas: job " + job.id() + " cancelled");
            return null;
        }
        if (!"finished".equals(job.state)) {
            Reporter.error("Training job " + job.id() + " " + job.state
                    + (job.error != null ? ":\n" + job.error : "."));
            return null;
        }
        Dto.JobResult r = job.result;
        if (r != null) {
            ResultsTable rt = new ResultsTable();
            if (r.perClass != null) for (Dto.PerClass pc : r.perClass) {
                rt.incrementCounter();
                rt.addValue("class", pc.className == null ? "" : pc.className);
                rt.addValue("precision", pc.precision == null ? Double.NaN : pc.precision);
                rt.addValue("recall", pc.recall == null ? Double.NaN : pc.recall);
                rt.addValue("support", pc.support == null ? Double.NaN : pc.support);
            }
            lastTraining = rt;
            String acc = r.testAccuracy == null ? "n/a" : IJ.d2s(r.testAccuracy * 100, 1) + " %";
            IJ.log("OmniClas: job " + job.id() + " finished, test accuracy " + acc);
            if (!java.awt.GraphicsEnvironment.isHeadless()) rt.show("OmniClas Training " + job.id());
            IJ.showStatus("OmniClas: training finished, test accuracy " + acc);
        }
        if (interactive) {
            GenericDialog gd = new GenericDialog("OmniClas - Register model");
            gd.addMessage("Test accuracy: " + (r == null || r.testAccuracy == null ? "n/a" : IJ.d2s(r.testAccuracy * 100, 1) + " %"));
            gd.addStringField("Register as", modelName, 25);
            gd.enableYesNoCancel("Register", "Don't register");
            gd.showDialog();
            if (gd.wasCanceled() || !gd.wasOKed()) return null;
            modelName = gd.getNextString().trim();
        }
        if (modelName == null || modelName.isEmpty()) return null;
        Dto.Model m = client.registerJob(job.id(), modelName);
        IJ.log("OmniClas: registered model " + m.name);
        Settings.put(Settings.KEY_LAST_MODEL, m.name);
        return m;
    }

    private static volatile ResultsTable lastTraining;

    /** Per-class table of the last finished training (also headless). */
    public static ResultsTable lastTrainingTable() { return lastTraining; }
}

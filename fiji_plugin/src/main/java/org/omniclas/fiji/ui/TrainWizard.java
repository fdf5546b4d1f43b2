package org.omniclas.fiji.ui;

import ij.IJ;
import ij.Macro;
import ij.WindowManager;
import ij.measure.ResultsTable;
import ij.plugin.frame.Recorder;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.JobText;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.client.OmniClasException;
import org.omniclas.fiji.client.TrainingOptions;
import org.omniclas.fiji.dataset.DatasetCheck;

import java.awt.Frame;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Train Classifier...: dataset and options ({@link TrainDialog} on a desktop, the macro options otherwise) →
 * dataset checks → POST /jobs → progress → per-class table → registration. What it sends for a process left at
 * its defaults is what the CLI trains for that process: the defaults come from GET /processes.
 * Macro keys: dataset, process, model_name (empty: do not register; absent: {@code <dataset>_classifier}), and
 * every training option by its name ({@code backbones=[a,b] head=linear threshold=0.8 ...}); options left out
 * take the process's defaults. Only a run that finished is recorded by the Macro Recorder.
 */
public class TrainWizard {
    public static final String TITLE = TrainDialog.TITLE;

    private static volatile ResultsTable lastTraining;

    /** Per-class table of the last finished training (also headless). */
    public static ResultsTable lastTrainingTable() { return lastTraining; }

    public void run() {
        OmniClasClient client = ServerGate.connect();
        if (client == null) return;
        try {
            IJ.showStatus("OmniClas: asking the server for its training options...");
            TrainingOptions form = new TrainingOptions(client.catalog());
            IJ.showStatus("");
            ServerGate.Roots roots = ServerGate.datasetRoots();
            // roots from the settings are the truth only for a server Fiji started itself
            boolean authoritative = !roots.source.equals("Server Settings") || ServerGate.running() != null;
            String macro = Macro.getOptions();
            Path dataset;
            String modelName;
            if (macro != null || Reporter.unattended()) {
                Map<String, String> opt = Options.parse(macro);
                String ds = opt.get("dataset");
                if (ds == null || ds.trim().isEmpty()) {
                    Reporter.error("Train Classifier: option dataset= is missing (the dataset folder).");
                    return;
                }
                dataset = Paths.get(ds.trim()).toAbsolutePath().normalize();
                form.read(opt);
                for (String k : opt.keySet()) {
                    if (form.has(k) && !form.applies(k)) {
                        IJ.log("OmniClas: " + k + "=" + opt.get(k) + " does not apply to " + form.process().id
                                + " with these options (" + form.option(k).applies + "); its default is used.");
                    }
                }
                modelName = opt.containsKey("model_name") ? opt.get("model_name").trim() : defaultModelName(dataset);
            } else {
                List<Dto.Model> existing = client.models(); // to warn before a name in use gets a new version
                TrainDialog.Choice c = TrainDialog.ask(form, roots, authoritative, Settings.get(Settings.KEY_LAST_DATASET, ""), existing);
                if (c == null) {
                    Recorder.disableCommandRecording(); // cancelled: nothing ran
                    return;
                }
                dataset = c.dataset;
                modelName = c.modelName;
            }
            Settings.put(Settings.KEY_LAST_DATASET, dataset.toString());
            String badName = modelName.isEmpty() ? null : ModelNames.problem(modelName);
            if (badName != null) { // before hours of training, not at the end
                Reporter.error("Train Classifier: " + badName + " (option model_name=; empty: do not register)");
                return;
            }

            List<String> errors = check(form, dataset, roots, authoritative);
            if (!errors.isEmpty()) {
                Reporter.error("Train Classifier: " + dataset + " cannot be trained on yet:\n- " + String.join("\n- ", errors));
                return;
            }
            Map<String, Object> spec = form.spec(dataset.toString());
            Dto.Job submitted = submit(client, form, spec);
            String id = submitted.id();
            Settings.rememberModelName(id, modelName); // a resumed job is registered under it too
            String what = JobText.options(form.applying());
            IJ.log("OmniClas: training job " + id + " submitted: " + dataset + "; " + what);
            Dto.Job job = new JobMonitor(client, id, what).follow();
            boolean interactive = macro == null && !Reporter.unattended();
            Dto.Model model = finish(client, job, modelName, interactive);
            if ("finished".equals(job.state)) record(form, dataset, model == null ? "" : model.name);
            else Recorder.disableCommandRecording(); // a cancelled or failed run is not recorded: replaying would retrain
        } catch (OmniClasException e) {
            Reporter.error(e);
        } catch (IOException | RuntimeException e) {
            Reporter.unexpected("Training failed", e);
        }
    }

    static String defaultModelName(Path dataset) {
        Path n = dataset.getFileName();
        return ModelNames.propose(n == null ? null : n.toString());
    }

    /** What stops the job before it is sent: the dataset (by the server's rules), the roots, the option values. */
    static List<String> check(TrainingOptions form, Path dataset, ServerGate.Roots roots, boolean authoritative) throws IOException {
        List<String> errors = new ArrayList<>(DatasetCheck.of(dataset).errors(form.process().needsUnlabelled));
        if (!DatasetCheck.underRoots(dataset, roots.roots)) {
            String msg = "it is not under the server's dataset roots (" + roots.source + "): " + roots.text();
            if (authoritative) errors.add(msg + ".");
            else IJ.log("OmniClas warning: " + dataset + ": " + msg);
        }
        errors.addAll(form.problems());
        return errors;
    }

    /**
     * POST /jobs. A server older than its own option list refuses options it describes but does not take yet
     * ("unknown job option"): those still at the process's default are left out (the server then uses that same
     * default) and the job is sent again; one the user changed is an error naming it.
     */
    static Dto.Job submit(OmniClasClient client, TrainingOptions form, Map<String, Object> spec) throws OmniClasException {
        Map<String, Object> sent = new LinkedHashMap<>(spec);
        List<String> left = new ArrayList<>();
        while (true) {
            try {
                Dto.Job job = client.submitJob(sent);
                if (!left.isEmpty()) IJ.log("OmniClas: this server does not take the option(s) " + String.join(", ", left)
                        + " in jobs yet; they were left at their defaults (update the server).");
                return job;
            } catch (OmniClasException e) {
                String f = e.getField();
                boolean unknownOption = e.getStatus() == 400 && f != null && sent.containsKey(f)
                        && !TrainingOptions.WIZARD_KEYS.contains(f) && e.getMessage().startsWith("unknown job option");
                if (!unknownOption) throw e;
                Object dflt = form.defaultValue(f);
                if (spec.get(f) == null ? dflt != null : !spec.get(f).equals(dflt)) {
                    throw new OmniClasException(400, "This OmniClas server does not accept the training option \"" + f
                            + "\" in jobs yet, and it was changed from its default. Update the server, or leave "
                            + f + " at " + TrainingOptions.text(dflt) + ".", f);
                }
                sent.remove(f);
                left.add(f);
            }
        }
    }

    /** The Recorder line of a finished run: dataset, process, the options that apply, model_name. */
    static Map<String, String> recordedOptions(TrainingOptions form, Path dataset, String modelName) {
        Map<String, String> out = new LinkedHashMap<>();
        out.put("dataset", dataset.toString());
        out.put("process", form.process().id);
        out.putAll(form.macroOptions());
        out.put("model_name", modelName);
        return out;
    }

    private static void record(TrainingOptions form, Path dataset, String modelName) {
        if (!Recorder.record) return;
        Recorder.resetCommandOptions(); // drop what the Register dialog recorded
        for (Map.Entry<String, String> e : recordedOptions(form, dataset, modelName).entrySet()) {
            Recorder.recordOption(e.getKey(), e.getKey().equals("dataset") ? Recorder.fixPath(e.getValue()) : e.getValue());
        }
    }

    /** The per-class table of a finished job; precision, recall and F1 with 3 decimals throughout. */
    static ResultsTable perClassTable(Dto.JobResult r) {
        ResultsTable rt = new ResultsTable();
        if (r.perClass != null) for (Dto.PerClass pc : r.perClass) {
            rt.incrementCounter();
            rt.addValue("class", pc.className == null ? "" : pc.className);
            rt.addValue("precision", pc.precision == null ? Double.NaN : pc.precision);
            rt.addValue("recall", pc.recall == null ? Double.NaN : pc.recall);
            rt.addValue("f1", pc.f1 == null ? Double.NaN : pc.f1);
            rt.addValue("support", pc.support == null ? Double.NaN : pc.support);
        }
        if (rt.size() > 0) {
            for (String c : new String[]{"precision", "recall", "f1"}) rt.setDecimalPlaces(rt.getColumnIndex(c), 3);
            rt.setDecimalPlaces(rt.getColumnIndex("support"), 0);
        }
        return rt;
    }

    /**
     * Follows a job that was just resumed to its end, as the wizard follows a new one: the progress window (the
     * status bar says "running" again), the per-class table, and registration under the name the wizard was
     * given (a dialog offers it on a desktop; without one, only a name the wizard was given is registered).
     */
    public static Dto.Model followResumed(OmniClasClient client, Dto.Job resumed, boolean interactive) throws OmniClasException {
        String id = resumed.id();
        Dto.Catalog catalog = null;
        try {
            catalog = client.catalog();
        } catch (OmniClasException e) {
            // the options are then all listed
        }
        Dto.Job job = new JobMonitor(client, id, JobText.options(resumed.spec, catalog)).follow();
        String name = Settings.modelNameOf(id);
        if (name == null) name = interactive ? JobsPanel.defaultModelName(job) : "";
        return finish(client, job, name, interactive);
    }

    /** What the Register dialog's second button does (it has no third: closing it does the same). */
    static final String DONT_REGISTER_TEXT = "Don't register: the trained model stays with its job on the server; "
            + "Plugins > OmniClas > Jobs... > Register... registers it later.";

    /** Results table + registration. Returns the registered model or null. */
    public static Dto.Model finish(OmniClasClient client, Dto.Job job, String modelName, boolean interactive)
            throws OmniClasException {
        if ("finished".equals(job.state)) Settings.forgetModelName(job.id()); // (a cancelled job may be resumed)
        if ("cancelled".equals(job.state)) {
            IJ.showStatus("OmniClas: job " + job.id() + " cancelled");
            IJ.log("OmniClas: job " + job.id() + " cancelled");
            return null;
        }
        if (!"finished".equals(job.state)) {
            Reporter.error("Training job " + job.id() + " " + job.state + (job.error != null ? ":\n" + job.error : ".")
                    + (job.resumable ? "\nResume it from Plugins > OmniClas > Jobs..." : ""));
            return null;
        }
        Dto.JobResult r = job.result;
        String acc = JobText.testAccuracy(r); // with how many test images it rests on
        if (r != null && r.estimateText != null) IJ.log("OmniClas: estimated accuracy " + r.estimateText);
        if (r != null && r.automl != null) IJ.log("OmniClas: " + r.automl);
        IJ.log("OmniClas: job " + job.id() + " finished, " + acc);
        IJ.showStatus("OmniClas: training finished, " + acc);
        Frame tableWindow = null;
        if (r != null) {
            ResultsTable rt = perClassTable(r);
            lastTraining = rt;
            if (!java.awt.GraphicsEnvironment.isHeadless()) {
                String title = "OmniClas Training " + job.id();
                rt.show(title);
                tableWindow = WindowManager.getFrame(title);
            }
        }
        List<Dto.Model> existing = client.models();
        while (interactive) {
            FittedDialog gd = new FittedDialog("OmniClas - Register model");
            gd.addMessage((r != null && r.estimateText != null ? "Estimated accuracy " + r.estimateText + "\n" : "")
                    + Character.toUpperCase(acc.charAt(0)) + acc.substring(1) + "\n(per class: table \"OmniClas Training "
                    + job.id() + "\")" + (r != null && r.automl != null ? "\n" + r.automl : ""));
            gd.addStringField("Register as", modelName, 25);
            String inUse = ModelNames.warning(existing, modelName, r == null ? null : r.classes);
            if (inUse != null) gd.addMessage(inUse);
            gd.addMessage(DONT_REGISTER_TEXT);
            gd.setOKLabel("Register");
            gd.setCancelLabel("Don't register");
            if (tableWindow != null) gd.placeBeside(tableWindow.getBounds());
            gd.showDialog();
            if (gd.wasCanceled()) return null;
            modelName = gd.getNextString().trim();
            String badName = ModelNames.problem(modelName.isEmpty() ? null : modelName);
            if (badName != null) {
                IJ.showMessage("OmniClas - Register model", ScreenFit.wrap(badName));
                modelName = ModelNames.sanitize(modelName, ModelNames.MAX_LENGTH); // offered in the dialog again
                continue;
            }
            ModelNames.Answer answer = modelName.isEmpty() ? ModelNames.Answer.NEW_VERSION
                    : ModelNames.ask(IJ.getInstance(), existing, modelName, r == null ? null : r.classes);
            if (answer == ModelNames.Answer.CANCEL) return null;
            if (answer == ModelNames.Answer.NEW_VERSION) break;
            modelName = ModelNames.freeName(existing, modelName); // offered in the dialog again
        }
        if (modelName == null || modelName.isEmpty()) {
            if (!interactive) IJ.log("OmniClas: job " + job.id() + " is not registered (no model name); register it with "
                    + "run(\"Jobs...\", \"action=register job=" + job.id() + " name=NAME\")");
            return null;
        }
        Dto.Model m = client.registerJob(job.id(), modelName);
        Dto.Model before = ModelNames.find(existing, m.name);
        IJ.log("OmniClas: registered model " + m.name + (before == null ? ""
                : " as version " + m.version + " (the name was in use)." + ModelNames.classesDiffer(before, r == null ? null : r.classes)));
        Settings.put(Settings.KEY_LAST_MODEL, m.name);
        ModelsWindow.modelsChanged();
        return m;
    }

}

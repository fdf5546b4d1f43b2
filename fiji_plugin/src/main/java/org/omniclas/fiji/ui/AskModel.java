package org.omniclas.fiji.ui;

import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.OmniClasClient;
import org.omniclas.fiji.dataset.DatasetFolder;

import javax.swing.JButton;
import javax.swing.JOptionPane;
import javax.swing.SwingUtilities;
import javax.swing.SwingWorker;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The "Ask the model..." button of the labelling window: a registered model chosen, its suggestion for every
 * unlabelled image asked off the EDT ({@link ModelSuggestions}), then the grid least certain first. A second
 * click stops it.
 */
final class AskModel {
    final JButton button = new JButton("Ask the model...");
    private final LabelWindow window;
    private final DatasetFolder ds;
    private final Map<Path, Dto.PredictResult> suggestions;
    private final Consumer<String> chosen;
    private SwingWorker<Void, Void> predicting;

    /** @param chosen hears the model the user chose (Label next asks it next) */
    AskModel(LabelWindow window, DatasetFolder ds, Map<Path, Dto.PredictResult> suggestions, Consumer<String> chosen) {
        this.window = window;
        this.ds = ds;
        this.suggestions = suggestions;
        this.chosen = chosen;
        button.setName("ask");
        button.addActionListener(e -> ask());
    }

    void cancel() {
        if (predicting != null) predicting.cancel(true);
    }

    void ask() {
        if (predicting != null && !predicting.isDone()) {
            predicting.cancel(true);
            return;
        }
        OmniClasClient client = Settings.client();
        button.setEnabled(false);
        window.setStatus("Asking the server for its models...");
        new SwingWorker<List<Dto.Model>, Void>() {
            @Override protected List<Dto.Model> doInBackground() throws Exception {
                OmniClasClient c = ServerGate.connect(); // offers to start a server when none answers
                return c == null ? null : c.models(); // null: no server (the user was told)
            }
            @Override protected void done() {
                button.setEnabled(true);
                List<Dto.Model> models;
                try {
                    models = get();
                } catch (Exception e) {
                    Throwable why = e.getCause() != null ? e.getCause() : e;
                    window.setStatus("Ask the model: no answer from the server (" + Settings.url() + ").");
                    Reporter.unexpected("OmniClas", why);
                    return;
                }
                if (models == null) {
                    window.setStatus("Ask the model: no server at " + Settings.url() + ".");
                    return;
                }
                if (models.isEmpty()) {
                    window.setStatus(" ");
                    Reporter.error("The server has no registered model yet; train one first (Train Classifier...).");
                    return;
                }
                String[] names = models.stream().map(m -> m.name).toArray(String[]::new);
                String last = Settings.get(Settings.KEY_LAST_MODEL, names[0]);
                String choice = (String) JOptionPane.showInputDialog(window,
                        "Model that suggests classes for the unlabelled images:", "Ask the model",
                        JOptionPane.PLAIN_MESSAGE, null, names, Arrays.asList(names).contains(last) ? last : names[0]);
                if (choice != null) predict(client, choice);
            }
        }.execute();
    }

    private void predict(OmniClasClient client, String model) {
        Settings.put(Settings.KEY_LAST_MODEL, model);
        chosen.accept(model);
        List<Path> todo;
        try {
            todo = ds.images(null);
        } catch (IOException e) {
            Reporter.unexpected("Cannot read the dataset folder", e);
            return;
        }
        button.setText("Stop asking");
        ModelSuggestions asking = new ModelSuggestions(suggestions);
        predicting = new SwingWorker<Void, Void>() {
            @Override protected Void doInBackground() throws Exception {
                asking.ask(client, model, todo, this::isCancelled, done -> SwingUtilities.invokeLater(() -> {
                    window.setStatus("Model " + model + ": " + done + " / " + todo.size() + " unlabelled images");
                    window.repaintGrid();
                }));
                return null;
            }
            @Override protected void done() {
                button.setText("Ask the model...");
                try {
                    if (!isCancelled()) get();
                    window.showAsked();
                    window.setStatus(asking.summary() + ". Least certain first; A or Enter accepts, 1-9 assigns.");
                } catch (Exception e) {
                    window.setStatus("Ask the model stopped: " + asking.summary() + ".");
                    Reporter.unexpected("OmniClas", e.getCause() != null ? e.getCause() : e);
                }
            }
        };
        predicting.execute();
    }
}

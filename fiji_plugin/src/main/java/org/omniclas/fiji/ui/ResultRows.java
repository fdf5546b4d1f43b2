package org.omniclas.fiji.ui;

import ij.measure.ResultsTable;
import org.omniclas.fiji.client.Dto;

import java.util.List;

/**
 * Rows of the "OmniClas Results" table in the one results format of the CLI, the server's batch jobs and Fiji
 * (docs/results-csv.md): {@code image, slice, class, confidence, unsure, runner_up, runner_up_p, p_<class>... (the
 * model's class order), error}.
 * An error row names the image and carries the message, with no class, confidence or probabilities. Numbers that
 * do not apply are NaN in the table and empty in the CSV ({@link ResultsCsv}).
 */
public final class ResultRows {
    public static final String ERROR = "error";
    /** Probability columns are named p_ + the class. */
    public static final String PROBABILITY_PREFIX = "p_";
    public static final String UNSURE = "unsure";
    public static final String RUNNER_UP = "runner_up";
    public static final String RUNNER_UP_P = "runner_up_p";
    static final int DECIMALS = 4;

    private ResultRows() {}

    /** One prediction (or one error) as a row. */
    public static void add(ResultsTable rt, String image, Integer slice, Dto.PredictResult r, List<String> classes) {
        begin(rt, image, slice);
        prediction(rt, r, classes);
    }

    /**
     * Starts a row: image and slice (1 for a plain image and for a file that could not be read; null leaves it
     * empty). Rows of objects add their own columns between this and {@link #prediction}.
     */
    public static void begin(ResultsTable rt, String image, Integer slice) {
        rt.setNaNEmptyCells(true); // a column that appears later (another model's class) is empty above, not 0
        rt.incrementCounter();
        rt.addValue("image", image);
        rt.addValue("slice", slice == null ? Double.NaN : slice);
        rt.setDecimalPlaces(rt.getColumnIndex("slice"), 0);
    }

    /** class, confidence, unsure (true/false), the runner-up and its probability, one p_<class> per class of the
     * model, and error ("" when the image was classified). */
    public static void prediction(ResultsTable rt, Dto.PredictResult r, List<String> classes) {
        boolean failed = r.isError();
        rt.addValue("class", failed || r.className == null ? "" : r.className);
        rt.addValue("confidence", failed ? Double.NaN : r.confidence);
        rt.setDecimalPlaces(rt.getColumnIndex("confidence"), DECIMALS);
        rt.addValue(UNSURE, failed ? "" : String.valueOf(r.isUnsure()));
        boolean second = !failed && r.runnerUp != null;
        rt.addValue(RUNNER_UP, second && r.runnerUp.className != null ? r.runnerUp.className : "");
        rt.addValue(RUNNER_UP_P, second ? r.runnerUp.probability : Double.NaN);
        rt.setDecimalPlaces(rt.getColumnIndex(RUNNER_UP_P), DECIMALS);
        for (String c : classes) {
            Double p = failed || r.probabilities == null ? null : r.probabilities.get(c);
            String column = PROBABILITY_PREFIX + c;
            rt.addValue(column, p == null ? Double.NaN : p);
            rt.setDecimalPlaces(rt.getColumnIndex(column), DECIMALS);
        }
        rt.addValue(ERROR, failed ? r.error : "");
    }

    /** Slices as whole numbers, confidence and probabilities with {@value #DECIMALS} decimals. */
    public static void formatColumns(ResultsTable rt) {
        for (String c : rt.getHeadings()) {
            int col = rt.getColumnIndex(c);
            if (col < 0) continue;
            if (c.equals("slice")) rt.setDecimalPlaces(col, 0);
            else if (isProbability(c)) rt.setDecimalPlaces(col, DECIMALS);
        }
    }

    /** Columns of probabilities: confidence, the runner-up's, and the p_<class> columns. */
    public static boolean isProbability(String column) {
        return column.equals("confidence") || column.equals(RUNNER_UP_P) || column.startsWith(PROBABILITY_PREFIX);
    }

    /** The model's classes in its order: from the model, else from the order of a result's probabilities. */
    public static List<String> classesOf(Dto.Model model, List<Dto.PredictResult> results) {
        if (model != null && model.classes != null && !model.classes.isEmpty()) return model.classes;
        for (Dto.PredictResult r : results) {
            if (!r.isError() && r.probabilities != null && !r.probabilities.isEmpty()) {
                return new java.util.ArrayList<>(r.probabilities.keySet());
            }
        }
        return new java.util.ArrayList<>();
    }
}

package org.omniclas.fiji.ui;

import ij.measure.ResultsTable;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A results table as a CSV file: UTF-8, RFC 4180 quoting (ImageJ's own saveAs neither escapes quotes nor fixes the
 * encoding), numbers written as the CLI writes them ({@link #cell}), a number that does not apply (NaN) empty, and the {@code error}
 * column last, as docs/results-csv.md has it. Written to a temporary file and renamed, so a failed write never
 * leaves half a file. {@link #parse} reads such a file back (a predict job's results.csv).
 */
public final class ResultsCsv {
    private ResultsCsv() {}

    public static void write(ResultsTable rt, Path file) throws IOException {
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        if (dir == null || !Files.isDirectory(dir)) throw new IOException("The folder of the CSV file does not exist: " + dir);
        List<String> columns = new ArrayList<>(java.util.Arrays.asList(rt.getHeadings()));
        if (columns.remove(ResultRows.ERROR)) columns.add(ResultRows.ERROR); // after another model's p_ columns too
        Path tmp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
        try {
            try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                w.write(line(columns));
                for (int row = 0; row < rt.size(); row++) {
                    List<String> cells = new ArrayList<>();
                    for (String c : columns) cells.add(cell(rt, c, row));
                    w.write(line(cells));
                }
            }
            try {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Columns written as whole numbers, as the CLI writes them. */
    private static final java.util.Set<String> WHOLE = new java.util.HashSet<>(java.util.Arrays.asList(
            "slice", "object", "bbox_x", "bbox_y", "bbox_width", "bbox_height", "area"));

    /**
     * The cell as the CLI writes it (docs/results-csv.md; issue 22: Fiji wrote 8.349E-6 where the CLI wrote
     * 0.000008): confidence and probabilities with {@value #PROBABILITY_DECIMALS} decimals, centroids with 2, counts
     * as whole numbers, text as it is; NaN (no value) is empty.
     */
    static String cell(ResultsTable rt, String column, int row) {
        String text = rt.getStringValue(column, row);
        double v = rt.getValue(column, row);
        if (Double.isNaN(v)) return "NaN".equals(text) ? "" : text; // a text column (image, class, error)
        if (ResultRows.isProbability(column)) return fixed(v, PROBABILITY_DECIMALS);
        if (column.equals("x") || column.equals("y")) return fixed(v, 2);
        if (WHOLE.contains(column) && v == Math.rint(v)) return String.valueOf((long) v);
        return text;
    }

    /** As the CLI writes confidence and probabilities (report/results_csv.py DECIMALS). */
    public static final int PROBABILITY_DECIMALS = 6;

    private static String fixed(double v, int decimals) {
        return String.format(java.util.Locale.ROOT, "%." + decimals + "f", v);
    }

    static String line(List<String> cells) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < cells.size(); i++) {
            if (i > 0) sb.append(',');
            sb.append(quote(cells.get(i)));
        }
        return sb.append("\r\n").toString();
    }

    /** Parses CSV text (RFC 4180: quoted cells may hold commas, quotes and line breaks) into rows of cells. */
    public static List<List<String>> parse(String text) {
        List<List<String>> rows = new ArrayList<>();
        List<String> row = new ArrayList<>();
        StringBuilder cell = new StringBuilder();
        boolean quoted = false;
        int n = text.length();
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (quoted) {
                if (c != '"') cell.append(c);
                else if (i + 1 < n && text.charAt(i + 1) == '"') cell.append(text.charAt(++i));
                else quoted = false;
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                row.add(cell.toString());
                cell.setLength(0);
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n') i++;
                row.add(cell.toString());
                cell.setLength(0);
                rows.add(row);
                row = new ArrayList<>();
            } else {
                cell.append(c);
            }
        }
        if (cell.length() > 0 || !row.isEmpty()) {
            row.add(cell.toString());
            rows.add(row);
        }
        return rows;
    }

    static String quote(String s) {
        if (s == null) return "";
        if (s.indexOf(',') < 0 && s.indexOf('"') < 0 && s.indexOf('\n') < 0 && s.indexOf('\r') < 0) return s;
        return '"' + s.replace("\"", "\"\"") + '"';
    }
}

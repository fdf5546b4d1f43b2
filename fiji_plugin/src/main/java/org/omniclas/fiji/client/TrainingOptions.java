package org.omniclas.fiji.client;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What the Train wizard edits, built from GET /processes: the chosen process, the value of every training option,
 * which options apply, and the job spec. It knows no option by name (only "backbones" meets the process's
 * {@code max_backbones}), so options the engine gains appear in the wizard without plugin changes.
 * No Swing, no ImageJ.
 */
public final class TrainingOptions {
    /** The CLI's default process. */
    /** AutoML: the server tries the processes and rules and keeps the best (servers before it: the first). */
    public static final String DEFAULT_PROCESS = "auto";
    /** Keys of the Train command's macro options that are not training options. */
    public static final List<String> WIZARD_KEYS = Arrays.asList("dataset", "process", "model_name");

    private final List<Dto.ProcessInfo> processes;
    private final Map<String, Dto.OptionInfo> options = new LinkedHashMap<>();
    private final Map<String, Object> values = new LinkedHashMap<>();
    private Dto.ProcessInfo process;

    public TrainingOptions(Dto.Catalog catalog) {
        if (catalog.processes.isEmpty()) throw new IllegalArgumentException("the server describes no process");
        processes = new ArrayList<>(catalog.processes);
        for (Dto.OptionInfo o : catalog.options) options.put(o.name, o);
        select(processIds().contains(DEFAULT_PROCESS) ? DEFAULT_PROCESS : processes.get(0).id);
    }

    public List<Dto.ProcessInfo> processes() { return processes; }

    public List<String> processIds() {
        List<String> ids = new ArrayList<>();
        for (Dto.ProcessInfo p : processes) ids.add(p.id);
        return ids;
    }

    public Dto.ProcessInfo process() { return process; }

    public Collection<Dto.OptionInfo> options() { return options.values(); }

    public boolean has(String name) { return options.containsKey(name); }

    public Dto.OptionInfo option(String name) {
        Dto.OptionInfo o = options.get(name);
        if (o == null) throw new IllegalArgumentException("unknown training option '" + name + "'");
        return o;
    }

    /** Chooses a process ("imdd", "I.M.D.D." and "IMDD" all work) and re-fills every option with its defaults. */
    public void select(String processId) {
        String key = processId == null ? "" : processId.toLowerCase(Locale.ROOT).replaceAll("[._\\-\\s]", "");
        Dto.ProcessInfo found = null;
        for (Dto.ProcessInfo p : processes) if (p.id.equals(key)) found = p;
        if (found == null) {
            throw new IllegalArgumentException("unknown process '" + processId + "'; choose one of " + String.join(", ", processIds()));
        }
        process = found;
        values.clear();
        for (Dto.OptionInfo o : options.values()) values.put(o.name, defaultValue(o.name));
    }

    public Object value(String name) { return values.get(option(name).name); }

    /** The chosen process's default for an option. */
    public Object defaultValue(String name) {
        return normalize(option(name), process.defaults == null ? null : process.defaults.get(name));
    }

    /** Sets an option (converted to its type: String, List of String, Double, Long or Boolean). */
    public void set(String name, Object value) {
        Dto.OptionInfo o = option(name);
        values.put(name, normalize(o, value));
    }

    // ------------------------------------------------------------------ which options apply

    /** True when every condition of the option's {@code applies} holds for the process and the current values. */
    public boolean applies(String name) {
        return applies(option(name), 0);
    }

    private boolean applies(Dto.OptionInfo o, int depth) {
        if (o.applies == null || depth > options.size()) return true; // (a cycle in the description: show it)
        for (Map.Entry<String, Object> c : o.applies.entrySet()) {
            Dto.OptionInfo other = options.get(c.getKey());
            if (other != null) {
                Object v = applies(other, depth + 1) ? values.get(other.name) : defaultValue(other.name);
                if (!matches(v, c.getValue())) return false;
            } else if (process.properties != null && process.properties.containsKey(c.getKey())) {
                if (!same(process.properties.get(c.getKey()), c.getValue())) return false;
            } // a condition on something this plugin does not know: show the option rather than hide it
        }
        return true;
    }

    /** The options that apply now, in the server's order: the advanced ones or the others. */
    public List<Dto.OptionInfo> shown(boolean advanced) {
        List<Dto.OptionInfo> out = new ArrayList<>();
        for (Dto.OptionInfo o : options.values()) if (o.advanced == advanced && applies(o, 0)) out.add(o);
        return out;
    }

    /** True when another option's {@code applies} names this one (the view re-evaluates when it changes). */
    public boolean controlsOthers(String name) {
        for (Dto.OptionInfo o : options.values()) if (o.applies != null && o.applies.containsKey(name)) return true;
        return false;
    }

    private static boolean matches(Object value, Object condition) {
        if (!(condition instanceof List)) return same(value, condition);
        for (Object allowed : (List<?>) condition) {
            if (value instanceof List) {
                for (Object v : (List<?>) value) if (same(v, allowed)) return true;
            } else if (same(value, allowed)) {
                return true;
            }
        }
        return false;
    }

    private static boolean same(Object a, Object b) {
        if (a instanceof Number && b instanceof Number) return ((Number) a).doubleValue() == ((Number) b).doubleValue();
        return a == null ? b == null : a.equals(b);
    }

    // ------------------------------------------------------------------ the job

    /** The job spec: dataset, process and every option, with its value where it applies, else the process default. */
    public Map<String, Object> spec(String dataset) {
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("dataset", dataset);
        spec.put("process", process.id);
        for (Dto.OptionInfo o : options.values()) spec.put(o.name, applies(o, 0) ? values.get(o.name) : defaultValue(o.name));
        return spec;
    }

    /** What is wrong with the options that apply; empty when the spec can be sent. Each names the option. */
    public List<String> problems() {
        List<String> out = new ArrayList<>();
        for (Dto.OptionInfo o : options.values()) {
            if (!applies(o, 0)) continue;
            Object v = values.get(o.name);
            String label = o.label == null ? o.name : o.label;
            if (v == null) {
                out.add(label + ": no value.");
            } else if (v instanceof Number) {
                double d = ((Number) v).doubleValue();
                if ((o.minimum != null && d < o.minimum) || (o.maximum != null && d > o.maximum)) {
                    out.add(label + " must be between " + text(o.minimum) + " and " + text(o.maximum) + ", not " + text(v) + ".");
                }
            } else if ("choice".equals(o.type) && !o.choices.isEmpty() && !o.choices.contains(v)) {
                out.add(label + ": \"" + v + "\" is not one of " + String.join(", ", o.choices) + ".");
            } else if (v instanceof List) {
                List<?> list = (List<?>) v;
                for (Object item : list) {
                    if (!o.choices.isEmpty() && !o.choices.contains(item)) {
                        out.add(label + ": \"" + item + "\" is not one of " + String.join(", ", o.choices) + ".");
                    }
                }
                if ("backbones".equals(o.name)) {
                    if (list.isEmpty()) out.add(label + ": choose at least one.");
                    else if (process.maxBackbones != null && list.size() > process.maxBackbones) {
                        out.add(label + ": " + process.name + " trains exactly " + process.maxBackbones
                                + (process.maxBackbones == 1 ? " backbone" : " backbones") + ", " + list.size() + " are ticked.");
                    }
                }
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ macros

    /**
     * Reads a macro's options: {@code process=} first (its defaults fill everything), then each option by its
     * name ({@code backbones=[a,b] threshold=0.8 auto_views=false}). Flags named like a choice of a list option
     * ({@code efficientnet_lite0 hflip}, as the first plugin version recorded) still select those choices.
     * Keys in {@link #WIZARD_KEYS} are left to the caller; any other unknown key is an error naming it.
     */
    public void read(Map<String, String> macro) {
        if (macro.containsKey("process")) select(macro.get("process"));
        List<String> legacy = new ArrayList<>();
        for (Map.Entry<String, String> e : macro.entrySet()) {
            String key = e.getKey();
            if (WIZARD_KEYS.contains(key)) continue;
            Dto.OptionInfo o = options.get(key);
            if (o != null) {
                values.put(key, parse(o, e.getValue()));
            } else if (e.getValue().isEmpty() && listOptionWithChoice(key) != null) {
                legacy.add(key);
            } else {
                throw new IllegalArgumentException("Train Classifier: unknown option \"" + key + "\"; the options are "
                        + String.join(", ", WIZARD_KEYS) + ", " + String.join(", ", options.keySet()) + ".");
            }
        }
        for (Dto.OptionInfo o : options.values()) {
            if (macro.containsKey(o.name)) continue;
            List<String> picked = new ArrayList<>();
            for (String flag : legacy) if (o.choices.contains(flag)) picked.add(flag);
            if (!picked.isEmpty()) values.put(o.name, picked);
        }
    }

    private Dto.OptionInfo listOptionWithChoice(String choice) {
        for (Dto.OptionInfo o : options.values()) if ("multichoice".equals(o.type) && o.choices.contains(choice)) return o;
        return null;
    }

    /** The process and the options that apply, with their values: what this run is, for people to read. */
    public Map<String, Object> applying() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("process", process.id);
        for (Dto.OptionInfo o : options.values()) if (applies(o, 0)) out.put(o.name, values.get(o.name));
        return out;
    }

    /** The options that apply, as macro text by option name (what the Recorder writes; {@link #read} reads it back). */
    public Map<String, String> macroOptions() {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : applying().entrySet()) if (!e.getKey().equals("process")) out.put(e.getKey(), text(e.getValue()));
        return out;
    }

    /** Macro text of a value: lists comma-separated, numbers without needless zeros ("0.8", "5"). */
    public static String text(Object v) {
        if (v == null) return "";
        if (v instanceof List) {
            List<String> parts = new ArrayList<>();
            for (Object x : (List<?>) v) parts.add(String.valueOf(x));
            return String.join(",", parts);
        }
        if (v instanceof Double || v instanceof Float) {
            return BigDecimal.valueOf(((Number) v).doubleValue()).stripTrailingZeros().toPlainString();
        }
        return String.valueOf(v);
    }

    /** Parses macro or text-field input for an option; the message of a bad value names the option. */
    public static Object parse(Dto.OptionInfo o, String text) {
        String t = text == null ? "" : text.trim();
        String label = o.label == null ? o.name : o.label;
        switch (o.type == null ? "" : o.type) {
            case "multichoice":
                List<String> items = new ArrayList<>();
                for (String s : t.split("[,;\\s]+")) if (!s.isEmpty()) items.add(s);
                return items;
            case "boolean":
                String b = t.toLowerCase(Locale.ROOT);
                if (b.isEmpty() || b.equals("true") || b.equals("yes") || b.equals("on") || b.equals("1")) return Boolean.TRUE;
                if (b.equals("false") || b.equals("no") || b.equals("off") || b.equals("0")) return Boolean.FALSE;
                throw new IllegalArgumentException(label + " (" + o.name + "): \"" + text + "\" is not true or false.");
            case "number":
            case "integer":
                try {
                    return normalize(o, Double.parseDouble(t));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(label + " (" + o.name + "): \"" + text + "\" is not a number.");
                }
            default:
                return t;
        }
    }

    /** A value as the option's type: String, List of String, Double, Long or Boolean. */
    static Object normalize(Dto.OptionInfo o, Object v) {
        if (v == null) return null;
        String label = o.label == null ? o.name : o.label;
        switch (o.type == null ? "" : o.type) {
            case "multichoice":
                if (v instanceof Collection) {
                    List<String> out = new ArrayList<>();
                    for (Object x : (Collection<?>) v) out.add(String.valueOf(x));
                    return out;
                }
                return parse(o, String.valueOf(v));
            case "number":
                return v instanceof Number ? (Object) ((Number) v).doubleValue() : parse(o, String.valueOf(v));
            case "integer":
                if (!(v instanceof Number)) return parse(o, String.valueOf(v));
                double d = ((Number) v).doubleValue();
                if (d != Math.rint(d) || Double.isInfinite(d)) {
                    throw new IllegalArgumentException(label + " (" + o.name + ") must be a whole number, not " + text(d) + ".");
                }
                return (long) d;
            case "boolean":
                return v instanceof Boolean ? v : parse(o, String.valueOf(v));
            default:
                return String.valueOf(v);
        }
    }
}

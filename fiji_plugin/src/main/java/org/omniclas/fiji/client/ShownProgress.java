package org.omniclas.fiji.client;

import java.util.HashMap;
import java.util.Map;

/**
 * Which answer about a job a front end shows. The engine's {@code fraction} and {@code eta_s} are shown as they are
 * (no front end recomputes or smooths them); the engine never lowers a run's fraction, so an answer with a lower
 * fraction than one already shown for the same attempt is a late poll, and the newer answer stays on screen.
 * A resumed job (another attempt) starts afresh. No ImageJ.
 */
public final class ShownProgress {
    private final Map<String, Dto.Job> shown = new HashMap<>();

    /** The job to show: {@code polled}, unless it is older than what is shown already for its id and attempt. */
    public synchronized Dto.Job show(Dto.Job polled) {
        Dto.Job before = shown.get(polled.id());
        if (before != null && same(before.attempts, polled.attempts) && fraction(polled) < fraction(before)
                && !polled.isDone()) {
            return before;
        }
        shown.put(polled.id(), polled);
        return polled;
    }

    private static boolean same(Integer a, Integer b) { return a == null ? b == null : a.equals(b); }

    private static double fraction(Dto.Job j) {
        return j.progress == null || j.progress.fraction == null ? -1 : j.progress.fraction;
    }
}

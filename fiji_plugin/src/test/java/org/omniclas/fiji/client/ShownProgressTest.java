package org.omniclas.fiji.client;

import org.junit.Test;

import static org.junit.Assert.*;

/** Issue 22 item 3: the engine's fraction and ETA shown as they are, and a late poll never moves a bar back. */
public class ShownProgressTest {
    private static Dto.Job job(String id, int attempts, String state, double fraction, Double eta) {
        return HttpOmniClasClient.gson().fromJson("{\"id\":\"" + id + "\",\"state\":\"" + state + "\",\"attempts\":" + attempts
                + ",\"progress\":{\"stage\":\"training\",\"fraction\":" + fraction + ",\"eta_s\":" + eta + "}}", Dto.Job.class);
    }

    @Test public void aLatePollKeepsTheNewerAnswerOnScreen() {
        ShownProgress shown = new ShownProgress();
        Dto.Job first = job("a", 1, "running", 0.845, 120.0);
        assertSame(first, shown.show(first));
        Dto.Job late = job("a", 1, "running", 0.616, 300.0); // answered after the 84.5% one, written before it
        assertSame(first, shown.show(late));
        Dto.Job next = job("a", 1, "running", 0.89, 60.0);
        assertSame(next, shown.show(next)); // as the engine says: fraction and ETA untouched
        assertEquals(0.89, next.progress.fraction, 0);
        assertEquals(60.0, next.progress.etaSeconds, 0);
        Dto.Job other = job("b", 1, "running", 0.1, null);
        assertSame(other, shown.show(other)); // each job apart
    }

    @Test public void aResumedJobOrAnEndedOneIsShownAsItIs() {
        ShownProgress shown = new ShownProgress();
        shown.show(job("a", 1, "running", 0.7, 10.0));
        Dto.Job resumed = job("a", 2, "running", 0.3, 40.0); // another attempt
        assertSame(resumed, shown.show(resumed));
        Dto.Job failed = job("a", 2, "failed", 0.0, null);
        assertSame(failed, shown.show(failed));
    }

    @Test public void percentIsTheCliFigureAndNeverReads100BeforeTheEnd() {
        assertEquals("84.5%", JobText.percent(0.845));
        assertEquals("99.9%", JobText.percent(0.9999));
        assertEquals("100.0%", JobText.percent(1.0));
        assertEquals("0.0%", JobText.percent(0));
        Dto.Job j = job("a", 1, "running", 0.99, 0.0);
        assertEquals("OmniClas job a: running, training, 99.0%, ETA 0 s", JobText.describe(j)); // the engine's ETA as it is
    }
}

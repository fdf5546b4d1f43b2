package org.omniclas.fiji.client;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * POST /predict for a batch of images with one answer per image: an image the server cannot read becomes an error
 * result ({@code "NAME: reason"}) and never sinks the others. A server that answers 200 with a per-image
 * {@code error} is taken as it is; an older one that refuses the whole batch (400, or 413 for its size) is asked
 * again one image at a time, so only the bad image fails. Errors of the request itself (unknown model, no server,
 * no token) still end the whole call.
 */
public final class PredictBatch {
    private PredictBatch() {}

    /**
     * @return for each part, in order, its results: one, or one per page of a multi-page TIFF; an error result
     *     ({@link Dto.PredictResult#isError()}) when it could not be classified. {@code image} is the part's file name.
     */
    public static List<List<Dto.PredictResult>> run(OmniClasClient client, String model, List<ImagePart> parts)
            throws OmniClasException {
        if (parts.isEmpty()) return new ArrayList<>();
        try {
            return match(client.predict(model, parts).results, parts);
        } catch (OmniClasException e) {
            if (!refusedForItsImages(e)) throw e;
            if (parts.size() == 1) return Collections.singletonList(Collections.singletonList(imageError(parts.get(0), e)));
        }
        List<List<Dto.PredictResult>> out = new ArrayList<>();
        for (ImagePart p : parts) {
            List<ImagePart> one = Collections.singletonList(p);
            try {
                out.add(match(client.predict(model, one).results, one).get(0));
            } catch (OmniClasException e) {
                if (!refusedForItsImages(e)) throw e;
                out.add(Collections.singletonList(imageError(p, e)));
            }
        }
        return out;
    }

    /** 400 or 413: what was sent was refused (a bad image, too many or too large), not the model or the server. */
    private static boolean refusedForItsImages(OmniClasException e) {
        return e.getStatus() == 400 || e.getStatus() == 413;
    }

    /** A refusal of one image as its error result; a 400 that does not name it is about the request: thrown on. */
    private static Dto.PredictResult imageError(ImagePart p, OmniClasException e) throws OmniClasException {
        String msg = e.getMessage() == null ? "refused by the server" : e.getMessage();
        if (e.getStatus() == 400 && !msg.contains(p.filename)) throw e;
        return Dto.PredictResult.failed(p.filename, msg.startsWith(p.filename) ? msg : p.filename + ": " + msg);
    }

    /** The results of each part, found by its file name (by position where the server does not echo names). */
    static List<List<Dto.PredictResult>> match(List<Dto.PredictResult> results, List<ImagePart> parts) {
        List<List<Dto.PredictResult>> out = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            String name = parts.get(i).filename;
            List<Dto.PredictResult> mine = new ArrayList<>();
            for (Dto.PredictResult r : results) if (name.equals(r.image)) mine.add(r);
            if (mine.isEmpty() && results.size() == parts.size()) mine.add(results.get(i));
            if (mine.isEmpty()) mine.add(Dto.PredictResult.failed(name, name + ": the server sent no result for it"));
            out.add(mine);
        }
        return out;
    }

    /** A result's error text with the name it was sent under replaced by the name the user knows. */
    public static String errorFor(Dto.PredictResult r, String sentAs, String shownAs) {
        String msg = r.error == null ? "" : r.error;
        return sentAs.equals(shownAs) ? msg : msg.replace(sentAs, shownAs);
    }
}

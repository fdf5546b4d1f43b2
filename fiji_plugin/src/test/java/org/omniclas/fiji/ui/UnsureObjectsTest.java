package org.omniclas.fiji.ui;

import org.junit.Test;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.HttpOmniClasClient;

import java.awt.Color;
import java.util.Arrays;
import java.util.List;

import static org.junit.Assert.*;

/** Objects the server marks unsure are outlined in light grey, whatever their class (docs/calibration.md). */
public class UnsureObjectsTest {
    static final List<String> CLASSES = Arrays.asList("NuclearGFP", "NoGFP");

    private static Dto.ObjectResult object(String json) {
        return HttpOmniClasClient.gson().fromJson(json, Dto.ObjectResult.class);
    }

    @Test public void unsureObjectsAreGreyAndTheOthersKeepTheirClassColour() {
        Dto.ObjectResult sure = object("{\"object\":1,\"class\":\"NoGFP\",\"confidence\":0.97,\"unsure\":false,"
                + "\"runner_up\":{\"class\":\"NuclearGFP\",\"probability\":0.03}}");
        Dto.ObjectResult unsure = object("{\"object\":2,\"class\":\"NoGFP\",\"confidence\":0.55,\"unsure\":true,"
                + "\"runner_up\":{\"class\":\"NuclearGFP\",\"probability\":0.45}}");
        Dto.ObjectResult older = object("{\"object\":3,\"class\":\"NuclearGFP\",\"confidence\":0.6}"); // no unsure field
        Dto.ObjectResult failed = object("{\"object\":4,\"error\":\"object 4: smaller than min_area\",\"unsure\":true}");
        assertEquals(new Color(0, 200, 0), ObjectClassifier.colour(CLASSES, sure));
        assertEquals(ObjectClassifier.UNSURE, ObjectClassifier.colour(CLASSES, unsure));
        assertEquals(Color.lightGray, ObjectClassifier.UNSURE);
        assertNotEquals(ObjectClassifier.UNCLASSIFIED, ObjectClassifier.UNSURE);
        assertEquals(Color.red, ObjectClassifier.colour(CLASSES, older));
        assertEquals(ObjectClassifier.UNCLASSIFIED, ObjectClassifier.colour(CLASSES, failed));
        assertEquals("NuclearGFP", unsure.runnerUp.className);
        assertEquals(0.45, unsure.runnerUp.probability, 1e-12);
    }
}

package org.omniclas.fiji.plugins;

import org.junit.Test;
import org.omniclas.fiji.ui.ImageClassifier;
import org.omniclas.fiji.ui.Options;

import java.io.File;

import static org.junit.Assert.*;

/** Classify Folder's dialog says which CSV file it writes when none is named, and writes that one. */
public class ClassifyFolderTest {
    @Test public void theDefaultCsvIsTheFileTheLabelNames() {
        String written = new File(ImageClassifier.defaultCsv(new File("/data/images"))).getName();
        String shown = Classify_Folder.CSV_LABEL.replace('_', ' '); // as ImageJ's GenericDialog draws a label
        assertTrue(shown + " does not name " + written, shown.contains("<folder>/" + written + ")"));
        assertEquals("csv", Options.key(Classify_Folder.CSV_LABEL)); // the macro key stays csv=
    }
}

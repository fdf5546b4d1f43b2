package org.omniclas.fiji.ui;

import org.junit.Test;
import org.omniclas.fiji.client.Dto;
import org.omniclas.fiji.client.HttpOmniClasClient;

import java.util.Arrays;
import java.util.List;

import static org.junit.Assert.*;

/** Versions of a model: what the server is asked for, what the Models table and the Classify dialogs offer. */
public class ModelNamesTest {
    private static List<Dto.Model> models() {
        return Arrays.asList(HttpOmniClasClient.gson().fromJson("[{\"name\":\"cells\",\"version\":3,\"versions\":[1,2,3]},"
                + "{\"name\":\"cells_2\",\"version\":1,\"versions\":[1]},{\"name\":\"old\",\"version\":\"4\"}]", Dto.Model[].class));
    }

    @Test public void aNameInUseSaysWhichVersionItMakes() {
        assertEquals("A model named \"cells\" exists (version 3): registering makes version 4 of it. Choose another name "
                + "to keep them apart.", ModelNames.warning(models(), "cells"));
        assertNull(ModelNames.warning(models(), "nuclei"));
        assertEquals("cells_3", ModelNames.freeName(models(), "cells")); // cells_2 is taken
        assertEquals("A model named \"old\" exists (version 4): registering makes version 5 of it. Choose another name "
                + "to keep them apart.", ModelNames.warning(models(), " old "));
    }

    @Test public void olderVersionsAreOfferedAsNameAtVersion() {
        assertArrayEquals(new String[]{"cells", "cells@2", "cells@1", "cells_2", "old"}, ModelNames.choices(models()));
    }

    @Test public void aRowShowingAnOlderVersionActsOnThatVersion() {
        Dto.Model cells = models().get(0);
        assertEquals("cells", cells.ref());
        assertEquals("3 of 3 \u25be", ModelsWindow.ModelTable.versionCell(cells));
        cells.version = "1";
        assertEquals("cells@1", cells.ref());
        assertEquals("1 of 3 \u25be", ModelsWindow.ModelTable.versionCell(cells));
        assertEquals("1", ModelsWindow.ModelTable.versionCell(models().get(1))); // one version: no choice
        assertEquals("old", models().get(2).ref());
    }

    /** Issue 22: the wizard proposed "my cells ü_classifier", which the registry refuses. */
    @Test public void theProposedNameIsOneTheRegistryTakes() {
        assertEquals("my_cells_classifier", ModelNames.propose("my cells \u00fc"));
        assertEquals("model_classifier", ModelNames.propose(null));
        assertEquals("model_classifier", ModelNames.propose(" \u00fc "));
        assertEquals("hidden_classifier", ModelNames.propose(".hidden"));
        StringBuilder longName = new StringBuilder();
        for (int i = 0; i < 30; i++) longName.append("plate ");
        String proposed = ModelNames.propose(longName.toString());
        assertTrue(proposed, proposed.length() <= ModelNames.MAX_LENGTH && proposed.endsWith("_classifier"));
        for (String p : new String[]{ModelNames.propose("my cells \u00fc"), proposed, ModelNames.propose(".hidden")}) {
            assertNull(p, ModelNames.problem(p));
        }
    }

    @Test public void aRefusedNameSaysWhy() {
        assertEquals("The model name \"my cells \u00fc_classifier\" cannot be registered: ' ' and '\u00fc' are not allowed; "
                + "use 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit.",
                ModelNames.problem("my cells \u00fc_classifier"));
        assertTrue(ModelNames.problem("_cells").contains("it starts with '_'"));
        assertTrue(ModelNames.problem(new String(new char[101]).replace('\0', 'a')).contains("101 characters long"));
        assertNull(ModelNames.problem("cells-v2.1_final"));
    }
}

package org.omniclas.fiji.dataset;

import org.junit.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.Assert.*;

public class CategoryKeysTest {
    @Test public void aKeyStaysWithItsCategory() {
        CategoryKeys k = new CategoryKeys();
        k.sync(Arrays.asList("Cytoplasmic", "Nuclear"));
        assertEquals(1, k.keyOf("Cytoplasmic"));
        assertEquals(2, k.keyOf("Nuclear"));
        // "Artefact" sorts first but must not push Nuclear from key 2 to key 3
        k.sync(Arrays.asList("Artefact", "Cytoplasmic", "Nuclear"));
        assertEquals(2, k.keyOf("Nuclear"));
        assertEquals(3, k.keyOf("Artefact"));
        assertEquals("Artefact", k.category(3));
        assertEquals(Arrays.asList("Cytoplasmic", "Nuclear", "Artefact"), k.ordered(Arrays.asList("Artefact", "Cytoplasmic", "Nuclear")));
    }

    @Test public void renameKeepsDeleteFreesTheKey() {
        CategoryKeys k = new CategoryKeys();
        k.sync(Arrays.asList("A", "B", "C"));
        k.renamed("B", "Beta");
        k.sync(Arrays.asList("A", "Beta", "C"));
        assertEquals(2, k.keyOf("Beta"));
        k.sync(Arrays.asList("A", "C")); // Beta deleted
        assertNull(k.category(2));
        assertEquals(3, k.keyOf("C"));
        k.sync(Arrays.asList("A", "C", "D")); // the lowest free key
        assertEquals(2, k.keyOf("D"));
    }

    @Test public void onlyNineKeys() {
        List<String> many = new ArrayList<>();
        for (char c = 'a'; c <= 'k'; c++) many.add(String.valueOf(c));
        CategoryKeys k = new CategoryKeys();
        k.sync(many);
        assertEquals(9, k.keyOf("i"));
        assertEquals(0, k.keyOf("j"));
        assertNull(k.category(10));
        many.remove("c");
        k.sync(many);
        assertEquals(3, k.keyOf("j")); // a freed key goes to a category that had none
        assertEquals(Arrays.asList("a", "b", "j", "d", "e", "f", "g", "h", "i", "k"), k.ordered(many));
    }
}

package org.omniclas.fiji.ui;

import org.junit.Assume;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;

import static org.junit.Assert.*;

/** A report opens in the first browser that takes it; with none, the user is told the file's path. */
public class ReportOpenerTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    private Path program(Path dir, String name, String body) throws IOException {
        Path p = Files.write(dir.resolve(name), ("#!/bin/sh\n" + body + "\n").getBytes());
        assertTrue(p.toFile().setExecutable(true));
        return p;
    }

    @Test public void noBrowserMeansThePathIsGiven() throws IOException {
        Path report = tmp.newFile("report.html").toPath();
        assertFalse(ReportOpener.openWithFirstOf(ReportOpener.LAUNCHERS, Collections.singletonList(tmp.newFolder("empty").toPath()), report));
        String text = ReportOpener.message(report, "cells version 2");
        assertTrue(text, text.startsWith("No web browser could be opened here. The report of cells version 2 is saved as:\n" + report + "\n"));
        String before = System.getProperty("omniclas.browser");
        System.setProperty("omniclas.browser", "");
        try {
            assertFalse(ReportOpener.openInBrowser(report)); // none tried at all
        } finally {
            if (before == null) System.clearProperty("omniclas.browser");
            else System.setProperty("omniclas.browser", before);
        }
    }

    /** A launcher that finds no browser (exit code 3) is passed over; the next one that works takes the file. */
    @Test public void aFailingLauncherIsPassedOver() throws Exception {
        Assume.assumeTrue("needs /bin/sh", Files.isExecutable(java.nio.file.Paths.get("/bin/sh")));
        Path bin = tmp.newFolder("bin").toPath();
        Path got = tmp.getRoot().toPath().resolve("opened.txt");
        program(bin, "xdg-open", "exit 3");
        program(bin, "firefox", "echo \"$1\" > " + got);
        Path report = tmp.newFile("report.html").toPath();
        assertTrue(ReportOpener.openWithFirstOf(ReportOpener.LAUNCHERS, Arrays.asList(tmp.newFolder("other").toPath(), bin), report));
        for (int i = 0; i < 50 && !Files.exists(got); i++) Thread.sleep(100);
        assertEquals(report.toString(), new String(Files.readAllBytes(got)).trim());
    }
}

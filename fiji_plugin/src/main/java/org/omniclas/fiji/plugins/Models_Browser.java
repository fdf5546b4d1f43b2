package org.omniclas.fiji.plugins;

import ij.Macro;
import ij.plugin.PlugIn;
import org.omniclas.fiji.ui.ModelsWindow;
import org.omniclas.fiji.ui.Reporter;
import org.omniclas.fiji.ui.ServerGate;

/**
 * Plugins > OmniClas > Models... and Jobs... (arg "jobs"): on a desktop one window with a Models tab (list,
 * rename, delete, report) and a Jobs tab (list, progress, log, cancel, resume, register, report). From a macro or
 * unattended: {@code run("Models...", "action=list|delete|rename model=NAME new_name=NAME2");},
 * {@code run("Models...", "action=export model=NAME format=bioimageio|onnx file=[PATH]");} and
 * {@code run("Jobs...", "action=list|cancel|resume|register job=ID name=NAME");} (list prints to the Log).
 */
public class Models_Browser implements PlugIn {
    @Override
    public void run(String arg) {
        boolean jobs = "jobs".equals(arg);
        String options = Macro.getOptions();
        if (Reporter.unattended() || options != null) {
            if (jobs) ModelsWindow.runJobsMacro(options);
            else ModelsWindow.runMacro(options);
        } else if (ServerGate.connect() != null) {
            ModelsWindow.open(jobs);
        }
    }
}

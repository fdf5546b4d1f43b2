package org.omniclas.fiji.plugins;

import ij.plugin.PlugIn;
import org.omniclas.fiji.ui.TrainWizard;

/** Plugins > OmniClas > Train Classifier... */
public class Train_Classifier implements PlugIn {
    @Override
    public void run(String arg) {
        new TrainWizard().run();
    }
}

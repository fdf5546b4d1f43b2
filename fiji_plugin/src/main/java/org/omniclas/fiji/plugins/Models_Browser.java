package org.omniclas.fiji.plugins;

import ij.Macro;
import ij.plugin.PlugIn;
import org.omniclas.fiji.ui.ModelsWindow;
import org.omniclas.fiji.ui.Options;

/**
 * Plugins > OmniClas > Models...: the model registry. On a desktop a window (list, delete, rename);
 * from a macro or headless: {@code run("Models...", "action=list|delete|rename model=NAME new_name=NAME2");}
 * (list fills the table "OmniClas Models").
 */
public class Models_Browser implements PlugIn {
    @Override
    public void run(String arg) {
        if (Options.isHeadless() || Macro.getOptions() != null) ModelsWindow.runMacro(Macro.getOptions());
        else ModelsWindow.open();
    }
}

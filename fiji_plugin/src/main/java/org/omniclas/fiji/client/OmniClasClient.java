package org.omniclas.fiji.client;

import java.util.List;

/** The OmniClas HTTP API v1 as seen from the plugin. Every call blocks: never call it on the EDT. */
public interface OmniClasClient {
    Dto.Health health() throws OmniClasException;
    List<Dto.Backbone> backbones() throws OmniClasException;
    List<Dto.ProcessInfo> processes() throws OmniClasException;
    List<Dto.Model> models() throws OmniClasException;
    Dto.Model model(String name) throws OmniClasException;
    void deleteModel(String name) throws OmniClasException;
    Dto.Model renameModel(String name, String newName) throws OmniClasException;
    Dto.PredictResponse predict(String model, List<ImagePart> images) throws OmniClasException;
    Dto.Job submitJob(Dto.JobSpec spec) throws OmniClasException;
    List<Dto.Job> jobs() throws OmniClasException;
    Dto.Job job(String id) throws OmniClasException;
    List<String> jobLog(String id, int tail) throws OmniClasException;
    Dto.Job cancelJob(String id) throws OmniClasException;
    Dto.Job resumeJob(String id) throws OmniClasException;
    Dto.Model registerJob(String id, String name) throws OmniClasException;
}

"""The /api/v1 routes (see docs/http-api.md): meta, models and prediction, jobs."""
from __future__ import annotations

import io
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, send_file

from .. import __version__
from ..data.roots import resolve_under_roots
from ..errors import ConfigError, OmniClasError
from ..jobs import DatasetNotFound
from ..jobs.manager import JobNotFound, JobStateError
from ..registry.errors import ModelNotFound
from ..report.html import REPORT_FILE
from .answers import (
    Backbones,
    Deleted,
    Error,
    Evaluation,
    Frameworks,
    Health,
    Job,
    Jobs,
    LogLines,
    Measures,
    Model,
    Models,
    OpenAPIDocument,
    Predictions,
    Processes,
)
from .auth import has_valid_token
from .objects import predict_objects
from .openapi import Answers, validate
from .schemas import (
    EvaluateBody,
    ExportQuery,
    JobId,
    JobRequest,
    LogQuery,
    ModelRef,
    ModelsQuery,
    PredictForm,
    RegisterBody,
    RenameBody,
    WholeModel,
    given,
)
from .uploads import budget_for

meta_bp = Blueprint("meta", __name__)
models_bp = Blueprint("models", __name__)
jobs_bp = Blueprint("jobs", __name__)
EXPORTS_KEPT = 4  # recent exports kept in memory: an export costs seconds of CPU
EXPORT_FORMATS = {"onnx": (".onnx", "application/octet-stream"), "bioimageio": (".bioimageio.zip", "application/zip")}
RESULTS_CSV = {"HTTP_200": ("the results CSV (docs/results-csv.md)", {"text/csv": str})}
HTML_PAGE = {"HTTP_200": ("report.html (plots and thumbnails embedded; it fetches nothing)", {"text/html": str})}
MODEL_FILE = {"HTTP_200": ("the .onnx file, or the .zip package", {mimetype: bytes for _, mimetype in
                                                                    EXPORT_FORMATS.values()})}
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
_exports: OrderedDict[tuple, bytes] = OrderedDict()
_export_lock = threading.Lock()


def services():
    return current_app.extensions["omniclas"]


# ------------------------------------------------------------------------------------------------ meta
@meta_bp.get("/health")
@validate("meta", Answers(HTTP_200=Health))
def health():
    """server status"""
    svc = services()
    bf16 = current_app.config.get("BF16")
    body = {"status": "ok", "version": __version__, "auth_required": bool(current_app.config.get("TOKEN")),
            "queue": svc.jobs.mode, "bf16": "auto" if bf16 is None else bool(bf16)}
    if has_valid_token():  # where training datasets must lie (Fiji checks a dataset before it submits); not public
        body["dataset_roots"] = list(current_app.config["DATASET_ROOTS"])
        body["models_root"] = str(svc.registry.root)  # the folder it registers into (shared with the CLI)
    return jsonify(body)


@meta_bp.get("/frameworks")
@validate("meta", Answers(HTTP_200=Frameworks))
def frameworks():
    """model frameworks (plug-ins)"""
    from ..registry.frameworks import get_framework, list_frameworks

    names = list_frameworks()
    details = []
    for n in names:
        try:
            details.append({"name": n, "description": get_framework(n).description})
        except OmniClasError as err:
            details.append({"name": n, "description": "", "error": str(err)})
    return jsonify({"frameworks": names, "details": details})


@meta_bp.get("/backbones")
@validate("meta", Answers(HTTP_200=Backbones))
def backbones():
    """backbones for training"""
    from ..config import SINGLE_BACKBONE
    from ..model.backbones import list_backbones

    return jsonify({"backbones": [{"name": b.name, "offline": b.offline, "default": b.name == SINGLE_BACKBONE[0],
                                   "family": b.family} for b in list_backbones()]})


@meta_bp.get("/processes")
@validate("meta", Answers(HTTP_200=Processes))
def processes():
    """the training processes (N.D. ... I.M.D.D.) with their defaults, and the options"""
    from ..config import describe_processes

    return jsonify(describe_processes())


@meta_bp.get("/measures")
@validate("meta", Answers(HTTP_200=Measures))
def measures():
    """evaluation measures"""
    from ..report.measures import describe_measures, list_measures

    return jsonify({"measures": list_measures(), "details": describe_measures()})


@meta_bp.get("/openapi.json")
@validate("meta", Answers(HTTP_200=OpenAPIDocument))
def openapi():
    """this document"""
    from .openapi import openapi_document

    return jsonify(openapi_document(current_app.config))


# ------------------------------------------------------------------------------------------------ models
@models_bp.get("/models")
@validate("models", Answers(HTTP_200=Models), query=ModelsQuery)
def list_models():
    """registered models (latest version of each)"""
    return jsonify({"models": services().registry.list_models(request.context.query.framework)})


@models_bp.get("/models/<name>")
@validate("models", Answers(HTTP_200=Model))
def model_info(name: ModelRef):
    """one model with its manifest"""
    info = services().registry.model_info(name)
    info.pop("path", None)
    return jsonify(info)


@models_bp.delete("/models/<name>")
@validate("models", Answers(HTTP_200=Deleted))
def delete_model(name: ModelRef):
    """delete a model (all versions, or name@version)"""
    return jsonify({"deleted": services().registry.delete(name)})


@models_bp.post("/models/<name>/rename")
@validate("models", Answers(HTTP_200=Model), json=RenameBody)
def rename_model(name: WholeModel):
    """rename a model"""
    return jsonify(services().registry.rename(name, request.context.json.new_name))


@models_bp.get("/models/<name>/export")
@validate("models", Answers(files=MODEL_FILE), query=ExportQuery)
def export_model(name: ModelRef):
    """download the model as ONNX (input 'input' NCHW float32 in 0..1; outputs 'logits', 'probabilities'), or with
    format=bioimageio as a BioImage Model Zoo package (zip)"""
    fmt = request.context.query.format
    suffix, mimetype = EXPORT_FORMATS[fmt]
    registry = services().registry
    model_name, version, folder = registry.resolve(name)
    key = (fmt, str(folder), tuple(sorted(registry.read_manifest(folder)["files"].items())))
    with _export_lock:  # one export at a time; a repeated one is served from memory
        data = _exports.get(key)
        if data is None:
            tmp = Path(tempfile.mkdtemp(prefix="omniclas-export-"))
            try:
                data = registry.export(f"{model_name}@{version}", tmp / f"{model_name}{suffix}",
                                       format=fmt).read_bytes()
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            _exports[key] = data
            while len(_exports) > EXPORTS_KEPT:
                _exports.popitem(last=False)
        _exports.move_to_end(key)
    resp = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=f"{model_name}-v{version}{suffix}")
    resp.headers["X-OmniClas-Model"] = f"{model_name}@{version}"
    return resp


@models_bp.get("/models/<name>/report")
@validate("models", Answers(files=HTML_PAGE))
def model_report(name: ModelRef):
    """the training report of a model trained by OmniClas: one self-contained HTML page"""
    registry = services().registry
    model_name, version, folder = registry.resolve(name)
    manifest = registry.verify(folder)  # a report changed since registration is refused like any file
    if REPORT_FILE not in manifest["files"]:
        raise ModelNotFound(f"model '{model_name}' version {version} has no training report: only models trained "
                            f"by OmniClas (and registered with report.html) have one", field="name")
    return _html(folder / REPORT_FILE)


def _html(path: Path):
    """A self-contained report page; the browser is told it may fetch nothing."""
    resp = send_file(io.BytesIO(path.read_bytes()), mimetype="text/html")
    resp.headers["Content-Security-Policy"] = REPORT_CSP
    return resp


@models_bp.post("/predict")
@validate("models", Answers(HTTP_200=Predictions,
                            HTTP_413=(Error, "upload, image or decoded images over the server's limits")),
          form=PredictForm)
def predict():
    """classify uploaded images (PNG, JPEG, TIFF or BMP; 8/16-bit or float; a stack gives one result per page)"""
    cfg = current_app.config
    model, files = request.context.form.model, request.context.form.images
    if len(files) > cfg["MAX_FILES"]:  # the document's maxItems: the same setting
        raise ConfigError(f"{len(files)} files in one request; the limit is {cfg['MAX_FILES']}", field="images")
    if request.context.form.wants_objects:  # one result per object of each image's label image
        return jsonify(predict_objects(services().registry, model, cfg, request.context.form))
    names = [f.filename or "upload" for f in files]
    # one result per image (page): an unreadable image gets its own {"image", "error"}; the request's limits stay 413
    name, version, results = services().registry.classify_files(
        model, [f.read() for f in files], labels=names, budget=budget_for(cfg), skip_unreadable=True, field="images",
        unsure_threshold=request.context.form.unsure_threshold)
    return jsonify({"model": name, "version": version, "results": results})


@models_bp.post("/evaluate")
@validate("models", Answers(HTTP_200=Evaluation), json=EvaluateBody)
def evaluate():
    """evaluate models on a labelled dataset folder (<dataset>/<class>/<image>)"""
    cfg = current_app.config
    body = request.context.json
    roots = cfg["DATASET_ROOTS"]
    dataset = dataset_folder(body.dataset, roots)
    labels = body.labels
    if labels is not None:
        labels = resolve_under_roots(labels, roots, field="labels")
    result = services().registry.evaluate(dataset, body.measures, body.models, labels, roots=roots,
                                          labels_field="labels", budget=budget_for(cfg))
    return jsonify(result)


def dataset_folder(name: str, roots) -> Path:
    """The dataset folder ``name`` names under the dataset roots; not found where it is not a folder (a name too
    long for the file system included)."""
    dataset = resolve_under_roots(name, roots)
    try:
        found = dataset.is_dir()
    except OSError:
        found = False
    if not found:
        raise DatasetNotFound(f"dataset folder not found: {name}", field="dataset")
    return dataset


# ------------------------------------------------------------------------------------------------ jobs
@jobs_bp.post("/jobs")
@validate("jobs", Answers(HTTP_202=Job), json=JobRequest)
def submit_job():
    """start a training job, or (kind: predict) classify a folder into a results CSV"""
    svc = services()
    job = svc.jobs.submit(given(request.context.json.root), registry=svc.registry)
    return jsonify({"job_id": job["id"], **job}), 202


@jobs_bp.get("/jobs")
@validate("jobs", Answers(HTTP_200=Jobs))
def list_jobs():
    """all jobs"""
    return jsonify({"jobs": services().jobs.list()})


@jobs_bp.get("/jobs/<job_id>")
@validate("jobs", Answers(HTTP_200=Job))
def get_job(job_id: JobId):
    """one job"""
    return jsonify(services().jobs.get(job_id))


@jobs_bp.get("/jobs/<job_id>/log")
@validate("jobs", Answers(HTTP_200=LogLines), query=LogQuery)
def job_log(job_id: JobId):
    """the last lines of a job's log"""
    return jsonify({"lines": services().jobs.log(job_id, request.context.query.tail)})


@jobs_bp.get("/jobs/<job_id>/report")
@validate("jobs", Answers(files=HTML_PAGE))
def job_report(job_id: JobId):
    """the training report of a finished job: one self-contained HTML page"""
    job = services().jobs.raw(job_id)
    run_dir = (job.get("result") or {}).get("run_dir")
    if job["state"] != "finished" or not run_dir:
        raise JobStateError(f"job {job_id} is {job['state']}; its report is written when it finishes", field="id")
    path = Path(run_dir) / REPORT_FILE
    if not path.is_file():
        raise JobNotFound(f"job {job_id}: its run folder holds no {REPORT_FILE}", field="id")
    return _html(path)


@jobs_bp.get("/jobs/<job_id>/results.csv")
@validate("jobs", Answers(files=RESULTS_CSV))
def job_results(job_id: JobId):
    """the results CSV of a finished predict job"""
    path = services().jobs.results_csv(job_id)
    return send_file(path, mimetype="text/csv", as_attachment=True, download_name="results.csv", max_age=0)


@jobs_bp.post("/jobs/<job_id>/cancel")
@validate("jobs", Answers(HTTP_200=Job))
def cancel_job(job_id: JobId):
    """cancel a job (a running one stops at its next batch)"""
    return jsonify(services().jobs.cancel(job_id))


@jobs_bp.post("/jobs/<job_id>/resume")
@validate("jobs", Answers(HTTP_202=Job))
def resume_job(job_id: JobId):
    """resume an interrupted, failed or cancelled job from its last finished iteration"""
    return jsonify(services().jobs.resume(job_id)), 202


@jobs_bp.post("/jobs/<job_id>/register")
@validate("jobs", Answers(HTTP_201=Model), json=RegisterBody)
def register_job(job_id: JobId):
    """register a finished job's run as a model"""
    svc = services()
    return jsonify(svc.jobs.register(job_id, request.context.json.name, svc.registry)), 201

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
from ..jobs.manager import LOG_TAIL_MAX, JobNotFound, JobStateError
from ..registry.errors import ModelNotFound
from ..report.html import REPORT_FILE
from .auth import has_valid_token
from .objects import OBJECT_FIELDS, predict_objects, wants_objects
from .uploads import budget_for

meta_bp = Blueprint("meta", __name__)
models_bp = Blueprint("models", __name__)
jobs_bp = Blueprint("jobs", __name__)
EXPORTS_KEPT = 4  # recent exports kept in memory: an export costs seconds of CPU
EXPORT_FORMATS = {"onnx": (".onnx", "application/octet-stream"), "bioimageio": (".bioimageio.zip", "application/zip")}
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
_exports: OrderedDict[tuple, bytes] = OrderedDict()
_export_lock = threading.Lock()


def services():
    return current_app.extensions["omniclas"]


def json_body(required=(), optional=()) -> dict:
    """The request's JSON object, with exactly the keys a route takes (unknown keys are refused, as the OpenAPI
    document says)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ConfigError("the request body must be a JSON object (Content-Type: application/json)", field="body")
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise ConfigError(f"unknown field(s): {', '.join(unknown)}; this route takes "
                          f"{', '.join([*required, *optional])}", field=unknown[0])
    for key in required:
        if key not in body:
            raise ConfigError(f"{key} is required", field=key)
    return body


# ------------------------------------------------------------------------------------------------ meta
@meta_bp.get("/health")
def health():
    svc = services()
    bf16 = current_app.config.get("BF16")
    body = {"status": "ok", "version": __version__, "auth_required": bool(current_app.config.get("TOKEN")),
            "queue": svc.jobs.mode, "bf16": "auto" if bf16 is None else bool(bf16)}
    if has_valid_token():  # where training datasets must lie (Fiji checks a dataset before it submits); not public
        body["dataset_roots"] = list(current_app.config["DATASET_ROOTS"])
    return jsonify(body)


@meta_bp.get("/frameworks")
def frameworks():
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
def backbones():
    from ..config import SINGLE_BACKBONE
    from ..model.backbones import list_backbones

    return jsonify({"backbones": [{"name": b.name, "offline": b.offline, "default": b.name == SINGLE_BACKBONE[0],
                                   "family": b.family} for b in list_backbones()]})


@meta_bp.get("/processes")
def processes():
    from ..config import describe_processes

    return jsonify(describe_processes())


@meta_bp.get("/measures")
def measures():
    from ..report.measures import describe_measures, list_measures

    return jsonify({"measures": list_measures(), "details": describe_measures()})


@meta_bp.get("/openapi.json")
def openapi():
    from .openapi import openapi_document

    return jsonify(openapi_document(current_app.config))


# ------------------------------------------------------------------------------------------------ models
@models_bp.get("/models")
def list_models():
    framework = request.args.get("framework")
    return jsonify({"models": services().registry.list_models(framework)})


@models_bp.get("/models/<name>")
def model_info(name):
    info = services().registry.model_info(name)
    info.pop("path", None)
    return jsonify(info)


@models_bp.delete("/models/<name>")
def delete_model(name):
    return jsonify({"deleted": services().registry.delete(name)})


@models_bp.post("/models/<name>/rename")
def rename_model(name):
    body = json_body(required=("new_name",))
    return jsonify(services().registry.rename(name, body["new_name"]))


@models_bp.get("/models/<name>/export")
def export_model(name):
    fmt = request.args.get("format", "onnx")
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format '{fmt}'; supported: {', '.join(EXPORT_FORMATS)}", field="format")
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
def model_report(name):
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
def predict():
    cfg = current_app.config
    unknown = sorted((set(request.form) | set(request.files)) - {"model", "images", *OBJECT_FIELDS})
    if unknown:
        raise ConfigError(f"unknown form field(s): {', '.join(unknown)}; send 'model' and 'images' (and 'labels' "
                          f"to classify objects)", field=unknown[0])
    model = request.form.get("model")
    files = request.files.getlist("images")
    if not model:
        raise ConfigError("the form field 'model' (a registered model name) is required", field="model")
    if not files:
        raise ConfigError("attach one or more image files in the form field 'images'", field="images")
    if len(files) > cfg["MAX_FILES"]:
        raise ConfigError(f"{len(files)} files in one request; the limit is {cfg['MAX_FILES']}", field="images")
    if wants_objects():  # one result per object of each image's label image
        return jsonify(predict_objects(services().registry, model, cfg))
    names = [f.filename or "upload" for f in files]
    name, version, results = services().registry.classify_files(
        model, [f.read() for f in files], labels=names, budget=budget_for(cfg), field="images")
    return jsonify({"model": name, "version": version, "results": results})


@models_bp.post("/evaluate")
def evaluate():
    cfg = current_app.config
    body = json_body(required=("dataset", "models"), optional=("measures", "labels"))
    roots = cfg["DATASET_ROOTS"]
    dataset = resolve_under_roots(body["dataset"], roots)
    if not _is_dir(dataset):
        raise DatasetNotFound(f"dataset folder not found: {body['dataset']}", field="dataset")
    labels = body.get("labels")
    if labels is not None:
        labels = resolve_under_roots(labels, roots, field="labels")
    models = body["models"]
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise ConfigError("'models' must be a non-empty list of model names", field="models")
    measure_names = body.get("measures")
    if measure_names is not None and not isinstance(measure_names, list):
        raise ConfigError("'measures' must be a list of measure names", field="measures")
    result = services().registry.evaluate(dataset, measure_names, models, labels, roots=roots,
                                          labels_field="labels", budget=budget_for(cfg))
    return jsonify(result)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------ jobs
@jobs_bp.post("/jobs")
def submit_job():
    job = services().jobs.submit(request.get_json(silent=True))
    return jsonify({"job_id": job["id"], **job}), 202


@jobs_bp.get("/jobs")
def list_jobs():
    return jsonify({"jobs": services().jobs.list()})


@jobs_bp.get("/jobs/<job_id>")
def get_job(job_id):
    return jsonify(services().jobs.get(job_id))


@jobs_bp.get("/jobs/<job_id>/log")
def job_log(job_id):
    tail = request.args.get("tail", "100")
    if not (tail.isascii() and tail.isdigit()) or int(tail) > LOG_TAIL_MAX:
        raise ConfigError(f"tail must be an integer from 0 to {LOG_TAIL_MAX}", field="tail")
    return jsonify({"lines": services().jobs.log(job_id, int(tail))})


@jobs_bp.get("/jobs/<job_id>/report")
def job_report(job_id):
    job = services().jobs.raw(job_id)
    run_dir = (job.get("result") or {}).get("run_dir")
    if job["state"] != "finished" or not run_dir:
        raise JobStateError(f"job {job_id} is {job['state']}; its report is written when it finishes", field="id")
    path = Path(run_dir) / REPORT_FILE
    if not path.is_file():
        raise JobNotFound(f"job {job_id}: its run folder holds no {REPORT_FILE}", field="id")
    return _html(path)


@jobs_bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id):
    return jsonify(services().jobs.cancel(job_id))


@jobs_bp.post("/jobs/<job_id>/resume")
def resume_job(job_id):
    return jsonify(services().jobs.resume(job_id)), 202


@jobs_bp.post("/jobs/<job_id>/register")
def register_job(job_id):
    body = json_body(required=("name",))
    svc = services()
    return jsonify(svc.jobs.register(job_id, body["name"], svc.registry)), 201

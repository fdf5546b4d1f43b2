"""The /api/v1 routes (see docs/http-api.md): meta, models and prediction, jobs."""
from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, send_file

from .. import __version__
from ..errors import ConfigError, ImageReadError, OmniClasError
from ..imageio import read_pages
from ..jobs.paths import resolve_under_roots
from .auth import check_token
from .uploads import check_pixels

meta_bp = Blueprint("meta", __name__)
models_bp = Blueprint("models", __name__)
jobs_bp = Blueprint("jobs", __name__)
for _bp in (meta_bp, models_bp, jobs_bp):
    _bp.before_request(check_token)


def services():
    return current_app.extensions["omniclas"]


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ConfigError("the request body must be a JSON object (Content-Type: application/json)", field="body")
    return body


# ------------------------------------------------------------------------------------------------ meta
@meta_bp.get("/health")
def health():
    svc = services()
    bf16 = current_app.config.get("BF16")
    return jsonify({"status": "ok", "version": __version__, "auth_required": bool(current_app.config.get("TOKEN")),
                    "queue": svc.jobs.mode, "bf16": "auto" if bf16 is None else bool(bf16)})


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
    from ..backbones import list_backbones
    from ..config import SINGLE_BACKBONE

    return jsonify({"backbones": [{"name": b.name, "offline": b.offline, "default": b.name == SINGLE_BACKBONE[0],
                                   "family": b.family} for b in list_backbones()]})


@meta_bp.get("/processes")
def processes():
    from ..config import describe_processes

    return jsonify(describe_processes())


@meta_bp.get("/measures")
def measures():
    from ..measures import describe_measures, list_measures

    return jsonify({"measures": list_measures(), "details": describe_measures()})


@meta_bp.get("/openapi.json")
def openapi():
    from .openapi import openapi_document

    return jsonify(openapi_document(request.host_url.rstrip("/") + current_app.config["API_PREFIX"]))


# ------------------------------------------------------------------------------------------------ models
@models_bp.get("/models")
def list_models():
    framework = request.args.get("framework") or None
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
    body = json_body()
    new_name = body.get("new_name")
    if not new_name:
        raise ConfigError("new_name is required", field="new_name")
    return jsonify(services().registry.rename(name, new_name))


@models_bp.get("/models/<name>/export")
def export_model(name):
    fmt = request.args.get("format", "onnx")
    if fmt == "bioimageio":
        return _export_bioimageio(name)
    if fmt != "onnx":
        raise ConfigError(f"unknown export format '{fmt}'; supported: onnx, bioimageio", field="format")
    registry = services().registry
    model_name, version, _ = registry.resolve(name)
    tmp = Path(tempfile.mkdtemp(prefix="omniclas-export-"))
    try:
        out = registry.export(name, tmp / f"{model_name}.onnx")
        data = out.read_bytes()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    resp = send_file(io.BytesIO(data), mimetype="application/octet-stream", as_attachment=True,
                     download_name=f"{model_name}-v{version}.onnx")
    resp.headers["X-OmniClas-Model"] = f"{model_name}@{version}"
    return resp


def _export_bioimageio(name):
    """``?format=bioimageio``: the BioImage Model Zoo package (zip); optional ``author`` (repeatable), ``license``."""
    registry = services().registry
    model_name, version, _ = registry.resolve(name)
    opts = {"authors": request.args.getlist("author"), "license": request.args.get("license")}
    with tempfile.TemporaryDirectory(prefix="omniclas-export-") as tmp:
        out = registry.export(name, Path(tmp) / f"{model_name}.zip", format="bioimageio",
                              **{k: v for k, v in opts.items() if v})
        data = out.read_bytes()
    resp = send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True,
                     download_name=f"{model_name}-v{version}.bioimageio.zip")
    resp.headers["X-OmniClas-Model"] = f"{model_name}@{version}"
    return resp


@models_bp.post("/predict")
def predict():
    cfg = current_app.config
    model = request.form.get("model") or request.args.get("model")
    files = request.files.getlist("images") + request.files.getlist("image")
    if not model:
        raise ConfigError("the form field 'model' (a registered model name) is required", field="model")
    if not files:
        raise ConfigError("attach one or more image files in the form field 'images'", field="images")
    if len(files) > cfg["MAX_FILES"]:
        raise ConfigError(f"{len(files)} files in one request; the limit is {cfg['MAX_FILES']}", field="images")
    arrays, owners = [], []
    for f in files:
        name = f.filename or "upload"
        data = f.read()
        check_pixels(data, name, cfg["MAX_PIXELS"], cfg["MAX_PAGES"])
        try:
            pages = read_pages(data, name=name, max_pixels=cfg["MAX_PIXELS"])
        except ImageReadError as err:
            raise ImageReadError(str(err), field="images") from None
        for i, page in enumerate(pages, 1):
            arrays.append(page)
            owners.append((name, i, len(pages)))
        if len(arrays) > cfg["MAX_PAGES"]:
            raise ConfigError(f"more than {cfg['MAX_PAGES']} images (pages) in one request", field="images")
    model_name, version, results = services().registry.predict_arrays(model, arrays)
    out = []
    for (name, page, n_pages), res in zip(owners, results):
        res = {"image": name, **res}
        if n_pages > 1:
            res["slice"] = page
        out.append(res)
    return jsonify({"model": model_name, "version": version, "results": out})


@models_bp.post("/evaluate")
def evaluate():
    body = json_body()
    svc = services()
    dataset = resolve_under_roots(body.get("dataset"), current_app.config["DATASET_ROOTS"])
    labels = body.get("labels")
    if labels:
        labels = resolve_under_roots(labels, current_app.config["DATASET_ROOTS"], field="labels")
    models = body.get("models") or body.get("predictors")
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not models:
        raise ConfigError("'models' must be a non-empty list of model names", field="models")
    result = svc.registry.evaluate(dataset, body.get("measures"), models, labels)
    return jsonify(result)


# ------------------------------------------------------------------------------------------------ jobs
@jobs_bp.post("/jobs")
def submit_job():
    job = services().jobs.submit(json_body())
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
    if not tail.isdigit():
        raise ConfigError("tail must be a non-negative integer", field="tail")
    return jsonify({"lines": services().jobs.log(job_id, int(tail))})


@jobs_bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id):
    return jsonify(services().jobs.cancel(job_id))


@jobs_bp.post("/jobs/<job_id>/resume")
def resume_job(job_id):
    return jsonify(services().jobs.resume(job_id)), 202


@jobs_bp.post("/jobs/<job_id>/register")
def register_job(job_id):
    body = json_body()
    name = body.get("name")
    if not name:
        raise ConfigError("name is required", field="name")
    svc = services()
    return jsonify(svc.jobs.register(job_id, name, svc.registry)), 201

"""The OpenAPI 3.0 document served at /api/v1/openapi.json (kept in step with the routes by a test)."""
from __future__ import annotations

from .. import __version__


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERR = {"4XX": _json(_ref("Error"), "invalid request (message says what and which field)"),
       "5XX": _json(_ref("Error"), "server error (message with an error id; details in the server log)")}
AUTH = [{"bearerAuth": []}]


def _op(summary, responses, body=None, params=None, secured=False, tags=None):
    op = {"summary": summary, "responses": {**responses, **ERR}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    if params:
        op["parameters"] = params
    if secured:
        op["security"] = AUTH
    if tags:
        op["tags"] = tags
    return op


def _path_param(name, description):
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


MODEL_P = _path_param("name", "model name, optionally with a version: 'cells' or 'cells@2'")
JOB_P = _path_param("job_id", "job id")

SCHEMAS = {
    "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "status": {"type": "integer"}, "message": {"type": "string"}, "field": {"type": "string"},
        "id": {"type": "string"}}, "required": ["status", "message"]}}},
    "Model": {"type": "object", "properties": {
        "name": {"type": "string"}, "version": {"type": "integer"}, "framework": {"type": "string"},
        "classes": {"type": "array", "items": {"type": "string"}}, "backbone": {"type": "string", "nullable": True},
        "input_size": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
        "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
        "created": {"type": "string", "format": "date-time"},
        "versions": {"type": "array", "items": {"type": "integer"}},
        "manifest": {"type": "object", "description": "only from GET /models/{name}"}}},
    "Result": {"type": "object", "properties": {
        "image": {"type": "string"}, "slice": {"type": "integer", "description": "page of a stack, from 1"},
        "class": {"type": "string"}, "confidence": {"type": "number"},
        "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
        "top": {"type": "array", "maxItems": 5, "items": {"type": "object", "properties": {
            "class": {"type": "string"}, "probability": {"type": "number"}}}}}},
    "JobSpec": {"type": "object", "required": ["dataset"], "additionalProperties": False, "properties": {
        "dataset": {"type": "string", "description": "folder under one of the server's dataset roots"},
        "process": {"type": "string", "enum": ["nd", "dd", "idd", "md", "imd", "mdd", "imdd"]},
        "backbones": {"type": "array", "items": {"type": "string"}},
        "head": {"type": "string", "enum": ["linear", "finetune", "auto"]},
        "transforms": {"type": "array", "items": {"type": "string"}},
        "threshold": {"type": "number"}, "max_iterations": {"type": "integer"},
        "frozen_epochs": {"type": "integer"}, "unfrozen_epochs": {"type": "integer"},
        "image_size": {"type": "integer", "nullable": True}, "batch_size": {"type": "integer"},
        "seed": {"type": "integer"}, "test_fraction": {"type": "number"}, "valid_fraction": {"type": "number"},
        "bf16": {"type": "boolean", "nullable": True}}},
    "Progress": {"type": "object", "nullable": True, "properties": {
        "stage": {"type": "string"}, "iteration": {"type": "integer"}, "max_iterations": {"type": "integer"},
        "model": {"type": "string"}, "epoch": {"type": "integer"}, "epochs": {"type": "integer"},
        "batch": {"type": "integer"}, "batches": {"type": "integer"}, "fraction": {"type": "number"},
        "eta_s": {"type": "number", "nullable": True}, "message": {"type": "string"}}},
    "Job": {"type": "object", "properties": {
        "id": {"type": "string"}, "job_id": {"type": "string", "description": "only in the answer to POST /jobs"},
        "state": {"type": "string", "enum": ["queued", "running", "finished", "failed", "cancelled", "interrupted"]},
        "spec": _ref("JobSpec"), "created": {"type": "string"}, "started": {"type": "string", "nullable": True},
        "finished": {"type": "string", "nullable": True}, "progress": _ref("Progress"),
        "result": {"type": "object", "nullable": True, "properties": {
            "run_dir": {"type": "string"}, "test_accuracy": {"type": "number"},
            "classes": {"type": "array", "items": {"type": "string"}},
            "per_class": {"type": "array", "items": {"type": "object"}},
            "confusion_matrix": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}}},
        "error": {"type": "string", "nullable": True}, "attempts": {"type": "integer"},
        "cancel_requested": {"type": "boolean"}, "resumable": {"type": "boolean"},
        "queue": {"type": "string", "enum": ["embedded", "redis"]}}},
}


def openapi_document(server_url: str = "/api/v1") -> dict:
    j = lambda schema: {"application/json": {"schema": schema}}  # noqa: E731
    obj = lambda **props: {"type": "object", "properties": props}  # noqa: E731
    strs = {"type": "array", "items": {"type": "string"}}
    paths = {
        "/health": {"get": _op("server status", {"200": _json(obj(
            status={"type": "string"}, version={"type": "string"}, auth_required={"type": "boolean"},
            queue={"type": "string"}))}, tags=["meta"])},
        "/frameworks": {"get": _op("model frameworks (plug-ins)", {"200": _json(obj(frameworks=strs))},
                                   tags=["meta"])},
        "/backbones": {"get": _op("backbones for training", {"200": _json(obj(backbones={"type": "array", "items": obj(
            name={"type": "string"}, offline={"type": "boolean"}, default={"type": "boolean"})}))}, tags=["meta"])},
        "/processes": {"get": _op("training processes (N.D. ... I.M.D.D.) and their defaults", {"200": _json(obj(
            processes={"type": "array", "items": obj(id={"type": "string"}, name={"type": "string"},
                                                     description={"type": "string"},
                                                     needs_unlabelled={"type": "boolean"},
                                                     defaults={"type": "object"})}))}, tags=["meta"])},
        "/measures": {"get": _op("evaluation measures", {"200": _json(obj(measures=strs))}, tags=["meta"])},
        "/openapi.json": {"get": _op("this document", {"200": _json({"type": "object"})}, tags=["meta"])},
        "/models": {"get": _op("registered models (latest version of each)",
                               {"200": _json(obj(models={"type": "array", "items": _ref("Model")}))},
                               params=[{"name": "framework", "in": "query", "required": False,
                                        "schema": {"type": "string"}}], tags=["models"])},
        "/models/{name}": {
            "get": _op("one model with its manifest", {"200": _json(_ref("Model"))}, params=[MODEL_P],
                       tags=["models"]),
            "delete": _op("delete a model (all versions, or name@version)",
                          {"200": _json(obj(deleted={"type": "string"}))}, params=[MODEL_P], secured=True,
                          tags=["models"])},
        "/models/{name}/rename": {"post": _op(
            "rename a model", {"200": _json(_ref("Model"))}, body=j(obj(new_name={"type": "string"})),
            params=[MODEL_P], secured=True, tags=["models"])},
        "/models/{name}/export": {"get": _op(
            "download the model as ONNX (input 'input' NCHW float32 in 0..1; outputs 'logits', 'probabilities')",
            {"200": {"description": "the .onnx file",
                     "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
            params=[MODEL_P, {"name": "format", "in": "query", "required": False,
                              "schema": {"type": "string", "enum": ["onnx"]}}], tags=["models"])},
        "/predict": {"post": _op(
            "classify uploaded images (PNG/JPEG/TIFF, 8/16-bit; a TIFF stack gives one result per page)",
            {"200": _json(obj(model={"type": "string"}, version={"type": "integer"},
                              results={"type": "array", "items": _ref("Result")})),
             "413": _json(_ref("Error"), "upload or image too large")},
            body={"multipart/form-data": {"schema": {"type": "object", "required": ["model", "images"], "properties": {
                "model": {"type": "string"},
                "images": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}},
            secured=True, tags=["models"])},
        "/evaluate": {"post": _op(
            "evaluate models on a labelled dataset folder (<dataset>/<class>/<image>)",
            {"200": _json(obj(results={"type": "array", "items": obj(model={"type": "string"},
                                                                     measures={"type": "object"})}))},
            body=j({"type": "object", "required": ["dataset", "models"], "properties": {
                "dataset": {"type": "string"}, "measures": strs, "models": strs,
                "labels": {"type": "string", "description": "optional class list file, one per line"}}}),
            secured=True, tags=["models"])},
        "/jobs": {
            "post": _op("start a training job", {"202": _json(_ref("Job"))}, body=j(_ref("JobSpec")),
                        secured=True, tags=["jobs"]),
            "get": _op("all jobs", {"200": _json(obj(jobs={"type": "array", "items": _ref("Job")}))},
                       tags=["jobs"])},
        "/jobs/{job_id}": {"get": _op("one job", {"200": _json(_ref("Job"))}, params=[JOB_P], tags=["jobs"])},
        "/jobs/{job_id}/log": {"get": _op(
            "the last lines of a job's log", {"200": _json(obj(lines=strs))},
            params=[JOB_P, {"name": "tail", "in": "query", "required": False,
                            "schema": {"type": "integer", "default": 100}}], tags=["jobs"])},
        "/jobs/{job_id}/cancel": {"post": _op("cancel a job (a running one stops at its next batch)",
                                              {"200": _json(_ref("Job"))}, params=[JOB_P], secured=True,
                                              tags=["jobs"])},
        "/jobs/{job_id}/resume": {"post": _op(
            "resume an interrupted, failed or cancelled job from its last finished iteration",
            {"202": _json(_ref("Job"))}, params=[JOB_P], secured=True, tags=["jobs"])},
        "/jobs/{job_id}/register": {"post": _op(
            "register a finished job's run as a model", {"201": _json(_ref("Model"))},
            body=j(obj(name={"type": "string"})), params=[JOB_P], secured=True, tags=["jobs"])},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "OmniClas HTTP API", "version": __version__,
                 "description": "Train, register and apply image classifiers. Mutating routes need "
                                "'Authorization: Bearer <token>' when the server has a token."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }

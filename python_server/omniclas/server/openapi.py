"""The OpenAPI 3.0 document served at /api/v1/openapi.json.

It says what the server enforces, no more and no less: the patterns of names and ids, the bounds of every
training option (from ``config.OPTIONS``, which the job validation reads too), the limits of the running
server, and the access token only where this server asks for one. A test keeps it in step with the routes and
schemathesis checks the server against it. The server URL is relative: nothing of the request is echoed.
"""
from __future__ import annotations

from .. import __version__
from ..config import OPTIONS, PROCESSES
from ..data.roots import MAX_PATH_CHARS
from ..jobs.manager import JOB_ID_RE, LOG_TAIL_MAX, SPEC_FIELDS
from ..registry.layout import NAME_RE
from .objects import openapi_parts

NAME_PATTERN = NAME_RE.pattern
REF_PATTERN = NAME_PATTERN[:-1] + "(@[vV]?0*[1-9][0-9]*)?$"
PATH_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_PATH_CHARS,
               "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$"}
JOB_STATES = ["queued", "running", "finished", "failed", "cancelled", "interrupted"]
_JSON_TYPES = {"choice": "string", "multichoice": "array", "number": "number", "integer": "integer",
               "boolean": "boolean"}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(required=(), closed=False, **props):
    schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


STRS = {"type": "array", "items": {"type": "string"}}
HTML_PAGE = {"description": "report.html (plots and thumbnails embedded; it fetches nothing)",
             "content": {"text/html": {"schema": {"type": "string"}}}}
NAME = {"type": "string", "pattern": NAME_PATTERN}
MODEL_P = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "pattern": REF_PATTERN},
           "description": "model name, optionally with a version: 'cells' or 'cells@2'"}
WHOLE_MODEL_P = {**MODEL_P, "schema": {"type": "string", "pattern": NAME_PATTERN},
                 "description": "model name (all its versions)"}
JOB_P = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": JOB_ID_RE.pattern},
         "description": "job id (12 hex digits)"}


def _job_spec(backbones: list[str]) -> dict:
    """JOB_SPEC from the fields and bounds the job validation enforces (null: the process's own default)."""
    props = {"dataset": {**PATH_SCHEMA, "description": "folder under one of the server's dataset roots"},
             "process": {"type": "string", "enum": list(PROCESSES), "nullable": True}}
    for o in OPTIONS:
        s = {"type": _JSON_TYPES[o.type], "nullable": True, "description": o.help}
        choices = list(o.choices) or (backbones if o.name == "backbones" else [])
        if o.type == "multichoice":
            s["items"] = {"type": "string", "enum": choices} if choices else {"type": "string"}
            if o.name == "backbones":
                s.update(minItems=1, uniqueItems=True)
        elif choices:
            s["enum"] = choices
        if o.minimum is not None:
            s["minimum"] = o.minimum
        if o.maximum is not None:
            s["maximum"] = o.maximum
        if o.name == "image_size":  # 0 (automatic) or 32..1024
            s = {"nullable": True, "description": o.help,
                 "anyOf": [{"type": "integer", "enum": [0]}, {"type": "integer", "minimum": 32, "maximum": o.maximum}]}
        props[o.name] = s
    for name in ("test_fraction", "valid_fraction"):
        props[name] = {"type": "number", "nullable": True, "minimum": 0, "maximum": 1, "exclusiveMinimum": True,
                       "exclusiveMaximum": True}
    props["bf16"] = {"type": "boolean", "nullable": True}
    assert set(props) == set(SPEC_FIELDS), "the JOB_SPEC schema and the job validation disagree"
    return _obj(required=("dataset",), closed=True, **props)


def _schemas(backbones: list[str], measures: list[str], frameworks: list[str]) -> dict:
    number_or_null = {"type": "number", "nullable": True}
    return {
        "Error": _obj(required=("error",), error=_obj(
            required=("status", "message"), status={"type": "integer"}, message={"type": "string"},
            field={"type": "string"}, id={"type": "string"})),
        "Model": _obj(
            required=("name", "version", "framework", "classes"),
            name=NAME, version={"type": "integer", "minimum": 1}, framework={"type": "string", "enum": frameworks},
            classes=STRS, backbone={"type": "string", "nullable": True, "description": "display text"},
            input_size={"type": "array", "nullable": True, "items": {"type": "integer"}, "minItems": 2,
                        "maxItems": 2},
            metrics={"type": "object", "additionalProperties": {"type": "number"}},
            created={"type": "string", "nullable": True},
            versions={"type": "array", "items": {"type": "integer"}},
            manifest={"type": "object", "description": "only from GET /models/{name}"}),
        "Result": _obj(
            required=("image", "class", "confidence", "probabilities", "top"),
            image={"type": "string"}, slice={"type": "integer", "minimum": 1, "description": "page of a stack"},
            **{"class": {"type": "string"}}, confidence={"type": "number"},
            probabilities={"type": "object", "additionalProperties": {"type": "number"}},
            top={"type": "array", "maxItems": 5, "items": _obj(
                **{"class": {"type": "string"}}, probability={"type": "number"})}),
        "JobSpec": _job_spec(backbones),
        "Job": _obj(
            required=("id", "state", "spec"),
            id={"type": "string", "pattern": JOB_ID_RE.pattern},
            job_id={"type": "string", "description": "only in the answer to POST /jobs"},
            state={"type": "string", "enum": JOB_STATES}, spec=_ref("JobSpec"),
            created={"type": "string"}, started={"type": "string", "nullable": True},
            finished={"type": "string", "nullable": True},
            progress={"type": "object", "nullable": True},
            result={"type": "object", "nullable": True},
            error={"type": "string", "nullable": True}, attempts={"type": "integer"},
            cancel_requested={"type": "boolean"}, resumable={"type": "boolean"},
            queue={"type": "string", "enum": ["embedded", "redis"]}),
        "Evaluation": _obj(
            required=("results", "classes", "images", "measures"),
            dataset={"type": "string"}, classes=STRS, images={"type": "integer"},
            skipped={"type": "array", "items": _obj(path={"type": "string"}, reason={"type": "string"})},
            measures={"type": "array", "items": {"type": "string", "enum": measures}},
            results={"type": "array", "items": _obj(
                framework={"type": "string"}, model={"type": "string"}, version={"type": "integer"},
                measures={"type": "object", "additionalProperties": number_or_null})}),
    }


def openapi_document(config) -> dict:
    from ..model.backbones import list_backbones
    from ..registry.frameworks import list_frameworks
    from ..report.measures import list_measures

    backbones, measures, frameworks = [b.name for b in list_backbones()], list_measures(), list_frameworks()
    token, public_read = bool(config.get("TOKEN")), bool(config.get("PUBLIC_READ"))
    objects = openapi_parts(int(config["MAX_FILES"]))
    errors = {"4XX": _json(_ref("Error"), "invalid request (the message says what and which field)"),
              "5XX": _json(_ref("Error"), "server error (a message with an error id; details in the server log)")}

    def op(summary, responses, tag, body=None, params=None, reading=False, open_route=False):
        out = {"summary": summary, "tags": [tag], "responses": {**responses, **errors}}
        if body is not None:
            out["requestBody"] = {"required": True, "content": body}
        if params:
            out["parameters"] = params
        if token and (open_route or (reading and public_read)):
            out["security"] = []  # no token needed here
        elif token:
            out["responses"]["401"] = _json(_ref("Error"), "the access token is missing or wrong")
        return out

    j = lambda schema: {"application/json": {"schema": schema}}  # noqa: E731
    option = _obj(name={"type": "string"}, label={"type": "string"}, type={"type": "string"},
                  help={"type": "string"}, applies={"type": "object"}, advanced={"type": "boolean"},
                  choices={"type": "array"}, minimum={"type": "number"}, maximum={"type": "number"})
    process = _obj(id={"type": "string", "enum": list(PROCESSES)}, name={"type": "string"},
                   description={"type": "string"}, needs_unlabelled={"type": "boolean"},
                   ensemble={"type": "boolean"}, tta={"type": "boolean"}, iterative={"type": "boolean"},
                   distills={"type": "boolean"}, max_backbones={"type": "integer", "nullable": True},
                   defaults=_obj(**{o.name: {} for o in OPTIONS}))
    paths = {
        "/health": {"get": op("server status", {"200": _json(_obj(
            status={"type": "string"}, version={"type": "string"}, auth_required={"type": "boolean"},
            queue={"type": "string", "enum": ["embedded", "redis"]},
            bf16={"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["auto"]}]},
            dataset_roots={"type": "array", "items": {"type": "string"},
                           "description": "only for callers that may train: no token set, or the token sent"}))},
            "meta", open_route=True)},
        "/frameworks": {"get": op("model frameworks (plug-ins)", {"200": _json(_obj(
            frameworks=STRS, details={"type": "array", "items": _obj(
                name={"type": "string"}, description={"type": "string"}, error={"type": "string"})}))}, "meta",
            reading=True)},
        "/backbones": {"get": op("backbones for training", {"200": _json(_obj(backbones={"type": "array", "items": _obj(
            name={"type": "string"}, offline={"type": "boolean"}, default={"type": "boolean"},
            family={"type": "string"})}))}, "meta", reading=True)},
        "/processes": {"get": op("the training processes (N.D. ... I.M.D.D.) with their defaults, and the options",
                                 {"200": _json(_obj(processes={"type": "array", "items": process},
                                                    options={"type": "array", "items": option}))},
                                 "meta", reading=True)},
        "/measures": {"get": op("evaluation measures", {"200": _json(_obj(
            measures={"type": "array", "items": {"type": "string", "enum": measures}},
            details={"type": "array", "items": _obj(name={"type": "string"}, kind={"type": "string"},
                                                     description={"type": "string"})}))}, "meta", reading=True)},
        "/openapi.json": {"get": op("this document", {"200": _json({"type": "object"})}, "meta", reading=True)},
        "/models": {"get": op("registered models (latest version of each)",
                              {"200": _json(_obj(models={"type": "array", "items": _ref("Model")}))}, "models",
                              params=[{"name": "framework", "in": "query", "required": False,
                                       "schema": {"type": "string", "enum": frameworks}}], reading=True)},
        "/models/{name}": {
            "get": op("one model with its manifest", {"200": _json(_ref("Model"))}, "models", params=[MODEL_P],
                      reading=True),
            "delete": op("delete a model (all versions, or name@version)",
                         {"200": _json(_obj(deleted={"type": "string"}))}, "models", params=[MODEL_P])},
        "/models/{name}/rename": {"post": op(
            "rename a model", {"200": _json(_ref("Model"))}, "models",
            body=j(_obj(required=("new_name",), closed=True, new_name=NAME)), params=[WHOLE_MODEL_P])},
        "/models/{name}/export": {"get": op(
            "download the model as ONNX (input 'input' NCHW float32 in 0..1; outputs 'logits', 'probabilities'), "
            "or with format=bioimageio as a BioImage Model Zoo package (zip)",
            {"200": {"description": "the .onnx file, or the .zip package",
                     "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                                 "application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
            "models", params=[MODEL_P, {"name": "format", "in": "query", "required": False,
                                        "schema": {"type": "string", "enum": ["onnx", "bioimageio"]}}],
            reading=True)},
        "/models/{name}/report": {"get": op(
            "the training report of a model trained by OmniClas: one self-contained HTML page",
            {"200": HTML_PAGE}, "models", params=[MODEL_P], reading=True)},
        "/predict": {"post": op(
            "classify uploaded images (PNG, JPEG, TIFF or BMP; 8/16-bit or float; a stack gives one result per page); "
            "with label images ('labels'), each object (docs/objects.md)",
            {"200": _json(_obj(model=NAME, version={"type": "integer"},
                               results={"type": "array", "items": {"anyOf": [_ref("Result"), _ref("ObjectResult")]}},
                               objects={"type": "array", "items": _ref("ObjectSummary"),
                                        "description": "with label images: each image's object counts"})),
             "413": _json(_ref("Error"), "upload, image or decoded images over the server's limits")},
            "models",
            body={"multipart/form-data": {"schema": _obj(
                required=("model", "images"), closed=True,
                model={"type": "string", "pattern": REF_PATTERN},
                images={"type": "array", "minItems": 1, "maxItems": int(config["MAX_FILES"]),
                        "items": {"type": "string", "format": "binary",
                                  "description": "a PNG, JPEG, TIFF or BMP file (read by its content)"}},
                **objects["form"])}})},
        "/crops": {"post": op("one crop per object of label images, as a zip (for labelling and training)",
                              objects["crops_answer"], "models", body=objects["crops_body"])},
        "/evaluate": {"post": op(
            "evaluate models on a labelled dataset folder (<dataset>/<class>/<image>)",
            {"200": _json(_ref("Evaluation"))}, "models",
            body=j(_obj(required=("dataset", "models"), closed=True, dataset=PATH_SCHEMA,
                        models={"type": "array", "minItems": 1, "items": {"type": "string", "pattern": REF_PATTERN}},
                        measures={"type": "array", "minItems": 1, "items": {"type": "string", "enum": measures}},
                        labels={**PATH_SCHEMA, "description": "class list file, one class per line"})))},
        "/jobs": {
            "post": op("start a training job", {"202": _json(_ref("Job"))}, "jobs", body=j(_ref("JobSpec"))),
            "get": op("all jobs", {"200": _json(_obj(jobs={"type": "array", "items": _ref("Job")}))}, "jobs",
                      reading=True)},
        "/jobs/{job_id}": {"get": op("one job", {"200": _json(_ref("Job"))}, "jobs", params=[JOB_P], reading=True)},
        "/jobs/{job_id}/log": {"get": op(
            "the last lines of a job's log", {"200": _json(_obj(lines=STRS))}, "jobs",
            params=[JOB_P, {"name": "tail", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 0, "maximum": LOG_TAIL_MAX,
                                       "default": 100}}], reading=True)},
        "/jobs/{job_id}/report": {"get": op(
            "the training report of a finished job: one self-contained HTML page", {"200": HTML_PAGE}, "jobs",
            params=[JOB_P], reading=True)},
        "/jobs/{job_id}/cancel": {"post": op("cancel a job (a running one stops at its next batch)",
                                             {"200": _json(_ref("Job"))}, "jobs", params=[JOB_P])},
        "/jobs/{job_id}/resume": {"post": op(
            "resume an interrupted, failed or cancelled job from its last finished iteration",
            {"202": _json(_ref("Job"))}, "jobs", params=[JOB_P])},
        "/jobs/{job_id}/register": {"post": op(
            "register a finished job's run as a model", {"201": _json(_ref("Model"))}, "jobs",
            body=j(_obj(required=("name",), closed=True, name=NAME)), params=[JOB_P])},
    }
    access = ("Every route but /health needs 'Authorization: Bearer <token>'" +
              (" except GET and HEAD (--public-read)." if public_read else ".")) if token else \
        "This server has no access token: no route needs one."
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "OmniClas HTTP API", "version": __version__,
                 "description": "Train, register and apply image classifiers. " + access},
        "servers": [{"url": config.get("API_PREFIX", "/api/v1")}],
        "paths": paths,
        "components": {"schemas": {**_schemas(backbones, measures, frameworks), **objects["schemas"]}},
    }
    if token:
        doc["security"] = [{"bearerAuth": []}]
        doc["components"]["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    return doc

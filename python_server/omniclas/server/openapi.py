"""The API's contract: spectree checks every request against its model in ``schemas.py`` and writes the OpenAPI
document (served at /api/v1/openapi.json) from the same models.

Why spectree (3.x): it keeps Flask and its blueprints as they are (a decorator per route), hands pydantic v2 the
request data untouched (the query, the JSON body, the form with its files), and calls a ``before`` hook where a
refused request becomes the API's own error (``{"error": {...}}``, 400, the field at fault). It is kept up, with
regular releases (3.x takes pydantic 2.11+). flask-openapi3 would have typed path parameters natively, but it
replaces Flask and Blueprint with classes of its own and parses every text form field as JSON, so a model named
``1.10`` would reach the checks as the number 1.1; apispec validates nothing, and its operations are written by
hand, as the old document was.

Where spectree stops, this module carries on from the same sources, never from a hand-written document:

* Path parameters: spectree's Flask plugin types them from werkzeug converters only; here a parameter takes the
  pydantic type its view is annotated with (``name: ModelRef``, ``job_id: JobId``), pattern included. The
  registry and the job manager check them, with their own messages and status codes (404 for a job id).
* Answers that are not JSON (report pages, exported files) and the error ranges: :class:`Answers`.
* Answers are described, not checked again while serving: a drifting answer must not turn into a 500 for the
  user (schemathesis checks every answer against the document in the tests).
* When the document is served (:func:`openapi_document`): the paths relative to ``servers`` (the API prefix),
  the catalogues (backbones, measures, frameworks) and the app's ``MAX_FILES``, and the access token where
  ``auth.needs_token`` asks for it.
"""
from __future__ import annotations

import copy
import typing
from functools import partial

from pydantic import TypeAdapter, ValidationError
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree
from spectree.model_adapter.pydantic_adapter import PydanticModelAdapter
from spectree.plugins.flask_plugin import FlaskPlugin

from .. import __version__
from .answers import Error
from .auth import needs_token
from .schemas import CATALOGUE, CONFIG_MAX_ITEMS, refusal

ERROR_REF = {"$ref": f"#/components/schemas/{Error.__name__}"}


def error_answer(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


class Answers(Response):
    """spectree's ``Response`` (JSON answers by status: ``HTTP_200=Model``), plus ``files``: answers that are not
    JSON, ``{"HTTP_200": (description, {media type: Python type})}``; and every route's error ranges."""

    def __init__(self, *codes: str, files: dict | None = None, **code_models):
        super().__init__(*codes, *(files or {}), **code_models)
        self.files = files or {}

    def generate_spec(self, *args, **kwargs) -> dict:
        out = super().generate_spec(*args, **kwargs)
        for code, (description, media) in self.files.items():
            out[code[5:]] = {"description": description, "content": {
                kind: {"schema": TypeAdapter(python_type).json_schema()} for kind, python_type in media.items()}}
        out["4XX"] = error_answer("invalid request (the message says what and which field)")
        out["5XX"] = error_answer("server error (a message with an error id; details in the server log)")
        return out


class _Flask(FlaskPlugin):
    def parse_path(self, route, path_parameter_descriptions):
        path, parameters = super().parse_path(route, path_parameter_descriptions)
        view = self.get_current_app().view_functions[route.endpoint]
        types = typing.get_type_hints(view, include_extras=True)
        for p in parameters:
            if p["name"] in types:
                schema = TypeAdapter(types[p["name"]]).json_schema()
                p.update(schema=schema, description=schema.get("description") or p["description"])
        return path, parameters

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        """The view's answer as Flask makes it (not re-read: a file is streamed as it is), unchecked: see above."""
        return self.get_current_app().make_response(resp), None


class _Pydantic(PydanticModelAdapter):
    def validation_errors(self, err: ValidationError):
        """What spectree answers a refused request with (the ``before`` hook answers instead): without the input,
        which may hold uploaded files."""
        return err.errors(include_context=False, include_input=False)


contract = SpecTree(
    "flask", backend=_Flask, model_adapter=_Pydantic(), mode="strict", annotations=False,
    title="OmniClas HTTP API", version=__version__, naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child, validation_error_status=400, validation_error_model=Error,
    security={"bearerAuth": []},  # both taken out again where the server has no token
    security_schemes=[SecurityScheme(name="bearerAuth", data=SecuritySchemeData(type="http", scheme="bearer"))])


def _refuse(model, data) -> None:
    try:
        model.model_validate(data)
    except ValidationError as err:
        raise refusal(err, model) from None


def _check(json, form, query, request, response, error, instance, adapter) -> None:
    """spectree's ``before`` hook: a refused request raises the API's error (400, the field at fault)."""
    if json is not None and not isinstance(body := request.get_json(silent=True), dict):  # spectree took it as {}
        _refuse(json, body)
    if form is not None and request.mimetype not in _Flask.FORM_MIMETYPE:  # spectree then checks no form
        _refuse(form, {})
    if error is not None:
        model = next(m for m in (json, form, query) if m is not None and m.__name__ == error.title)
        if hasattr(model, "variant"):  # a union (JobRequest): checked again as the variant the body asks for
            _refuse(model.variant(request.get_json(silent=True)), request.get_json(silent=True))
        raise refusal(error, model) from None


def validate(tag: str, resp: Answers | None = None, json=None, form=None, query=None):
    """A route's contract: its request models (checked, then in ``request.context``), its answers, its tag. The
    view's docstring is its summary."""
    def wrap(view):
        return contract.validate(json=json, form=form, query=query, resp=resp or Answers(), tags=[tag],
                                 before=partial(_check, json, form, query), operation_id=view.__name__)(view)

    return wrap


def _fill(node, values: dict) -> None:
    """Replace each marker key (``x-omniclas-...``) with the keyword and value it stands for."""
    if isinstance(node, dict):
        for marker, (keyword, value_of) in values.items():
            if marker in node:
                node[keyword] = value_of(node.pop(marker))
        for child in node.values():
            _fill(child, values)
    elif isinstance(node, list):
        for child in node:
            _fill(child, values)


def _catalogue(name: str) -> list[str]:
    from ..model.backbones import list_backbones
    from ..registry.frameworks import list_frameworks
    from ..report.measures import list_measures

    lists = {"backbones": lambda: [b.name for b in list_backbones()], "measures": list_measures,
             "frameworks": list_frameworks}
    return list(lists[name]())


def openapi_document(config) -> dict:
    """The document for this app: spectree's, with the paths under ``servers``, the catalogues and limits filled
    in, and the access token where this server asks for one."""
    doc = copy.deepcopy(contract.spec)
    prefix = config.get("API_PREFIX", "/api/v1")
    doc["servers"] = [{"url": prefix}]
    doc["paths"] = {path.removeprefix(prefix): item for path, item in doc["paths"].items()}
    _fill(doc, {CATALOGUE: ("enum", _catalogue), CONFIG_MAX_ITEMS: ("maxItems", lambda key: int(config[key]))})
    token, public_read = bool(config.get("TOKEN")), bool(config.get("PUBLIC_READ"))
    if not token:
        del doc["security"], doc["components"]["securitySchemes"]
    for path, item in doc["paths"].items() if token else ():
        for method, operation in item.items():
            if needs_token(config, prefix + path, method.upper()):
                operation["responses"]["401"] = error_answer("the access token is missing or wrong")
            else:
                operation["security"] = []  # no token needed here
    access = ("Every route but /health needs 'Authorization: Bearer <token>'" +
              (" except GET and HEAD (--public-read)." if public_read else ".")) if token else \
        "This server has no access token: no route needs one."
    doc["info"]["description"] = "Train, register and apply image classifiers. " + access
    return doc

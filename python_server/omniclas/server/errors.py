"""Every error leaves the server as JSON: ``{"error": {"status", "message", "field"?}}``; never a traceback."""
from __future__ import annotations

import logging
import uuid

from flask import jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..errors import BackboneUnavailable, Cancelled, ConfigError, DatasetError, ImageReadError, OmniClasError

log = logging.getLogger(__name__)

_STATUS = ((ImageReadError, 400), (DatasetError, 400), (ConfigError, 400), (BackboneUnavailable, 400),
           (Cancelled, 409))


def status_for(err: OmniClasError) -> int:
    status = getattr(err, "http_status", None)
    if isinstance(status, int):
        return status
    for cls, code in _STATUS:
        if isinstance(err, cls):
            return code
    return 400


def error_response(status: int, message: str, field: str | None = None, **extra):
    body = {"status": status, "message": message}
    if field:
        body["field"] = field
    body.update(extra)
    resp = jsonify({"error": body})
    resp.status_code = status
    return resp


def register_error_handlers(app) -> None:
    @app.errorhandler(OmniClasError)
    def _omniclas(err: OmniClasError):
        return error_response(status_for(err), str(err), err.field)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(err):
        limit = app.config.get("MAX_CONTENT_LENGTH")
        size = f" of {limit / 1e6:.1f} MB" if limit else ""
        return error_response(413, f"upload too large: the request exceeds the server's limit{size} "
                                   f"(start the server with a larger --max-upload-mb)")

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        resp = error_response(err.code or 500, err.description or err.name)
        if err.code == 405 and getattr(err, "valid_methods", None):
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _internal(err: Exception):
        if isinstance(err, HTTPException):  # pragma: no cover - handled above
            return _http(err)
        error_id = uuid.uuid4().hex[:12]
        log.exception("internal error %s", error_id)
        return error_response(500, f"internal server error (id {error_id}); the server log has the details",
                              id=error_id)

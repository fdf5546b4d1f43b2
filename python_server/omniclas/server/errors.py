"""Every error leaves the server as JSON: ``{"error": {"status", "message", "field"?}}``; never a traceback.

That holds for the errors waitress answers itself, before the app sees a request (a body over the upload
limit, a malformed request): :func:`waitress_error_body` writes them.
"""
from __future__ import annotations

import json
import logging
import uuid

from flask import jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..errors import (
    BackboneUnavailable,
    Cancelled,
    ConfigError,
    DatasetError,
    ImageReadError,
    OmniClasError,
)

log = logging.getLogger(__name__)

_STATUS = ((ImageReadError, 400), (DatasetError, 400), (ConfigError, 400), (BackboneUnavailable, 400),
           (Cancelled, 409))
MB = 1 << 20  # --max-upload-mb counts MB of 1024 x 1024 bytes
MAX_MESSAGE_CHARS = 2000  # an error message never echoes a request back in full


def status_for(err: OmniClasError) -> int:
    status = getattr(err, "http_status", None)
    if isinstance(status, int):
        return status
    for cls, code in _STATUS:
        if isinstance(err, cls):
            return code
    return 400


def error_body(status: int, message: str, field: str | None = None, **extra) -> dict:
    message = message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS - 3] + "..."
    body = {"status": status, "message": message}
    if field:
        body["field"] = field[:200]
    body.update(extra)
    return {"error": body}


def error_response(status: int, message: str, field: str | None = None, **extra):
    resp = jsonify(error_body(status, message, field, **extra))
    resp.status_code = status
    return resp


def upload_limit_message(config) -> str:
    """Says the limit in the unit of the flag that sets it: ``--max-upload-mb 64`` -> "64 MB"."""
    mb = config.get("MAX_UPLOAD_MB") or (config.get("MAX_CONTENT_LENGTH") or 0) / MB
    return (f"upload too large: the request is over the server's limit of {mb:.4g} MB "
            f"(start the server with a larger --max-upload-mb)")


def waitress_error_body(code: int, reason: str, detail: str, config) -> bytes:
    """The JSON body of an error that waitress answers without the app (e.g. 413, 400, 431)."""
    message = upload_limit_message(config) if code == 413 else f"{reason.lower()}: {detail.strip() or reason}"
    return json.dumps(error_body(code, message)).encode("utf-8")


def register_error_handlers(app) -> None:
    @app.errorhandler(OmniClasError)
    def _omniclas(err: OmniClasError):
        return error_response(status_for(err), str(err), err.field)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(err):
        from .bodies import form_limit_message

        return error_response(413, form_limit_message() or upload_limit_message(app.config))

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

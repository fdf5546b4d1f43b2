"""Bounds on what a request body may cost before it is checked: JSON bodies (size, keys, nesting) and forms
(parts), each refused with a message that says which limit, not a generic "too large"."""
from __future__ import annotations

import json

from flask import Request, current_app, request

from ..errors import ConfigError

MAX_JSON_BYTES = 1 << 20  # every JSON body of the API is a small spec; images travel as multipart files
MAX_JSON_KEYS = 1000  # keys of all the objects of one JSON body together


class BodyTooLarge(ConfigError):
    http_status = 413


def bounded_loads(s, **kwargs):
    """``json.loads`` of a request body within ``MAX_JSON_KEYS``, refusing (400) nesting deeper than Python's
    parser goes (about 1000 levels) rather than failing with a RecursionError."""
    keys = 0

    def count(pairs):
        nonlocal keys
        keys += len(pairs)
        if keys > MAX_JSON_KEYS:
            raise BodyTooLarge(f"the JSON body has more than {MAX_JSON_KEYS} keys; no route takes that many",
                               field="body")
        return dict(pairs)

    try:
        return json.loads(s, object_pairs_hook=count, **kwargs)
    except RecursionError:
        raise ConfigError("the JSON body is nested too deeply", field="body") from None


class _BoundedJSON:
    loads = staticmethod(bounded_loads)


class BoundedRequest(Request):
    """Flask's request, its JSON body parsed by :func:`bounded_loads` (answers keep Flask's JSON)."""

    @property
    def json_module(self):  # what werkzeug's get_json parses with
        return _BoundedJSON

    @json_module.setter
    def json_module(self, value) -> None:  # Flask sets the app's JSON provider here: the bounded parser stays
        pass


def check_body_size() -> None:
    """``before_request``: a JSON body over ``MAX_JSON_BYTES`` is refused (413) unread."""
    if request.is_json and (request.content_length or 0) > MAX_JSON_BYTES:
        raise BodyTooLarge(f"the JSON body is {request.content_length} bytes, over the limit of {MAX_JSON_BYTES} "
                           f"bytes for a JSON request", field="body")


def form_limit_message() -> str | None:
    """Why werkzeug refused a form that is within the upload limit (too many parts, a text field too long)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if not request.mimetype.startswith("multipart/") or not request.content_length or \
            (limit and request.content_length > limit):
        return None
    parts = current_app.config.get("MAX_FORM_PARTS") or 1000
    memory = current_app.config.get("MAX_FORM_MEMORY_SIZE") or 500_000
    return f"the form has more than {parts} parts, or a text field over {memory} bytes; send fewer parts"

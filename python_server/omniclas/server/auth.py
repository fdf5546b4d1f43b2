"""Bearer-token check for mutating routes (POST, PUT, PATCH, DELETE) when the server has a token."""
from __future__ import annotations

import hmac

from flask import current_app, request

from .errors import error_response

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def check_token():
    token = current_app.config.get("TOKEN")
    if not token or request.method in SAFE_METHODS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        resp = error_response(401, "this route needs the server's access token: send 'Authorization: Bearer <token>'")
    elif not hmac.compare_digest(given.strip().encode(), token.encode()):
        resp = error_response(401, "wrong access token")
    else:
        return None
    resp.headers["WWW-Authenticate"] = 'Bearer realm="omniclas"'
    return resp

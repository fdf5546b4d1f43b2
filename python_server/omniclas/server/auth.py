"""Who may call what: the Host header, cross-site browser requests, and the access token.

Checked before every route:

* **Host.** The ``Host`` header must name the server (``ALLOWED_HOSTS``: the bound address, plus
  ``--allowed-host``); else 400. A web page whose own name resolves to 127.0.0.1 (DNS rebinding) cannot reach
  the server's routes.
* **Cross-site requests.** A mutating request (POST, PUT, PATCH, DELETE) that a browser sends from another
  origin (``Origin`` not this server, ``Origin: null``, or ``Sec-Fetch-Site`` cross-site/same-site) gets 403,
  so a web page cannot drive a server on the user's own machine. Tools (Fiji, curl, Python) send no ``Origin``.
* **The token.** When the server has one, every route but ``/health`` needs ``Authorization: Bearer <token>``
  (401 otherwise); with ``PUBLIC_READ``, GET and HEAD need none. The comparison is constant-time.
"""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import current_app, request

from .errors import error_response

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
OPEN_PATHS = ("/health", "/api/v1/health")
MIN_TOKEN_LENGTH = 16


def _cross_site() -> str | None:
    """Why this request comes from a web page of another origin, or None."""
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    if site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    parts = urlsplit(origin)
    if origin == "null" or not parts.netloc or parts.netloc.lower() != request.host.lower():
        return f"Origin: {origin}"
    return None


def needs_token(config, path: str, method: str) -> bool:
    """Whether a request needs the access token (the OpenAPI document says so per route from this rule too)."""
    if not config.get("TOKEN") or path in OPEN_PATHS:
        return False
    return not (config.get("PUBLIC_READ") and method in SAFE_METHODS)


def token_required() -> bool:
    return needs_token(current_app.config, request.path, request.method)


def has_valid_token() -> bool:
    """True when the server has no token, or the request carries it (for what only trusted callers may see)."""
    token = current_app.config.get("TOKEN")
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def host_name(host: str) -> str:
    """``"[::1]:5000"`` -> ``"::1"``, ``"Example.org.:80"`` -> ``"example.org"``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")


def check_request():
    allowed = current_app.config.get("ALLOWED_HOSTS")
    given = request.headers.get("Host")
    if allowed and given is not None and host_name(given) not in {host_name(a) for a in allowed}:
        return error_response(400, f"this server does not answer to the host name '{given}' (it answers to "
                                   f"{', '.join(allowed)}); start it with --allowed-host NAME to add one",
                              field="Host")
    if request.method not in SAFE_METHODS:
        why = _cross_site()
        if why:
            return error_response(403, f"cross-site request refused ({why}): this server only takes changes from "
                                       f"its own pages and from tools such as Fiji, curl or Python")
    if not token_required():
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        resp = error_response(401, "this route needs the server's access token: send 'Authorization: Bearer <token>'")
    elif not hmac.compare_digest(given.strip().encode(), current_app.config["TOKEN"].encode()):
        resp = error_response(401, "wrong access token")
    else:
        return None
    resp.headers["WWW-Authenticate"] = 'Bearer realm="omniclas"'
    return resp

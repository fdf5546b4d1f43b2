"""The OmniClas HTTP server: a Flask app (JSON API under /api/v1) served by waitress.

``create_app(test_config=None)`` builds the app. Settings (``app.config``), with their environment defaults:

=================  ==========================================================  ==========================
key                meaning                                                     default
=================  ==========================================================  ==========================
MODELS_ROOT        registry folder                                             ``$OMNICLAS_MODELS`` / ``~/OmniClas/models``
DATASET_ROOTS      folders that job and evaluation datasets must lie under     ``$OMNICLAS_DATASET_ROOTS``
JOBS_DIR           job records (SQLite), logs and run folders                  ``$OMNICLAS_JOBS`` / ``<MODELS_ROOT>/.jobs``
QUEUE              ``redis://...`` for RQ workers; None: embedded worker       ``$OMNICLAS_QUEUE``
TOKEN              access token for every route but /health; None: no check    ``$OMNICLAS_TOKEN``
PUBLIC_READ        with a token, GET/HEAD need none                            False
ALLOWED_HOSTS      Host header values answered; None: any                      127.0.0.1, localhost, ::1
MAX_UPLOAD_MB      request body limit in MB (1024 x 1024 bytes)                64
MAX_IMAGE_MB       memory to decode and convert one image                      256
MAX_DECODED_MB     decoded size of all the images of one request together     512
MAX_PIXELS         pixels per uploaded image (page)                            40 million
MAX_PAGES          images (pages) per prediction request                       1000
MAX_FILES          files per prediction request                                256
MAX_OBJECTS        objects of the label images of one request                  10000
BF16               bf16 inference (None: where the CPU supports it)            None
WORKER_THREADS     CPU threads of the embedded training worker                 1
=================  ==========================================================  ==========================
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask, jsonify

from ..data.roots import parse_roots
from ..jobs import JobManager
from ..registry import Registry, default_root
from .auth import MIN_TOKEN_LENGTH, check_request
from .bodies import BoundedRequest, check_body_size
from .errors import MB, register_error_handlers

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]


class Services:
    """What the routes use: the registry and the job manager."""

    def __init__(self, config):
        self.registry = Registry(config["MODELS_ROOT"], bf16=config["BF16"])
        self.jobs = JobManager(config["JOBS_DIR"], queue_url=config["QUEUE"], dataset_roots=config["DATASET_ROOTS"],
                               worker_threads=config["WORKER_THREADS"], stale_s=config["STALE_S"])

    def close(self) -> None:
        self.jobs.close()


def default_config() -> dict:
    return {
        "MODELS_ROOT": str(default_root()),
        "DATASET_ROOTS": parse_roots(os.environ.get("OMNICLAS_DATASET_ROOTS")),
        "JOBS_DIR": os.environ.get("OMNICLAS_JOBS") or None,
        "QUEUE": os.environ.get("OMNICLAS_QUEUE") or None,
        "TOKEN": os.environ.get("OMNICLAS_TOKEN") or None,
        "PUBLIC_READ": False,
        "ALLOWED_HOSTS": list(LOOPBACK_HOSTS),
        "MAX_UPLOAD_MB": 64,
        "MAX_IMAGE_MB": 256,
        "MAX_DECODED_MB": 512,
        "MAX_PIXELS": 40_000_000,
        "MAX_PAGES": 1000,
        "MAX_FILES": 256,
        "MAX_OBJECTS": 10_000,
        "BF16": None,
        "WORKER_THREADS": 1,
        "STALE_S": 60.0,
        "API_PREFIX": API_PREFIX,
        "JSON_SORT_KEYS": False,
    }


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Flask app. ``test_config`` overrides any setting (see the module doc)."""
    app = Flask("omniclas")
    app.config.from_mapping(default_config())
    if test_config:
        app.config.update(test_config)
    cfg = app.config
    if not cfg.get("JOBS_DIR"):
        cfg["JOBS_DIR"] = str(Path(cfg["MODELS_ROOT"]) / ".jobs")
    cfg["DATASET_ROOTS"] = [str(p) for p in cfg["DATASET_ROOTS"]]
    if not (test_config or {}).get("MAX_CONTENT_LENGTH"):
        cfg["MAX_CONTENT_LENGTH"] = int(cfg["MAX_UPLOAD_MB"] * MB)
    else:
        cfg["MAX_UPLOAD_MB"] = None  # a byte limit set directly: messages give it in MB
    if cfg.get("TOKEN") and len(cfg["TOKEN"]) < MIN_TOKEN_LENGTH:
        log.warning("the access token has %d characters; use at least %d", len(cfg["TOKEN"]), MIN_TOKEN_LENGTH)
    app.request_class = BoundedRequest
    app.json.sort_keys = False

    from .api import jobs_bp, meta_bp, models_bp
    from .objects import objects_bp
    from .suggest import suggest_bp

    for bp in (meta_bp, models_bp, jobs_bp, objects_bp, suggest_bp):
        app.register_blueprint(bp, url_prefix=API_PREFIX)
    app.before_request(check_request)
    app.before_request(check_body_size)
    register_error_handlers(app)

    @app.get("/health")
    def root_health():
        from .api import health

        return health()

    @app.get("/")
    def index():
        return jsonify({"name": "omniclas", "api": API_PREFIX, "openapi": f"{API_PREFIX}/openapi.json"})

    app.extensions["omniclas"] = Services(app.config)
    return app


__all__ = ["create_app", "API_PREFIX", "LOOPBACK_HOSTS"]

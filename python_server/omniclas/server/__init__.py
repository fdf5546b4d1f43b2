"""The OmniClas HTTP server: a Flask app (JSON API under /api/v1) served by waitress.

``create_app(test_config=None)`` builds the app. Settings (``app.config``), with their environment defaults:

=================  ==========================================================  ==========================
key                meaning                                                     default
=================  ==========================================================  ==========================
MODELS_ROOT        registry folder                                             ``$OMNICLAS_MODELS`` / repo ``models/``
DATASET_ROOTS      folders that job and evaluation datasets must lie under     ``$OMNICLAS_DATASET_ROOTS``
JOBS_DIR           job records (SQLite), logs and run folders                  ``$OMNICLAS_JOBS`` / ``<MODELS_ROOT>/.jobs``
QUEUE              ``redis://...`` for RQ workers; None: embedded worker       ``$OMNICLAS_QUEUE``
TOKEN              access token for mutating routes; None: no check            ``$OMNICLAS_TOKEN``
MAX_CONTENT_LENGTH upload limit in bytes                                       64 MiB
MAX_PIXELS         pixels per uploaded image (page)                            40 million
MAX_PAGES          images (pages) per prediction request                       1000
MAX_FILES          files per prediction request                                256
BF16               bf16 inference (None: where the CPU supports it)            None
WORKER_THREADS     CPU threads of the embedded training worker                 1
=================  ==========================================================  ==========================
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask, jsonify

from ..jobs import JobManager
from ..jobs.paths import parse_roots
from ..registry import Registry, default_root
from .errors import register_error_handlers

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


class Services:
    """What the routes use: the registry and the job manager."""

    def __init__(self, config):
        self.registry = Registry(config["MODELS_ROOT"], bf16=config["BF16"])
        self.jobs = JobManager(config["JOBS_DIR"], queue_url=config["QUEUE"], dataset_roots=config["DATASET_ROOTS"],
                               worker_threads=config["WORKER_THREADS"], stale_s=config["STALE_S"])

    def close(self) -> None:
        self.jobs.close()


def default_config() -> dict:
    models_root = Path(os.environ.get("OMNICLAS_MODELS") or default_root())
    return {
        "MODELS_ROOT": str(models_root),
        "DATASET_ROOTS": parse_roots(os.environ.get("OMNICLAS_DATASET_ROOTS")),
        "JOBS_DIR": os.environ.get("OMNICLAS_JOBS") or None,
        "QUEUE": os.environ.get("OMNICLAS_QUEUE") or None,
        "TOKEN": os.environ.get("OMNICLAS_TOKEN") or None,
        "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
        "MAX_PIXELS": 40_000_000,
        "MAX_PAGES": 1000,
        "MAX_FILES": 256,
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
    if not app.config.get("JOBS_DIR"):
        app.config["JOBS_DIR"] = str(Path(app.config["MODELS_ROOT"]) / ".jobs")
    app.config["DATASET_ROOTS"] = [str(p) for p in app.config["DATASET_ROOTS"]]
    app.json.sort_keys = False

    from .api import jobs_bp, meta_bp, models_bp

    for bp in (meta_bp, models_bp, jobs_bp):
        app.register_blueprint(bp, url_prefix=API_PREFIX)
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


__all__ = ["create_app", "API_PREFIX"]

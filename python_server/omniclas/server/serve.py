"""Run the app with waitress (``omniclas serve``)."""
from __future__ import annotations

import atexit
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

from ..errors import OmniClasError

LOOPBACK = ("127.0.0.1", "localhost", "::1")

log = logging.getLogger(__name__)


def serve(host: str = "127.0.0.1", port: int = 5000, models_root=None, dataset_roots=(), jobs_dir=None,
          queue=None, token=None, require_token: bool = False, threads: int = 4, max_upload_mb: float = 64,
          max_pixels: int = 40_000_000, bf16=None, worker_threads: int = 1, out=sys.stdout) -> None:
    from waitress import create_server

    from . import create_app

    token = token or os.environ.get("OMNICLAS_TOKEN") or None
    generated = False
    if (host not in LOOPBACK or require_token) and not token:
        token = secrets.token_urlsafe(24)
        generated = True
    config = {"TOKEN": token, "MAX_CONTENT_LENGTH": int(max_upload_mb * 1024 * 1024), "MAX_PIXELS": int(max_pixels),
              "BF16": bf16, "WORKER_THREADS": worker_threads}
    if models_root:
        config["MODELS_ROOT"] = str(models_root)
    if dataset_roots:
        config["DATASET_ROOTS"] = [str(Path(r).expanduser().resolve()) for r in dataset_roots]
    if jobs_dir:
        config["JOBS_DIR"] = str(jobs_dir)
    if queue:
        config["QUEUE"] = queue
    app = create_app(config)
    services = app.extensions["omniclas"]
    atexit.register(services.close)

    def _stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    cfg = app.config
    try:
        server = create_server(app, host=host, port=port, threads=threads, ident="omniclas",
                               max_request_body_size=cfg["MAX_CONTENT_LENGTH"] + 1024 * 1024,
                               clear_untrusted_proxy_headers=True)
    except OSError as err:
        services.close()
        raise OmniClasError(f"cannot listen on {host}:{port}: {err.strerror or err}", field="port") from None
    port = server.effective_port
    shown_host = f"[{host}]" if ":" in host else host
    print(f"OmniClas serving http://{shown_host}:{port}/api/v1 (OpenAPI: /api/v1/openapi.json)", file=out)
    print(f"  models:        {cfg['MODELS_ROOT']}", file=out)
    print(f"  dataset roots: {', '.join(cfg['DATASET_ROOTS']) or '(none: training jobs are refused; use --dataset-root)'}",
          file=out)
    print(f"  jobs:          {cfg['JOBS_DIR']} ({services.jobs.mode}"
          f"{': ' + cfg['QUEUE'] if cfg['QUEUE'] else ' worker process'})", file=out)
    if generated:
        print(f"  access token:  {token}", file=out)
        print("  (send 'Authorization: Bearer <token>' on POST/DELETE; set OMNICLAS_TOKEN to choose it)", file=out)
    elif token:
        print("  access token:  from OMNICLAS_TOKEN / --token", file=out)
    out.flush()
    services.jobs.warm()
    try:
        server.run()
    finally:
        services.close()

"""Run the app with waitress (``omniclas serve``)."""
from __future__ import annotations

import _thread
import atexit
import errno
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

from waitress.server import BaseWSGIServer

from ..errors import OmniClasError
from .auth import MIN_TOKEN_LENGTH
from .channel import ClientLimits, GuardedChannel
from .errors import MB

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")

log = logging.getLogger(__name__)


def allowed_hosts(host: str, extra=()) -> list[str] | None:
    """The Host header values to answer: the bound address (all loopback names for a loopback bind) plus
    ``extra``; None (any) for a wildcard bind without ``extra``, where the token guards the server."""
    extra = [h for h in extra if h]
    if "*" in extra:
        return None
    if host in LOOPBACK:
        return [*LOOPBACK, *extra]
    if host in WILDCARD:
        return [*LOOPBACK, *extra] if extra else None
    return [host, *LOOPBACK, *extra]


def _allow_open_files(n: int) -> None:
    """Raise the soft limit on open files towards ``n`` (each connection holds one), as far as the hard limit."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n if hard == resource.RLIM_INFINITY else min(n, hard), hard))


def serve(host: str = "127.0.0.1", port: int = 5000, models_root=None, dataset_roots=(), jobs_dir=None,
          queue=None, token=None, require_token: bool = False, threads: int = 4, max_upload_mb: float = 64,
          max_pixels: int = 40_000_000, max_image_mb: float = 256, max_decoded_mb: float = 512, bf16=None,
          worker_threads: int = 1, allowed_host=(), public_read: bool = False, parent_pid: int | None = None,
          max_objects: int = 10_000, max_connections: int = 1000, header_timeout: float = 10.0,
          idle_timeout: int = 30, out=None) -> None:
    from waitress import create_server

    from ..registry import models_root_choice
    from . import create_app

    out = out or sys.stdout
    token = token or os.environ.get("OMNICLAS_TOKEN") or None
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise OmniClasError(f"the access token has {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
                            f"(or leave it out and one is generated)", field="token")
    generated = False
    if (host not in LOOPBACK or require_token) and not token:
        token = secrets.token_urlsafe(24)
        generated = True
    if public_read and not token:
        raise OmniClasError("--public-read opens reading on a server with a token; this one has none",
                            field="public_read")
    config = {"TOKEN": token, "PUBLIC_READ": bool(public_read), "ALLOWED_HOSTS": allowed_hosts(host, allowed_host),
              "MAX_UPLOAD_MB": max_upload_mb, "MAX_PIXELS": int(max_pixels), "MAX_IMAGE_MB": max_image_mb,
              "MAX_DECODED_MB": max_decoded_mb, "BF16": bf16, "WORKER_THREADS": worker_threads,
              "MAX_OBJECTS": int(max_objects)}
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
    if parent_pid is not None:  # gone parent: the same clean stop as SIGTERM, in the main thread
        from .parent import watch_parent

        try:
            watch_parent(parent_pid, lambda: _thread.interrupt_main(signal.SIGTERM))
        except OmniClasError:
            services.close()
            raise
    cfg = app.config
    sockets: dict = {}
    try:
        _allow_open_files(max_connections + 64)
        # poll, not select: select() stops at 1024 descriptors; idle connections are looked at every second
        server = create_server(app, map=sockets, host=host, port=port, threads=threads, ident="omniclas",
                               max_request_body_size=int(max_upload_mb * MB), clear_untrusted_proxy_headers=True,
                               connection_limit=int(max_connections), channel_timeout=int(idle_timeout),
                               cleanup_interval=1, asyncore_use_poll=True)
    except OSError as err:
        services.close()
        busy = err.errno == errno.EADDRINUSE  # say what to do: another program (an earlier server?) holds the port
        raise OmniClasError(f"cannot listen on {host}:{port}: {err.strerror or err}"
                            + (f"; another program uses this port: stop it, or choose another port with --port "
                               f"{port + 1}" if busy else ""), field="port") from None
    for listener in sockets.values():
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = GuardedChannel
            listener.app_config = cfg
            listener.client_limits = ClientLimits(header_s=float(header_timeout))
    port = server.effective_port
    shown_host = f"[{host}]" if ":" in host else host
    print(f"OmniClas serving http://{shown_host}:{port}/api/v1 (OpenAPI: /api/v1/openapi.json)", file=out)
    print(f"  models:        {cfg['MODELS_ROOT']} ({models_root_choice(models_root)[1]})", file=out)
    print(f"  dataset roots: {', '.join(cfg['DATASET_ROOTS']) or '(none: training jobs are refused; use --dataset-root)'}",
          file=out)
    print(f"  jobs:          {cfg['JOBS_DIR']} ({services.jobs.mode}"
          f"{': ' + cfg['QUEUE'] if cfg['QUEUE'] else ' worker process'})", file=out)
    print(f"  host names:    {', '.join(cfg['ALLOWED_HOSTS']) if cfg['ALLOWED_HOSTS'] else 'any'}", file=out)
    if generated:
        print(f"  access token:  {token}", file=out)
        print("  (send 'Authorization: Bearer <token>' on every request; set OMNICLAS_TOKEN to choose it)", file=out)
    elif token:
        print("  access token:  from OMNICLAS_TOKEN / --token", file=out)
    if token:
        print(f"  reading:       {'open (--public-read)' if public_read else 'needs the token'}", file=out)
    if parent_pid is not None:
        print(f"  stops with:    process {parent_pid} (--parent-pid)", file=out)
    out.flush()
    services.jobs.warm()
    try:
        server.run()
    finally:
        services.close()

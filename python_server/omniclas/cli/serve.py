"""Service commands: ``serve`` (the HTTP API) and ``worker`` (an RQ worker for a server started with --queue)."""
from __future__ import annotations

import argparse
import os

from ..errors import OmniClasError
from .models import models_root_arg


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP API server (waitress)",
                              description="Serve the JSON API under /api/v1. Bound to 127.0.0.1 by default; any "
                                          "other address needs an access token (generated and printed, or "
                                          "OMNICLAS_TOKEN, at least 16 characters), which every route but /health "
                                          "then asks for.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    models_root_arg(p)
    p.add_argument("--dataset-root", action="append", metavar="DIR",
                   help="folder that training/evaluation datasets must lie under (repeatable; "
                        "default $OMNICLAS_DATASET_ROOTS)")
    p.add_argument("--jobs-dir", default=None, metavar="DIR",
                   help="job records, logs and run folders (default <models-root>/.jobs)")
    p.add_argument("--queue", default=None, metavar="URL",
                   help="redis://HOST:PORT/DB: run jobs on RQ workers (omniclas worker) instead of the embedded "
                        "worker process")
    p.add_argument("--token", default=None, help="access token (prefer the OMNICLAS_TOKEN environment variable)")
    p.add_argument("--require-token", action="store_true", help="require a token even on 127.0.0.1")
    p.add_argument("--public-read", action="store_true",
                   help="with a token: let GET requests (models, jobs, logs, exports) through without it")
    p.add_argument("--allowed-host", action="append", metavar="NAME",
                   help="a host name clients use to reach the server, beyond the bound address (repeatable; "
                        "'*' accepts any); other Host headers get 400")
    p.add_argument("--threads", type=int, default=4, help="request threads (default 4)")
    p.add_argument("--worker-threads", type=int, default=1, help="CPU threads of the embedded training worker")
    p.add_argument("--max-upload-mb", type=float, default=64,
                   help="largest request body in MB of 1024 x 1024 bytes (default 64)")
    p.add_argument("--max-pixels", type=int, default=40_000_000,
                   help="largest image accepted, in pixels per page (default 40 million)")
    p.add_argument("--max-image-mb", type=float, default=256,
                   help="memory one image may take while it is decoded and converted, in MB (default 256)")
    p.add_argument("--max-decoded-mb", type=float, default=512,
                   help="decoded size of all the images of one request together, in MB (default 512)")
    p.add_argument("--max-objects", type=int, default=10_000,
                   help="objects of the label images of one prediction request together (default 10000)")
    p.add_argument("--max-connections", type=int, default=1000,
                   help="open connections at once; more wait to be accepted (default 1000)")
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="S",
                   help="seconds a client has to send a request's headers; its body must then come at 16 KB/s or "
                        "more on average (else 408; default 10)")
    p.add_argument("--idle-timeout", type=int, default=30, metavar="S",
                   help="seconds before a connection that sends nothing is closed (default 30)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 inference (default: where the CPU supports it)")
    p.add_argument("--parent-pid", type=int, default=None, metavar="PID",
                   help="stop (cleanly: the training worker too, and the port freed) when process PID ends, even "
                        "if it is killed; Fiji passes its own")
    p.set_defaults(func=cmd_serve)

    p = subparsers.add_parser("worker", help="run a worker (training and predict jobs) for a server started with "
                                             "--queue redis://...")
    p.add_argument("--queue", default=None, metavar="URL", help="redis://HOST:PORT/DB (default $OMNICLAS_QUEUE)")
    p.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per job (default: all)")
    p.add_argument("--name", default=None, help="worker name shown by rq info")
    p.add_argument("--max-jobs", type=int, default=None, help="stop after this many RQ jobs (a predict job's shard "
                                                              "is one)")
    p.set_defaults(func=cmd_worker)


def cmd_serve(args) -> int:
    from ..server.serve import serve

    roots = list(args.dataset_root or [])
    if not roots and os.environ.get("OMNICLAS_DATASET_ROOTS"):
        from ..data.roots import parse_roots

        roots = parse_roots(os.environ["OMNICLAS_DATASET_ROOTS"])
    for r in roots:
        if not os.path.isdir(os.path.expanduser(r)):
            raise OmniClasError(f"--dataset-root {r}: no such folder", field="dataset_root")
    serve(host=args.host, port=args.port, models_root=args.models_root, dataset_roots=roots, jobs_dir=args.jobs_dir,
          queue=args.queue, token=args.token, require_token=args.require_token, threads=args.threads,
          max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels, max_image_mb=args.max_image_mb,
          max_decoded_mb=args.max_decoded_mb, bf16=args.bf16, worker_threads=args.worker_threads,
          allowed_host=args.allowed_host or (), public_read=args.public_read, parent_pid=args.parent_pid,
          max_objects=args.max_objects, max_connections=args.max_connections,
          header_timeout=args.header_timeout, idle_timeout=args.idle_timeout)
    return 0


def cmd_worker(args) -> int:
    from ..jobs.rq_backend import run_worker

    url = args.queue or os.environ.get("OMNICLAS_QUEUE")
    if not url:
        raise OmniClasError("worker needs --queue redis://HOST:PORT/DB (or OMNICLAS_QUEUE)", field="queue")
    try:
        import redis

        print(f"OmniClas worker on {url}, queue 'omniclas'{' (burst)' if args.burst else ''}", flush=True)
        run_worker(url, burst=args.burst, threads=args.threads, name=args.name, max_jobs=args.max_jobs)
    except redis.exceptions.ConnectionError as err:
        raise OmniClasError(f"cannot reach Redis at {url}: {err}") from None
    return 0

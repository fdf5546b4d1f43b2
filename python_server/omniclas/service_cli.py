"""Command-line subcommands for the registry, the server and the workers.

``add_subcommands(subparsers)`` adds ``serve``, ``worker``, ``register``, ``models``, ``delete``, ``rename``,
``export``, ``import-onnx``, ``import-bioimageio`` and ``evaluate`` to an ``argparse`` sub-parser set; each sets
``func``, which takes the parsed namespace and returns the exit code (0 ok, 2 user error: ``error: <message>`` on
stderr, no traceback).
``python -m omniclas.service_cli ...`` runs them on their own.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys

from .errors import OmniClasError


def _handle(fn):
    @functools.wraps(fn)
    def wrapper(args) -> int:
        try:
            return fn(args) or 0
        except OmniClasError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    return wrapper


def _registry(args):
    from .registry import Registry

    return Registry(args.models_root)


def _models_root_arg(p):
    p.add_argument("--models-root", default=None, metavar="DIR",
                   help="model registry folder (default: $OMNICLAS_MODELS, else the repository's models/)")


def _floats3(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three numbers, got '{text}'") from None
    if len(vals) != 3:
        raise argparse.ArgumentTypeError(f"expected three numbers, got '{text}'")
    return vals


# ------------------------------------------------------------------ handlers
@_handle
def cmd_serve(args) -> int:
    from .server.serve import serve

    roots = list(args.dataset_root or [])
    if not roots and os.environ.get("OMNICLAS_DATASET_ROOTS"):
        from .jobs.paths import parse_roots

        roots = parse_roots(os.environ["OMNICLAS_DATASET_ROOTS"])
    for r in roots:
        if not os.path.isdir(os.path.expanduser(r)):
            raise OmniClasError(f"--dataset-root {r}: no such folder", field="dataset_root")
    serve(host=args.host, port=args.port, models_root=args.models_root, dataset_roots=roots, jobs_dir=args.jobs_dir,
          queue=args.queue, token=args.token, require_token=args.require_token, threads=args.threads,
          max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels, max_image_mb=args.max_image_mb,
          max_decoded_mb=args.max_decoded_mb, bf16=args.bf16, worker_threads=args.worker_threads,
          allowed_host=args.allowed_host or (), public_read=args.public_read)
    return 0


@_handle
def cmd_worker(args) -> int:
    from .jobs.rq_backend import run_worker

    url = args.queue or os.environ.get("OMNICLAS_QUEUE")
    if not url:
        raise OmniClasError("worker needs --queue redis://HOST:PORT/DB (or OMNICLAS_QUEUE)", field="queue")
    try:
        import redis

        print(f"OmniClas worker on {url}, queue 'omniclas'{' (burst)' if args.burst else ''}", flush=True)
        run_worker(url, burst=args.burst, threads=args.threads, name=args.name)
    except redis.exceptions.ConnectionError as err:
        raise OmniClasError(f"cannot reach Redis at {url}: {err}") from None
    return 0


@_handle
def cmd_register(args) -> int:
    m = _registry(args).register(args.run_dir, args.name)
    acc = m["metrics"].get("test_accuracy")
    print(f"registered '{m['name']}' version {m['version']} ({m['backbone']}, classes: {', '.join(m['classes'])}"
          f"{f', test accuracy {acc:.3f}' if acc is not None else ''})")
    return 0


@_handle
def cmd_models(args) -> int:
    reg = _registry(args)
    models = reg.list_models(args.framework)
    if args.json:
        print(json.dumps({"models": models}, indent=2))
        return 0
    if not models:
        print(f"no models in {reg.root}")
        return 0
    print(f"{'name':24} {'ver':>3}  {'framework':9} {'backbone':20} {'acc':>5}  classes")
    for m in models:
        acc = m["metrics"].get("test_accuracy")
        print(f"{m['name']:24} {m['version']:>3}  {m['framework']:9} {str(m['backbone'] or '-'):20} "
              f"{(f'{acc:.3f}' if acc is not None else '-'):>5}  {', '.join(m['classes'])}")
    return 0


@_handle
def cmd_delete(args) -> int:
    print(f"deleted {_registry(args).delete(args.name)}")
    return 0


@_handle
def cmd_rename(args) -> int:
    m = _registry(args).rename(args.name, args.new_name)
    print(f"renamed '{args.name}' to '{m['name']}'")
    return 0


@_handle
def cmd_export(args) -> int:
    if args.format is None:  # the file name says which: out.zip is a zoo package
        args.format = "bioimageio" if str(args.out).lower().endswith(".zip") else "onnx"
    if args.format == "bioimageio":
        return _export_bioimageio(args)
    out = _registry(args).export(args.name, args.out)
    print(f"exported '{args.name}' to {out} (ONNX; input 'input' NCHW float32 in 0..1, outputs 'logits', "
          f"'probabilities')")
    return 0


def _export_bioimageio(args) -> int:
    opts = {k: v for k, v in (("authors", args.author), ("license", args.license),
                              ("sample_image", args.sample_image)) if v}
    out = _registry(args).export(args.name, args.out, format="bioimageio", **opts)
    print(f"exported '{args.name}' to {out} (BioImage Model Zoo package; check it with: bioimageio test {out})")
    return 0


@_handle
def cmd_import_bioimageio(args) -> int:
    m = _registry(args).register(args.package, args.name, framework="bioimageio")
    print(f"imported '{m['name']}' version {m['version']} (bioimageio, {len(m['classes'])} classes, "
          f"input {m['input_size'][0]}x{m['input_size'][1]})")
    return 0


@_handle
def cmd_import_onnx(args) -> int:
    opts = {}
    if args.input_size:
        opts["input_size"] = args.input_size
    if args.mean:
        opts["mean"] = args.mean
    if args.std:
        opts["std"] = args.std
    m = _registry(args).register(args.file, args.name, framework="onnx", classes=args.classes,
                                 output=args.output, **opts)
    print(f"imported '{m['name']}' version {m['version']} (onnx, {len(m['classes'])} classes, "
          f"input {m['input_size'][0]}x{m['input_size'][1]})")
    return 0


@_handle
def cmd_evaluate(args) -> int:
    result = _registry(args).evaluate(args.dataset, args.measures, args.model, args.labels)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    names = result["measures"]
    print(f"{result['images']} images, classes: {', '.join(result['classes'])}")
    print(f"{'model':24} " + " ".join(f"{n:>19}" for n in names))
    for r in result["results"]:
        vals = [r["measures"][n] for n in names]
        print(f"{r['model'] + '@' + str(r['version']):24} " +
              " ".join(f"{v:>19.4f}" if v is not None else f"{'n/a':>19}" for v in vals))
    return 0


# ------------------------------------------------------------------ parser
def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP API server (waitress)",
                              description="Serve the JSON API under /api/v1. Bound to 127.0.0.1 by default; any "
                                          "other address needs an access token (generated and printed, or "
                                          "OMNICLAS_TOKEN, at least 16 characters), which every route but /health "
                                          "then asks for.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    _models_root_arg(p)
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
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 inference (default: where the CPU supports it)")
    p.set_defaults(func=cmd_serve, handler=cmd_serve)

    p = subparsers.add_parser("worker", help="run a training worker for a server started with --queue redis://...")
    p.add_argument("--queue", default=None, metavar="URL", help="redis://HOST:PORT/DB (default $OMNICLAS_QUEUE)")
    p.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per job (default: all)")
    p.add_argument("--name", default=None, help="worker name shown by rq info")
    p.set_defaults(func=cmd_worker, handler=cmd_worker)

    p = subparsers.add_parser("register", help="register a finished run folder as a model")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("name", metavar="NAME")
    _models_root_arg(p)
    p.set_defaults(func=cmd_register, handler=cmd_register)

    p = subparsers.add_parser("models", help="list registered models")
    p.add_argument("--framework", default=None, help="only models of this framework (omniclas, onnx, ...)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _models_root_arg(p)
    p.set_defaults(func=cmd_models, handler=cmd_models)

    p = subparsers.add_parser("delete", help="delete a model (all versions) or one version (NAME@VERSION)")
    p.add_argument("name", metavar="NAME")
    _models_root_arg(p)
    p.set_defaults(func=cmd_delete, handler=cmd_delete)

    p = subparsers.add_parser("rename", help="rename a model")
    p.add_argument("name", metavar="NAME")
    p.add_argument("new_name", metavar="NEW_NAME")
    _models_root_arg(p)
    p.set_defaults(func=cmd_rename, handler=cmd_rename)

    p = subparsers.add_parser("export", help="export a model to ONNX for Java tools, or as a BioImage Model Zoo "
                                             "package (--format bioimageio)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("out", metavar="OUT", help="OUT.onnx, or OUT.zip for a BioImage Model Zoo package")
    p.add_argument("--format", choices=("onnx", "bioimageio"), default=None,
                   help="default: bioimageio for an OUT ending in .zip, else onnx")
    b = p.add_argument_group("bioimageio")
    b.add_argument("--author", action="append", default=None,
                   help="package author (repeatable; default: git config user.name)")
    b.add_argument("--license", default=None, help="SPDX licence of the package (default CC-BY-4.0)")
    b.add_argument("--sample-image", default=None, metavar="IMAGE",
                   help="image for the test tensors when the training images are not where the run left them")
    _models_root_arg(p)
    p.set_defaults(func=cmd_export, handler=cmd_export)

    p = subparsers.add_parser("import-bioimageio", help="register a BioImage Model Zoo classifier package")
    p.add_argument("package", metavar="PACKAGE", help="the package's .zip, or its folder")
    p.add_argument("name", metavar="NAME")
    _models_root_arg(p)
    p.set_defaults(func=cmd_import_bioimageio, handler=cmd_import_bioimageio)

    p = subparsers.add_parser("import-onnx", help="register an external ONNX image classifier with its classes")
    p.add_argument("file", metavar="FILE.onnx")
    p.add_argument("classes", metavar="CLASSES.txt", help="class names, one per line, in output order")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--input-size", type=int, nargs="+", default=None, metavar="PX",
                   help="input size: one value (square) or H W (default: from the model)")
    p.add_argument("--mean", type=_floats3, default=None, help="normalisation mean of pixel/255 (default ImageNet's)")
    p.add_argument("--std", type=_floats3, default=None, help="normalisation std (default ImageNet's)")
    p.add_argument("--output", choices=("auto", "logits", "probabilities"), default="auto",
                   help="what the model outputs (default: auto-detect)")
    _models_root_arg(p)
    p.set_defaults(func=cmd_import_onnx, handler=cmd_import_onnx)

    p = subparsers.add_parser("evaluate", help="evaluate models on a labelled dataset folder")
    p.add_argument("dataset", metavar="DATASET", help="<dataset>/<class>/<image>")
    p.add_argument("--model", action="append", required=True, help="model name (repeatable)")
    p.add_argument("--measures", nargs="+", default=None,
                   help="measures (default: accuracy precision recall f1); see deepclas4bio-listMeasures")
    p.add_argument("--labels", default=None, help="class list file, one per line (default: the class folders)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _models_root_arg(p)
    p.set_defaults(func=cmd_evaluate, handler=cmd_evaluate)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="omniclas", description="OmniClas model registry, server and workers")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommands(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

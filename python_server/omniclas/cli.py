"""The ``omniclas`` command: train, predict, info, demo (plus the registry and server commands)."""
from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import time
from pathlib import Path

from . import __version__
from .config import OPTIONS, PROCESSES, RUNTIMES, TrainConfig
from .errors import OmniClasError
from .files import write_atomic


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def add_training_options(parser) -> None:
    """One flag per training option, from the same table the server and Fiji use (config.OPTIONS); every default
    is None, so the process's own default applies unless the flag is given."""
    groups = {}
    for opt in OPTIONS:
        group_name = "distillation" if opt.applies.get("distills") or opt.applies.get("tta") or \
            opt.applies.get("iterative") else "models"
        group = groups.setdefault(group_name, parser.add_argument_group(group_name))
        flag = "--" + opt.name.replace("_", "-")
        help_text = opt.help + (f" (choices: {', '.join(opt.choices)})" if opt.choices and opt.type == "multichoice"
                                else "")
        if opt.type == "boolean":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif opt.type == "choice":
            group.add_argument(flag, choices=opt.choices, default=None, help=help_text)
        elif opt.type == "multichoice":
            none = ", 'none' for none" if opt.name == "transforms" else ""  # a run needs at least one backbone
            group.add_argument(flag, type=_csv, default=None, help=help_text + "; comma-separated" + none)
        else:
            group.add_argument(flag, type=float if opt.type == "number" else int, default=None, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omniclas", description="Image classification with few labels, on a CPU.")
    parser.add_argument("--version", action="version", version=f"omniclas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a classifier on a dataset folder")
    t.add_argument("dataset", help="folder with one sub-folder per class, optional unlabelled/ and test/")
    t.add_argument("--out", dest="out_dir", help="run folder to write (default runs/<dataset>-<process>-<time>)")
    t.add_argument("--process", default="imdd", help=f"one of {', '.join(PROCESSES)} (default imdd); "
                   "'omniclas processes' describes them")
    add_training_options(t)
    o = t.add_argument_group("other")
    o.add_argument("--test-fraction", type=float, help="share of each class held out for testing (default 0.25)")
    o.add_argument("--valid-fraction", type=float, help="validation share for fine-tuned heads (default 0.2)")
    o.add_argument("--cv-folds", type=int, help="cross-validation folds for linear heads (default 5)")
    o.add_argument("--runtime", choices=RUNTIMES, help="where frozen bodies run (default auto: the fastest installed)")
    o.add_argument("--no-bf16", dest="bf16", action="store_false", default=None, help="run inference in float32")
    o.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")

    p = sub.add_parser("predict", help="classify images with a run or registry model folder")
    p.add_argument("model", help="a run folder, or a registered model name")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--csv", help="also write the results to this CSV file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-bf16", dest="bf16", action="store_false", default=None)

    i = sub.add_parser("info", help="describe a run or model folder")
    i.add_argument("model")
    i.add_argument("--open", action="store_true", help="also open its report.html in the web browser")

    dm = sub.add_parser("demo", help="make a synthetic cell dataset, train on it and classify: the whole job")
    dm.add_argument("--out", default="omniclas-demo", help="folder for the demo's data and run")
    dm.add_argument("--process", default="imdd")

    sub.add_parser("backbones", help="list the backbones")
    sub.add_parser("processes", help="list the seven training processes")
    try:
        from .service_cli import add_subcommands
    except ImportError:
        pass
    else:
        add_subcommands(sub)
    return parser


def _width(stream) -> int:
    import shutil

    return max(60, shutil.get_terminal_size((100, 24)).columns) if stream.isatty() else 160


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(1, width - 1)] + "…"


def _join_fitting(names: list[str], width: int) -> str:
    """``a, b, c, … (+N more)`` within ``width`` characters."""
    out = ""
    for i, name in enumerate(names):
        more = f", … (+{len(names) - i} more)" if i else f"… (+{len(names)} more)"
        piece = (", " if i else "") + name
        if len(out) + len(piece) + (len(more) if i < len(names) - 1 else 0) > width:
            return out + more
        out += piece
    return out


class ProgressPrinter:
    """One updating line on a terminal; one line per stage or epoch change in a log file."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_key = None
        self.last_time = 0.0

    def __call__(self, e) -> None:
        where = f"round {e.iteration}/{e.max_iterations}"
        if e.stage == "training" and e.epochs:
            text = f"{where} | {e.model} | epoch {e.epoch}/{e.epochs} batch {e.batch}/{e.batches}"
        else:
            text = f"{where} | {e.stage} | {e.message}"
        eta = f" | ETA {e.eta_s:.0f} s" if e.eta_s is not None else ""
        line = f"[{e.fraction * 100:5.1f}%] {text}{eta}"
        if self.tty:
            width = _width(self.stream) - 1
            self.stream.write("\r" + _fit(line, width).ljust(width))
            if e.stage == "done":
                self.stream.write("\n")
        else:
            key = (e.stage, e.iteration, e.epoch, e.message)  # a log gets a line per step, not per model fit
            if key != self.last_key or time.monotonic() - self.last_time > 30:
                self.stream.write(line + "\n")
                self.last_key, self.last_time = key, time.monotonic()
        self.stream.flush()


def print_summary(manifest: dict, run_dir, out=None) -> None:
    out = out or sys.stdout  # looked up at call time, so a redirected stdout (pytest, notebooks) gets it
    t = manifest["test"]
    width = _width(out)
    acc = f"{t['accuracy']:.3f} on {t['images']} images" if t["accuracy"] is not None else "no test images"
    est = manifest.get("estimate") or {}
    best = manifest["iterations"][manifest["best_iteration"]] if manifest.get("iterations") else {}
    rows = [("run folder", str(run_dir)), ("process", PROCESSES[manifest["process"]].name),
            ("model", f"{manifest['backbone']} ({manifest['head']} head, {manifest['input_size'][0]} px, "
                      f"{len(manifest.get('views') or ['original'])} view(s))"),
            ("classes", f"{len(manifest['classes'])}: " + ", ".join(manifest["classes"])),
            ("images", ", ".join(f"{v} {k}" for k, v in manifest["counts"].items())),
            ("rounds", f"{len(manifest['iterations'])} (best: {manifest['best_iteration']}); {manifest['stop_reason']}"),
            ("automatic labels", f"{len(manifest['auto_labelled'])} (rule: {manifest.get('selection', '-')})"),
            ("estimate", f"{best.get('estimate_accuracy', 0):.3f} by {est.get('method', '-')}"),
            ("test accuracy", acc),
            ("wall time", f"{manifest['wall_time_s']} s")]
    key_width = max(len(k) for k, _ in rows)
    room = width - key_width - 4
    print("\nSummary", file=out)
    for k, v in rows:
        v = _join_fitting(manifest["classes"], room - 4).join([f"{len(manifest['classes'])}: ", ""]) \
            if k == "classes" else _fit(v, room)
        print(f"  {k:<{key_width}}  {v}", file=out)
    name_width = min(max([len("class")] + [len(c["class"]) for c in t["per_class"]]), max(12, width - 40))
    print(f"\n  {'class':<{name_width}} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}", file=out)
    for c in t["per_class"]:
        print(f"  {_fit(c['class'], name_width):<{name_width}} {c['precision']:>9.3f} {c['recall']:>7.3f} "
              f"{c['f1']:>6.3f} {c['support']:>8d}", file=out)


def _cmd_train(args) -> int:
    from .engine import train

    names = ["dataset", "out_dir", "process", "test_fraction", "valid_fraction", "cv_folds", "runtime", "bf16"]
    fields = {k: getattr(args, k) for k in names + [o.name for o in OPTIONS]}
    fields = {k: (() if v == ("none",) else v) for k, v in fields.items() if v is not None}
    result = train(TrainConfig(**fields), progress=ProgressPrinter(), resume=args.resume)
    print_summary(result.manifest, result.run_dir)
    print(f"\nReport: {result.run_dir / 'report.html'} (open it in a browser: omniclas info {result.run_dir} --open)")
    return 0


def _model_folder(ref: str) -> Path:
    """A run or model folder, or a registered model's version folder (``name`` or ``name@version``)."""
    path = Path(ref)
    if path.is_dir():
        return path
    from .registry import Registry, default_root

    return Registry(default_root()).resolve(ref)[2]


def _load_model(ref: str, bf16):
    """A run folder loads directly; a registered name goes through the registry, which checks every file's sha256."""
    from .predictor import Predictor

    if Path(ref).is_dir():
        return Predictor.load(ref, bf16=bf16)
    from .registry import Registry, default_root

    return Registry(default_root(), bf16=bf16).load(ref)[3]


def _expand_images(items) -> list[Path]:
    from .imageio import is_image_file

    out = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if is_image_file(p))
        elif path.exists():
            out.append(path)
        else:
            raise OmniClasError(f"image not found: {item}", field="images")
    if not out:
        raise OmniClasError("no images found in " + ", ".join(items), field="images")
    return out


def _check_writable(path: Path, field: str) -> None:
    if path.is_dir():
        raise OmniClasError(f"{path} is a folder; give a file name", field=field)
    if not path.parent.is_dir():
        raise OmniClasError(f"cannot write {path}: the folder {path.parent} does not exist", field=field)
    if not os.access(path.parent, os.W_OK):
        raise OmniClasError(f"cannot write {path}: the folder {path.parent} is not writable", field=field)


def _cmd_predict(args) -> int:
    """One row per image, and per page of a stack (``slice`` 1..n), as the HTTP API and Fiji answer."""
    import csv

    from .errors import ImageReadError
    from .imageio import read_pages

    csv_path = Path(args.csv) if args.csv else None
    if csv_path:  # checked before the work, not after it
        _check_writable(csv_path, "csv")
    model = _load_model(args.model, args.bf16)
    classes = list(model.classes)
    rows = []
    for path in _expand_images(args.images):
        try:
            pages = read_pages(path)
            probs = model.predict_proba(pages)
        except ImageReadError as err:
            rows.append({"image": str(path), "error": str(err)})
            continue
        for page_no, p in enumerate(probs, 1):
            best = int(p.argmax())
            row = {"image": str(path)}
            if len(pages) > 1:
                row["slice"] = page_no
            row.update({"class": classes[best], "confidence": float(p[best]),
                        "probabilities": {c: float(v) for c, v in zip(classes, p)}})
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            where = f"{r['image']} [slice {r['slice']}]" if "slice" in r else r["image"]
            print(f"{where}\t{r['class']}\t{r['confidence']:.3f}" if "class" in r else f"{where}\terror: {r['error']}")
    if csv_path:
        table = io.StringIO(newline="")
        w = csv.writer(table)
        w.writerow(["image", "slice", "class", "confidence"] + classes + ["error"])
        for r in rows:
            probs = [r["probabilities"][c] for c in classes] if "class" in r else [""] * len(classes)
            w.writerow([r["image"], r.get("slice", ""), r.get("class", ""), r.get("confidence", "")] + probs
                       + [r.get("error", "")])
        write_atomic(csv_path, table.getvalue())  # an existing file is replaced whole or not at all
    return 1 if any("error" in r for r in rows) else 0


def _cmd_info(args) -> int:
    path = _model_folder(args.model)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise OmniClasError(f"{path} is not a model folder: manifest.json is missing", field="model")
    manifest = json.loads(manifest_path.read_text())
    if "test" in manifest and "counts" in manifest:
        print_summary(manifest, path)
    else:
        print(json.dumps({k: v for k, v in manifest.items() if k not in ("splits", "auto_labelled")}, indent=1))
    if args.open:
        from .report_html import open_report

        print(f"\nReport: {open_report(path)}")
    return 0


def _cmd_demo(args) -> int:
    from .data.synthetic import make_synthetic_dataset
    from .engine import train
    from .predictor import Predictor

    out = Path(args.out)
    data = out / "data"
    if not data.exists():
        print(f"Writing a small synthetic dataset of fluorescence-like cells (3 phenotypes) to {data}.\n"
              "These images are SYNTHETIC, made to show the tool working end to end.")
        make_synthetic_dataset(data)
    # Running the demo again adds a run beside the earlier ones (run, run-2, ...): nothing is overwritten.
    run_dir = next(out / name for name in ["run"] + [f"run-{i}" for i in range(2, 10_000)] if not (out / name).exists())
    result = train(TrainConfig(dataset=str(data), out_dir=str(run_dir), process=args.process),
                   progress=ProgressPrinter())
    print_summary(result.manifest, result.run_dir)
    truth = dict(line.split(",") for line in (out / "data-unlabelled-truth.csv").read_text().split()[1:])
    auto = result.manifest["auto_labelled"]
    if auto:
        right = sum(truth.get(Path(a["path"]).name) == a["class"] for a in auto)
        print(f"\nAutomatic labels: {right} of {len(auto)} agree with the synthetic ground truth.")
    predictor = Predictor.load(result.run_dir)
    sample = sorted((data / "unlabelled").iterdir())[:5]
    print("\nClassifying a few images with the saved model:")
    for path, r in zip(sample, predictor.predict_images(sample)):
        print(f"  {path.name}: {r['class']} ({r['confidence']:.2f}); true: {truth[path.name]}")
    print(f"\nRun folder: {result.run_dir}\nReport: {result.run_dir / 'report.html'} "
          f"(open it in a browser: omniclas info {result.run_dir} --open)")
    return 0


def _cmd_backbones(args) -> int:
    from .backbones import list_backbones

    for b in list_backbones():
        print(f"{b.name:<20} {b.family:<12} {'offline' if b.offline else 'downloads ImageNet weights on first use'}")
    return 0


def _cmd_processes(args) -> int:
    for p in PROCESSES.values():
        print(f"{p.id:<5} {p.name:<9} {p.description}")
    return 0


COMMANDS = {"train": _cmd_train, "predict": _cmd_predict, "info": _cmd_info, "demo": _cmd_demo,
            "backbones": _cmd_backbones, "processes": _cmd_processes}


def main(argv=None) -> int:
    # Idle OpenMP threads spin by default; beside a second torch process on a 2-core laptop both crawl.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    try:
        return handler(args)
    except OmniClasError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (omniclas predict ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as err:
        if err.filename:  # a path that cannot be read or written (permissions, a full disk): the user's to fix
            print(f"error: {err.filename}: {err.strerror or err}", file=sys.stderr)
            return 2
        return _report_bug(args.verbose)
    except Exception:
        return _report_bug(args.verbose)


def _report_bug(verbose: bool) -> int:
    """A bug: the user gets one line and where the details are, never a traceback (called inside ``except``)."""
    import traceback

    from .runtime import cache_dir

    log_file = cache_dir() / "last-error.log"
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(traceback.format_exc())
        where = f"details in {log_file}"
    except OSError:
        where = "run again with -v for details"
    if verbose:
        traceback.print_exc()
    err = sys.exc_info()[1]
    print(f"internal error: {err.__class__.__name__}: {err} ({where}; please report it)", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())

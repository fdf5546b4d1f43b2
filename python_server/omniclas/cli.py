"""The ``omniclas`` command: train, predict, info, demo (plus the registry and server commands)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .config import PROCESSES, TRANSFORMS, TrainConfig
from .errors import OmniClasError


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omniclas", description="Image classification with few labels, on a CPU.")
    parser.add_argument("--version", action="version", version=f"omniclas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a classifier on a dataset folder")
    t.add_argument("dataset", help="folder with one sub-folder per class, optional unlabelled/ and test/")
    t.add_argument("--out", dest="out_dir", help="run folder to write (default runs/<dataset>-<process>-<time>)")
    t.add_argument("--process", default="imdd", help=f"one of {', '.join(PROCESSES)} (default imdd)")
    g = t.add_argument_group("models")
    g.add_argument("--backbones", type=_csv, help="comma-separated backbone names (see 'omniclas backbones')")
    g.add_argument("--head", choices=("linear", "finetune", "auto"), default="linear",
                   help="linear: frozen features + logistic regression (fast); finetune: the paper's 2+8 epochs; "
                        "auto: train both, validation picks")
    g.add_argument("--frozen-epochs", type=int, default=2)
    g.add_argument("--unfrozen-epochs", type=int, default=8)
    g.add_argument("--image-size", type=int, help="network input size in px (default: from the images' size)")
    g.add_argument("--batch-size", type=int, default=32)
    d = t.add_argument_group("distillation")
    d.add_argument("--transforms", type=_csv, help=f"test-time transforms, comma-separated from {', '.join(TRANSFORMS)}; "
                                                     f"'none' for none")
    d.add_argument("--threshold", type=float, help="confidence needed to keep an automatic label (0..1)")
    d.add_argument("--max-iterations", type=int, help="maximum distillation rounds")
    o = t.add_argument_group("other")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--test-fraction", type=float, default=0.25)
    o.add_argument("--valid-fraction", type=float, default=0.2)
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


class ProgressPrinter:
    """One updating line on a terminal; one line per stage or epoch change in a log file."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.last_key = None
        self.last_time = 0.0

    def __call__(self, e) -> None:
        where = f"round {e.iteration}/{e.max_iterations}"
        if e.stage == "training" and e.epochs:
            text = f"{where} | {e.model} | epoch {e.epoch}/{e.epochs} batch {e.batch}/{e.batches}"
        elif e.stage in ("features", "training") and e.batches:
            text = f"{where} | {e.message} | batch {e.batch}/{e.batches}"
        else:
            text = f"{where} | {e.stage} | {e.message}"
        eta = f" | ETA {e.eta_s:.0f} s" if e.eta_s is not None else ""
        line = f"[{e.fraction * 100:5.1f}%] {text}{eta}"
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(150))
            if e.stage == "done":
                self.stream.write("\n")
        else:
            key = (e.stage, e.iteration, e.model, e.epoch, e.message)
            if key != self.last_key or time.monotonic() - self.last_time > 30:
                self.stream.write(line + "\n")
                self.last_key, self.last_time = key, time.monotonic()
        self.stream.flush()


def print_summary(manifest: dict, run_dir, out=sys.stdout) -> None:
    t = manifest["test"]
    rows = [("run folder", str(run_dir)), ("process", PROCESSES[manifest["process"]].name),
            ("model", f"{manifest['backbone']} ({manifest['head']} head, {manifest['input_size'][0]} px)"),
            ("classes", ", ".join(manifest["classes"])),
            ("images", ", ".join(f"{v} {k}" for k, v in manifest["counts"].items())),
            ("rounds", f"{len(manifest['iterations'])} (best: {manifest['best_iteration']}); {manifest['stop_reason']}"),
            ("automatic labels", str(len(manifest["auto_labelled"]))),
            ("test accuracy", f"{t['accuracy']:.3f} on {t['images']} images"),
            ("wall time", f"{manifest['wall_time_s']} s")]
    width = max(len(k) for k, _ in rows)
    print("\nSummary", file=out)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}", file=out)
    print(f"\n  {'class':<20} {'precision':>9} {'recall':>7} {'support':>8}", file=out)
    for c in t["per_class"]:
        print(f"  {c['class']:<20} {c['precision']:>9.3f} {c['recall']:>7.3f} {c['support']:>8d}", file=out)


def _cmd_train(args) -> int:
    from .engine import train

    fields = {k: getattr(args, k) for k in ("dataset", "out_dir", "process", "backbones", "head", "transforms",
                                            "threshold", "max_iterations", "frozen_epochs", "unfrozen_epochs",
                                            "image_size", "batch_size", "seed", "test_fraction", "valid_fraction",
                                            "bf16")}
    if fields["transforms"] == ("none",):
        fields["transforms"] = ()
    result = train(TrainConfig(**fields), progress=ProgressPrinter(), resume=args.resume)
    print_summary(result.manifest, result.run_dir)
    print(f"\nReport: {result.run_dir / 'report.md'}")
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


def _cmd_predict(args) -> int:
    """One row per image, and per page of a stack (``slice`` 1..n), as the HTTP API and Fiji answer."""
    import csv

    from .errors import ImageReadError
    from .imageio import read_pages

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
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image", "slice", "class", "confidence"] + classes + ["error"])
            for r in rows:
                probs = [r["probabilities"][c] for c in classes] if "class" in r else [""] * len(classes)
                w.writerow([r["image"], r.get("slice", ""), r.get("class", ""), r.get("confidence", "")] + probs
                           + [r.get("error", "")])
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
    result = train(TrainConfig(dataset=str(data), out_dir=str(out / "run"), process=args.process),
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
    print(f"\nRun folder: {result.run_dir}  (report: {result.run_dir / 'report.md'})")
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


if __name__ == "__main__":
    sys.exit(main())

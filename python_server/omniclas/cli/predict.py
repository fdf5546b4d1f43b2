"""Commands that use a trained model: ``predict`` and ``info``."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from ..errors import OmniClasError
from .models import models_root_arg, resolve_model
from .output import print_summary


def add_commands(sub) -> None:
    p = sub.add_parser("predict", help="classify images with a run or registry model folder",
                       description="Classify images a batch at a time. Without --csv, prints one line per image "
                                   "(per page of a stack); with --csv, writes the rows to the file as it goes (a "
                                   "stopped run keeps them: continue it with --resume) and prints a summary. Exit "
                                   "code 1 when an image could not be read (its row holds the error).")
    p.add_argument("model", help="a run folder, or a registered model name")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--csv", help="write the results to this CSV file as they come (image, slice, class, confidence, "
                                 "unsure, runner-up, one p_<class> column per class, error: docs/results-csv.md); an "
                                 "existing file is replaced once the first batch is classified")
    p.add_argument("--unsure-threshold", type=float, default=None, metavar="X",
                   help="mark a result unsure below this calibrated confidence (0..1); default: the threshold the "
                        "run fitted for its target precision (docs/calibration.md)")
    p.add_argument("--resume", action="store_true",
                   help="with --csv: keep the rows the file holds and classify only the images it lacks")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images classified at a time (default 64)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table (without --csv)")
    p.add_argument("--no-bf16", dest="bf16", action="store_false", default=None)
    models_root_arg(p)
    p.set_defaults(func=cmd_predict)

    i = sub.add_parser("info", help="describe a run or model folder; with none, this installation (version, "
                                    "models folder, cache folder, runtimes)")
    i.add_argument("model", nargs="?", default=None, help="a run folder, or a registered model name")
    i.add_argument("--open", action="store_true", help="also open its report.html in the web browser")
    models_root_arg(i)
    i.set_defaults(func=cmd_info)


def _model_folder(ref: str, models_root=None) -> Path:
    """A run or model folder, or a registered model's version folder (``name`` or ``name@version``)."""
    path = Path(ref)
    if path.is_dir():
        return path
    from ..registry import Registry

    return resolve_model(Registry(models_root), ref, run_folders=True)[2]


def _load_model(ref: str, bf16, models_root=None):
    """A run folder loads directly; a registered name goes through the registry, which checks every file's sha256."""
    from ..model.predictor import Predictor

    if Path(ref).is_dir():
        return Predictor.load(ref, bf16=bf16)
    from ..registry import Registry

    reg = Registry(models_root, bf16=bf16)
    resolve_model(reg, ref, run_folders=True)
    return reg.load(ref)[3]


def _expand_images(items) -> list[Path]:
    from ..data.imageio import images_under

    out = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            out += images_under(path)
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


class _Progress:
    """Images done of total, images/s and ETA on stderr: a bar on a terminal (tqdm), else a line every 10 s."""

    LOG_EVERY_S = 10.0

    def __init__(self):
        self.bar, self.start, self.first, self.logged = None, time.monotonic(), None, 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.first is None:
            self.first = done  # images a resumed CSV already held: not counted in the rate
            if sys.stderr.isatty():
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=done, unit="img", file=sys.stderr, dynamic_ncols=True)
            return
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if now - self.logged >= self.LOG_EVERY_S or done == total:
            self.logged = now
            rate = (done - self.first) / max(now - self.start, 1e-9)
            eta = (total - done) / rate if rate > 0 else 0
            print(f"{done}/{total} images, {rate:.1f} images/s, ETA {eta:.0f} s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_predict(args) -> int:
    """One row per image, and per page of a stack (``slice`` 1..n), as the HTTP API and Fiji answer."""
    csv_path = Path(args.csv) if args.csv else None
    if args.resume and not csv_path:
        raise OmniClasError("--resume continues a CSV: give it with --csv", field="resume")
    if args.batch_size < 1:
        raise OmniClasError(f"--batch-size must be 1 or more, got {args.batch_size}", field="batch_size")
    if args.unsure_threshold is not None and not 0.0 <= args.unsure_threshold <= 1.0:
        raise OmniClasError(f"--unsure-threshold must be between 0 and 1, got {args.unsure_threshold}",
                            field="unsure_threshold")
    if csv_path:  # checked before the work, not after it
        _check_writable(csv_path, "csv")
    model = _load_model(args.model, args.bf16, args.models_root)
    paths = _expand_images(args.images)
    if csv_path:
        return _predict_to_csv(model, paths, csv_path, args)
    from ..model.batch_predict import predict_rows

    progress, rows, failed = _Progress(), [], False
    progress(0, len(paths))
    done = 0
    unsure = 0
    for n, batch in predict_rows(model, paths, args.batch_size, unsure_threshold=args.unsure_threshold):
        failed = failed or any("error" in r for r in batch)
        if args.json:
            rows += batch
        else:
            for r in batch:
                where = f"{r['image']} [slice {r['slice']}]" if "slice" in r else r["image"]
                unsure += bool(r.get("unsure"))
                print(f"{where}\t{r['class']}\t{r['confidence']:.3f}" + ("\tunsure" if r.get("unsure") else "")
                      if "class" in r else f"{where}\terror: {r['error']}")
            sys.stdout.flush()
        done += n
        progress(done, len(paths))
    progress.close()
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(unsure_summary(unsure, model), file=sys.stderr)
    return 1 if failed else 0


def _predict_to_csv(model, paths, csv_path: Path, args) -> int:
    """Rows into the CSV as they come (docs/results-csv.md); a summary, not the rows, on the terminal."""
    from ..report.predict_csv import predict_to_csv

    progress = _Progress()
    start = time.monotonic()
    tally = predict_to_csv(model, paths, csv_path, resume=args.resume, batch_size=args.batch_size, on_batch=progress,
                           unsure_threshold=args.unsure_threshold)
    progress.close()
    seconds = time.monotonic() - start
    new = tally.images - (progress.first or 0)
    print(f"{tally.images} images, {tally.rows} rows, {tally.errors} errors"
          + (f" ({progress.first} were in the CSV already)" if progress.first else ""))
    for cls in model.classes:
        print(f"  {cls}: {tally.counts.get(cls, 0)}")
    print(unsure_summary(tally.unsure, model, args.unsure_threshold))
    print(f"Results: {csv_path}")
    print(f"{new / max(seconds, 1e-9):.1f} images/s ({new} images in {seconds:.1f} s)")
    return 1 if tally.errors else 0


def unsure_summary(unsure: int, model, threshold: float | None = None) -> str:
    """How many results are unsure, and below which confidence (or why none can be)."""
    cal = (getattr(model, "manifest", None) or {}).get("calibration")
    if threshold is None and cal:
        threshold = cal.get("threshold")
    if threshold is None:
        why = cal.get("note", "") if cal else "this model has no calibration (trained before it, or not by OmniClas)"
        return f"{unsure} unsure" + (f" ({why})" if why else "")
    return f"{unsure} unsure (calibrated confidence below {threshold:.3f})"


def cmd_info(args) -> int:
    if args.model is None:
        if args.open:
            raise OmniClasError("--open needs a run folder or a registered model: omniclas info RUN --open",
                                field="model")
        from .environment import print_environment

        print_environment(args.models_root)
        return 0
    path = _model_folder(args.model, args.models_root)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise OmniClasError(f"{path} is not a model folder: manifest.json is missing", field="model")
    manifest = json.loads(manifest_path.read_text())
    if "test" in manifest and "counts" in manifest:
        print_summary(manifest, path)
    else:
        print(json.dumps({k: v for k, v in manifest.items() if k not in ("splits", "auto_labelled")}, indent=1))
    if args.open:
        from ..report.html import open_report

        report, opened = open_report(path)
        print(f"\nReport: {report}" + ("" if opened else "\n  No web browser could be started here: open that file "
                                                          "in one (it needs no network)."))
    return 0


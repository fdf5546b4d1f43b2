"""Commands that use a trained model: ``predict`` and ``info``."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..data.files import write_atomic
from ..errors import OmniClasError
from .models import models_root_arg, resolve_model
from .output import print_summary


def add_commands(sub) -> None:
    p = sub.add_parser("predict", help="classify images with a run or registry model folder")
    p.add_argument("model", help="a run folder, or a registered model name")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--csv", help="also write the results to this CSV file (image, slice, class, confidence, one "
                                 "p_<class> column per class, error: docs/results-csv.md)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
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
    from ..data.imageio import is_image_file

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


def cmd_predict(args) -> int:
    """One row per image, and per page of a stack (``slice`` 1..n), as the HTTP API and Fiji answer."""
    from ..data.imageio import read_pages
    from ..report import results_csv
    from ..errors import ImageReadError

    csv_path = Path(args.csv) if args.csv else None
    if csv_path:  # checked before the work, not after it
        _check_writable(csv_path, "csv")
    model = _load_model(args.model, args.bf16, args.models_root)
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
    if csv_path:  # docs/results-csv.md; an existing file is replaced whole or not at all
        write_atomic(csv_path, results_csv.to_text(rows, classes))
    return 1 if any("error" in r for r in rows) else 0


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


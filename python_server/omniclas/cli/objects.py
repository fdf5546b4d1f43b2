"""Objects of label images on the command line (docs/objects.md).

- ``omniclas predict MODEL IMAGE... --objects LABELS [--csv OUT.csv]``: one row per object.
- ``omniclas crops IMAGE... --objects LABELS --out DIR [--classes objects.csv]``: one crop per object, named
  ``<image stem>__obj<object>.png``, into ``DIR/unlabelled/`` (or ``DIR/<class>/`` for objects the CSV labels),
  ready for Fiji's Label Images and for training.

LABELS is one label image, or a folder of them matched to each image by name: ``<stem>.png|.tif``, or the stem
with ``_cp_masks``, ``_masks``, ``_mask``, ``_labels`` or ``_label`` (as Cellpose, StarDist scripts and ilastik
name them). When a folder of images is given, files named like label images are left out of the images.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from ..data.files import write_atomic
from ..errors import ImageReadError, OmniClasError
from . import predict

MAX_OBJECTS_PER_IMAGE = 20_000


def add_commands(sub) -> None:
    from ..data.objects import DEFAULT_PADDING, MASK_OUTSIDE

    def object_arguments(p, required: bool) -> None:
        g = p.add_argument_group("objects", "classify each object of a label image (0 = background, n = object n)")
        g.add_argument("--objects", metavar="LABELS", required=required,
                       help="a label image, or a folder of label images named like the images (A01.png -> A01.tif, "
                            "A01_masks.png, A01_cp_masks.png, A01_labels.tif, ...)")
        g.add_argument("--padding", type=float, default=DEFAULT_PADDING,
                       help=f"context around each object, as a fraction of its box (default {DEFAULT_PADDING})")
        g.add_argument("--mask-outside", choices=MASK_OUTSIDE, default="none",
                       help="pixels of the crop outside the object: keep (none, default), dim or blank")
        g.add_argument("--min-area", type=int, default=0, metavar="PX",
                       help="objects with fewer pixels get a row without a class (default 0: all are classified)")
        g.add_argument("--exclude-border", action="store_true",
                       help="do not classify objects touching the image's border (they still get a row)")
        g.add_argument("--max-objects", type=int, default=MAX_OBJECTS_PER_IMAGE, metavar="N",
                       help=f"refuse a label image with more objects (default {MAX_OBJECTS_PER_IMAGE})")

    p = sub.choices["predict"]
    object_arguments(p, required=False)
    p.set_defaults(func=cmd_predict)

    c = sub.add_parser("crops", help="one crop per object of label images, for labelling and training",
                       description="Write one PNG per object (its box plus --padding, as the model sees it when "
                                   "classifying with --objects) into OUT/unlabelled/, or into OUT/<class>/ for the "
                                   "objects a --classes table labels.")
    c.add_argument("images", nargs="+", help="image files or folders")
    c.add_argument("--out", required=True, metavar="DIR", help="dataset folder to write the crops into")
    c.add_argument("--classes", metavar="CSV",
                   help="object labels: a CSV with the columns image, object, class (image: file name or stem)")
    object_arguments(c, required=True)
    c.set_defaults(func=cmd_crops)


def cmd_predict(args) -> int:
    """``predict`` without --objects classifies whole images; with it, each object."""
    return cmd_predict_objects(args) if args.objects else predict.cmd_predict(args)


def _options(args):
    from ..data.objects import ObjectOptions

    if args.max_objects < 1:
        raise OmniClasError("--max-objects must be 1 or more", field="max_objects")
    return ObjectOptions(padding=args.padding, mask_outside=args.mask_outside, min_area=args.min_area,
                         exclude_border=args.exclude_border)


def _pairs(args) -> list[tuple[Path, Path | ImageReadError]]:
    """Each image with its label image, or the error saying why it has none."""
    from ..data.objects import is_label_file, match_label_file

    labels = Path(args.objects)
    if not labels.exists():
        raise OmniClasError(f"--objects {labels}: no such file or folder", field="objects")
    given = {Path(i) for i in args.images}
    images = [p for p in predict._expand_images(args.images) if p in given or not is_label_file(p)]
    images = [p for p in images if p.resolve() != labels.resolve()]
    if not images:
        raise OmniClasError("no images found in " + ", ".join(args.images) + " (besides label images)",
                            field="images")
    if labels.is_file() and len(images) > 1:
        raise OmniClasError(f"--objects {labels} is one label image for {len(images)} images; give a folder of "
                            f"label images named like the images", field="objects")
    out = []
    for image in images:
        try:
            out.append((image, match_label_file(image, labels)))
        except ImageReadError as err:
            out.append((image, err))
    return out


def _fields(image: Path, labels, options, max_objects: int):
    """The objects of one image, or the error row saying why there are none."""
    from ..data.objects import ObjectLimit, read_field

    if isinstance(labels, ImageReadError):
        return None, {"image": str(image), "error": str(labels)}
    try:
        return read_field(image, labels, str(image), str(labels), options, limit=ObjectLimit(max_objects)), None
    except ImageReadError as err:
        return None, {"image": str(image), "error": str(err)}


def _note(fields, done: str = "classified") -> None:
    """One line per field: its objects, and how many of them were ``done`` (classified, or cropped by ``crops``)."""
    for f in fields:
        where = f.image + (f" [slice {f.slice}]" if f.slice is not None else "")
        s = f.summary()
        line = f"{where}: {s['objects']} objects, {s['classified']} {done}"
        print("; ".join([line, *f.notes()]), file=sys.stderr)


def cmd_predict_objects(args) -> int:
    if args.resume:
        raise OmniClasError("--resume continues a CSV of whole images; with --objects, run it again without",
                            field="resume")
    options = _options(args)
    csv_path = Path(args.csv) if args.csv else None
    if csv_path:
        predict._check_writable(csv_path, "csv")
    pairs = _pairs(args)
    model = predict._load_model(args.model, args.bf16)  # a run folder's Predictor, or a registered model
    from ..data.objects import object_rows
    from ..registry.store import Registry

    def classify(crops):
        return Registry.classify(model, crops)

    rows, failed = [], 0
    for image, labels in pairs:
        fields, error = _fields(image, labels, options, args.max_objects)
        if error:
            rows.append(error)
            failed += 1
            continue
        _note(fields)
        rows += object_rows(fields, classify, size=getattr(model, "input_size", None))
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            where = r["image"] + (f" [slice {r['slice']}]" if "slice" in r else "")
            what = f"object {r['object']}\t" if "object" in r else ""
            print(f"{where}\t{what}{r['class']}\t{r['confidence']:.3f}" if "class" in r else
                  f"{where}\t{what}error: {r['error']}")
    if csv_path:
        write_results_csv(csv_path, rows, list(model.classes))
    return 1 if failed else 0


def results_csv_text(rows: list[dict], classes: list[str]) -> str:
    """The results CSV of FORMATS.md with the object columns: image, slice, object, x, y, bbox_x, bbox_y,
    bbox_width, bbox_height, area, class, confidence, unsure, runner_up, runner_up_p, p_<class>..., error
    (docs/objects.md)."""
    from ..data.objects import OBJECT_COLUMNS
    from ..report.results_csv import UNSURE_COLUMNS, unsure_cells

    table = io.StringIO(newline="")
    w = csv.writer(table)
    w.writerow(["image", "slice", *OBJECT_COLUMNS, "class", "confidence", *UNSURE_COLUMNS,
                *(f"p_{c}" for c in classes), "error"])
    for r in rows:
        classified = "class" in r
        w.writerow([r["image"], r.get("slice", 1), *(_cell(r.get(c, ""), c) for c in OBJECT_COLUMNS),
                    r.get("class", ""), f"{r['confidence']:.6f}" if classified else "", *unsure_cells(r),
                    *(f"{r['probabilities'][c]:.6f}" if classified else "" for c in classes), r.get("error", "")])
    return table.getvalue()


def _cell(value, column: str):
    """Centroids with 2 decimals (53.00, not 53.0), as Fiji writes them; the other object columns are whole numbers."""
    return f"{value:.2f}" if column in ("x", "y") and isinstance(value, (int, float)) else value


def write_results_csv(path: Path, rows: list[dict], classes: list[str]) -> None:
    write_atomic(path, results_csv_text(rows, classes))  # an existing file is replaced whole or not at all


# ------------------------------------------------------------------------------------------------ crops
def cmd_crops(args) -> int:
    from ..data.dataset import UNLABELLED_DIR
    from ..data.objects import crop_name

    options = _options(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OmniClasError(f"--out {out} is a file; give a folder", field="out")
    pairs = _pairs(args)
    stems = {}
    for image, _ in pairs:
        stems.setdefault(image.stem, []).append(str(image))
    twice = {s: paths for s, paths in stems.items() if len(paths) > 1}
    if twice:
        stem, paths = next(iter(twice.items()))
        raise OmniClasError(f"crops are named after the image: {' and '.join(paths)} would both give {stem}__obj*.png;"
                            f" rename one", field="images")
    wanted = read_object_classes(Path(args.classes)) if args.classes else {}
    existing = {p.name for p in out.rglob("*.png")} if out.is_dir() else set()
    written, kept, failed, labelled_seen = {}, 0, 0, set()
    for image, labels in pairs:
        fields, error = _fields(image, labels, options, args.max_objects)
        if error:
            print(f"error: {error['error']}", file=sys.stderr)
            failed += 1
            continue
        _note(fields, "cropped")
        for f in fields:
            for obj in f.classified():
                key = (image.stem, obj.value)
                cls = wanted.get(key)
                if cls:
                    labelled_seen.add(key)
                folder = cls or UNLABELLED_DIR
                name = crop_name(image.name, obj.value, f.slice)
                if name in existing:
                    kept += 1
                    continue
                (out / folder).mkdir(parents=True, exist_ok=True)
                buf = io.BytesIO()
                from PIL import Image

                Image.fromarray(f.crop(obj)).save(buf, format="PNG")
                write_atomic(out / folder / name, buf.getvalue())
                written[folder] = written.get(folder, 0) + 1
    missing = [k for k in wanted if k not in labelled_seen]
    for image, obj in missing[:20]:
        print(f"warning: {args.classes}: object {obj} of {image} is not among the objects cropped from its label "
              f"image (absent, below --min-area, on an excluded border, or no such image)", file=sys.stderr)
    parts = [f"{n} into {folder}/" for folder, n in sorted(written.items())]
    print(f"{sum(written.values())} crops written to {out}" + (f" ({', '.join(parts)})" if parts else "")
          + (f"; {kept} already there, left as they were" if kept else ""))
    return 1 if failed or missing else 0


def read_object_classes(path: Path) -> dict[tuple[str, int], str]:
    """``{(image stem, object): class}`` from a CSV with the columns image, object, class (image: a path, file
    name or stem)."""
    from ..data.dataset import RESERVED_DIRS
    from ..data.imageio import IMAGE_SUFFIXES

    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = {"image", "object", "class"} - set(reader.fieldnames or [])
            if missing:
                raise OmniClasError(f"{path}: the columns image, object and class are needed; missing "
                                    f"{', '.join(sorted(missing))}", field="classes")
            out = {}
            for line, row in enumerate(reader, 2):
                cls, obj = (row["class"] or "").strip(), (row["object"] or "").strip()
                if not cls:
                    continue
                if not obj.isdigit() or int(obj) < 1:
                    raise OmniClasError(f"{path} line {line}: object must be a label value (1, 2, ...), got {obj!r}",
                                        field="classes")
                if cls in RESERVED_DIRS or "/" in cls or "\\" in cls or cls.startswith("."):
                    raise OmniClasError(f"{path} line {line}: {cls!r} cannot be a class folder name",
                                        field="classes")
                image = Path(row["image"].strip())
                stem = image.stem if image.suffix.lower() in IMAGE_SUFFIXES else image.name
                out[(stem, int(obj))] = cls
            return out
    except OSError as err:
        raise OmniClasError(f"{path}: cannot read ({err.strerror or err})", field="classes") from None

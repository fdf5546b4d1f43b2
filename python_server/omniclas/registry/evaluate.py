"""Evaluate registered models on a labelled dataset folder (DeepClas4Bio's ``ReadDatasetFolders``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.imageio import Budget, is_image_file, iter_pages
from ..data.roots import read_under_roots
from ..errors import DatasetError, ImageReadError
from ..report.measures import check_measures, compute
from .manifest import input_size

RESERVED = {"unlabelled", "unlabeled", "test"}
FLUSH_IMAGES = 64
# The dataset readers evaluate accepts (DeepClas4Bio's listReadDatasets), with DeepClas4Bio's own wording.
READERS = [{"name": "ReadDatasetFolders",
            "description": "The images have to be organized in folders. Each folder must have the name of the "
                           "class which the images belong."}]


def read_dataset_folders(path, labels_file=None, max_images: int | None = None, roots=None,
                         labels_field: str = "labels") -> tuple[list[str], list[Path], list[int]]:
    """``<path>/<class>/<image>``; ``labels_file`` (one class per line) restricts and orders the classes.

    With ``roots``, every class folder and image must resolve (symlinks followed) under one of them; the paths
    returned are the resolved ones. ``labels_field`` names the label file's field in errors.
    """
    from ..data.roots import ensure_under_roots

    root = Path(path).expanduser()
    try:
        found = root.is_dir()
    except OSError:  # e.g. a name longer than the file system allows
        found = False
    if not found:
        raise DatasetError(f"dataset folder not found: {root}", field="dataset")
    folders = sorted(d.name for d in root.iterdir()
                     if d.is_dir() and not d.name.startswith(".") and d.name.lower() not in RESERVED)
    if labels_file:
        lf = Path(labels_file).expanduser()
        try:
            classes = [line.strip() for line in lf.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as err:
            raise DatasetError(f"cannot read the label file {lf}: {err}", field=labels_field) from None
        missing = [c for c in classes if c not in folders]
        if missing:
            raise DatasetError(f"{root}: no folder for class(es) {', '.join(missing)} of {lf}", field=labels_field)
    else:
        classes = folders
    if not classes:
        raise DatasetError(f"{root}: no class folders found; expected {root}/<class>/<image>", field="dataset")
    paths, labels = [], []
    for idx, c in enumerate(classes):
        class_dir = root / c
        if roots is not None:
            class_dir = ensure_under_roots(class_dir, roots, field="dataset")
        for p in sorted(class_dir.iterdir()):
            if is_image_file(p):
                paths.append(ensure_under_roots(p, roots, field="dataset") if roots is not None else p)
                labels.append(idx)
    if not paths:
        raise DatasetError(f"{root}: the class folders hold no images", field="dataset")
    if max_images is not None and len(paths) > max_images:
        raise DatasetError(f"{root}: {len(paths)} images, more than the limit of {max_images}", field="dataset")
    return classes, paths, labels


def _ref(p) -> str:
    if isinstance(p, str):
        return p
    if isinstance(p, dict) and p.get("model"):
        return str(p["model"])
    raise DatasetError(f"a predictor must be a model name or {{'framework', 'model'}}, got {p!r}", field="predictors")


def evaluate(registry, dataset, measures=None, predictors=None, labels_file=None, max_images=None, roots=None,
             labels_field: str = "labels", budget: Budget | None = None) -> dict:
    """Every page of every image counts as one image of its folder's class. Images are decoded a few at a time and
    scored by every model before the next are read, so memory stays bounded: ``budget`` gives the limits of one
    image, and its ``request_bytes`` how much decoded images may pile up before they are scored."""
    names = check_measures(measures)
    if not predictors:
        raise DatasetError("name at least one model to evaluate", field="predictors")
    classes, paths, labels = read_dataset_folders(dataset, labels_file, max_images, roots, labels_field)
    models = []
    for pred in predictors:
        name, version, manifest, model = registry.load(_ref(pred))
        framework = manifest.get("framework", "omniclas")
        if isinstance(pred, dict) and pred.get("framework") and pred["framework"] != framework:
            raise DatasetError(f"model '{name}' belongs to framework '{framework}', not '{pred['framework']}'",
                               field="predictors")
        unknown = [c for c in classes if c not in model.classes]
        if unknown:
            raise DatasetError(f"model '{name}' does not know the dataset's class(es) {', '.join(unknown)}; "
                               f"its classes: {', '.join(model.classes)}", field="dataset")
        models.append((name, version, framework, input_size(manifest), model))
    sizes = {m[3] for m in models}
    size = sizes.pop() if len(sizes) == 1 else None  # one input size: keep only the squashed copies
    limits = budget or Budget()
    hold = limits.request_bytes // 2 if limits.request_bytes else None  # decoded images kept before scoring them
    probas: list[list[np.ndarray]] = [[] for _ in models]
    y, skipped, held = [], [], []
    held_bytes = 0

    def flush():
        for i, (_, _, _, _, model) in enumerate(models):
            probas[i].append(np.asarray(model.predict_proba(held), dtype=np.float64))
        held.clear()

    for p, lab in zip(paths, labels):
        file_budget = Budget(max_pixels=limits.max_pixels, image_bytes=limits.image_bytes)
        try:  # with roots, the file is resolved under them again as it is opened (a link made meanwhile)
            pages = list(iter_pages(read_under_roots(p, roots) if roots is not None else p, str(p), file_budget,
                                    size=size))
        except ImageReadError as err:  # unreadable or too large: named and counted, like training does
            skipped.append({"path": str(p), "reason": str(err)})
            continue
        except OSError as err:
            skipped.append({"path": str(p), "reason": f"{p}: cannot read file ({err.strerror or err})"})
            continue
        held += pages
        held_bytes += file_budget.held
        y += [lab] * len(pages)
        if len(held) >= FLUSH_IMAGES or (hold is not None and held_bytes >= hold):
            flush()
            held_bytes = 0
    if held:
        flush()
    if not y:
        raise DatasetError(f"{dataset}: none of the images could be read", field="dataset")
    results = []
    for (name, version, framework, _, model), parts in zip(models, probas):
        col = {c: i for i, c in enumerate(model.classes)}
        y_model = np.array([col[classes[v]] for v in y])
        results.append({"framework": framework, "model": name, "version": version,
                        "measures": compute(names, y_model, np.concatenate(parts), labels=[col[c] for c in classes])})
    return {"dataset": str(dataset), "classes": classes, "images": len(y), "skipped": skipped,
            "measures": names, "results": results}

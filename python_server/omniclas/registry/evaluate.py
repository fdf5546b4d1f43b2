"""Evaluate registered models on a labelled dataset folder (DeepClas4Bio's ``ReadDatasetFolders``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DatasetError, ImageReadError
from ..imageio import is_image_file, read_image
from ..measures import check_measures, compute

RESERVED = {"unlabelled", "unlabeled", "test"}


def read_dataset_folders(path, labels_file=None, max_images: int | None = None) -> tuple[list[str], list[Path], list[int]]:
    """``<path>/<class>/<image>``; ``labels_file`` (one class per line) restricts and orders the classes."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}", field="dataset")
    folders = sorted(d.name for d in root.iterdir()
                     if d.is_dir() and not d.name.startswith(".") and d.name.lower() not in RESERVED)
    if labels_file:
        lf = Path(labels_file).expanduser()
        try:
            classes = [l.strip() for l in lf.read_text(encoding="utf-8").splitlines() if l.strip()]
        except (OSError, UnicodeDecodeError) as err:
            raise DatasetError(f"cannot read the label file {lf}: {err}", field="pathLabels") from None
        missing = [c for c in classes if c not in folders]
        if missing:
            raise DatasetError(f"{root}: no folder for class(es) {', '.join(missing)} of {lf}", field="pathLabels")
    else:
        classes = folders
    if not classes:
        raise DatasetError(f"{root}: no class folders found; expected {root}/<class>/<image>", field="dataset")
    paths, labels = [], []
    for idx, c in enumerate(classes):
        for p in sorted((root / c).iterdir()):
            if is_image_file(p):
                paths.append(p)
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


def evaluate(registry, dataset, measures=None, predictors=None, labels_file=None, max_images=None) -> dict:
    names = check_measures(measures)
    if not predictors:
        raise DatasetError("name at least one model to evaluate", field="predictors")
    classes, paths, labels = read_dataset_folders(dataset, labels_file, max_images)
    images, y, skipped = [], [], []
    for p, lab in zip(paths, labels):
        try:
            images.append(read_image(p))
            y.append(lab)
        except ImageReadError as err:
            skipped.append({"path": str(p), "reason": str(err)})
    if not images:
        raise DatasetError(f"{dataset}: none of the images could be read", field="dataset")
    results = []
    for pred in predictors:
        ref = _ref(pred)
        name, version, manifest, model = registry.load(ref)
        framework = manifest.get("framework", "omniclas")
        if isinstance(pred, dict) and pred.get("framework") and pred["framework"] != framework:
            raise DatasetError(f"model '{name}' belongs to framework '{framework}', not '{pred['framework']}'",
                               field="predictors")
        unknown = [c for c in classes if c not in model.classes]
        if unknown:
            raise DatasetError(f"model '{name}' does not know the dataset's class(es) {', '.join(unknown)}; "
                               f"its classes: {', '.join(model.classes)}", field="dataset")
        col = {c: i for i, c in enumerate(model.classes)}
        y_model = np.array([col[classes[v]] for v in y])
        proba = np.concatenate([np.asarray(model.predict_proba(images[s:s + 64]))
                                for s in range(0, len(images), 64)])
        results.append({"framework": framework, "model": name, "version": version,
                        "measures": compute(names, y_model, proba, labels=[col[c] for c in classes])})
    return {"dataset": str(dataset), "classes": classes, "images": len(images), "skipped": skipped,
            "measures": names, "results": results}

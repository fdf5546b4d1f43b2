"""DeepClas4Bio's evaluation measures, computed with scikit-learn.

Binary measures (``accuracy``, ``precision``, ``recall``, ``f1``, ``jaccardIndex``, ``matthewsCorrelation``,
``auroc``) use the dataset's second class as the positive class on two-class data, and the macro average
over the dataset's classes (one-vs-rest) on data with more classes. A model may know more classes than the
dataset holds: a prediction of any other class counts as wrong. Multiclass measures: ``accuracy`` and ``rank5`` (the true
class is among the five most probable; trivially 1 with five classes or fewer).
A measure that is undefined on the data (e.g. AUROC when a class is absent) is reported as ``null``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import OmniClasError


class _LazySklearn:
    """scikit-learn's metrics, imported on first use (listing the measures needs no scikit-learn)."""

    def __getattr__(self, name):
        from sklearn import metrics

        return getattr(metrics, name)


skm = _LazySklearn()


class MeasureError(OmniClasError):
    http_status = 400


@dataclass(frozen=True)
class Measure:
    name: str
    kind: str  # "binary" or "multiclass"
    description: str
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray, list[int]], float | None]


def _avg(labels: list[int]) -> dict:
    """Binary data: the second class is positive; more classes: macro average over the dataset's classes."""
    return {"labels": [labels[1]] if len(labels) == 2 else labels, "average": "macro"}


def _accuracy(y, pred, proba, labels):
    return skm.accuracy_score(y, pred)


def _precision(y, pred, proba, labels):
    return skm.precision_score(y, pred, zero_division=0, **_avg(labels))


def _recall(y, pred, proba, labels):
    return skm.recall_score(y, pred, zero_division=0, **_avg(labels))


def _f1(y, pred, proba, labels):
    return skm.f1_score(y, pred, zero_division=0, **_avg(labels))


def _jaccard(y, pred, proba, labels):
    return skm.jaccard_score(y, pred, zero_division=0, **_avg(labels))


def _mcc(y, pred, proba, labels):
    return skm.matthews_corrcoef(y, pred)


def _auroc(y, pred, proba, labels):
    present = [c for c in labels if np.any(y == c)]
    if len(present) < 2 or len(present) < len(labels):
        return None  # undefined without positives and negatives of every class
    if len(labels) == 2:
        return skm.roc_auc_score(y == labels[1], proba[:, labels[1]])
    # one-vs-rest macro average over the dataset's classes
    return float(np.mean([skm.roc_auc_score(y == c, proba[:, c]) for c in labels]))


def _rank5(y, pred, proba, labels):
    n = proba.shape[1]
    k = min(5, n)
    scores = proba[:, 1] if n == 2 else proba
    return skm.top_k_accuracy_score(y, scores, k=k, labels=list(range(n)))


MEASURES: dict[str, Measure] = {m.name: m for m in (
    Measure("accuracy", "multiclass", "fraction of images classified correctly", _accuracy),
    Measure("precision", "binary", "precision (positive class; macro average over classes when more than two)",
            _precision),
    Measure("recall", "binary", "recall / sensitivity (positive class; macro average when more than two)", _recall),
    Measure("f1", "binary", "F1 score (positive class; macro average when more than two)", _f1),
    Measure("jaccardIndex", "binary", "Jaccard index (positive class; macro average when more than two)", _jaccard),
    Measure("matthewsCorrelation", "binary", "Matthews correlation coefficient", _mcc),
    Measure("auroc", "binary", "area under the ROC curve (one-vs-rest macro average when more than two)", _auroc),
    Measure("rank5", "multiclass", "true class among the 5 most probable", _rank5),
)}
DEFAULT_MEASURES = ("accuracy", "precision", "recall", "f1")


def list_measures() -> list[str]:
    return list(MEASURES)


def describe_measures() -> list[dict]:
    return [{"name": m.name, "kind": m.kind, "description": m.description} for m in MEASURES.values()]


def check_measures(names) -> list[str]:
    """Measure names exactly as listed (``accuracy``, ``jaccardIndex``, ...); None: the default four."""
    if names is None:
        return list(DEFAULT_MEASURES)
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not names:
        raise MeasureError("measures must be a non-empty list of names", field="measures")
    by_lower = {n.lower(): n for n in MEASURES}
    for n in names:
        if n not in MEASURES:
            hint = f" (did you mean '{by_lower[n.lower()]}'?)" if isinstance(n, str) and n.lower() in by_lower else ""
            raise MeasureError(f"unknown measure '{n}'{hint}; available: {', '.join(MEASURES)}", field="measures")
    return list(dict.fromkeys(names))


def compute(names, y_true, proba, labels=None) -> dict[str, float | None]:
    """``y_true``: class indices; ``proba``: N x C probabilities (columns in the model's class order);
    ``labels``: the indices of the dataset's classes (default: every column). Two dataset classes make the data
    binary, with ``labels[1]`` the positive class."""
    names = check_measures(names)
    y = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(y) or len(y) == 0:
        raise MeasureError("no images to evaluate", field="dataset")
    pred = proba.argmax(1)
    labels = list(range(proba.shape[1])) if labels is None else [int(v) for v in labels]
    if len(labels) < 2:
        raise MeasureError("evaluation needs images of at least two classes", field="dataset")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in names:
            value = MEASURES[n].fn(y, pred, proba, labels)
            out[n] = None if value is None or not np.isfinite(value) else float(value)
    return out


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% for z = 1.96): unlike the normal approximation it stays
    inside 0..1 and is honest for small test sets and accuracies near 1."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))

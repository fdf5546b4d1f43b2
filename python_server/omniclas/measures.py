"""DeepClas4Bio's evaluation measures, computed with scikit-learn.

Binary measures (``accuracy``, ``precision``, ``recall``, ``f1``, ``jaccardIndex``, ``matthewsCorrelation``,
``auroc``) use the second class (index 1) as the positive class on two-class data, and the macro average
over classes (one-vs-rest) on data with more classes. Multiclass measures: ``accuracy`` and ``rank5`` (the true
class is among the five most probable; trivially 1 with five classes or fewer).
A measure that is undefined on the data (e.g. AUROC when a class is absent) is reported as ``null``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn import metrics as skm

from .errors import OmniClasError


class MeasureError(OmniClasError):
    http_status = 400


@dataclass(frozen=True)
class Measure:
    name: str
    kind: str  # "binary" or "multiclass"
    description: str
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray], float]


def _avg(n_classes: int) -> dict:
    return {"average": "binary", "pos_label": 1} if n_classes == 2 else {"average": "macro",
                                                                          "labels": list(range(n_classes))}


def _accuracy(y, pred, proba):
    return skm.accuracy_score(y, pred)


def _precision(y, pred, proba):
    return skm.precision_score(y, pred, zero_division=0, **_avg(proba.shape[1]))


def _recall(y, pred, proba):
    return skm.recall_score(y, pred, zero_division=0, **_avg(proba.shape[1]))


def _f1(y, pred, proba):
    return skm.f1_score(y, pred, zero_division=0, **_avg(proba.shape[1]))


def _jaccard(y, pred, proba):
    return skm.jaccard_score(y, pred, zero_division=0, **_avg(proba.shape[1]))


def _mcc(y, pred, proba):
    return skm.matthews_corrcoef(y, pred)


def _auroc(y, pred, proba):
    n = proba.shape[1]
    if len(np.unique(y)) < 2:
        return None
    if n == 2:
        return skm.roc_auc_score(y, proba[:, 1])
    if len(np.unique(y)) < n:
        return None  # one-vs-rest needs every class present
    p = proba / proba.sum(1, keepdims=True)
    return skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=list(range(n)))


def _rank5(y, pred, proba):
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
    if names is None:
        return list(DEFAULT_MEASURES)
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not names:
        raise MeasureError("measures must be a non-empty list of names", field="measures")
    by_lower = {n.lower(): n for n in MEASURES}
    out = []
    for n in names:
        key = by_lower.get(str(n).lower())
        if key is None:
            raise MeasureError(f"unknown measure '{n}'; available: {', '.join(MEASURES)}", field="measures")
        out.append(key)
    return out


def compute(names, y_true, proba) -> dict[str, float | None]:
    """``y_true``: class indices; ``proba``: N x C probabilities (columns in class order)."""
    names = check_measures(names)
    y = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(y) or len(y) == 0:
        raise MeasureError("no images to evaluate", field="dataset")
    pred = proba.argmax(1)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in names:
            value = MEASURES[n].fn(y, pred, proba)
            out[n] = None if value is None or not np.isfinite(value) else float(value)
    return out

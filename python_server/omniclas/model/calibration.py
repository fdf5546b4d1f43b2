"""Calibrated confidence and "unsure": a temperature fitted on a run's held-out predictions, and the confidence
below which a prediction is marked unsure.

Temperature scaling (Guo et al. 2017) divides the log-probabilities by one scalar ``T`` and renormalises: the
ranking of the classes never changes, only how confident the model says it is. With a handful of labels the fitted
``T`` is noisy, so its logarithm is shrunk toward 0 (``T = 1``) as if :data:`PRIOR_PREDICTIONS` more predictions
agreed with the model as it is. The threshold is the lowest calibrated confidence at which the held-out predictions
at or above it are right at least as often as the target precision, counted and as their calibrated confidences
expect (the stricter of the two: the count alone picks the luckiest cut of a small set). Both are fitted once per
run (``manifest["calibration"]``); a run from before calibration has temperature 1 and no threshold (nothing is
marked unsure). benchmarks/results/calibration.md measures them.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

MIN_HELD_OUT = 10  # fewer held-out predictions than this: no temperature fitted (T = 1), no threshold
T_BOUNDS = (0.05, 20.0)
PRIOR_PREDICTIONS = 50  # how strongly T is pulled toward 1: weight n / (n + 50) on the fitted log T
ECE_BINS = 15
EPS = 1e-12


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (rows) with their log-probabilities divided by ``temperature``, renormalised."""
    probs = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0:
        return probs
    return np.exp(log_softmax(np.log(np.clip(probs, EPS, 1.0)) / temperature, axis=-1))


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], EPS, 1.0))))


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the held-out negative log-likelihood (bounded scalar search)."""
    res = minimize_scalar(lambda t: nll(apply_temperature(probs, t), y), bounds=T_BOUNDS, method="bounded")
    return float(res.x)


def shrunk(temperature: float, n: int) -> float:
    """``temperature`` fitted on ``n`` predictions, its logarithm shrunk toward 0 by n / (n + PRIOR_PREDICTIONS)."""
    return float(np.exp(np.log(temperature) * n / (n + PRIOR_PREDICTIONS)))


def ece(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the gap between confidence and accuracy, averaged over equal-width confidence
    bins weighted by their share of the predictions."""
    return confidence_ece(probs.max(1), probs.argmax(1) == y, bins) if len(y) else 0.0


def confidence_ece(conf: np.ndarray, right: np.ndarray, bins: int = ECE_BINS) -> float:
    """:func:`ece` from each prediction's confidence and whether it was right: the reliability diagram's gaps,
    weighted by their bins' counts."""
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in reliability(conf, right, bins))
                 / max(len(conf), 1))


def reliability(conf: np.ndarray, right: np.ndarray, bins: int = 10) -> list[dict]:
    """Per non-empty confidence bin: its range, mean confidence, accuracy and count (the reliability diagram)."""
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return [{"low": b / bins, "high": (b + 1) / bins, "confidence": float(conf[which == b].mean()),
             "accuracy": float(right[which == b].mean()), "count": int((which == b).sum())}
            for b in np.unique(which)]


def coverage_curve(conf: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (share of predictions kept, the most confident first) and the accuracy of those kept."""
    right = np.asarray(right)[np.argsort(-np.asarray(conf), kind="stable")]
    n = np.arange(1, len(right) + 1)
    return n / max(len(right), 1), np.cumsum(right) / n


def precision_threshold(conf: np.ndarray, right: np.ndarray, target: float) -> float | None:
    """The lowest confidence ``t`` such that the predictions with confidence >= ``t`` are right at least ``target``
    of the time, counted and as their (calibrated) confidences expect: the higher of the two cuts. None where no
    confidence reaches it."""
    order = np.argsort(-conf, kind="stable")
    conf, right = conf[order], right[order]
    # only cut between distinct confidences: tied predictions are kept or marked together
    last_of_tie = np.r_[conf[1:] != conf[:-1], True]
    n = np.arange(1, len(conf) + 1)
    cuts = []
    for precision in (np.cumsum(right) / n, np.cumsum(conf) / n):
        ok = np.flatnonzero(last_of_tie & (precision >= target))
        if not len(ok):
            return None
        cuts.append(float(conf[ok[-1]]))
    return max(cuts)


def calibrate(probs: np.ndarray, y: np.ndarray, target: float) -> dict:
    """The manifest's ``calibration`` from held-out probabilities ``probs`` (rows) and true labels ``y``."""
    out = {"method": "temperature", "target_precision": target, "held_out_images": int(len(y))}
    if len(y) < MIN_HELD_OUT:
        return {**out, "temperature": 1.0, "threshold": None,
                "note": f"only {len(y)} held-out predictions (fewer than {MIN_HELD_OUT}): temperature 1 and no "
                        "threshold; nothing is marked unsure"}
    probs = np.asarray(probs, dtype=np.float64)
    fitted = fit_temperature(probs, y)
    temperature = round(shrunk(fitted, len(y)), 4)  # as recorded: predict time applies this very value
    calibrated = apply_temperature(probs, temperature)
    conf, right = calibrated.max(1), calibrated.argmax(1) == y
    threshold = precision_threshold(conf, right, target)
    kept = ~unsure_mask(conf, threshold, threshold is None)
    out.update({"temperature": temperature, "temperature_fitted": round(fitted, 4), "threshold": None if threshold is None else round(threshold, 6),
                "ece_before": round(ece(probs, y), 4), "ece_after": round(ece(calibrated, y), 4),
                "coverage": round(float(kept.mean()), 4),
                "precision": round(float(right[kept].mean()), 4) if kept.any() else None,
                # the evidence, for the report's reliability diagram and coverage curve
                "held_out": {"confidence_before": [round(float(c), 4) for c in probs.max(1)],
                             "confidence": [round(float(c), 6) for c in conf],
                             "right": "".join("1" if r else "0" for r in right)}})
    if threshold is None:
        out["all_unsure"] = True
        out["note"] = (f"no confidence reaches precision {target} on the held-out predictions: every prediction "
                       "is marked unsure")
    return out


def unsure_mask(conf: np.ndarray, threshold: float | None, all_unsure: bool) -> np.ndarray:
    """Which predictions are unsure, from their calibrated confidences."""
    if all_unsure:
        return np.ones(len(conf), dtype=bool)
    return conf < threshold if threshold is not None else np.zeros(len(conf), dtype=bool)


def settings(manifest: dict, threshold: float | None = None) -> tuple[float, float | None, bool]:
    """(temperature, threshold, every prediction unsure) for a model's manifest; ``threshold`` overrides the
    manifest's. A model without calibration: temperature 1, no threshold, nothing unsure."""
    cal = manifest.get("calibration") or {}
    temperature = float(cal.get("temperature") or 1.0)
    if threshold is not None:
        return temperature, float(threshold), False
    return temperature, cal.get("threshold"), bool(cal.get("all_unsure"))

"""The report's calibration figure: a reliability diagram and an accuracy/coverage curve, from the held-out
predictions a run calibrated on and, where there is one, its test set (docs/calibration.md)."""
from __future__ import annotations

import numpy as np

from ..model.calibration import coverage_curve, reliability


def evidence(m: dict) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, calibrated confidences, right or wrong) of each set the figure shows; held-out before calibration
    too where the temperature changed it."""
    held = (m.get("calibration") or {}).get("held_out") or {}
    out = []
    if held.get("confidence"):
        right = np.array([r == "1" for r in held["right"]])
        if m["calibration"].get("temperature", 1.0) != 1.0:
            out.append(("held-out, before calibration", np.asarray(held["confidence_before"]), right))
        out.append(("held-out, calibrated", np.asarray(held["confidence"]), right))
    test = m.get("test_predictions") or []
    if test:
        out.append(("test set", np.array([p["confidence"] for p in test]),
                    np.array([p["true"] == p["predicted"] for p in test])))
    return out


def calibration_plot(sets: list[tuple[str, np.ndarray, np.ndarray]], threshold: float | None, plt):
    """Left: accuracy against confidence per bin (on the diagonal: calibrated; dot size: images in the bin).
    Right: accuracy of the most confident share of the images; the unsure threshold's coverage marked."""
    fig, (rel, cov) = plt.subplots(1, 2, figsize=(10, 4.2))
    rel.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="calibrated")
    for i, (label, conf, right) in enumerate(sets):
        colour = f"C{i}"
        bins = reliability(conf, right)
        rel.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "-o", color=colour, label=label,
                 ms=3)
        rel.scatter([b["confidence"] for b in bins], [b["accuracy"] for b in bins], color=colour, alpha=0.3,
                    s=[20 + 200 * b["count"] / len(conf) for b in bins])
        share, accuracy = coverage_curve(conf, right)
        cov.plot(share, accuracy, color=colour, label=label)
        if threshold is not None and "before" not in label:
            kept = float(np.mean(conf >= threshold))
            cov.axvline(kept, color=colour, ls=":", lw=1)
    rel.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence", ylabel="accuracy", title="Reliability")
    cov.set(xlim=(0, 1), xlabel="share of images kept, most confident first (coverage)", ylabel="accuracy of those kept",
            title="Accuracy against coverage" + (" (dotted: not unsure)" if threshold is not None else ""))
    for ax in (rel, cov):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig

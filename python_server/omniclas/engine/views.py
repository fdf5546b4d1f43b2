"""Which views of an image a run uses, chosen on the labelled images.

A view is the image itself (``original``) or a test-time transform of it. Views serve three purposes: they vote
when unlabelled images are labelled (the process's test-time transforms), they add training rows to the linear
heads (the flips: feature-space augmentation), and the saved model may average its prediction over them (the
flips). Not every view pays on every dataset: a vertical flip is a natural variation for cells but not for
photos of shoes. So the candidates are tried on held-out labelled images (the cross-validation folds), greedily,
each as the run would use it (a flip trains and predicts, another transform votes), and judged by what the user
sees: a view is kept unless averaging it in lowers the held-out accuracy by more than
noise (the standard error of the paired difference: the square root of the images whose answer it changes, over
all images); where accuracy is unchanged, the log-loss breaks the tie. (Judging by log-loss first dropped every
flip on a 73-class set where they raised accuracy.) This is the paper's own future work: choose the test-time
transforms on held-out labels. The choice and its evidence go into the manifest.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .base_models import fit_linear, predict_proba, scores
from .progress import fit_units

FLIPS = ("hflip", "vflip", "hvflip")


@dataclass
class ViewPlan:
    label: list[str]  # views that vote when labelling unlabelled images
    train: list[str]  # views whose features train the linear heads
    predict: list[str]  # views the saved model averages
    trials: list[dict] = field(default_factory=list)  # the evidence: held-out scores per candidate

    def to_dict(self) -> dict:
        return {"label": self.label, "train": self.train, "predict": self.predict, "trials": self.trials}


def candidate_views(transforms, train_views: bool, predict_views: bool) -> list[str]:
    """``original``, then the flips (when they train or predict), then the other test-time transforms."""
    flips = list(FLIPS) if (train_views or predict_views) else []
    return ["original"] + list(dict.fromkeys(flips + [t for t in transforms if t != "original"]))


def plan_views(cfg, chosen: list[str], linear: bool, trials=None) -> ViewPlan:
    flips = [v for v in chosen if v in FLIPS]
    return ViewPlan(label=["original"] + [v for v in chosen if v in cfg.transforms],
                    train=["original"] + (flips if cfg.train_views and linear else []),
                    predict=["original"] + (flips if cfg.predict_views and linear else []),
                    trials=trials or [])


def paired_noise(right_a: np.ndarray, right_b: np.ndarray) -> float:
    """Standard error of the accuracy difference of two answers on the same images: sqrt(discordant) / n."""
    n = max(len(right_a), 1)
    return float(np.sqrt(np.sum(right_a != right_b)) / n)


def keeps_view(before: tuple[float, float], after: tuple[float, float], noise: float) -> bool:
    """(accuracy, log-loss) without and with a view: kept unless accuracy falls by more than noise; on equal
    accuracy, kept if the log-loss does not rise."""
    if after[0] == before[0]:
        return after[1] <= before[1]
    return after[0] >= before[0] - noise


def _fit(bank, backbone: str, rows, n_classes: int, seed: int, report):
    """A trial's head fit, counted as fit work where a run reports progress (it is the run's first measure of it)."""
    if report is None:
        return fit_linear(bank, backbone, rows, n_classes, seed)
    units = fit_units(sum(len(idx) for idx, _, _ in rows), n_classes)
    report.plan("fit", units)
    with report.work("fit", units):
        return fit_linear(bank, backbone, rows, n_classes, seed)


def choose_views(bank, backbones, folds, candidates: list[str], n_classes: int, seed: int,
                 train_flips: bool = True, report=None) -> tuple[list[str], list[dict]]:
    """Greedy forward choice of views on held-out folds, each view tried as the run would use it: a flip both
    adds training rows (with ``train_flips``) and is averaged into the prediction; another transform (blur,
    gamma) only votes, so it is averaged in.

    Args:
        folds: ``(train_idx, y_train, held_idx, y_held)`` tuples of manual labels.
        candidates: views to try, ``original`` first; it is always kept.

    Returns the chosen views and one record per candidate: held-out accuracy and log-loss with and without it.
    """
    fitted: dict[tuple, list] = {}
    y_held = np.concatenate([f[3] for f in folds])

    def held_out(views: list[str]) -> np.ndarray:
        train = tuple(v for v in views if v == "original" or (train_flips and v in FLIPS))
        out = []
        for k, (train_idx, y_train, held_idx, _) in enumerate(folds):
            if (k, train) not in fitted:
                fitted[(k, train)] = [_fit(bank, b, [(train_idx, v, y_train) for v in train], n_classes, seed, report)
                                      for b in backbones]
            out.append(np.mean([predict_proba(bank, m, held_idx, v) for m in fitted[(k, train)] for v in views],
                               axis=0))
        return np.concatenate(out)

    chosen = ["original"]
    trials = []
    for v in candidates[1:]:
        without, with_view = held_out(chosen), held_out(chosen + [v])
        before, after = scores(without, y_held, n_classes), scores(with_view, y_held, n_classes)
        noise = paired_noise(without.argmax(1) == y_held, with_view.argmax(1) == y_held)
        keep = keeps_view(before, after, noise)
        trials.append({"view": v, "kept": keep, "accuracy_without": round(before[0], 4),
                       "accuracy_with": round(after[0], 4), "noise": round(noise, 4),
                       "log_loss_without": round(before[1], 4), "log_loss_with": round(after[1], 4)})
        if keep:
            chosen.append(v)
    return chosen, trials

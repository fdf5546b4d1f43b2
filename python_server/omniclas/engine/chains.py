"""Chains: runs of the rounds on some of the manual labels, and how a round fits, judges and labels them.

The main chain trains on every manual label. For linear heads, one chain per cross-validation fold runs the same
rounds without that fold's labels and is scored on them, so automatic labels never carry information from the
images they are scored on. Features are cached, so a chain costs only head fits.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import StratifiedKFold

from .base_models import BaseModel, fit_finetune, fit_linear, predict_proba, scores
from .select import SelectionContext, per_class_summary
from .views import ViewPlan
from .vote import ensemble_vote


@dataclass
class Chain:
    """One run of the rounds on some of the manual labels; fold chains are scored on the labels they leave out."""

    train_idx: np.ndarray
    y_train: np.ndarray
    held_idx: np.ndarray
    y_held: np.ndarray
    auto: dict = field(default_factory=dict)  # image index -> {"path","label","class","confidence","agreement","iteration"}
    models: list = field(default_factory=list)

    def fit_set(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Manual then automatic images, their labels, and the automatic ones alone."""
        auto_idx = np.array(sorted(self.auto), dtype=int)
        labels = np.array([self.auto[i]["label"] for i in auto_idx], dtype=int)
        return np.concatenate([self.train_idx, auto_idx]), np.concatenate([self.y_train, labels]), auto_idx

    def fresh(self) -> "Chain":
        """The same labels, before any round."""
        return Chain(self.train_idx, self.y_train, self.held_idx, self.y_held)


def standard_error(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on ``n`` images (at least one image's worth)."""
    return max(float(np.sqrt(accuracy * (1 - accuracy) / max(n, 1))), 1.0 / max(n, 1))


def make_folds(idx: np.ndarray, y: np.ndarray, k: int, seed: int) -> list[tuple]:
    """Stratified folds of the manual labels: (train_idx, y_train, held_idx, y_held)."""
    k = min(k, int(np.bincount(y).max()))
    if k < 2:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class with fewer images than folds sits out some folds
        splits = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(idx, y))
    return [(idx[tr], y[tr], idx[te], y[te]) for tr, te in splits]


def member_views(model: BaseModel, views: ViewPlan) -> list[str]:
    return views.predict if model.kind == "linear" else ["original"]


def warm_start(chain: Chain, m: int) -> BaseModel | None:
    """The chain's own last head of model ``m``: fewer solver steps. Never another chain's: the main chain has seen
    the labels a fold chain is scored on, and a warm start would carry them over."""
    return chain.models[m] if len(chain.models) > m and chain.models[m].kind == "linear" else None


def fit_model(cfg, bank, chain: Chain, m: int, backbone: str, views: ViewPlan, n_classes: int, report,
              warm: BaseModel | None) -> BaseModel:
    """One base model on the chain's manual + automatic labels; with head ``auto``, validation picks the kind."""
    fit_idx, fit_y, _ = chain.fit_set()
    report(model=backbone, model_index=m)
    fitted = []
    if cfg.head in ("linear", "auto"):
        with report.work("fit"):
            # feature-space augmentation: every image under every train view
            fitted.append(fit_linear(bank, backbone, [(fit_idx, v, fit_y) for v in views.train], n_classes,
                                     cfg.seed, warm))
    if cfg.head in ("finetune", "auto"):
        report.plan("finetune", finetune_steps(cfg, len(fit_idx)))
        fitted.append(fit_finetune(bank, backbone, fit_idx, fit_y, chain.held_idx, chain.y_held, n_classes,
                                   cfg.frozen_epochs, cfg.unfrozen_epochs, cfg.batch_size, cfg.seed, report))
    for model in fitted:
        model.valid_accuracy, model.valid_loss = scores(predict_proba(bank, model, chain.held_idx), chain.y_held,
                                                        n_classes)
    # Validation picks the kind; a tie goes to the first (linear: cheaper and steadier with few labels).
    return max(fitted, key=lambda mdl: (mdl.valid_accuracy, -mdl.valid_loss)) if len(fitted) > 1 else fitted[0]


def finetune_steps(cfg, n_images: int) -> int:
    per_epoch = max(1, n_images // max(1, min(cfg.batch_size, n_images)))
    return per_epoch * (cfg.frozen_epochs + cfg.unfrozen_epochs) + (100 if cfg.unfrozen_epochs else 0)


def estimate(cfg, bank, chains: list[Chain], folds, views: ViewPlan, n_classes: int) -> dict:
    """The round's estimate of the saved model: pooled over the fold chains' held-out labels (cross-validation),
    or the main chain's validation split."""
    scored = chains[1:] if folds else chains[:1]
    y = np.concatenate([c.y_held for c in scored])
    if not len(y):
        return {"estimate_accuracy": 0.0, "estimate_loss": 0.0, "estimate_by_backbone": {}}
    backbones = [m.backbone for m in scored[0].models]
    by_member = [np.concatenate([np.mean([predict_proba(bank, c.models[m], c.held_idx, v)
                                          for v in member_views(c.models[m], views)], axis=0) for c in scored])
                 for m in range(len(backbones))]
    per_backbone = {}
    for m, b in enumerate(backbones):
        acc, loss = scores(by_member[m], y, n_classes)
        per_backbone[b] = {"accuracy": round(acc, 4), "loss": round(loss, 4)}
    if cfg.keep == "ensemble":
        acc, loss = scores(np.mean(by_member, axis=0), y, n_classes)
    else:
        best = max(per_backbone.values(), key=lambda s: (s["accuracy"], -s["loss"]))
        acc, loss = best["accuracy"], best["loss"]
    return {"estimate_accuracy": round(acc, 4), "estimate_loss": round(loss, 4), "estimate_images": int(len(y)),
            "estimate_by_backbone": per_backbone}


def test_accuracy(cfg, bank, models, test_idx, y_test, views) -> float | None:
    """How the test set sees a round's models: reported, never used to choose."""
    if not len(test_idx) or any(m.kind != "linear" for m in models):
        return None  # a fine-tuned body would cost a pass over the test set per round
    probs = [np.mean([predict_proba(bank, m, test_idx, v) for v in views.predict], axis=0) for m in models]
    if cfg.keep == "ensemble":
        return round(float((np.mean(probs, axis=0).argmax(1) == y_test).mean()), 4)
    return round(max(float((p.argmax(1) == y_test).mean()) for p in probs), 4)


def label(cfg, bank, chain: Chain, pool_idx, views: ViewPlan, rule, it: int, n_classes: int, ds, paths) -> dict:
    """Label the chain's remaining pool with its models x label views, and add what the rule selects."""
    remaining = np.array([i for i in pool_idx if int(i) not in chain.auto], dtype=int)
    out = {"remaining_before": int(len(remaining)), "labelled": 0, "remaining_unlabelled": int(len(remaining))}
    if not len(remaining):
        return out
    probs = np.stack([predict_proba(bank, m, remaining, v) for m in chain.models for v in views.label])
    vote = ensemble_vote(probs)
    chosen = rule(vote, SelectionContext(round=it, n_classes=n_classes, threshold=cfg.threshold))
    for j in chosen:
        chain.auto[int(remaining[j])] = {"path": ds.relative(paths[remaining[j]]), "label": int(vote.labels[j]),
                                         "class": ds.classes[vote.labels[j]],
                                         "confidence": round(float(vote.confidence[j]), 4),
                                         "agreement": round(float(vote.agreement[j]), 4), "iteration": it}
    out.update({"labelled": int(len(chosen)), "remaining_unlabelled": int(len(remaining) - len(chosen)),
                "selection": per_class_summary(vote, chosen, ds.classes)})
    return out

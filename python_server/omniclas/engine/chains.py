"""Chains: runs of the rounds on some of the manual labels, and how a round fits, judges and labels them.

The main chain trains on every manual label. For linear heads, one chain per cross-validation fold runs the same
rounds without that fold's labels and is scored on them, so automatic labels never carry information from the
images they are scored on. Features are cached, so a chain costs only head fits.

A chain's automatic labels are arrays over the run's images (label, round, confidence, agreement; label -1 where
none), so a pool of 100,000 images costs a few MB per chain.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import StratifiedKFold

from .base_models import BaseModel, fit_finetune, fit_linear, predict_proba, scores, softmax, unit_rows
from .progress import fit_units
from .select import SelectionContext, per_class_summary
from .views import ViewPlan
from .vote import Vote, ensemble_vote

# Most training rows (images x train views) one linear fit takes. Above it, automatic labels are subsampled per
# class, the most confident first (benchmarks/results/scale.md): the fit's time and memory grow with its rows.
MAX_FIT_ROWS = 24_000
VOTE_CHUNK = 1024  # pool images voted at a time: their features for every model and view fit in memory


@dataclass
class Chain:
    """One run of the rounds on some of the manual labels; fold chains are scored on the labels they leave out."""

    train_idx: np.ndarray
    y_train: np.ndarray
    held_idx: np.ndarray
    y_held: np.ndarray
    n_images: int = 0
    models: list = field(default_factory=list)

    def __post_init__(self):
        self.auto_label = np.full(self.n_images, -1, dtype=np.int32)
        self.auto_round = np.zeros(self.n_images, dtype=np.int16)
        self.auto_confidence = np.zeros(self.n_images, dtype=np.float32)
        self.auto_agreement = np.zeros(self.n_images, dtype=np.float32)

    def fresh(self) -> "Chain":
        """The same manual labels, before any round."""
        return Chain(self.train_idx, self.y_train, self.held_idx, self.y_held, self.n_images)

    @property
    def auto_idx(self) -> np.ndarray:
        return np.flatnonzero(self.auto_label >= 0)

    def fit_set(self, max_rows: int | None = None, views: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Manual then automatic images, their labels, and the automatic ones alone; with ``max_rows``, the
        automatic labels are cut per class (most confident first) so that images x ``views`` stay within it."""
        auto_idx = self.auto_idx
        if max_rows is not None and (len(self.train_idx) + len(auto_idx)) * views > max_rows:
            auto_idx = _most_confident_per_class(auto_idx, self.auto_label[auto_idx],
                                                 self.auto_confidence[auto_idx],
                                                 max(0, max_rows // views - len(self.train_idx)))
        return (np.concatenate([self.train_idx, auto_idx]), np.concatenate([self.y_train, self.auto_label[auto_idx]]),
                auto_idx)

    def taken_per_class(self, n_classes: int) -> np.ndarray:
        return np.bincount(self.auto_label[self.auto_idx], minlength=n_classes)

    def add(self, indices, vote: Vote, rows, it: int) -> None:
        self.auto_label[indices] = vote.labels[rows]
        self.auto_round[indices] = it
        self.auto_confidence[indices] = vote.confidence[rows]
        self.auto_agreement[indices] = vote.agreement[rows]


def _most_confident_per_class(idx, labels, confidence, budget: int) -> np.ndarray:
    """``budget`` of ``idx`` spread over the classes as they are, the most confident of each class first."""
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts * budget / max(counts.sum(), 1)).astype(int)
    keep = []
    for c, q in zip(classes, quota):
        mine = np.flatnonzero(labels == c)
        keep.append(mine[np.lexsort((mine, -confidence[mine]))[:q]])
    return np.sort(idx[np.concatenate(keep)]) if keep else idx[:0]


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
    return views.predict if model.kind in ("linear", "student") else ["original"]


def warm_start(chain: Chain, m: int) -> BaseModel | None:
    """The chain's own last head of model ``m``: fewer solver steps. Never another chain's: the main chain has seen
    the labels a fold chain is scored on, and a warm start would carry them over."""
    return chain.models[m] if len(chain.models) > m and chain.models[m].kind == "linear" else None


def fit_model(cfg, bank, chain: Chain, m: int, backbone: str, views: ViewPlan, n_classes: int, report,
              warm: BaseModel | None) -> BaseModel:
    """One base model on the chain's manual + automatic labels; with head ``auto``, validation picks the kind."""
    report(model=backbone, model_index=m)
    fitted = []
    if cfg.head in ("linear", "auto"):
        fit_idx, fit_y, _ = chain.fit_set(MAX_FIT_ROWS, len(views.train))
        with report.work("fit" if warm is None else "refit", fit_units(len(fit_idx) * len(views.train), n_classes)):
            # feature-space augmentation: every image under every train view
            fitted.append(fit_linear(bank, backbone, [(fit_idx, v, fit_y) for v in views.train], n_classes,
                                     cfg.seed, warm))
    if cfg.head in ("finetune", "auto"):
        fit_idx, fit_y, _ = chain.fit_set()
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


def held_out_probs(bank, chains: list[Chain], scored, views: ViewPlan) -> tuple[list[np.ndarray], np.ndarray]:
    """Per base model, the probabilities the scored chains give their held-out images, and the true labels."""
    y = np.concatenate([c.y_held for c in scored]) if scored else np.zeros(0, dtype=int)
    n_models = len(scored[0].models) if scored else 0
    by_member = [np.concatenate([np.mean([predict_proba(bank, c.models[m], c.held_idx, v)
                                          for v in member_views(c.models[m], views)], axis=0) for c in scored])
                 for m in range(n_models)]
    return by_member, y


def estimate(cfg, bank, chains: list[Chain], folds, views: ViewPlan, n_classes: int) -> dict:
    """The round's estimate of the saved model: pooled over the fold chains' held-out labels (cross-validation),
    or the main chain's validation split."""
    scored = chains[1:] if folds else chains[:1]
    by_member, y = held_out_probs(bank, chains, scored, views)
    if not len(y):
        return {"estimate_accuracy": 0.0, "estimate_loss": 0.0, "estimate_by_backbone": {}}
    per_backbone = {}
    for m, model in enumerate(scored[0].models):
        acc, loss = scores(by_member[m], y, n_classes)
        per_backbone[model.backbone] = {"accuracy": round(acc, 4), "loss": round(loss, 4)}
    if cfg.keep == "ensemble":
        probs = np.mean(by_member, axis=0)
        acc, loss = scores(probs, y, n_classes)
    else:
        ranked = [(s["accuracy"], -s["loss"]) for s in per_backbone.values()]
        best = max(range(len(ranked)), key=ranked.__getitem__)
        probs, (acc, loss) = by_member[best], scores(by_member[best], y, n_classes)
    return {"estimate_accuracy": round(acc, 4), "estimate_loss": round(loss, 4), "estimate_images": int(len(y)),
            "estimate_by_backbone": per_backbone, "held_out_right": (probs.argmax(1) == y),
            "held_out_p": probs[np.arange(len(y)), y].astype(np.float32),
            "held_out_probs": probs.astype(np.float32), "held_out_y": y}


def test_accuracy(cfg, bank, models, test_idx, y_test, views) -> float | None:
    """How the test set sees a round's models: reported, never used to choose."""
    if not len(test_idx) or any(m.kind != "linear" for m in models):
        return None  # a fine-tuned body would cost a pass over the test set per round
    probs = [np.mean([predict_proba(bank, m, test_idx, v) for v in views.predict], axis=0) for m in models]
    if cfg.keep == "ensemble":
        return round(float((np.mean(probs, axis=0).argmax(1) == y_test).mean()), 4)
    return round(max(float((p.argmax(1) == y_test).mean()) for p in probs), 4)


def vote_pool(bank, pool_idx: np.ndarray, requests: list[tuple[list, list, np.ndarray]], report) -> list[Vote | None]:
    """Each request ``(models, label views, its remaining pool images)`` voted, reading the pool's features one
    chunk at a time for all requests together (one pass over the pool per round, whatever the chains)."""
    combos = sorted({(m.backbone, v) for models, views, _ in requests for m in models if m.kind == "linear"
                     for v in views})
    wanted = np.zeros((len(requests), len(bank)), dtype=bool)  # request x image: to vote on
    for r, (_, _, remaining) in enumerate(requests):
        wanted[r, remaining] = True
    votes: list[list[Vote]] = [[] for _ in requests]
    for start in range(0, len(pool_idx), VOTE_CHUNK):
        chunk = pool_idx[start:start + VOTE_CHUNK]
        chunk = chunk[wanted[:, chunk].any(axis=0)]
        if not len(chunk):
            continue
        feats = {combo: unit_rows(bank.features(combo[0], chunk, combo[1])) for combo in combos}
        for r, (models, views, _) in enumerate(requests):
            rows = np.flatnonzero(wanted[r, chunk])
            if not len(rows):
                continue
            with report.work("vote", len(rows) * len(models) * len(views)):
                probs = np.stack([softmax(feats[(m.backbone, v)][rows] @ m.coef.T + m.bias) if m.kind == "linear"
                                  else predict_proba(bank, m, chunk[rows], v) for m in models for v in views])
                votes[r].append(ensemble_vote(probs))
    return [Vote.concatenate(v) if v else None for v in votes]


def select(cfg, chain: Chain, remaining: np.ndarray, vote: Vote | None, rule, it: int, n_classes: int,
           classes) -> dict:
    """Add what ``rule`` selects from the chain's vote on its ``remaining`` pool images; what the round took."""
    out = {"remaining_before": int(len(remaining)), "labelled": 0, "remaining_unlabelled": int(len(remaining))}
    if vote is None or not len(remaining):
        return out
    chosen = rule(vote, SelectionContext(round=it, n_classes=n_classes, threshold=cfg.threshold,
                                         taken=chain.taken_per_class(n_classes)))
    chain.add(remaining[chosen], vote, chosen, it)
    out.update({"labelled": int(len(chosen)), "remaining_unlabelled": int(len(remaining) - len(chosen)),
                "selection": per_class_summary(vote, chosen, classes)})
    return out

"""Selection rules: which automatically labelled images join the training set each round.

A rule is a function ``(vote, context) -> indices into the vote`` registered by name, like the backbones:

* ``threshold`` (the default): the paper's rule (Inés et al.): every image whose mean confidence reaches the
  threshold. With threshold 0 it keeps every image, as the paper's one-shot processes do. It won the process
  benchmark on most datasets (benchmarks/results/processes.md).
* ``prior``: a class-balanced curriculum that respects the class prior. Per predicted class, the most confident
  images, as many as that class's estimated share of the pool (what was taken so far plus the soft vote over
  what remains) allows; the share of the pool taken grows each round (``(round + 1) * step``), so easy images
  come first, every class gets its part, and a rare class is never filled with images of others.
* ``balanced``: a class-balanced curriculum. Per class, the most confident share of the images voted into that
  class, where every model and view agreed; the share grows each round (``share = min(1, (round + 1) * step)``),
  so easy images come first and no class floods the training set. It was the better rule on flowers5 at 5 labels
  per class (+0.04 over N.D. where the threshold rule gave +0.01), and the worse one on most other sets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ConfigError
from .vote import Vote

BALANCED_STEP = 1 / 6  # share of each class's candidates taken in round 0; round r takes (r + 1) / 6
BALANCED_AGREEMENT = 1.0  # every model x view prediction must name the same class
PRIOR_STEP = 1 / 6  # share of the pool the prior rule has taken after round r: (r + 1) / 6


@dataclass(frozen=True)
class SelectionContext:
    round: int
    n_classes: int
    threshold: float
    taken: np.ndarray | None = None  # automatic labels per class the chain already holds


_RULES: dict[str, Callable[[Vote, SelectionContext], np.ndarray]] = {}


def register_selection(name: str):
    def deco(fn):
        if name in _RULES:
            raise ValueError(f"selection rule '{name}' is already registered")
        _RULES[name] = fn
        return fn
    return deco


def get_selection(name: str) -> Callable[[Vote, SelectionContext], np.ndarray]:
    if name not in _RULES:
        raise ConfigError(f"unknown selection rule '{name}'; choose from {', '.join(_RULES)}", field="selection")
    return _RULES[name]


def list_selections() -> list[str]:
    return list(_RULES)


@register_selection("threshold")
def threshold(vote: Vote, ctx: SelectionContext) -> np.ndarray:
    """The paper's rule: mean confidence >= threshold (threshold 0 accepts all)."""
    return np.flatnonzero(vote.confidence >= ctx.threshold)


@register_selection("balanced")
def balanced(vote: Vote, ctx: SelectionContext) -> np.ndarray:
    """Per class, the top ``share`` of the agreeing candidates by confidence; the share grows each round."""
    share = min(1.0, (ctx.round + 1) * BALANCED_STEP)
    chosen = []
    for c in range(ctx.n_classes):
        candidates = np.flatnonzero((vote.labels == c) & (vote.agreement >= BALANCED_AGREEMENT))
        if len(candidates) == 0:
            continue
        take = int(np.ceil(share * len(candidates)))
        order = np.lexsort((candidates, -vote.confidence[candidates]))  # stable: ties by index
        chosen.append(candidates[order[:take]])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=int)


@register_selection("prior")
def prior(vote: Vote, ctx: SelectionContext) -> np.ndarray:
    """Per predicted class, the most confident images up to the class's estimated share of a growing part of the
    pool."""
    taken = np.zeros(ctx.n_classes) if ctx.taken is None else np.asarray(ctx.taken, dtype=float)
    remaining = len(vote.labels)
    pool = taken.sum() + remaining
    share = vote.share if vote.share is not None else np.bincount(vote.labels, minlength=ctx.n_classes) / max(remaining, 1)
    estimated = (taken + share * remaining) / max(pool, 1)  # each class's share of the whole pool
    target = np.floor(min(1.0, (ctx.round + 1) * PRIOR_STEP) * estimated * pool + 1e-9)
    chosen = []
    for c in range(ctx.n_classes):
        want = int(target[c] - taken[c])
        candidates = np.flatnonzero(vote.labels == c)
        if want <= 0 or len(candidates) == 0:
            continue
        order = np.lexsort((candidates, -vote.confidence[candidates]))  # stable: ties by index
        chosen.append(candidates[order[:want]])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=int)


def per_class_summary(vote: Vote, chosen: np.ndarray, classes: list[str]) -> list[dict]:
    """What a round took, per class: how many, and their confidence and agreement (for manifest and report)."""
    out = []
    for c, name in enumerate(classes):
        voted = np.flatnonzero(vote.labels == c)
        taken = chosen[vote.labels[chosen] == c] if len(chosen) else chosen
        row = {"class": name, "voted": int(len(voted)), "taken": int(len(taken))}
        if len(taken):
            row.update({"min_confidence": round(float(vote.confidence[taken].min()), 4),
                        "mean_confidence": round(float(vote.confidence[taken].mean()), 4),
                        "mean_agreement": round(float(vote.agreement[taken].mean()), 4)})
        out.append(row)
    return out

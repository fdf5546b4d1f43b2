"""Candidates: what the rounds run. A candidate is a process (which base models, whether they label with test-time
views, whether it iterates) with a selection rule; it has its own chains and its own rounds.

A named process is one candidate; ``auto`` (:mod:`.automl`) runs several side by side and keeps one. Either way
the round loop (:mod:`.loop`) treats every candidate alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import get_process
from .chains import Chain

# Simpler first: what AutoML keeps when candidates are within noise of each other.
PROCESS_ORDER = ("nd", "dd", "md", "mdd", "idd", "imd", "imdd")
RULE_ORDER = ("threshold", "balanced", "prior")


@dataclass
class RoundState:
    """Where a candidate's rounds stand: what resume restores."""

    history: list = field(default_factory=list)
    next_round: int = 0
    kept_round: int = -1
    kept_models: list = field(default_factory=list)
    kept_right: np.ndarray | None = None  # per held-out label, right or wrong, at the kept round (paired choice)
    kept_p: np.ndarray | None = None  # per held-out label, the probability given to its true class
    kept_probs: np.ndarray | None = None  # per held-out label, every class's probability (calibration)
    kept_y: np.ndarray | None = None  # the held-out labels' true classes
    best_accuracy: float = -1.0
    below: int = 0  # consecutive rounds out of reach of the best
    stop_reason: str = ""

    @property
    def estimate(self) -> float:
        return self.history[self.kept_round]["estimate_accuracy"] if self.kept_round >= 0 else -1.0


@dataclass(frozen=True)
class CandidateSpec:
    process: str  # a process id (nd, dd, ..., imdd)
    selection: str  # the selection rule ("threshold" with threshold 0 for the one-shot processes: every image)
    threshold: float
    backbones: tuple[str, ...]
    label_views: tuple[str, ...]  # the views that vote when labelling
    max_rounds: int  # labelling rounds: 0 for N.D., 1 one-shot
    default: bool = False  # AutoML keeps it unless another candidate's estimate beats it by more than noise

    @property
    def name(self) -> str:
        distills = get_process(self.process).distills
        return f"{self.process}/{self.selection}" if distills and get_process(self.process).iterative else self.process

    @property
    def complexity(self) -> tuple:
        return (PROCESS_ORDER.index(self.process), RULE_ORDER.index(self.selection) if self.selection in RULE_ORDER
                else len(RULE_ORDER))


def spec_for(cfg, process: str, selection: str, views) -> CandidateSpec:
    """The candidate of ``process`` with ``selection``, on the run's backbones and views."""
    proc = get_process(process)
    iterative = proc.distills and proc.iterative
    return CandidateSpec(
        process=proc.id, selection=selection if iterative else "threshold",
        threshold=cfg.threshold if iterative else 0.0,
        backbones=tuple(cfg.backbones if proc.ensemble or not proc.distills else cfg.backbones[:1]),
        label_views=tuple(views.label if proc.tta else ["original"]),
        max_rounds=0 if not proc.distills else (cfg.max_iterations if proc.iterative else 1))


@dataclass
class Candidate:
    spec: CandidateSpec
    chains: list[Chain]  # the main chain, then one per fold
    rs: RoundState = field(default_factory=RoundState)
    active: bool = True

    @property
    def main(self) -> Chain:
        return self.chains[0]

    def stop(self, reason: str) -> None:
        if self.active:
            self.active = False
            self.rs.stop_reason = self.rs.stop_reason or reason

    def summary(self) -> dict:
        """What the manifest and the report show of a candidate."""
        return {"name": self.spec.name, "process": self.spec.process, "selection": self.spec.selection,
                "default": self.spec.default,
                "backbones": list(self.spec.backbones), "label_views": list(self.spec.label_views),
                "estimates": [h["estimate_accuracy"] for h in self.rs.history],
                "kept_round": self.rs.kept_round, "estimate": self.rs.estimate,
                # reported only, never used to choose
                "test_accuracy": self.rs.history[self.rs.kept_round].get("test_accuracy") if self.rs.history else None,
                # the evidence of the paired choice: each held-out label right (1) or wrong (0) at the kept round
                "held_out_right": "".join("1" if r else "0" for r in self.rs.kept_right)
                if self.rs.kept_right is not None else "",
                "held_out_p": [round(float(p), 3) for p in self.rs.kept_p] if self.rs.kept_p is not None else [],
                "losses": [h.get("estimate_loss") for h in self.rs.history],
                "estimate_images": self.rs.history[0].get("estimate_images", 0) if self.rs.history else 0,
                "automatic_labels": int(np.sum(self.main.auto_round[self.main.auto_idx] < self.rs.kept_round)),
                "stop_reason": self.rs.stop_reason}

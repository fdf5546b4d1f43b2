"""Progress events: what long work reports to the CLI, the server's job table and the Fiji plugin."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

from .errors import Cancelled


@dataclass
class ProgressEvent:
    stage: str  # loading | features | training | labelling | evaluating | saving | done
    iteration: int = 0
    max_iterations: int = 0
    model: str = ""
    model_index: int = 0  # 0-based position of ``model`` among the run's backbones
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    fraction: float = 0.0  # of the whole run, 0..1
    eta_s: float | None = None
    message: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Reporter:
    """Carries the run's position (iteration, model, ...) so each step reports only what changed, estimates
    the overall fraction done and the time left, and checks for cancellation at every report."""

    def __init__(self, callback: Callable[[ProgressEvent], None] | None = None,
                 cancel: Callable[[], bool] | None = None, max_iterations: int = 0, n_models: int = 1):
        self.callback = callback
        self.cancel = cancel
        self.state = ProgressEvent(stage="loading", max_iterations=max_iterations)
        self.n_models = max(1, n_models)
        self.started = time.monotonic()
        self.stage_seconds: dict[str, float] = {}  # where the time went, by stage
        self._stage_started = self.started

    def __call__(self, **changes) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("training was cancelled")
        if "stage" in changes and changes["stage"] != self.state.stage:
            now = time.monotonic()
            self.stage_seconds[self.state.stage] = round(
                self.stage_seconds.get(self.state.stage, 0.0) + now - self._stage_started, 2)
            self._stage_started = now
        for key, value in changes.items():
            setattr(self.state, key, value)
        self.state.fraction = self._fraction()
        elapsed = time.monotonic() - self.started
        f = self.state.fraction
        self.state.eta_s = round(elapsed * (1 - f) / f, 1) if f > 0.02 else None
        if self.callback is not None:
            self.callback(dataclasses.replace(self.state))

    def _fraction(self) -> float:
        s = self.state
        if s.stage == "done":
            return 1.0
        rounds = s.max_iterations + 1
        model_idx = s.model_index
        inner = 0.0
        if s.epochs:
            inner = (s.epoch - 1 + (s.batch / s.batches if s.batches else 0)) / s.epochs
        elif s.batches:
            inner = s.batch / s.batches
        per_round = (min(model_idx, self.n_models - 1) + max(0.0, min(inner, 1.0))) / self.n_models
        if s.stage == "labelling":
            per_round = 1.0
        return round(min(0.99, (s.iteration + per_round) / rounds), 4)

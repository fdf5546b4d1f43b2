"""Progress events: what long work reports to the CLI, the server's job table and the Fiji plugin.

The fraction done and the time left come from the whole planned work, measured as it runs: each kind of work
(feature passes, head fits, fine-tuning steps) is planned in units when it becomes known, and its seconds per
unit are measured as units finish. Time left = for each kind, units left x measured seconds per unit (a prior
until the first unit of that kind has finished).
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import Cancelled

# Seconds per unit before any unit of that kind has been measured (2-core CPU, Lite0 at 224 px; a linear head's fit
# took 0.03 s on 3 classes and 0.2 s on 23, benchmarks/results/processes.md): a prior far from what is then
# measured makes the ETA jump when the first unit finishes.
PRIOR_SECONDS = {"features": 1 / 150, "fit": 0.2, "finetune": 0.05}


@dataclass
class ProgressEvent:
    stage: str  # loading | features | training | labelling | student | evaluating | saving | done
    iteration: int = 0
    max_iterations: int = 0
    model: str = ""
    model_index: int = 0  # 0-based position of ``model`` among the run's backbones
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    fraction: float = 0.0  # of the whole planned work, 0..1
    eta_s: float | None = None
    message: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Reporter:
    """Carries the run's position (iteration, model, ...), so each step reports only what changed; keeps the
    work plan and its measured throughput; checks for cancellation at every report."""

    def __init__(self, callback: Callable[[ProgressEvent], None] | None = None,
                 cancel: Callable[[], bool] | None = None, max_iterations: int = 0):
        self.callback = callback
        self.cancel = cancel
        self.state = ProgressEvent(stage="loading", max_iterations=max_iterations)
        self.started = time.monotonic()
        self.stage_seconds: dict[str, float] = {}  # where the time went, by stage
        self._stage_started = self.started
        self.planned: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def plan(self, kind: str, units: float) -> None:
        """Add ``units`` of work of ``kind`` to the plan."""
        self.planned[kind] = self.planned.get(kind, 0.0) + max(0.0, units)

    def credit(self, kind: str, units: float, seconds: float) -> None:
        """Record ``units`` of ``kind`` finished in ``seconds`` (no report)."""
        self.done[kind] = self.done.get(kind, 0.0) + units
        self.spent[kind] = self.spent.get(kind, 0.0) + seconds
        self.planned[kind] = max(self.planned.get(kind, 0.0), self.done[kind])

    @contextlib.contextmanager
    def work(self, kind: str, units: float = 1.0):
        """Time a block that does ``units`` of planned work, then report."""
        start = time.monotonic()
        yield
        self.credit(kind, units, time.monotonic() - start)
        self()

    def seconds_left(self) -> float:
        left = 0.0
        for kind, planned in self.planned.items():
            done = self.done.get(kind, 0.0)
            rate = self.spent[kind] / done if done else PRIOR_SECONDS.get(kind, 1.0)
            left += max(0.0, planned - done) * rate
        return left

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
        elapsed = time.monotonic() - self.started
        if self.state.stage == "done":
            self.state.fraction, self.state.eta_s = 1.0, 0.0
        else:
            left = self.seconds_left()
            measured = any(self.done.values())
            # Before any work is planned and measured, nothing is known to be done.
            self.state.fraction = round(min(0.99, elapsed / (elapsed + left)), 4) if measured else 0.0
            self.state.eta_s = round(left, 1) if measured else None
        if self.callback is not None:
            self.callback(dataclasses.replace(self.state))

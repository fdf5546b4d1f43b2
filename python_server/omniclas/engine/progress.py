"""Progress events: what long work reports to the CLI, the server's job table and the Fiji plugin.

One plan for the whole run, made at its start (:mod:`.plan`): every feature to compute, every candidate's head
fits, the labelling passes and the saving, each kind in units whose seconds are measured as units finish (a prior
until then). As the run learns what it will not do (views dropped, candidates stopped, rounds cut), the plan is
revised down; it is revised up only where the work was unknowable (a fine-tuning run's steps). Time left = units
left x measured seconds per unit; the fraction done is the time spent over time spent plus time left, and it never
decreases: a slower rate than the prior raises the ETA, never takes back progress already shown.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import Cancelled

# Seconds per unit before any unit of that kind has been measured, on a 2-core CPU (medians of the benchmark runs,
# benchmarks/results/automl.jsonl): a prior far from what is then measured makes the ETA jump when the first unit
# finishes.
# * compile: converting one frozen body for its runtime (3-5 s through ONNX; a cached body loads in under 1 s);
# * features: one image under one view through one body (Lite0-2, OpenVINO bf16, decoding included) at 128 px; a
#   run sets its own from its input size (:func:`features_prior`);
# * fit: a linear head's first fit, in rows x (classes + PER_ROW) plus FIT_OVERHEAD; refit: the same from the
#   chain's last head (a warm start);
# * vote: one pool image scored by one (head, view) of one chain when labelling;
# * save: writing the run folder with its report;
# * activations: one image under one view through the student's frozen part (0.6 of a feature's time);
# * student: one training step of the student, 64 images at 128 px (:func:`.student.step_units`).
PRIOR_SECONDS = {"compile": 5.0, "features": 0.003, "fit": 1.2e-5, "refit": 3e-6, "vote": 2e-6, "save": 4.0,
                 "finetune": 0.05, "activations": 0.0018, "student": 0.44}
# The kinds whose priors hold across datasets: how much slower than its prior a body's conversion runs says how
# loaded the machine is, for the kinds not measured yet. Not features (decoding a 2 kB PNG or a 300 kB JPEG: 2-5x
# apart at one input size; on BBBC013 they ran at half their prior and made a student look 2x cheaper than it
# was), nor fits (BCCD's small fits ran at 3-4x their prior, all fixed cost, and made it look 4x dearer), nor votes
# (tenfold with the classes and chains).
SPEED_KINDS = ("compile",)
# A kind not measured yet whose cost follows another's: (that kind, the share of its time per unit). A head
# refitted from its last round's (a warm start) takes fewer solver steps (0.2-0.35 of a first fit's time per unit
# on BCCD, Fashion-MNIST and flowers5; counted as one kind, BCCD's first fits made the later ones look 1.8x
# dearer); the student's frozen part reads the same images as the features, through most of the same layers.
RELATED = {"refit": ("fit", 0.25), "activations": ("features", 0.6)}


def features_prior(size: int) -> dict[str, float]:
    """The priors of a run at input size ``size``: a forward pass costs as its pixels."""
    area = (size / 128) ** 2
    return {"features": PRIOR_SECONDS["features"] * area, "activations": PRIOR_SECONDS["activations"] * area}
# A head fit's fixed cost (set-up, solver start), in rows x classes. Small: a larger fit also takes more solver
# steps, so its cost grows faster than its rows; a large fixed cost made the first (small) fits of a run predict the
# later ones 2x too cheap.
FIT_OVERHEAD = 5_000
PER_ROW = 8  # a fit's work per row beyond its classes, in classes (few classes: 3-class fits cost 2x their share)


ROWS_EXPONENT = 1.4  # a larger problem also takes more solver steps: flowers5's 9,700-row refits cost 1.8x per row
# what Fashion-MNIST's 2,200-row ones did (1.8 = 4.4 ** 0.4)


def fit_units(rows: int, n_classes: int) -> float:
    """A linear head fit's work: its cost grows with rows ** ROWS_EXPONENT x (classes + the per-row work that does
    not depend on them), above a fixed cost; in units of a 1,000-row fit's rows."""
    return 1000.0 * (rows / 1000) ** ROWS_EXPONENT * (max(2, n_classes) + PER_ROW) + FIT_OVERHEAD


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
    work plan and its measured throughput; checks for cancellation at every report.

    Work may run on helper threads (a round's head fits): their blocks are timed and counted, but only the thread
    that made the reporter sends events and checks for cancellation (a callback may hold a database connection
    of its own thread), and blocks running at once share the seconds between them, so the rates stay throughput.
    """

    def __init__(self, callback: Callable[[ProgressEvent], None] | None = None,
                 cancel: Callable[[], bool] | None = None, max_iterations: int = 0):
        self.callback = callback
        self.cancel = cancel
        self.state = ProgressEvent(stage="loading", max_iterations=max_iterations)
        self.started = time.monotonic()
        self.stage_seconds: dict[str, float] = {}  # where the time went, by stage
        self._stage_started = self.started
        self.priors = dict(PRIOR_SECONDS)  # a run may set its own (features_prior)
        self.planned: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.spent: dict[str, float] = {}
        self._fraction = 0.0
        self._owner = threading.get_ident()
        self._lock = threading.RLock()
        self._running: dict[int, list] = {}  # thread -> its open work blocks' [seconds so far]
        self._ticked = self.started

    def plan(self, kind: str, units: float) -> None:
        """Add ``units`` of work of ``kind`` to the plan."""
        self.planned[kind] = self.planned.get(kind, 0.0) + max(0.0, units)

    def expect(self, kind: str, units_left: float) -> None:
        """Revise the plan: from now on, ``units_left`` of ``kind`` remain."""
        self.planned[kind] = self.done.get(kind, 0.0) + max(0.0, units_left)

    def credit(self, kind: str, units: float, seconds: float) -> None:
        """Record ``units`` of ``kind`` finished in ``seconds`` (no report)."""
        with self._lock:
            self.done[kind] = self.done.get(kind, 0.0) + units
            self.spent[kind] = self.spent.get(kind, 0.0) + seconds
            self.planned[kind] = max(self.planned.get(kind, 0.0), self.done[kind])

    @contextlib.contextmanager
    def work(self, kind: str, units: float = 1.0):
        """Time a block that does ``units`` of planned work, then report. Blocks open on n threads at once each
        count 1/n of each second (a block nested in another of its thread counts with it, as before)."""
        thread, block = threading.get_ident(), [0.0]
        with self._lock:
            self._tick()
            self._running.setdefault(thread, []).append(block)
        try:
            yield
        finally:
            with self._lock:
                self._tick()
                self._running[thread].remove(block)
                if not self._running[thread]:
                    del self._running[thread]
        self.credit(kind, units, block[0])
        self()

    def _tick(self) -> None:
        now = time.monotonic()
        if self._running:
            share = (now - self._ticked) / len(self._running)
            for blocks in self._running.values():
                for block in blocks:
                    block[0] += share
        self._ticked = now

    def rate(self, kind: str) -> float:
        """Seconds per unit of ``kind``: measured, or the prior scaled by how much slower or faster than their
        priors the kinds measured so far ran (a loaded or slower machine is slower at everything)."""
        done = self.done.get(kind, 0.0)
        if done:
            return self.spent[kind] / done
        related, share = RELATED.get(kind, (None, 0.0))
        if self.done.get(related):
            return self.spent[related] / self.done[related] * share
        ratios = [self._against_prior(k) for k in self.done if self.done[k] and self.spent[k] > 0 and k in SPEED_KINDS]
        speed = math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else 1.0
        return self.priors.get(kind, 1.0) * speed

    def _against_prior(self, kind: str) -> float:
        ratio = self.spent[kind] / self.done[kind] / self.priors[kind]
        # A body loaded from the cache beats its prior and says nothing of the machine's speed (counted, it made a
        # warm run's fits look 4x cheaper); a slow conversion does.
        return max(1.0, ratio) if kind == "compile" else ratio

    def summary(self) -> dict:
        """Units done and seconds spent, by kind of work: where the time went."""
        with self._lock:
            return {kind: {"units": round(self.done[kind], 1), "seconds": round(self.spent[kind], 2)}
                    for kind in self.done}

    def seconds_left(self) -> float:
        with self._lock:  # helper threads credit work meanwhile
            return sum(max(0.0, planned - self.done.get(kind, 0.0)) * self.rate(kind)
                       for kind, planned in self.planned.items())

    def __call__(self, **changes) -> None:
        if threading.get_ident() != self._owner:  # a helper thread: its position only; the owner reports
            with self._lock:
                for key, value in changes.items():
                    if key != "stage":
                        setattr(self.state, key, value)
            return
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
        elif any(self.done.values()):
            left = self.seconds_left()
            # Monotone: a revised rate moves the ETA, never the progress already shown.
            self._fraction = max(self._fraction, min(0.99, elapsed / (elapsed + left)))
            self.state.fraction, self.state.eta_s = round(self._fraction, 4), round(left, 1)
        else:  # before any work is measured, nothing is known to be done
            self.state.fraction, self.state.eta_s = 0.0, None
        if self.callback is not None:
            self.callback(dataclasses.replace(self.state))

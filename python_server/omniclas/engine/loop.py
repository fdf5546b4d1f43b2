"""The one semi-supervised loop behind all seven processes.

Each round fits the base models (one per backbone) on the manual plus automatic labels of every chain
(:mod:`.chains`), estimates how good the model to be saved is, and, if the process distills, labels the unlabelled
images (models x views vote) and lets the selection rule (:mod:`.select`) pick which automatic labels join. It
stops when no unlabelled image is left, the rule picks none, the maximum number of rounds is reached, or the
estimate fell more than one standard error below its best for two rounds in a row. The round kept is the latest
whose estimate is within one standard error of the best: with a handful of labels the estimate moves one image at
a time, and its noise must not undo what the automatic labels add.

The estimate: for linear heads, cross-validation of the whole procedure (the fold chains); fine-tuned heads (the
paper's protocol) use a validation split.
"""
from __future__ import annotations

import logging
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig
from ..errors import ConfigError
from ..model.backbones import get_backbone_cfg
from ..model.predictor import MANIFEST_FILE
from . import chains as ch
from . import checkpoint
from .features import ImageBank
from .inputs import RunInputs
from .outputs import RunResult, save_run
from .progress import Reporter
from .select import get_selection

log = logging.getLogger(__name__)
PATIENCE = 2  # rounds the estimate may fall out of reach of its best before the loop stops


@dataclass
class RoundState:
    """Where the rounds stand: what resume restores."""

    history: list = field(default_factory=list)
    next_round: int = 0
    kept_round: int = -1
    kept_models: list = field(default_factory=list)
    best_accuracy: float = -1.0
    below: int = 0  # consecutive rounds out of reach of the best
    stop_reason: str = "maximum number of iterations reached"


def train(cfg: TrainConfig, progress=None, cancel=None, resume: bool = False, bank: ImageBank | None = None) -> RunResult:
    """Run one training process end to end and write its run folder.

    Args:
        cfg: the options; ``None`` fields take the process's defaults.
        progress: called with a :class:`~omniclas.engine.progress.ProgressEvent` as work advances.
        cancel: a zero-argument callable; when it returns True, :class:`~omniclas.errors.Cancelled` is raised.
        resume: continue from the last finished round recorded in ``cfg.out_dir/checkpoint``.
        bank: the image bank of an earlier run on the same dataset and split (benchmarks), to reuse its features.
    """
    cfg = cfg.resolved()
    out_dir = Path(cfg.out_dir) if cfg.out_dir else _default_out_dir(cfg)
    cfg.out_dir = str(out_dir)
    if not resume and (out_dir / MANIFEST_FILE).exists():
        raise ConfigError(f"{out_dir} already holds a finished run; choose another output folder", field="out_dir")
    if resume and not checkpoint.exists(out_dir):
        raise ConfigError(f"{out_dir} has no interrupted run to resume (no checkpoint/state.json)", field="out_dir")
    if not resume:
        shutil.rmtree(checkpoint.folder(out_dir), ignore_errors=True)  # a stale, abandoned run's state
    for name in cfg.backbones:
        get_backbone_cfg(name)  # unknown names fail before any work
    started = time.monotonic()
    _seed_everything(cfg.seed)
    report = Reporter(progress, cancel, max_iterations=cfg.max_iterations)
    inputs = RunInputs(cfg, report, bank)
    state = checkpoint.load(out_dir) if resume else None
    views = inputs.plan_views(state)
    rounds = _restore(inputs, out_dir, state) if state else RoundState()
    rounds = run_rounds(inputs, views, rounds, out_dir)
    result = save_run(inputs, out_dir, views, rounds, started)
    shutil.rmtree(checkpoint.folder(out_dir), ignore_errors=True)  # the run is complete; nothing left to resume
    acc = result.manifest["test"]["accuracy"]
    report(stage="done", message=(f"test accuracy {acc:.3f}; " if acc is not None else "") + rounds.stop_reason)
    return result


def run_rounds(inputs: RunInputs, views, rs: RoundState, out_dir: Path) -> RoundState:
    """Fit, estimate, label and select, round after round, until a stop condition."""
    cfg, report, main = inputs.cfg, inputs.report, inputs.main
    rule = get_selection(cfg.selection)
    for it in range(rs.next_round, cfg.max_iterations + 1):
        fit_idx, _, auto_idx = main.fit_set()
        report(stage="training", iteration=it, model="", message=f"round {it}: training {len(cfg.backbones)} "
               f"model(s) on {len(fit_idx)} images ({len(auto_idx)} automatic)"
               + (f", {len(inputs.folds)} folds" if inputs.folds else ""))
        for chain in inputs.chains:
            chain.models = [ch.fit_model(cfg, inputs.bank, chain, m, b, views, inputs.n_classes, report,
                                         warm=ch.warm_start(chain, m)) for m, b in enumerate(cfg.backbones)]
        record = {"iteration": it, "train_images": int(len(fit_idx)), "automatic_labels": int(len(auto_idx)),
                  **ch.estimate(cfg, inputs.bank, inputs.chains, inputs.folds, views, inputs.n_classes),
                  "test_accuracy": ch.test_accuracy(cfg, inputs.bank, main.models, inputs.test_idx, inputs.y_test,
                                                    views)}
        if _judge(rs, record, main.models) or it == cfg.max_iterations:
            return rs
        report(stage="labelling", iteration=it, model="", message=f"labelling with {len(cfg.backbones)} "
               f"model(s) x {len(views.label)} view(s)")
        for c, chain in enumerate(inputs.chains):
            taken = ch.label(cfg, inputs.bank, chain, inputs.pool_idx, views, rule, it, inputs.n_classes, inputs.ds,
                             inputs.paths)
            if c == 0:
                record.update(taken)
        rs.next_round = it + 1
        checkpoint.save(out_dir, inputs.chains, rs, views)
        if record["remaining_before"] == 0:
            rs.stop_reason = "no unlabelled image left"
            return rs
        if record["labelled"] == 0:
            rs.stop_reason = f"the selection rule '{cfg.selection}' took no image"
            return rs
    return rs


def _judge(rs: RoundState, record: dict, models: list) -> bool:
    """Record the round; keep its models if its estimate is within one standard error of the best. True: stop,
    the estimate has been out of reach for ``PATIENCE`` rounds."""
    rs.history.append(record)
    rs.best_accuracy = max(rs.best_accuracy, record["estimate_accuracy"])
    record["tolerance"] = round(ch.standard_error(rs.best_accuracy, record.get("estimate_images", 0)), 4)
    if record["estimate_accuracy"] >= rs.best_accuracy - record["tolerance"]:
        rs.kept_round, rs.kept_models, rs.below = record["iteration"], list(models), 0
        return False
    rs.below += 1
    if rs.below < PATIENCE:
        return False
    rs.stop_reason = (f"estimated accuracy fell more than one standard error below the best for {PATIENCE} "
                      f"rounds; round {rs.kept_round} kept")
    return True


def _restore(inputs: RunInputs, out_dir: Path, state: dict) -> RoundState:
    for chain, autos in zip(inputs.chains, state["chains"]):
        chain.auto = {inputs.index[inputs.ds.root / r["path"]]: r for r in autos
                      if inputs.ds.root / r["path"] in inputs.index}
    checkpoint.load_chain_heads(out_dir, inputs.chains, inputs.cfg.backbones)
    log.info("resuming %s at round %d", out_dir, state["next_iteration"])
    return RoundState(history=state["history"], next_round=state["next_iteration"],
                      kept_round=state["best_iteration"], best_accuracy=state.get("best_accuracy", -1.0),
                      below=state.get("below", 0),
                      kept_models=checkpoint.load_kept_models(out_dir, state, inputs.bank, inputs.n_classes))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _default_out_dir(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{Path(cfg.dataset).resolve().name}-{cfg.process}-{time.strftime('%Y%m%d-%H%M%S')}"

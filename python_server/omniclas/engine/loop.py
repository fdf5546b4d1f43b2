"""The one semi-supervised loop behind all seven processes and AutoML.

Every round does the same four things for every active candidate (:mod:`.candidates`): fit the base models (one
per backbone) of each chain (:mod:`.chains`) on its manual plus automatic labels; estimate how good the model to
be saved is; judge the round (keep it, or stop); label the unlabelled images (models x views vote) and let the
candidate's selection rule (:mod:`.select`) pick the automatic labels that join. A candidate stops when no
unlabelled image is left, its rule picks none, its last round is reached, or its estimate fell more than one
standard error below its best for two rounds in a row. The round kept is the latest whose estimate is within one
standard error of the best: with a handful of labels the estimate moves one image at a time, and its noise must
not undo what the automatic labels add. Which candidates run and which one is kept is the strategy's
(:mod:`.automl`).

The estimate: for linear heads, cross-validation of the whole procedure (the fold chains); fine-tuned heads (the
paper's protocol) use a validation split.
"""
from __future__ import annotations

import hashlib
import logging
import random
import shutil
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from ..config import TrainConfig
from ..errors import ConfigError
from ..model.backbones import get_backbone_cfg
from ..model.predictor import MANIFEST_FILE
from . import chains as ch
from . import checkpoint
from .automl import get_strategy
from .candidates import Candidate, RoundState
from .inputs import RunInputs
from .outputs import RunResult, save_run
from .plan import expect_rest
from .progress import Reporter
from .select import get_selection
from .student_step import run_student

log = logging.getLogger(__name__)
PATIENCE = 2  # rounds the estimate may fall out of reach of its best before a candidate stops
# Most head fits at once: each holds its rows (up to MAX_FIT_ROWS x 1,408 float32, 135 MB) and the solver's copies,
# so memory stays near 1 GB on a many-core machine.
MAX_PARALLEL_FITS = 4


def train(cfg: TrainConfig, progress=None, cancel=None, resume: bool = False) -> RunResult:
    """Run one training process (or AutoML) end to end and write its run folder.

    Args:
        cfg: the options; ``None`` fields take the process's defaults.
        progress: called with a :class:`~omniclas.engine.progress.ProgressEvent` as work advances.
        cancel: a zero-argument callable; when it returns True, :class:`~omniclas.errors.Cancelled` is raised.
        resume: continue an interrupted run in ``cfg.out_dir``: features already computed are read from the
            feature store, and rounds continue from the last finished one.
    """
    cfg = cfg.resolved()
    out_dir = Path(cfg.out_dir) if cfg.out_dir else _default_out_dir(cfg)
    cfg.out_dir = str(out_dir)
    if not resume and (out_dir / MANIFEST_FILE).exists():
        raise ConfigError(f"{out_dir} already holds a finished run; choose another output folder", field="out_dir")
    if resume and not checkpoint.exists(out_dir):
        raise ConfigError(f"{out_dir} has no interrupted run to resume (no checkpoint/state.json)", field="out_dir")
    strategy = get_strategy(cfg)
    for name in cfg.backbones:
        get_backbone_cfg(name)  # unknown names fail before any work
    state = checkpoint.load(out_dir) if resume else None
    if not resume:
        shutil.rmtree(checkpoint.folder(out_dir), ignore_errors=True)  # a stale, abandoned run's state
        checkpoint.start(out_dir, cfg)  # resumable from now on: features reach the store as they are computed
    started = time.monotonic()
    _seed_everything(cfg.seed)
    report = Reporter(progress, cancel, max_iterations=cfg.max_iterations)
    inputs = RunInputs(cfg, report)
    _plan_run(inputs, strategy)
    views = inputs.plan_views(state)
    candidates = _candidates(inputs, views, strategy)
    if state and state.get("candidates"):
        checkpoint.restore(out_dir, state, candidates, inputs)
        log.info("resuming %s at round %d", out_dir, min(c.rs.next_round for c in candidates))
    elif state:
        log.info("resuming %s at round 0: features computed before are read from the feature store", out_dir)
    inputs.prepare_pool(views, any(c.spec.max_rounds for c in candidates))
    run_rounds(inputs, views, candidates, strategy, out_dir, started)
    choice = strategy.choose(candidates)
    student = run_student(inputs, views, choice.kept, out_dir, started)
    with report.work("save"):
        result = save_run(inputs, out_dir, views, choice, candidates, started, student)
    shutil.rmtree(checkpoint.folder(out_dir), ignore_errors=True)  # the run is complete; nothing left to resume
    acc = result.manifest["test"]["accuracy"]
    report(stage="done", message=(f"test accuracy {acc:.3f}; " if acc is not None else "")
           + choice.kept.rs.stop_reason)
    return result


def _candidates(inputs: RunInputs, views, strategy) -> list[Candidate]:
    specs = strategy.specs(inputs.cfg, views, has_pool=len(inputs.pool_idx) > 0)
    return [Candidate(spec, [c.fresh() for c in inputs.chains]) for spec in specs]


def _plan_run(inputs: RunInputs, strategy) -> None:
    """The plan of the whole run, made before any work: as if every candidate view were kept and no feature were
    in the store (the bodies must be converted to look); revised as the run learns."""
    report = inputs.report
    report.expect("compile", len(inputs.cfg.backbones) if inputs.linear else 0)
    report.expect("save", 1)
    inputs.expect_features(lookup=False)
    provisional = inputs.provisional_views()
    expect_rest(inputs, provisional, _candidates(inputs, provisional, strategy), strategy)


def run_rounds(inputs: RunInputs, views, candidates: list[Candidate], strategy, out_dir: Path, started: float) -> None:
    """Fit, estimate, judge, label and select, round after round, until every candidate has stopped."""
    cfg, report = inputs.cfg, inputs.report
    active = [c for c in candidates if c.active]
    while active:
        it = active[0].rs.next_round
        expect_rest(inputs, views, candidates, strategy)  # the plan, revised from where the run stands
        _fit_round(inputs, views, active, it)
        for cand in active:
            n_auto = len(cand.main.auto_idx)
            record = {"iteration": it, "train_images": int(len(cand.main.train_idx) + n_auto),
                      "automatic_labels": n_auto,
                      **ch.estimate(cfg, inputs.bank, cand.chains, inputs.folds, views, inputs.n_classes),
                      "test_accuracy": ch.test_accuracy(cfg, inputs.bank, cand.main.models, inputs.test_idx,
                                                        inputs.y_test, views)}
            if _judge(cand.rs, record, cand.main.models):
                cand.stop(f"estimated accuracy fell more than one standard error below the best for {PATIENCE} "
                          f"rounds; round {cand.rs.kept_round} kept")
            if it >= cand.spec.max_rounds:
                cand.stop("no distillation: trained once, on the labelled images" if not cand.spec.max_rounds
                          else f"the last round ({cand.spec.max_rounds}) was reached")
        strategy.prune(candidates, time.monotonic() - started, cfg.time_budget or None)
        active = [c for c in candidates if c.active]
        if not active:
            break
        expect_rest(inputs, views, candidates, strategy)
        _label_round(inputs, views, active, it)
        for cand in active:
            cand.rs.next_round = it + 1
        checkpoint.save(out_dir, candidates, inputs)
        active = [c for c in candidates if c.active]
    expect_rest(inputs, views, candidates, strategy)  # no candidate left: no fits or votes to come


def _fit_round(inputs: RunInputs, views, active: list[Candidate], it: int) -> None:
    """Every active candidate's chains fit their base models, one backbone at a time, so that the pool rows the
    round's fits share are read from the feature store once (:meth:`ImageBank.pinned`)."""
    report = inputs.report
    names = ", ".join(c.spec.name for c in active)
    report(stage="training", iteration=it, model="", message=f"round {it}: fitting {names}"
           + (f" ({len(inputs.folds)} folds each)" if inputs.folds else ""))
    fitted = {id(chain): [None] * len(cand.spec.backbones) for cand in active for chain in cand.chains}
    pin_views = views.train if inputs.cfg.head != "finetune" else []  # fine-tuned heads train on pixels
    for backbone in dict.fromkeys(b for cand in active for b in cand.spec.backbones):
        users = [(c, chain, m) for cand in active for c, chain in enumerate(cand.chains)
                 for m, b in enumerate(cand.spec.backbones) if b == backbone]
        pool_rows = [chain.fit_set(ch.MAX_FIT_ROWS, len(views.train))[2] for _, chain, _ in users]
        # a chain without automatic labels (round 0) depends on its manual labels alone: candidates share its fit
        key = {id(chain): id(chain) if len(chain.auto_idx) else ("manual", c) for c, chain, _ in users}
        tasks = {}
        for c, chain, m in users:
            tasks.setdefault(key[id(chain)], (chain, m))
        with inputs.bank.pinned(backbone, pin_views, np.concatenate(pool_rows)):
            models = _fit_all(inputs, views, backbone, tasks)
        for _, chain, m in users:
            fitted[id(chain)][m] = models[key[id(chain)]]
    for cand in active:
        for chain in cand.chains:
            chain.models = fitted[id(chain)]


def _fit_all(inputs: RunInputs, views, backbone: str, tasks: dict) -> dict:
    """One backbone's fits of a round, ``{key: (chain, model index)}``, a fit per thread of the run: each fit's
    solver runs on one BLAS thread (skinny products: a second thread on the same fit waits more than it works), so
    two fits at once on 2 cores take 0.53 of the time of one after the other. Only this thread reports."""
    report = inputs.report

    def fit(task):
        chain, m = task
        warm = ch.warm_start(chain, m) if len(chain.auto_idx) else None
        return ch.fit_model(inputs.cfg, inputs.bank, chain, m, backbone, views, inputs.n_classes, report, warm)

    workers = min(len(tasks), torch.get_num_threads(), MAX_PARALLEL_FITS) if inputs.cfg.head == "linear" else 1
    if workers <= 1:
        return {key: fit(task) for key, task in tasks.items()}
    models = {}
    # one BLAS thread for the whole block, not only inside each fit: a fit that ends restores the count it found,
    # and it must not give a fit still running a second thread
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(fit, task): key for key, task in tasks.items()}
        try:
            for done in as_completed(futures):
                models[futures[done]] = done.result()
                report()  # the events, and a cancelled run stops here
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return models


def _label_round(inputs: RunInputs, views, active: list[Candidate], it: int) -> None:
    """Every active candidate's chains vote on their remaining pool images in one pass over the pool; each
    candidate's rule selects."""
    inputs.report(stage="labelling", iteration=it, model="", message=f"labelling with {len(active)} candidate(s)")
    requests, owners, seen = [], [], {}
    for cand in active:
        for c, chain in enumerate(cand.chains):
            remaining = inputs.pool_idx[chain.auto_label[inputs.pool_idx] < 0]
            key = (c, tuple(id(m) for m in chain.models), cand.spec.label_views,
                   hashlib.sha1(remaining.tobytes()).hexdigest())
            if key not in seen:  # candidates with the same models and views vote alike (round 0)
                seen[key] = len(requests)
                requests.append((chain.models, list(cand.spec.label_views), remaining))
            owners.append((cand, c, chain, remaining, seen[key]))
    votes = ch.vote_pool(inputs.bank, inputs.pool_idx, requests, inputs.report)
    for cand, c, chain, remaining, r in owners:
        taken = ch.select(cand.spec, chain, remaining, votes[r], get_selection(cand.spec.selection), it,
                          inputs.n_classes, inputs.ds.classes)
        if c == 0:
            cand.rs.history[-1].update(taken)
            if taken["remaining_before"] == 0:
                cand.stop("no unlabelled image left")
            elif taken["labelled"] == 0:
                cand.stop(f"the selection rule '{cand.spec.selection}' took no image in round {it}")


def _judge(rs: RoundState, record: dict, models: list) -> bool:
    """Record the round; keep its models if its estimate is within one standard error of the best. True: stop,
    the estimate has been out of reach for ``PATIENCE`` rounds."""
    right, p_true = record.pop("held_out_right", None), record.pop("held_out_p", None)
    probs, y = record.pop("held_out_probs", None), record.pop("held_out_y", None)
    rs.history.append(record)
    rs.best_accuracy = max(rs.best_accuracy, record["estimate_accuracy"])
    record["tolerance"] = round(ch.standard_error(rs.best_accuracy, record.get("estimate_images", 0)), 4)
    if record["estimate_accuracy"] >= rs.best_accuracy - record["tolerance"]:
        rs.kept_round, rs.kept_models, rs.kept_right, rs.kept_p, rs.below = (record["iteration"], list(models), right,
                                                                              p_true, 0)
        rs.kept_probs, rs.kept_y = probs, y
        return False
    rs.below += 1
    return rs.below >= PATIENCE


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _default_out_dir(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{Path(cfg.dataset).resolve().name}-{cfg.process}-{time.strftime('%Y%m%d-%H%M%S')}"

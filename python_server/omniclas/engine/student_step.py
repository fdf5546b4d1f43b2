"""The student step after the rounds: estimate whether a student pays, train it, hand it to the saved network.

``--student``: ``off`` never; ``on`` always (where the kept candidate has linear heads); ``auto`` when its
estimate beats the frozen ensemble's and it fits in ``--time-budget``.

The estimate (cheap and honest): a student is trained on the first ``ESTIMATE_FOLDS`` cross-validation chains of
the kept candidate, each on that fold chain's manual labels plus the automatic labels the chain itself made (its
teachers never saw the fold's held-out labels; a random draw of them where there are more than
``ESTIMATE_MAX_IMAGES`` images in all), for the full schedule, and scored after every epoch on the fold's held-out
manual labels: the student averaged with the fold chain's own frozen heads (as the saved network averages its
members) against those frozen heads alone, on the same images. It pays when the average is more accurate by more
than noise (the standard error of the paired difference, as AutoML replaces its default, times
:func:`best_epoch_z` because the estimate is read at the best of its epochs). The best epoch is where
the final student stops (early stopping). Two folds of five, not all five: one student per fold would cost five
times the student itself. The activations are cached as each student first needs them.

What ``auto`` spends on a student that does not pay:
- nothing where it tries none: fewer than ``MIN_IMAGES`` images, or an estimate that could not show a gain
  (:func:`can_show_gain`): a student that corrects g more held-out answers than it breaks, out of d that change,
  gains g/n against a noise of z sqrt(d)/n with d >= g, so it must correct more than z ** 2 (4 at six epochs),
  and there are neither that many mistakes to correct nor, at the gain a student plausibly adds, that many
  labels' worth of gain;
- one fold student where the first fold's (the fold where the frozen heads are wrong most often) average answers
  no more of its held-out labels right than its frozen heads alone at any epoch: the second fold would then have
  to correct at least two answers beyond noise on its own, so the step stops there (a futility stop, as
  successive halving stops candidates).

Then the final student trains on the main chain (every manual label, the kept round's automatic labels) and joins
the saved network as a member. The test set is never read.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from . import checkpoint as ck
from .base_models import BaseModel, predict_proba, scores
from .chains import member_views
from .views import paired_noise
from .student import EPOCHS, StudentData, fit_student, planned_steps
from .student_cache import ActivationCache, split_body

log = logging.getLogger(__name__)
ESTIMATE_FOLDS = 2
# ``auto`` tries no student on fewer images than this (4 batches an epoch): a one-cycle schedule of a handful of
# steps memorises them (on the 77-image fixture set the student alone fell to one class), and the estimate on so
# few held-out labels cannot tell. ``on`` still trains one.
MIN_IMAGES = 256
# The most a student plausibly adds to the frozen ensemble's accuracy, generously: +0.009 and +0.017 on the
# issue's 73-class probe at 5 and 20 labels per class, -0.006 to +0.004 on the shared sets (student.md); about 3x
# the largest. An estimate on n held-out labels can show a gain only where PLAUSIBLE_GAIN * n clears its margin:
# at six epochs, from 80 held-out labels (the two folds of 200 manual labels).
PLAUSIBLE_GAIN = 0.05
# A fold student of the estimate trains on at most this many images (its manual labels and a random draw of its
# automatic ones): on flowers5 at 5 labels per class, 2,400 automatic labels made one fold student cost 110 s for
# an answer read on 5 held-out labels.
ESTIMATE_MAX_IMAGES = 1024
STUDENT_MODES = ("auto", "on", "off")


@dataclass
class StudentOutcome:
    model: BaseModel | None  # the student member, or None where none was trained
    summary: dict = field(default_factory=dict)  # for the manifest and the reports


def _automatic(chain, kept_round: int):
    idx = chain.auto_idx
    idx = idx[chain.auto_round[idx] < kept_round]
    return idx, chain.auto_label[idx], chain.auto_confidence[idx]


def _for_estimate(chain, kept_round: int, seed: int):
    """The automatic labels a fold student of the estimate learns from: the fold chain's, drawn at random down to
    ``ESTIMATE_MAX_IMAGES`` with its manual labels (its cost is its images; a student on fewer automatic labels
    learns no more from them, so the estimate errs towards no)."""
    idx, y, conf = _automatic(chain, kept_round)
    room = max(0, ESTIMATE_MAX_IMAGES - len(chain.train_idx))
    if len(idx) <= room:
        return idx, y, conf
    keep = np.sort(np.random.default_rng(seed).choice(len(idx), room, replace=False))
    return idx[keep], y[keep], conf[keep]


def _student_for(inputs, backbone: str, head: BaseModel):
    """A fresh classifier (ImageNet body, head from ``head``) with its top and the activation cache."""
    classifier = inputs.bank.pretrained(backbone, inputs.n_classes, feature_norm="l2")
    classifier.head.load_state_dict({"weight": _tensor(head.coef), "bias": _tensor(head.bias)})
    stem, top, cut = split_body(backbone, classifier.body)
    return classifier.eval(), top, stem, cut


def _tensor(a):
    import torch

    return torch.from_numpy(np.asarray(a, dtype=np.float32))


def best_epoch_z(epochs: int) -> float:
    """Standard errors a gain must clear when the estimate is read at the best of ``epochs`` epochs: the maximum of
    that many noisy accuracies sits about sqrt(2 ln n) standard errors above their mean where nothing changes (1.9
    for 6). Judged at one standard error, students were trained on Fashion-MNIST and flowers5 at k = 20 (estimate
    +0.025 to +0.05 on 40-80 held-out labels) that moved test accuracy by -0.006 to +0.004, for 67-184 s each."""
    return max(1.0, math.sqrt(2 * math.log(max(epochs, 1))))


def least_gain() -> int:
    """The fewest net corrections (held-out answers a student fixes minus those it breaks) that can clear the
    estimate's margin: g > z sqrt(d) with d >= g answers changed, so g > z ** 2."""
    return math.floor(best_epoch_z(EPOCHS) ** 2) + 1


def can_show_gain(held: int, wrong: int | None) -> bool:
    """Whether an estimate on ``held`` labels, where the frozen heads are wrong on ``wrong`` of them (None: not
    known yet), can show a student's gain: neither the mistakes there are to correct nor a plausible gain may fall
    short of :func:`least_gain`."""
    return min(held if wrong is None else wrong, PLAUSIBLE_GAIN * held) >= least_gain()


def _tries(inputs, manual: int, automatic: int, held: int, wrong: int | None) -> bool:
    """Whether the student step is expected to train anything, from what is known before it starts."""
    cfg = inputs.cfg
    if cfg.student == "off" or cfg.keep != "ensemble" or not inputs.linear:
        return False
    return cfg.student == "on" or bool(inputs.folds and automatic and manual + automatic >= MIN_IMAGES
                                       and can_show_gain(held, wrong))


def estimate_labels(cand) -> tuple[int, int | None]:
    """The held-out labels the estimate would read (its first fold chains') and the kept round's wrong answers on
    them (None before a round is judged)."""
    n = sum(len(c.held_idx) for c in cand.chains[1:1 + ESTIMATE_FOLDS])
    if cand.rs.kept_right is None:
        return n, None
    return n, int((~np.asarray(cand.rs.kept_right[:n], dtype=bool)).sum())


def expect_student(inputs, views, manual: int, automatic: int, held: int, wrong: int | None = None,
                   automatic_soon: int | None = None) -> None:
    """Plan the student step (:mod:`.plan`) from the manual and the expected automatic labels (``automatic_soon``,
    if given, decides whether ``auto`` tries one), and the frozen heads' ``wrong`` answers on the estimate's
    ``held`` labels where known: for ``auto``, the activations and the first fold's student (the rest is added once
    that fold shows a gain); for ``on``, every fold's student and the final one."""
    report = inputs.report
    soon = automatic if automatic_soon is None else automatic_soon
    if not _tries(inputs, manual, soon, held, wrong):
        report.expect("activations", 0)
        report.expect("student", 0)
        return
    size, folds = inputs.bank.size, min(ESTIMATE_FOLDS, len(inputs.folds))
    per_fold = min(ESTIMATE_MAX_IMAGES, round(manual * (1 - 1 / len(inputs.folds))) + automatic) if folds else 0
    fold_steps = planned_steps(per_fold, EPOCHS, size)
    report.expect("activations", (manual + automatic) * len(dict.fromkeys(views.train + views.predict)))
    report.expect("student", fold_steps if inputs.cfg.student == "auto" and folds
                  else folds * fold_steps + planned_steps(manual + automatic, EPOCHS, size))


def run_student(inputs, views, cand, out_dir, started: float) -> StudentOutcome:
    """The student step for the kept candidate ``cand`` (see the module doc)."""
    cfg, report = inputs.cfg, inputs.report
    mode = cfg.student
    summary = {"mode": mode, "ran": False}

    def skip(reason: str) -> StudentOutcome:
        summary["reason"] = reason
        log.info("no student: %s", reason)
        report.expect("activations", 0)
        report.expect("student", 0)
        return StudentOutcome(None, summary)

    if mode == "off":
        return skip("--student off")
    if cfg.keep != "ensemble" or not inputs.linear:
        return skip("a student joins an ensemble of linear heads (--keep ensemble, --head linear)")
    rs = cand.rs
    kept = {m.backbone: (m_i, m) for m_i, m in enumerate(rs.kept_models) if m.kind == "linear"}
    backbone = next(iter(kept), None)
    if backbone is None:
        return skip("the kept models have no linear head to start from")
    auto_idx, auto_y, auto_conf = _automatic(cand.main, rs.kept_round)
    if mode == "auto" and not len(auto_idx):
        return skip("the kept round has no automatic labels to learn from")
    if mode == "auto" and len(cand.main.train_idx) + len(auto_idx) < MIN_IMAGES:
        return skip(f"too few images for a student ({len(cand.main.train_idx) + len(auto_idx)} manual and automatic "
                    f"labels; auto tries one from {MIN_IMAGES})")
    try:
        classifier, top, stem, cut = _student_for(inputs, backbone, kept[backbone][1])
    except ConfigError as err:
        if mode == "on":
            raise
        return skip(str(err))
    began = time.monotonic()
    folds = [c for c in cand.chains[1:1 + ESTIMATE_FOLDS] if len(c.held_idx)] if inputs.folds else []
    if mode == "auto" and not folds:
        return skip("too few manual labels for a held-out estimate")
    frozen = [_frozen(inputs, views, c) for c in folds]  # linear heads on cached features: cheap
    mistakes = [int((p.argmax(1) != c.y_held).sum()) for p, c in zip(frozen, folds)]
    wrong, held = sum(mistakes), sum(len(c.y_held) for c in folds)
    # the fold with the most answers to correct first: a fold where the frozen heads are always right can show no
    # gain, and the futility stop would read nothing from it
    order = sorted(range(len(folds)), key=lambda i: -mistakes[i])
    folds, frozen = [folds[i] for i in order], [frozen[i] for i in order]
    if mode == "auto" and not can_show_gain(held, wrong):
        need = f"a student would have to correct at least {least_gain()} more answers than it breaks to show a gain"
        if wrong < least_gain():
            return skip(f"the frozen ensemble is wrong on only {wrong} of the {held} held-out labels of the "
                        f"estimate: {need}")
        return skip(f"too few held-out labels ({held}) to judge a student: {need}, and a plausible gain "
                    f"({PLAUSIBLE_GAIN:.0%}) is {PLAUSIBLE_GAIN * held:.1f} of them; with more labelled images "
                    f"auto can decide (--student on trains one regardless)")
    folder = ck.folder(out_dir) / "student"
    cache = ActivationCache(inputs.bank, backbone, stem, cut)
    m_index = kept[backbone][0]
    report(stage="student", message=f"student: caching the activations entering {backbone}'s {cut}")
    summary.update({"backbone": backbone, "cut": cut, "views": {"train": views.train, "predict": views.predict}})
    final_images = len(cand.main.train_idx) + len(auto_idx)

    epochs = EPOCHS
    if folds:
        est = _estimate(inputs, views, folds, frozen, m_index, backbone, cache, folder, rs.kept_round,
                        futile_stop=mode == "auto", final_images=final_images)
        summary["estimate"] = est
        if est.get("futile"):
            summary["seconds"] = round(time.monotonic() - began, 1)
            return skip(f"the first fold's student, averaged with its frozen heads, answered no more of its "
                        f"{est['images']} held-out labels right than the frozen heads alone at any epoch")
        epochs = est["best_epoch"]
        # beyond noise, as AutoML replaces its default: the student's cost and risk must be paid for. The best of
        # the epochs is a maximum: its noise is the expected maximum of as many draws (best_epoch_z)
        margin = best_epoch_z(len(est["by_epoch"])) * est["student"]["noise"]
        summary["required_gain"] = round(margin, 4)
        pays = est["student"]["accuracy"] > est["ensemble"]["accuracy"] + margin
        projected = est["seconds_per_image_epoch"] * (len(cand.main.train_idx) + len(auto_idx)) * epochs
        summary["projected_seconds"] = round(projected, 1)
        if mode == "auto" and not pays:
            summary["seconds"] = round(time.monotonic() - began, 1)
            return skip(f"its estimate ({est['student']['accuracy']:.3f}, the best of {len(est['by_epoch'])} epochs) "
                        f"did not beat the frozen ensemble's ({est['ensemble']['accuracy']:.3f}) by more than the "
                        f"noise of a best epoch ({margin:.3f}) on {est['images']} held-out labels")
        elapsed = time.monotonic() - started
        if mode == "auto" and cfg.time_budget and elapsed + projected > cfg.time_budget:
            summary["seconds"] = round(time.monotonic() - began, 1)
            return skip(f"it would take about {projected:.0f} s more, past the time budget of {cfg.time_budget} s")
    classifier, top, _, _ = _student_for(inputs, backbone, kept[backbone][1])
    data = StudentData.build(cand.main.train_idx, cand.main.y_train, auto_idx, auto_y, auto_conf, inputs.n_classes)
    _ensure(inputs, cache, data.idx, views, planned_steps(len(data.idx), epochs, inputs.bank.size))
    report(stage="student", message=f"student: fine-tuning {backbone} from {cut} for {epochs} epochs on "
                                    f"{len(data.idx)} images ({len(auto_idx)} automatic)")
    fit = fit_student(classifier, top, cache, data, views.train, EPOCHS, cfg.seed, report,
                      checkpoint=folder / "final.pt", stop_after=epochs)
    summary.update({"ran": True, "epochs": epochs, "images": int(len(data.idx)), "automatic_labels": int(len(auto_idx)),
                    "training": fit["epochs"], "resumed_at_epoch": fit["resumed_at"],
                    "seconds": round(time.monotonic() - began, 1)})
    return StudentOutcome(BaseModel(backbone, "student", classifier=classifier.eval()), summary)


def _frozen(inputs, views, chain) -> np.ndarray:
    """The fold chain's frozen heads on its held-out labels, averaged over members and views."""
    return np.mean([predict_proba(inputs.bank, m, chain.held_idx, v) for m in chain.models
                    for v in member_views(m, views)], axis=0)


def _ensure(inputs, cache, indices, views, steps_after: float) -> None:
    """Cache the activations of ``indices`` a student reads, planning them and the ``steps_after`` to follow."""
    cache_views = list(dict.fromkeys(views.train + views.predict))
    todo = cache.missing(np.unique(np.asarray(indices, dtype=int)), cache_views)
    inputs.report.expect("activations", len(todo) * len(cache_views))
    inputs.report.expect("student", steps_after)
    cache.compute(todo, cache_views, inputs.report)


def _estimate(inputs, views, folds, frozen_by_fold, m_index: int, backbone: str, cache, folder,
              kept_round: int, futile_stop: bool = False, final_images: int = 0) -> dict:
    """Students on the first fold chains, scored per epoch on their held-out labels against those chains' frozen
    heads (see the module doc). With ``futile_stop``, a first fold with no gain at any epoch ends the estimate
    (``"futile": True``)."""
    n_classes, report, size = inputs.n_classes, inputs.report, inputs.bank.size
    ensemble, combined, alone, labels, seconds, image_epochs = [], [], [], [], 0.0, 0
    for f, (chain, frozen) in enumerate(zip(folds, frozen_by_fold)):
        members = len(chain.models)
        classifier, top, _, _ = _student_for(inputs, backbone, chain.models[m_index])
        a_idx, a_y, a_conf = _for_estimate(chain, kept_round, inputs.cfg.seed + f)
        data = StudentData.build(chain.train_idx, chain.y_train, a_idx, a_y, a_conf, n_classes)
        # the steps of this fold, and where the estimate is sure to go on, those of the later folds and the final
        rest = 0 if futile_stop and f == 0 else (
            sum(planned_steps(len(c.train_idx) + len(_for_estimate(c, kept_round, 0)[0]), EPOCHS, size)
                for c in folds[f + 1:]) + planned_steps(final_images, EPOCHS, size))
        _ensure(inputs, cache, np.concatenate([chain.train_idx, chain.held_idx, a_idx]), views,
                planned_steps(len(data.idx), EPOCHS, size) + rest)
        report(stage="student", message=f"student estimate: fold {f + 1} of {len(folds)}, {len(data.idx)} images")
        mine, mine_alone = [], []

        def average(probs, frozen=frozen, members=members, mine=mine, mine_alone=mine_alone):
            mine_alone.append(probs)
            mine.append((frozen * members + probs) / (members + 1))  # as the saved network averages its members
            return mine[-1]

        fit = fit_student(classifier, top, cache, data, views.train, EPOCHS, inputs.cfg.seed + f, report,
                          checkpoint=folder / f"fold{f}.pt", held=(chain.held_idx, chain.y_held, views.predict),
                          on_epoch=average)
        if len(mine) < EPOCHS:  # resumed: the epochs before the interruption have no probabilities in memory
            return _estimate_again(inputs, views, folds, frozen_by_fold, m_index, backbone, cache, folder,
                                   kept_round, futile_stop=futile_stop, final_images=final_images)
        seconds += fit["seconds"]
        image_epochs += len(data.idx) * EPOCHS
        ensemble.append(frozen)
        combined.append(mine)
        alone.append(mine_alone)
        labels.append(chain.y_held)
        if futile_stop and f == 0 and len(folds) > 1 and not _gains(mine, frozen, chain.y_held):
            break
    y = np.concatenate(labels)
    ens = np.concatenate(ensemble)
    ens_acc, ens_loss = scores(ens, y, n_classes)
    epochs = []
    for e in range(EPOCHS):
        probs = np.concatenate([c[e] for c in combined])
        acc, loss = scores(probs, y, n_classes)
        epochs.append({"epoch": e + 1, "accuracy": round(acc, 4), "log_loss": round(loss, 4),
                       "student_alone_accuracy": round(scores(np.concatenate([a[e] for a in alone]), y,
                                                              n_classes)[0], 4),
                       "noise": round(paired_noise(probs.argmax(1) == y, ens.argmax(1) == y), 4)})
    best = max(epochs, key=lambda r: (r["accuracy"], -r["log_loss"], -r["epoch"]))
    return {"folds": len(labels), "images": int(len(y)), "best_epoch": best["epoch"], "by_epoch": epochs,
            **({"futile": True} if len(labels) < len(folds) else {}),
            "ensemble": {"accuracy": round(ens_acc, 4), "log_loss": round(ens_loss, 4)},
            "student": {"accuracy": best["accuracy"], "log_loss": best["log_loss"],
                        "alone_accuracy": best["student_alone_accuracy"], "noise": best["noise"]},
            "seconds": round(seconds, 1), "seconds_per_image_epoch": seconds / max(image_epochs, 1)}


def _gains(per_epoch, frozen, y) -> bool:
    """Whether the student averaged with the frozen heads answers more of ``y`` right than they do, at any epoch."""
    right = int((frozen.argmax(1) == y).sum())
    return any(int((p.argmax(1) == y).sum()) > right for p in per_epoch)


def _estimate_again(inputs, views, folds, frozen_by_fold, m_index, backbone, cache, folder, kept_round,
                    **options) -> dict:
    """A resumed estimate: its fold students' finished epochs have no held-out probabilities in memory; train the
    folds again from the start (their checkpoints removed). Only the estimate pays this, never the final student."""
    for f in range(len(folds)):
        (folder / f"fold{f}.pt").unlink(missing_ok=True)
    return _estimate(inputs, views, folds, frozen_by_fold, m_index, backbone, cache, folder, kept_round, **options)

"""What a run saves: the network built from the kept round's base models, scored on the test set, written as a run
folder (:mod:`omniclas.report.run_folder`).

``keep``: ``ensemble`` averages every base model (and the predict views) in one network; ``best`` is the base
model with the best estimate; ``best_on_test`` is the paper's choice, the base model best on the test set (this
makes the reported test accuracy optimistic).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..model import calibration as cal
from ..model import network as net
from ..model.backbones import get_backbone_cfg
from ..model.predictor import Predictor
from ..report.run_folder import write_run
from .base_models import predict_proba
from .chains import member_views
from .features import ImageBank


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict
    predictor: Predictor = field(repr=False)
    bank: ImageBank | None = field(default=None, repr=False)  # the run's images and features, for reuse


def auto_labelled(inputs, chain, kept_round: int) -> list[dict]:
    """The automatic labels the kept round's models trained on (those of earlier rounds), for the manifest."""
    idx = chain.auto_idx
    idx = idx[chain.auto_round[idx] < kept_round]
    return [{"path": inputs.ds.relative(inputs.paths[i]), "label": int(chain.auto_label[i]),
             "class": inputs.ds.classes[chain.auto_label[i]], "confidence": round(float(chain.auto_confidence[i]), 4),
             "agreement": round(float(chain.auto_agreement[i]), 4), "iteration": int(chain.auto_round[i])}
            for i in idx]


def calibration(cfg, rs, y_test, test_probs, student=None) -> dict:
    """The temperature and unsure threshold fitted on the kept round's held-out predictions (:mod:`..model.
    calibration`), and how they fare on the test set (reported, never used to fit)."""
    probs = rs.kept_probs if rs.kept_probs is not None else np.zeros((0, test_probs.shape[1]))
    y = rs.kept_y if rs.kept_y is not None else np.zeros(0, dtype=int)
    out = cal.calibrate(probs, y, cfg.unsure_precision)
    if student and student.model:
        out["note"] = (out.get("note", "") + "; " if out.get("note") else "") + \
            "fitted on the frozen ensemble's held-out predictions, before the student joined"
    if len(y_test):
        calibrated = cal.apply_temperature(test_probs, out["temperature"])
        conf, right = calibrated.max(1), calibrated.argmax(1) == y_test
        sure = ~cal.unsure_mask(conf, *cal.settings({"calibration": out})[1:])
        out["test"] = {"images": int(len(y_test)), "ece_before": round(cal.ece(test_probs, y_test), 4),
                       "ece_after": round(cal.ece(calibrated, y_test), 4), "coverage": round(float(sure.mean()), 4),
                       "precision": round(float(right[sure].mean()), 4) if sure.any() else None}
    return out


def save_run(inputs, out_dir: Path, views, choice, candidates, started: float, student=None) -> RunResult:
    """Build the saved network from the kept candidate's kept round (and ``student``'s member, a
    :class:`~omniclas.engine.student_step.StudentOutcome`), score it on the test set, write the run."""
    cfg, bank, kept_cand = inputs.cfg, inputs.bank, choice.kept
    rs, models = kept_cand.rs, kept_cand.rs.kept_models + ([student.model] if student and student.model else [])
    inputs.report(stage="evaluating", message="scoring the saved model on the test set")
    test_probs = [np.mean([predict_proba(bank, m, inputs.test_idx, v) for v in member_views(m, views)], axis=0)
                  for m in models]
    member_test = [float((p.argmax(1) == inputs.y_test).mean()) if len(inputs.y_test) else 0.0 for p in test_probs]
    if cfg.keep == "ensemble" or len(models) == 1:
        kept = list(range(len(models)))
    elif cfg.keep == "best":
        by_backbone = rs.history[rs.kept_round]["estimate_by_backbone"]
        kept = [int(np.argmax([by_backbone[m.backbone]["accuracy"] for m in models]))]
    else:  # best_on_test: the paper's choice
        kept = [int(np.argmax(member_test))]
    norms = [get_backbone_cfg(models[i].backbone) for i in kept]
    network = net.Network([models[i].to_classifier(bank, inputs.n_classes) for i in kept],
                          [(c.mean, c.std) for c in norms], views=views.predict if inputs.linear else ["original"])
    model_manifest = net.describe(network, [models[i].backbone for i in kept], [models[i].kind for i in kept],
                                  inputs.ds.classes, inputs.size)
    kept_test = (np.mean([test_probs[i] for i in kept], axis=0) if len(inputs.test_idx)
                 else np.zeros((0, inputs.n_classes)))
    model_manifest["calibration"] = calibration(cfg, rs, inputs.y_test, kept_test, student)
    predictor = Predictor(network, model_manifest, bf16=cfg.bf16, batch_size=cfg.batch_size, runtime=cfg.runtime)
    inputs.report(stage="saving", message=f"writing {out_dir}")
    manifest = write_run(
        out_dir, predictor, cfg=cfg, dataset=inputs.ds, split=inputs.split, history=rs.history,
        auto=auto_labelled(inputs, kept_cand.main, rs.kept_round), best_round=rs.kept_round,
        stop_reason=rs.stop_reason, selection=kept_cand.spec.selection,
        automl={"chosen": kept_cand.spec.name, "process": kept_cand.spec.process, "reason": choice.reason,
                "time_budget_s": cfg.time_budget or None, "candidates": [c.summary() for c in candidates]}
        if cfg.process == "auto" else None,
        data_paths=inputs.paths,
        candidates=[{"backbone": m.backbone, "kind": m.kind, "test_accuracy": a, "kept": i in kept}
                    for i, (m, a) in enumerate(zip(models, member_test))],
        y_test=inputs.y_test, test_probs=cal.apply_temperature(kept_test, model_manifest["calibration"]["temperature"]),
        views=views.to_dict(), estimate=inputs.estimate, student=student.summary if student else None,
        runtime=bank.runtime_info, wall_time_s=time.monotonic() - started, stage_seconds=inputs.report.stage_seconds,
        work=inputs.report.summary())
    return RunResult(out_dir, manifest, predictor, bank)

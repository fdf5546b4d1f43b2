"""The one semi-supervised loop behind all seven processes.

Each round trains the base models on the manual plus automatic labels, scores them on the validation split,
and, if the process distills, labels the unlabelled images (models x test-time views vote) and keeps the
confident ones. It stops when no unlabelled image is left, none passes the threshold, the maximum number of
rounds is reached, or validation accuracy drops. The round with the best validation accuracy wins; of its
models, the one best on the independent test set is saved.
"""
from __future__ import annotations

import json
import logging
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..backbones import get_backbone_cfg
from ..config import TrainConfig, get_process
from ..data import load_dataset, split_dataset
from ..errors import ConfigError, DatasetError
from ..predictor import MANIFEST_FILE, Predictor
from ..preprocess import bf16_supported, resize_batch
from ..progress import Reporter
from .base_models import BaseModel, ImageBank, fit_finetune, fit_linear
from .run_folder import write_run
from .tta import tta_views
from .vote import accept, ensemble_vote

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict
    predictor: Predictor = field(repr=False)


def choose_image_size(typical_side: int) -> int:
    """Network input size from the images' typical side: a multiple of 32 between 128 and 224 px.

    Large images are not processed beyond 224 px, the backbones' ImageNet size. Small cells are enlarged to at
    least 128 px: ImageNet features at 64 px were clearly worse (5 labels per class, 3 seeds: BBBC013 0.70 vs
    0.72 test accuracy, Fashion-MNIST 0.68 vs 0.72), and self-training hurt at 64 px where it helped at 128 px.
    """
    return int(min(224, max(128, int(np.ceil(typical_side / 32.0)) * 32)))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _default_out_dir(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{Path(cfg.dataset).resolve().name}-{cfg.process}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(cfg: TrainConfig, progress=None, cancel=None, resume: bool = False) -> RunResult:
    """Run one training process end to end and write its run folder.

    Args:
        cfg: the options; ``None`` fields take the process's defaults.
        progress: called with a :class:`~omniclas.progress.ProgressEvent` as work advances.
        cancel: a zero-argument callable; when it returns True, :class:`~omniclas.errors.Cancelled` is raised.
        resume: continue from the last finished round recorded in ``cfg.out_dir/checkpoint``.
    """
    cfg = cfg.resolved()
    proc = get_process(cfg.process)
    out_dir = Path(cfg.out_dir) if cfg.out_dir else _default_out_dir(cfg)
    cfg.out_dir = str(out_dir)
    if not resume and (out_dir / MANIFEST_FILE).exists():
        raise ConfigError(f"{out_dir} already holds a finished run; choose another output folder", field="out_dir")
    if resume and not (out_dir / "checkpoint" / "state.json").is_file():
        raise ConfigError(f"{out_dir} has no interrupted run to resume (no checkpoint/state.json)", field="out_dir")
    if not resume:
        shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)  # a stale, abandoned run's state
    report = Reporter(progress, cancel, max_iterations=cfg.max_iterations, n_models=len(cfg.backbones))
    for name in cfg.backbones:
        get_backbone_cfg(name)  # unknown names fail before any work
    started = time.monotonic()
    _seed_everything(cfg.seed)

    report(stage="loading", message=f"reading {cfg.dataset}")
    ds = load_dataset(cfg.dataset)
    split = split_dataset(ds, cfg.test_fraction, cfg.valid_fraction, cfg.seed)
    if proc.distills and not split.unlabelled:
        raise DatasetError(f"process {proc.name} needs unlabelled images in {ds.root / 'unlabelled'}, and there are "
                           f"none; put them there or use process 'nd'", field="process")
    size = cfg.image_size or choose_image_size(ds.typical_size())
    bf16 = bf16_supported() if cfg.bf16 is None else cfg.bf16

    # One tensor holds every image, resized once; index arrays name the subsets.
    paths = [p for p, _ in split.train + split.valid + split.test] + list(split.unlabelled)
    index = {p: i for i, p in enumerate(paths)}
    bank = ImageBank(resize_batch([ds.images[p] for p in paths], size), bf16, cfg.batch_size, report)
    train_idx = np.array([index[p] for p, _ in split.train])
    y_train = np.array([y for _, y in split.train])
    valid_idx = np.array([index[p] for p, _ in split.valid])
    y_valid = np.array([y for _, y in split.valid])
    unlabelled_idx = np.array([index[p] for p in split.unlabelled], dtype=int)
    n_classes = len(ds.classes)

    state = _load_checkpoint(out_dir) if resume else None
    auto: dict[int, dict] = {}  # image index -> {"label", "confidence", "iteration"}
    history: list[dict] = []
    best_round, best_models, best_score = -1, [], -1.0
    first_round = 0
    if state:
        auto = {index[ds.root / r["path"]]: r for r in state["auto"] if ds.root / r["path"] in index}
        history, first_round = state["history"], state["next_iteration"]
        best_round, best_score = state["best_iteration"], state["best_score"]
        best_models = _load_checkpoint_models(out_dir, state, bank, n_classes)
        log.info("resuming %s at round %d", out_dir, first_round)
    views = tta_views(cfg.transforms)
    stop_reason = "maximum number of iterations reached"

    for it in range(first_round, cfg.max_iterations + 1):
        auto_idx = np.array(sorted(auto), dtype=int)
        fit_idx = np.concatenate([train_idx, auto_idx])
        fit_y = np.concatenate([y_train, np.array([auto[i]["label"] for i in auto_idx], dtype=int)])
        models = []
        for m, backbone in enumerate(cfg.backbones):
            report(stage="training", iteration=it, model=backbone, model_index=m, epoch=0, epochs=0, batch=0, batches=0,
                   message=f"round {it}: training {backbone} on {len(fit_idx)} images ({len(auto_idx)} automatic)")
            models.append(_fit(cfg, bank, backbone, fit_idx, fit_y, valid_idx, y_valid, n_classes, report))
        score = float(np.mean([m.valid_accuracy for m in models]))
        record = {"iteration": it, "train_images": int(len(fit_idx)), "automatic_labels": int(len(auto_idx)),
                  "valid_accuracy": {m.backbone: m.valid_accuracy for m in models},
                  "valid_loss": {m.backbone: m.valid_loss for m in models},
                  "kinds": {m.backbone: m.kind for m in models}, "mean_valid_accuracy": score}
        history.append(record)
        if it > 0 and score < best_score:
            stop_reason = f"validation accuracy dropped ({score:.3f} < {best_score:.3f}); round {best_round} kept"
            break
        best_round, best_models, best_score = it, models, score
        if it == cfg.max_iterations:
            break
        remaining = np.array([i for i in unlabelled_idx if int(i) not in auto], dtype=int)
        if len(remaining) == 0:
            stop_reason = "no unlabelled image left"
            break
        report(stage="labelling", iteration=it, model="", message=f"labelling {len(remaining)} images with "
               f"{len(models)} model(s) x {len(views)} view(s)")
        probs = np.stack([bank.predict_proba(m, remaining, view) for m in models for view, _ in views])
        vote = ensemble_vote(probs)
        chosen = accept(vote, cfg.threshold)
        record["labelled"] = int(len(chosen))
        record["remaining_unlabelled"] = int(len(remaining) - len(chosen))
        for j in chosen:
            auto[int(remaining[j])] = {"path": ds.relative(paths[remaining[j]]), "label": int(vote.labels[j]),
                                       "class": ds.classes[vote.labels[j]], "confidence": float(vote.confidence[j]),
                                       "agreement": float(vote.agreement[j]), "iteration": it}
        _save_checkpoint(out_dir, it + 1, auto, history, best_round, best_score, best_models)
        if len(chosen) == 0:
            stop_reason = f"no unlabelled image reached the confidence threshold {cfg.threshold}"
            break
    else:
        stop_reason = "maximum number of iterations reached"

    best_models = _refit_on_validation_too(bank, best_models, train_idx, y_train, valid_idx, y_valid, auto,
                                           best_round, n_classes, cfg.seed)
    # Of the winning round's models, keep the one best on the independent test set.
    report(stage="evaluating", message="scoring the models on the test set")
    test_images = [ds.images[p] for p, _ in split.test]
    y_test = np.array([y for _, y in split.test])
    candidates = []
    for m in best_models:
        predictor = Predictor(m.classifier, _model_manifest(ds.classes, m, size), bf16=bf16, batch_size=cfg.batch_size)
        probs = predictor.predict_proba(test_images)
        candidates.append((float((probs.argmax(1) == y_test).mean()), m, predictor, probs))
    test_accuracy, chosen_model, predictor, test_probs = max(candidates, key=lambda c: c[0])
    report(stage="saving", message=f"writing {out_dir}")
    manifest = write_run(out_dir, predictor, cfg=cfg, dataset=ds, split=split, history=history,
                         auto=list(auto.values()), best_round=best_round, stop_reason=stop_reason,
                         candidates=[(c[1].backbone, c[1].kind, c[0]) for c in candidates],
                         y_test=y_test, test_probs=test_probs, bf16=bf16,
                         wall_time_s=time.monotonic() - started, stage_seconds=report.stage_seconds)
    shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)  # the run is complete; nothing left to resume
    report(stage="done", message=f"test accuracy {test_accuracy:.3f}; {stop_reason}")
    return RunResult(out_dir, manifest, predictor)


def _fit(cfg, bank, backbone, fit_idx, fit_y, valid_idx, y_valid, n_classes, report) -> BaseModel:
    fitted = []
    if cfg.head in ("linear", "auto"):
        fitted.append(fit_linear(bank, backbone, fit_idx, fit_y, valid_idx, y_valid, n_classes, cfg.seed))
    if cfg.head in ("finetune", "auto"):
        fitted.append(fit_finetune(bank, backbone, fit_idx, fit_y, valid_idx, y_valid, n_classes, cfg.frozen_epochs,
                                   cfg.unfrozen_epochs, cfg.batch_size, cfg.seed, report))
    # Validation picks the kind; a tie goes to the first (linear: cheaper and steadier with few labels).
    return max(fitted, key=lambda m: (m.valid_accuracy, -m.valid_loss))


def _refit_on_validation_too(bank, models, train_idx, y_train, valid_idx, y_valid, auto, best_round, n_classes,
                             seed) -> list[BaseModel]:
    """Once validation has chosen the round and the kind, refit linear heads on the validation images as well:
    with 5 labels per class, one more label per class matters. The validation scores stay those of the choice."""
    round_auto = np.array(sorted(i for i, a in auto.items() if a["iteration"] < best_round), dtype=int)
    fit_idx = np.concatenate([train_idx, valid_idx, round_auto])
    fit_y = np.concatenate([y_train, y_valid, np.array([auto[i]["label"] for i in round_auto], dtype=int)])
    out = []
    for m in models:
        if m.kind == "linear":
            refit = fit_linear(bank, m.backbone, fit_idx, fit_y, valid_idx, y_valid, n_classes, seed)
            refit.valid_accuracy, refit.valid_loss = m.valid_accuracy, m.valid_loss
            m = refit
        out.append(m)
    return out


def _model_manifest(classes, model: BaseModel, size: int) -> dict:
    cfg = get_backbone_cfg(model.backbone)
    return {"classes": list(classes), "backbone": model.backbone, "head": model.kind,
            "feature_norm": model.classifier.feature_norm, "input_size": [size, size],
            "mean": list(cfg.mean), "std": list(cfg.std)}


# --- checkpoints for resume: the state after a finished round ---

def _save_checkpoint(out_dir: Path, next_iteration, auto, history, best_round, best_score, best_models) -> None:
    from safetensors.torch import save_file

    ck = out_dir / "checkpoint"
    ck.mkdir(parents=True, exist_ok=True)
    models = []
    for m in best_models:
        name = f"round{best_round}-{m.backbone}.safetensors"
        if not (ck / name).exists():
            save_file({k: v.contiguous() for k, v in m.classifier.state_dict().items()}, str(ck / name))
        models.append({"file": name, "backbone": m.backbone, "kind": m.kind, "feature_norm": m.classifier.feature_norm,
                       "valid_accuracy": m.valid_accuracy, "valid_loss": m.valid_loss})
    state = {"next_iteration": next_iteration, "auto": list(auto.values()), "history": history,
             "best_iteration": best_round, "best_score": best_score, "best_models": models}
    tmp = ck / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(ck / "state.json")


def _load_checkpoint(out_dir: Path) -> dict | None:
    path = out_dir / "checkpoint" / "state.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _load_checkpoint_models(out_dir: Path, state: dict, bank: ImageBank, n_classes: int) -> list[BaseModel]:
    from safetensors.torch import load_file

    models = []
    for info in state["best_models"]:
        classifier = bank.pretrained(info["backbone"], n_classes, info.get("feature_norm"))
        classifier.load_state_dict(load_file(str(out_dir / "checkpoint" / info["file"])))
        models.append(BaseModel(info["backbone"], info["kind"], classifier.eval(), info["valid_accuracy"],
                                info["valid_loss"]))
    return models

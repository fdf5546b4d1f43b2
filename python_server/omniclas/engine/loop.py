"""The one semi-supervised loop behind all seven processes.

Each round trains the base models (one per backbone) on the manual plus automatic labels, estimates how good the
model to be saved is, and, if the process distills, labels the unlabelled images (models x views vote) and lets
the selection rule (:mod:`.select`) pick which automatic labels join. It stops when no unlabelled image is left,
the rule picks none, the maximum number of rounds is reached, or the estimate fell more than one standard error
below its best for two rounds in a row. The round kept is the latest whose estimate is within one standard error
of the best: with a handful of labels the estimate moves one image at a time, and its noise must not undo what
the automatic labels add.

The estimate: for linear heads, cross-validation of the whole procedure. The manual labels are split into folds;
beside the main chain (all manual labels), one chain per fold runs the same rounds without that fold's labels
and is scored on them, so automatic labels never carry information from the images they are scored on. Features
are cached, so a chain costs only head fits. Fine-tuned heads (the paper's protocol) use a validation split.

The saved model (``keep``): ``ensemble`` averages every base model (and the predict views) in one network;
``best`` is the base model with the best estimate; ``best_on_test`` is the paper's choice, the base model best on
the test set (this makes the reported test accuracy optimistic).
"""
from __future__ import annotations

import json
import logging
import random
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from ..config import TrainConfig, get_process
from ..data import load_dataset, split_dataset
from ..data.preprocess import resize_batch
from ..errors import ConfigError, DatasetError
from ..model import network as net
from ..model.backbones import get_backbone_cfg
from ..model.predictor import MANIFEST_FILE, Predictor
from ..report.run_folder import write_run
from .base_models import BaseModel, fit_finetune, fit_linear, predict_proba, scores
from .features import ImageBank
from .progress import Reporter
from .select import SelectionContext, get_selection, per_class_summary
from .views import ViewPlan, candidate_views, choose_views, plan_views
from .vote import ensemble_vote

log = logging.getLogger(__name__)
PATIENCE = 2  # rounds the estimate may fall out of reach of its best before the loop stops


def standard_error(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on ``n`` images (at least one image's worth)."""
    return max(float(np.sqrt(accuracy * (1 - accuracy) / max(n, 1))), 1.0 / max(n, 1))


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict
    predictor: Predictor = field(repr=False)
    bank: ImageBank | None = field(default=None, repr=False)  # the run's images and features, for reuse


@dataclass
class Chain:
    """One run of the rounds on some of the manual labels; fold chains are scored on the labels they leave out."""

    train_idx: np.ndarray
    y_train: np.ndarray
    held_idx: np.ndarray
    y_held: np.ndarray
    auto: dict = field(default_factory=dict)  # image index -> {"path","label","class","confidence","agreement","iteration"}
    models: list = field(default_factory=list)

    def fit_set(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Manual then automatic images, their labels, and the automatic ones alone."""
        auto_idx = np.array(sorted(self.auto), dtype=int)
        labels = np.array([self.auto[i]["label"] for i in auto_idx], dtype=int)
        return np.concatenate([self.train_idx, auto_idx]), np.concatenate([self.y_train, labels]), auto_idx


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


def _folds(idx: np.ndarray, y: np.ndarray, k: int, seed: int) -> list[tuple]:
    """Stratified folds of the manual labels: (train_idx, y_train, held_idx, y_held)."""
    k = min(k, int(np.bincount(y).max()))
    if k < 2:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class with fewer images than folds sits out some folds
        splits = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(idx, y))
    return [(idx[tr], y[tr], idx[te], y[te]) for tr, te in splits]


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


class _Run:
    """One training run: the dataset as index arrays into the image bank, the chains, the views, the rounds."""

    def __init__(self, cfg: TrainConfig, report: Reporter, bank: ImageBank | None):
        self.cfg, self.report = cfg, report
        self.proc = get_process(cfg.process)
        self.linear = cfg.head == "linear"
        report(stage="loading", message=f"reading {cfg.dataset}")
        self.ds = load_dataset(cfg.dataset)
        self.split = split_dataset(self.ds, cfg.test_fraction, 0.0 if self.linear else cfg.valid_fraction, cfg.seed)
        if self.proc.distills and not self.split.unlabelled:
            raise DatasetError(f"process {self.proc.name} needs unlabelled images in {self.ds.root / 'unlabelled'}, "
                               f"and there are none; put them there or use process 'nd'", field="process")
        self.size = cfg.image_size or choose_image_size(self.ds.typical_size())
        self.n_classes = len(self.ds.classes)
        # One tensor holds every image, resized once; index arrays name the subsets.
        self.paths = [p for p, _ in self.split.train + self.split.valid + self.split.test] + list(self.split.unlabelled)
        self.index = {p: i for i, p in enumerate(self.paths)}
        if bank is None:
            bank = ImageBank(resize_batch([self.ds.images[p] for p in self.paths], self.size), bf16=cfg.bf16,
                             batch_size=max(cfg.batch_size, 64), runtime=cfg.runtime, report=report)
        elif len(bank) != len(self.paths) or bank.size != self.size:  # shared between runs (benchmarks)
            raise ConfigError("the shared image bank does not match this dataset split", field="bank")
        bank.report = report
        self.bank = bank
        self.train_idx, self.y_train = self._indices(self.split.train)
        valid_idx, y_valid = self._indices(self.split.valid)
        self.test_idx, self.y_test = self._indices(self.split.test)
        self.pool_idx = np.array([self.index[p] for p in self.split.unlabelled], dtype=int)
        self.main = Chain(self.train_idx, self.y_train, valid_idx, y_valid)
        self.folds = _folds(self.train_idx, self.y_train, cfg.cv_folds, cfg.seed) if self.linear else []
        self.chains = [self.main] + [Chain(*fold) for fold in self.folds]
        self.estimate = ({"method": "cross-validation", "folds": len(self.folds)} if self.folds else
                         {"method": "validation split", "images": int(len(valid_idx))})

    def _indices(self, items) -> tuple[np.ndarray, np.ndarray]:
        return np.array([self.index[p] for p, _ in items], dtype=int), np.array([y for _, y in items], dtype=int)

    def plan_views(self, state: dict | None) -> ViewPlan:
        """Plan the work, then choose the views on held-out labels (or take them all)."""
        cfg, report, n_bodies = self.cfg, self.report, len(self.cfg.backbones)
        candidates = candidate_views(cfg.transforms, cfg.train_views, cfg.predict_views)
        pool = len(self.pool_idx) if self.proc.distills else 0
        report.plan("features", n_bodies * (len(self.train_idx) * (len(candidates) if self.linear else 1)
                                            + (pool + len(self.test_idx)) * len(candidates)))
        report.plan("fit", n_bodies * len(self.chains) * (cfg.max_iterations + 1))
        if state:
            views = ViewPlan(**state["views"])
        elif self.linear and cfg.auto_views and self.folds and len(candidates) > 1:
            report(stage="features", message=f"choosing views among {', '.join(candidates[1:])} on held-out labels")
            chosen, trials = choose_views(self.bank, cfg.backbones, self.folds, candidates, self.n_classes, cfg.seed)
            views = plan_views(cfg, chosen, self.linear, trials)
        else:
            views = plan_views(cfg, candidates, self.linear)
        # Now the plan knows which views the pool (labelling and training) and the test images need.
        pool_views = set(views.label) | set(views.train)
        report.planned["features"] = report.done.get("features", 0.0) + n_bodies * (
            pool * len(pool_views) + len(self.test_idx) * len(views.predict))
        return views

    def restore(self, out_dir: Path, state: dict) -> RoundState:
        for chain, autos in zip(self.chains, state["chains"]):
            chain.auto = {self.index[self.ds.root / r["path"]]: r for r in autos if self.ds.root / r["path"] in self.index}
        _load_chain_heads(out_dir, self.chains, self.cfg.backbones)
        log.info("resuming %s at round %d", out_dir, state["next_iteration"])
        return RoundState(history=state["history"], next_round=state["next_iteration"],
                          kept_round=state["best_iteration"], best_accuracy=state.get("best_accuracy", -1.0),
                          below=state.get("below", 0),
                          kept_models=_load_checkpoint_models(out_dir, state, self.bank, self.n_classes))

    def rounds(self, views: ViewPlan, rs: RoundState, out_dir: Path) -> RoundState:
        """Train, estimate, label and select, round after round, until a stop condition."""
        cfg, report, main = self.cfg, self.report, self.main
        rule = get_selection(cfg.selection)
        for it in range(rs.next_round, cfg.max_iterations + 1):
            fit_idx, _, auto_idx = main.fit_set()
            report(stage="training", iteration=it, model="", message=f"round {it}: training {len(cfg.backbones)} "
                   f"model(s) on {len(fit_idx)} images ({len(auto_idx)} automatic)"
                   + (f", {len(self.folds)} folds" if self.folds else ""))
            # Each chain starts from its own last round's heads: fewer solver steps. Never from another chain's:
            # the main chain has seen the labels a fold chain is scored on, and a warm start would carry them over.
            for chain in self.chains:
                chain.models = [_fit(cfg, self.bank, chain, m, b, views, self.n_classes, report, warm=_warm(chain, m))
                                for m, b in enumerate(cfg.backbones)]
            record = {"iteration": it, "train_images": int(len(fit_idx)), "automatic_labels": int(len(auto_idx)),
                      **_estimate(cfg, self.bank, self.chains, self.folds, views, self.n_classes),
                      # reported only, never used to choose: how the test set saw each round
                      "test_accuracy": _test_accuracy(cfg, self.bank, main.models, self.test_idx, self.y_test, views)}
            rs.history.append(record)
            rs.best_accuracy = max(rs.best_accuracy, record["estimate_accuracy"])
            record["tolerance"] = round(standard_error(rs.best_accuracy, record.get("estimate_images", 0)), 4)
            if record["estimate_accuracy"] >= rs.best_accuracy - record["tolerance"]:
                rs.kept_round, rs.kept_models, rs.below = it, list(main.models), 0
            else:
                rs.below += 1
                if rs.below >= PATIENCE:
                    rs.stop_reason = (f"estimated accuracy fell more than one standard error below the best for "
                                      f"{PATIENCE} rounds; round {rs.kept_round} kept")
                    return rs
            if it == cfg.max_iterations:
                return rs
            report(stage="labelling", iteration=it, model="", message=f"labelling with {len(cfg.backbones)} "
                   f"model(s) x {len(views.label)} view(s)")
            for c, chain in enumerate(self.chains):
                taken = _label(cfg, self.bank, chain, self.pool_idx, views, rule, it, self.n_classes, self.ds,
                               self.paths)
                if c == 0:
                    record.update(taken)
            rs.next_round = it + 1
            _save_checkpoint(out_dir, self.chains, rs, views)
            if record["remaining_before"] == 0:
                rs.stop_reason = "no unlabelled image left"
                return rs
            if record["labelled"] == 0:
                rs.stop_reason = f"the selection rule '{cfg.selection}' took no image"
                return rs
        return rs

    def save(self, out_dir: Path, views: ViewPlan, rs: RoundState, started: float) -> RunResult:
        """Build the saved network from the kept round's models, score it on the test set, write the run."""
        cfg, bank, models = self.cfg, self.bank, rs.kept_models
        self.report(stage="evaluating", message="scoring the saved model on the test set")
        test_probs = [np.mean([predict_proba(bank, m, self.test_idx, v) for v in _member_views(m, views)], axis=0)
                      for m in models]
        member_test = [float((p.argmax(1) == self.y_test).mean()) if len(self.y_test) else 0.0 for p in test_probs]
        if cfg.keep == "ensemble" or len(models) == 1:
            kept = list(range(len(models)))
        elif cfg.keep == "best":
            by_backbone = rs.history[rs.kept_round]["estimate_by_backbone"]
            kept = [int(np.argmax([by_backbone[m.backbone]["accuracy"] for m in models]))]
        else:  # best_on_test: the paper's choice
            kept = [int(np.argmax(member_test))]
        norms = [get_backbone_cfg(models[i].backbone) for i in kept]
        network = net.Network([models[i].to_classifier(bank, self.n_classes) for i in kept],
                              [(c.mean, c.std) for c in norms], views=views.predict if self.linear else ["original"])
        model_manifest = net.describe(network, [models[i].backbone for i in kept], [models[i].kind for i in kept],
                                      self.ds.classes, self.size)
        predictor = Predictor(network, model_manifest, bf16=cfg.bf16, batch_size=cfg.batch_size, runtime=cfg.runtime)
        self.report(stage="saving", message=f"writing {out_dir}")
        manifest = write_run(
            out_dir, predictor, cfg=cfg, dataset=self.ds, split=self.split, history=rs.history,
            auto=[a for a in self.main.auto.values() if a["iteration"] < rs.kept_round], best_round=rs.kept_round,
            stop_reason=rs.stop_reason,
            candidates=[{"backbone": m.backbone, "kind": m.kind, "test_accuracy": a, "kept": i in kept}
                        for i, (m, a) in enumerate(zip(models, member_test))],
            y_test=self.y_test, test_probs=(np.mean([test_probs[i] for i in kept], axis=0) if len(self.test_idx)
                                            else np.zeros((0, self.n_classes))),
            views=views.to_dict(), estimate=self.estimate, runtime=bank.runtime_info,
            wall_time_s=time.monotonic() - started, stage_seconds=self.report.stage_seconds)
        return RunResult(out_dir, manifest, predictor, bank)


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
    if resume and not (out_dir / "checkpoint" / "state.json").is_file():
        raise ConfigError(f"{out_dir} has no interrupted run to resume (no checkpoint/state.json)", field="out_dir")
    if not resume:
        shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)  # a stale, abandoned run's state
    for name in cfg.backbones:
        get_backbone_cfg(name)  # unknown names fail before any work
    started = time.monotonic()
    _seed_everything(cfg.seed)
    report = Reporter(progress, cancel, max_iterations=cfg.max_iterations)
    run = _Run(cfg, report, bank)
    state = _load_checkpoint(out_dir) if resume else None
    views = run.plan_views(state)
    rounds = run.restore(out_dir, state) if state else RoundState()
    rounds = run.rounds(views, rounds, out_dir)
    result = run.save(out_dir, views, rounds, started)
    shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)  # the run is complete; nothing left to resume
    acc = result.manifest["test"]["accuracy"]
    report(stage="done", message=(f"test accuracy {acc:.3f}; " if acc is not None else "") + rounds.stop_reason)
    return result


def _member_views(model: BaseModel, views: ViewPlan) -> list[str]:
    return views.predict if model.kind == "linear" else ["original"]


def _warm(chain: Chain, m: int) -> BaseModel | None:
    return chain.models[m] if len(chain.models) > m and chain.models[m].kind == "linear" else None


def _fit(cfg, bank, chain: Chain, m: int, backbone: str, views: ViewPlan, n_classes: int, report,
         warm: BaseModel | None) -> BaseModel:
    """One base model on the chain's manual + automatic labels; with head ``auto``, validation picks the kind."""
    fit_idx, fit_y, auto_idx = chain.fit_set()
    report(model=backbone, model_index=m)
    fitted = []
    if cfg.head in ("linear", "auto"):
        with report.work("fit"):
            fitted.append(fit_linear(bank, backbone, _training_rows(chain, views), n_classes, cfg.seed, warm))
    if cfg.head in ("finetune", "auto"):
        report.plan("finetune", _finetune_steps(cfg, len(fit_idx)))
        fitted.append(fit_finetune(bank, backbone, fit_idx, fit_y, chain.held_idx, chain.y_held, n_classes,
                                   cfg.frozen_epochs, cfg.unfrozen_epochs, cfg.batch_size, cfg.seed, report))
    for model in fitted:
        model.valid_accuracy, model.valid_loss = scores(predict_proba(bank, model, chain.held_idx), chain.y_held,
                                                        n_classes)
    # Validation picks the kind; a tie goes to the first (linear: cheaper and steadier with few labels).
    return max(fitted, key=lambda mdl: (mdl.valid_accuracy, -mdl.valid_loss)) if len(fitted) > 1 else fitted[0]


def _training_rows(chain: Chain, views: ViewPlan) -> list[tuple]:
    """Manual and automatic images under every train view (feature-space augmentation)."""
    fit_idx, fit_y, _ = chain.fit_set()
    return [(fit_idx, v, fit_y) for v in views.train]


def _finetune_steps(cfg, n_images: int) -> int:
    per_epoch = max(1, n_images // max(1, min(cfg.batch_size, n_images)))
    return per_epoch * (cfg.frozen_epochs + cfg.unfrozen_epochs) + (100 if cfg.unfrozen_epochs else 0)


def _estimate(cfg, bank, chains: list[Chain], folds, views: ViewPlan, n_classes: int) -> dict:
    """The round's estimate of the saved model: pooled over the fold chains' held-out labels (cross-validation),
    or the main chain's validation split."""
    scored = chains[1:] if folds else chains[:1]
    y = np.concatenate([c.y_held for c in scored])
    if not len(y):
        return {"estimate_accuracy": 0.0, "estimate_loss": 0.0, "estimate_by_backbone": {}}
    by_member = [np.concatenate([np.mean([predict_proba(bank, c.models[m], c.held_idx, v)
                                          for v in _member_views(c.models[m], views)], axis=0) for c in scored])
                 for m in range(len(cfg.backbones))]
    per_backbone = {}
    for m, b in enumerate(cfg.backbones):
        acc, loss = scores(by_member[m], y, n_classes)
        per_backbone[b] = {"accuracy": round(acc, 4), "loss": round(loss, 4)}
    if cfg.keep == "ensemble":
        acc, loss = scores(np.mean(by_member, axis=0), y, n_classes)
    else:
        best = max(per_backbone.values(), key=lambda s: (s["accuracy"], -s["loss"]))
        acc, loss = best["accuracy"], best["loss"]
    return {"estimate_accuracy": round(acc, 4), "estimate_loss": round(loss, 4), "estimate_images": int(len(y)),
            "estimate_by_backbone": per_backbone}


def _test_accuracy(cfg, bank, models, test_idx, y_test, views) -> float | None:
    if not len(test_idx) or any(m.kind != "linear" for m in models):
        return None  # a fine-tuned body would cost a pass over the test set per round
    probs = [np.mean([predict_proba(bank, m, test_idx, v) for v in views.predict], axis=0) for m in models]
    if cfg.keep == "ensemble":
        return round(float((np.mean(probs, axis=0).argmax(1) == y_test).mean()), 4)
    return round(max(float((p.argmax(1) == y_test).mean()) for p in probs), 4)


def _label(cfg, bank, chain: Chain, pool_idx, views: ViewPlan, rule, it: int, n_classes: int, ds, paths) -> dict:
    """Label the chain's remaining pool with its models x label views, and add what the rule selects."""
    remaining = np.array([i for i in pool_idx if int(i) not in chain.auto], dtype=int)
    out = {"remaining_before": int(len(remaining)), "labelled": 0, "remaining_unlabelled": int(len(remaining))}
    if not len(remaining):
        return out
    probs = np.stack([predict_proba(bank, m, remaining, v) for m in chain.models for v in views.label])
    vote = ensemble_vote(probs)
    chosen = rule(vote, SelectionContext(round=it, n_classes=n_classes, threshold=cfg.threshold))
    for j in chosen:
        chain.auto[int(remaining[j])] = {"path": ds.relative(paths[remaining[j]]), "label": int(vote.labels[j]),
                                         "class": ds.classes[vote.labels[j]],
                                         "confidence": round(float(vote.confidence[j]), 4),
                                         "agreement": round(float(vote.agreement[j]), 4), "iteration": it}
    out.update({"labelled": int(len(chosen)), "remaining_unlabelled": int(len(remaining) - len(chosen)),
                "selection": per_class_summary(vote, chosen, ds.classes)})
    return out


# --- checkpoints for resume: the state after a finished round ---

def _save_checkpoint(out_dir: Path, chains, rs: RoundState, views: ViewPlan) -> None:
    from safetensors.numpy import save_file as save_numpy
    from safetensors.torch import save_file

    ck = out_dir / "checkpoint"
    ck.mkdir(parents=True, exist_ok=True)
    models = []
    for m in rs.kept_models:
        name = f"round{rs.kept_round}-{m.backbone}.safetensors"
        if not (ck / name).exists():
            if m.kind == "linear":
                save_numpy({"coef": m.coef, "bias": m.bias}, str(ck / name))
            else:
                save_file({k: v.contiguous() for k, v in m.classifier.state_dict().items()}, str(ck / name))
        models.append({"file": name, "backbone": m.backbone, "kind": m.kind,
                       "valid_accuracy": m.valid_accuracy, "valid_loss": m.valid_loss})
    # The chains' last linear heads: the next round starts its fits from them, so resume must too.
    heads = {f"{c}/{m}/{part}": getattr(model, part) for c, chain in enumerate(chains)
             for m, model in enumerate(chain.models) if model.kind == "linear" for part in ("coef", "bias")}
    save_numpy(heads, str(ck / "heads.safetensors.tmp"))
    (ck / "heads.safetensors.tmp").replace(ck / "heads.safetensors")
    state = {"next_iteration": rs.next_round, "chains": [list(c.auto.values()) for c in chains],
             "history": rs.history, "best_iteration": rs.kept_round, "best_accuracy": rs.best_accuracy,
             "below": rs.below, "best_models": models, "views": views.to_dict()}
    tmp = ck / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(ck / "state.json")


def _load_checkpoint(out_dir: Path) -> dict | None:
    path = out_dir / "checkpoint" / "state.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _load_chain_heads(out_dir: Path, chains, backbones) -> None:
    from safetensors.numpy import load_file as load_numpy

    path = out_dir / "checkpoint" / "heads.safetensors"
    heads = load_numpy(str(path)) if path.is_file() else {}
    for c, chain in enumerate(chains):
        if f"{c}/0/coef" in heads:
            chain.models = [BaseModel(b, "linear", coef=heads[f"{c}/{m}/coef"], bias=heads[f"{c}/{m}/bias"])
                            for m, b in enumerate(backbones)]


def _load_checkpoint_models(out_dir: Path, state: dict, bank: ImageBank, n_classes: int) -> list[BaseModel]:
    from safetensors.numpy import load_file as load_numpy
    from safetensors.torch import load_file

    models = []
    for info in state["best_models"]:
        path = str(out_dir / "checkpoint" / info["file"])
        if info["kind"] == "linear":
            arrays = load_numpy(path)
            model = BaseModel(info["backbone"], "linear", coef=arrays["coef"], bias=arrays["bias"])
        else:
            classifier = bank.pretrained(info["backbone"], n_classes)
            classifier.load_state_dict(load_file(path))
            model = BaseModel(info["backbone"], info["kind"], classifier=classifier.eval())
        model.valid_accuracy, model.valid_loss = info["valid_accuracy"], info["valid_loss"]
        models.append(model)
    return models

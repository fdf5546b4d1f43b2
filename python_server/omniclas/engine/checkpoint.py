"""Checkpoints for resume, in ``<run>/checkpoint``: a run can be resumed from its first minute.

``state.json`` is written when the run starts (the options), so a run stopped while computing features resumes
too: the features already computed are in the feature store and are read, not computed again. After each round
it also holds every candidate's rounds; ``arrays.safetensors`` holds every chain's automatic labels (sparse) and
last linear heads (the next round starts its fits from them, so resume must too) and the kept base models. Files
are written beside their name and renamed into place, so a kill leaves the old state or the new one.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .base_models import BaseModel
from .candidates import RoundState

STATE = "state.json"
ARRAYS = "arrays.safetensors"


def folder(out_dir: Path) -> Path:
    return Path(out_dir) / "checkpoint"


def exists(out_dir: Path) -> bool:
    return (folder(out_dir) / STATE).is_file()


def load(out_dir: Path) -> dict | None:
    path = folder(out_dir) / STATE
    return json.loads(path.read_text()) if path.is_file() else None


def _write_json(out_dir: Path, state: dict) -> None:
    ck = folder(out_dir)
    ck.mkdir(parents=True, exist_ok=True)
    tmp = ck / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(ck / STATE)


def start(out_dir: Path, cfg) -> None:
    _write_json(out_dir, {"config": cfg.to_dict()})


def _paths_digest(inputs) -> str:
    return hashlib.sha256("\n".join(inputs.ds.relative(p) for p in inputs.paths).encode()).hexdigest()


def save(out_dir: Path, candidates, inputs) -> None:
    """The state after a finished round of every candidate."""
    from safetensors.numpy import save_file

    arrays = {}
    for k, cand in enumerate(candidates):
        for c, chain in enumerate(cand.chains):
            idx = chain.auto_idx
            arrays.update({f"{k}/{c}/auto_idx": idx.astype(np.int64), f"{k}/{c}/auto_label": chain.auto_label[idx],
                           f"{k}/{c}/auto_round": chain.auto_round[idx],
                           f"{k}/{c}/auto_confidence": chain.auto_confidence[idx],
                           f"{k}/{c}/auto_agreement": chain.auto_agreement[idx]})
            arrays.update({f"{k}/{c}/head{m}/{part}": getattr(model, part) for m, model in enumerate(chain.models)
                           if model.kind == "linear" for part in ("coef", "bias")})
        for m, model in enumerate(cand.rs.kept_models):
            if model.kind == "linear":
                arrays.update({f"{k}/kept{m}/coef": model.coef, f"{k}/kept{m}/bias": model.bias})
            else:  # a fine-tuned network: its own file, written once per kept round
                _save_network(folder(out_dir) / f"kept-{k}-{m}-round{cand.rs.kept_round}.safetensors", model)
        if cand.rs.kept_right is not None:
            arrays[f"{k}/kept_right"] = cand.rs.kept_right.astype(np.uint8)
            arrays[f"{k}/kept_p"] = cand.rs.kept_p.astype(np.float32)
        if cand.rs.kept_probs is not None:
            arrays[f"{k}/kept_probs"] = cand.rs.kept_probs.astype(np.float32)
            arrays[f"{k}/kept_y"] = cand.rs.kept_y.astype(np.int64)
    ck = folder(out_dir)
    ck.mkdir(parents=True, exist_ok=True)
    save_file(arrays, str(ck / (ARRAYS + ".tmp")))
    (ck / (ARRAYS + ".tmp")).replace(ck / ARRAYS)
    state = load(out_dir) or {}
    state.update({"paths": _paths_digest(inputs), "candidates": [
        {"name": c.spec.name, "active": c.active, "history": c.rs.history, "next_round": c.rs.next_round,
         "kept_round": c.rs.kept_round, "best_accuracy": c.rs.best_accuracy, "below": c.rs.below,
         "stop_reason": c.rs.stop_reason, "kept_backbones": [m.backbone for m in c.rs.kept_models]}
        for c in candidates]})
    _write_json(out_dir, state)


def restore(out_dir: Path, state: dict, candidates, inputs) -> None:
    """Put every candidate back where the checkpoint left it."""
    from safetensors.numpy import load_file

    if state.get("paths") != _paths_digest(inputs):
        raise ConfigError(f"{inputs.ds.root} changed since the run in {out_dir} was interrupted (images added, "
                          f"removed or renamed); start a new run", field="dataset")
    arrays = load_file(str(folder(out_dir) / ARRAYS))
    saved = {s["name"]: (k, s) for k, s in enumerate(state["candidates"])}
    for cand in candidates:
        k, s = saved[cand.spec.name]
        cand.active = s["active"]
        for c, chain in enumerate(cand.chains):
            idx = arrays[f"{k}/{c}/auto_idx"]
            chain.auto_label[idx] = arrays[f"{k}/{c}/auto_label"]
            chain.auto_round[idx] = arrays[f"{k}/{c}/auto_round"]
            chain.auto_confidence[idx] = arrays[f"{k}/{c}/auto_confidence"]
            chain.auto_agreement[idx] = arrays[f"{k}/{c}/auto_agreement"]
            chain.models = [BaseModel(b, "linear", coef=arrays[f"{k}/{c}/head{m}/coef"],
                                      bias=arrays[f"{k}/{c}/head{m}/bias"])
                            for m, b in enumerate(cand.spec.backbones) if f"{k}/{c}/head{m}/coef" in arrays]
        right = arrays.get(f"{k}/kept_right")
        kept = [BaseModel(b, "linear", coef=arrays[f"{k}/kept{m}/coef"], bias=arrays[f"{k}/kept{m}/bias"])
                if f"{k}/kept{m}/coef" in arrays else
                _load_network(folder(out_dir) / f"kept-{k}-{m}-round{s['kept_round']}.safetensors", b, inputs)
                for m, b in enumerate(s["kept_backbones"])]
        cand.rs = RoundState(history=s["history"], next_round=s["next_round"], kept_round=s["kept_round"],
                             best_accuracy=s["best_accuracy"], below=s["below"], stop_reason=s["stop_reason"],
                             kept_right=right.astype(bool) if right is not None else None,
                             kept_p=arrays.get(f"{k}/kept_p"), kept_models=kept,
                             kept_probs=arrays.get(f"{k}/kept_probs"), kept_y=arrays.get(f"{k}/kept_y"))


def _save_network(path: Path, model: BaseModel) -> None:
    from safetensors.torch import save_file

    if not path.exists():
        save_file({k: v.contiguous() for k, v in model.classifier.state_dict().items()}, str(path) + ".tmp")
        Path(str(path) + ".tmp").replace(path)


def _load_network(path: Path, backbone: str, inputs) -> BaseModel:
    from safetensors.torch import load_file

    classifier = inputs.bank.pretrained(backbone, inputs.n_classes)
    classifier.load_state_dict(load_file(str(path)))
    return BaseModel(backbone, "finetune", classifier=classifier.eval())

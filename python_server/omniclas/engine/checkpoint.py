"""Checkpoints for resume: the state after a finished round, in ``<run>/checkpoint``.

``state.json`` holds the rounds' history, every chain's automatic labels and the views; ``heads.safetensors`` the
chains' last linear heads (the next round starts its fits from them, so resume must too); one file per kept base
model. Files are written beside their name and renamed into place, so a kill leaves the old state or the new one.
"""
from __future__ import annotations

import json
from pathlib import Path

from .base_models import BaseModel

STATE = "state.json"


def folder(out_dir: Path) -> Path:
    return Path(out_dir) / "checkpoint"


def exists(out_dir: Path) -> bool:
    return (folder(out_dir) / STATE).is_file()


def save(out_dir: Path, chains, rs, views) -> None:
    from safetensors.numpy import save_file as save_numpy
    from safetensors.torch import save_file

    ck = folder(out_dir)
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
    heads = {f"{c}/{m}/{part}": getattr(model, part) for c, chain in enumerate(chains)
             for m, model in enumerate(chain.models) if model.kind == "linear" for part in ("coef", "bias")}
    save_numpy(heads, str(ck / "heads.safetensors.tmp"))
    (ck / "heads.safetensors.tmp").replace(ck / "heads.safetensors")
    state = {"next_iteration": rs.next_round, "chains": [list(c.auto.values()) for c in chains],
             "history": rs.history, "best_iteration": rs.kept_round, "best_accuracy": rs.best_accuracy,
             "below": rs.below, "best_models": models, "views": views.to_dict()}
    tmp = ck / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(ck / STATE)


def load(out_dir: Path) -> dict | None:
    path = folder(out_dir) / STATE
    return json.loads(path.read_text()) if path.is_file() else None


def load_chain_heads(out_dir: Path, chains, backbones) -> None:
    from safetensors.numpy import load_file as load_numpy

    path = folder(out_dir) / "heads.safetensors"
    heads = load_numpy(str(path)) if path.is_file() else {}
    for c, chain in enumerate(chains):
        if f"{c}/0/coef" in heads:
            chain.models = [BaseModel(b, "linear", coef=heads[f"{c}/{m}/coef"], bias=heads[f"{c}/{m}/bias"])
                            for m, b in enumerate(backbones)]


def load_kept_models(out_dir: Path, state: dict, bank, n_classes: int) -> list[BaseModel]:
    from safetensors.numpy import load_file as load_numpy
    from safetensors.torch import load_file

    models = []
    for info in state["best_models"]:
        path = str(folder(out_dir) / info["file"])
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

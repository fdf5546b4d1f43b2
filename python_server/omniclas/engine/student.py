"""One student: the top of a body fine-tuned on manual plus automatic labels, from cached activations.

The probe of issue 23 set the recipe: the body's top blocks train (BatchNorm statistics frozen: the whole network
stays in eval mode), a linear head on unit-length features starts from the logistic regression the rounds fitted,
AdamW (weight decay 1e-4) with a one-cycle schedule, bf16 autocast where the CPU has it, batches of 64, one
random flip view per step. Each image's loss is weighted by its label's confidence (1 for a manual label), and the
weights are balanced so that every class weighs the same. After every epoch the state is written to a checkpoint,
so an interrupted student resumes at its last finished epoch.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..model.runtime import bf16_supported
from .base_models import scores

EPOCHS = 6
LR = 1e-3  # the top blocks
HEAD_LR = 1e-2  # the linear head
WEIGHT_DECAY = 1e-4
BATCH = 64
EVAL_BATCH = 256


def step_units(size: int) -> float:
    """A training step's work for the plan (:mod:`.progress`): one batch at 128 px is one unit; the top's cost
    grows with its activations' area."""
    return (size / 128) ** 2


def planned_steps(images: int, epochs: int, size: int) -> float:
    """The plan's units for ``epochs`` epochs over ``images`` images."""
    return epochs * math.ceil(images / BATCH) * step_units(size)


@dataclass
class StudentData:
    """What a student trains on: images, labels, and each image's weight in the loss."""

    idx: np.ndarray
    y: np.ndarray
    weight: np.ndarray

    @classmethod
    def build(cls, manual_idx, manual_y, auto_idx, auto_y, auto_confidence, n_classes: int) -> "StudentData":
        idx = np.concatenate([manual_idx, auto_idx]).astype(int)
        y = np.concatenate([manual_y, auto_y]).astype(int)
        w = np.concatenate([np.ones(len(manual_idx)), auto_confidence]).astype(np.float64)
        per_class = np.bincount(y, weights=w, minlength=n_classes)
        present = per_class > 0
        w = w * (per_class[present].sum() / present.sum()) / per_class[y]  # every class weighs the same
        return cls(idx, y, (w / w.mean()).astype(np.float32))

    def key(self, epochs: int) -> str:
        """What a checkpoint must match to be resumed."""
        h = hashlib.sha256(f"{epochs}|{LR}|{HEAD_LR}|{BATCH}".encode())
        for a in (self.idx.astype(np.int64), self.y.astype(np.int64), self.weight):
            h.update(a.tobytes())
        return h.hexdigest()[:32]


def predict(classifier, top, cache, indices, views) -> np.ndarray:
    """The student's class probabilities of ``indices``, averaged over ``views``, from cached activations."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(indices), EVAL_BATCH):
            part = indices[start:start + EVAL_BATCH]
            out.append(np.mean([torch.softmax(classifier.classify(top(cache.read(part, v)).float()), 1).numpy()
                                for v in views], axis=0))
    return np.concatenate(out) if out else np.zeros((0, classifier.head.out_features), dtype=np.float32)


def fit_student(classifier, top, cache, data: StudentData, train_views, epochs: int, seed: int, report,
                checkpoint: Path | None = None, held=None, on_epoch=None, stop_after: int | None = None) -> dict:
    """Train ``top`` and ``classifier.head`` in place on a one-cycle schedule of ``epochs`` epochs.

    Args:
        stop_after: stop after this many epochs of the schedule (early stopping at the epoch the estimate chose:
            the same weights the estimate scored, not a shorter schedule, which would warm up and anneal faster).
        held: optional ``(indices, labels, views)``: scored after every epoch (``on_epoch(probs)`` may turn the
            student's probabilities into what is judged, e.g. averaged with an ensemble).
        checkpoint: a file to save every epoch to and to resume from.

    Returns ``{"epochs": [per-epoch records], "seconds": training time, "resumed_at": epoch or None}``.
    """
    n_classes = classifier.head.out_features
    params = [p for p in top.parameters()]
    for p in params + list(classifier.head.parameters()):
        p.requires_grad_(True)
    steps = math.ceil(len(data.idx) / BATCH)
    opt = torch.optim.AdamW([{"params": params, "lr": LR}, {"params": classifier.head.parameters(), "lr": HEAD_LR}],
                            weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[LR, HEAD_LR], total_steps=max(1, epochs * steps))
    key, done, records, seconds, resumed = data.key(epochs), 0, [], 0.0, None
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=True)
        if state["key"] == key:
            top.load_state_dict(state["top"])
            classifier.head.load_state_dict(state["head"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            done, records, seconds = state["epoch"], json.loads(state["records"]), state["seconds"]
            resumed = done
    top.eval()  # BatchNorm statistics stay frozen
    y, w = torch.as_tensor(data.y), torch.as_tensor(data.weight)
    use_bf16 = bool(cache.bank.bf16 if cache.bank.bf16 is not None else bf16_supported())
    last = min(epochs, stop_after or epochs)
    unit = step_units(cache.bank.size)  # planned by the caller (student_step.expect_student)
    for epoch in range(done, last):
        began = time.monotonic()
        g = torch.Generator().manual_seed(seed * 1009 + epoch)  # per epoch: a resumed epoch draws the same
        order, flips = torch.randperm(len(data.idx), generator=g), torch.randint(len(train_views), (steps,), generator=g)
        for s in range(steps):
            step_began = time.monotonic()
            b = order[s * BATCH:(s + 1) * BATCH]
            a = cache.read(data.idx[b.numpy()], train_views[int(flips[s])])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                logits = classifier.classify(top(a))
            loss = (F.cross_entropy(logits.float(), y[b], reduction="none") * w[b]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            report.credit("student", unit, time.monotonic() - step_began)
            report(epoch=epoch + 1, epochs=epochs, batch=s + 1, batches=steps)
        record = {"epoch": epoch + 1, "loss": round(float(loss.detach()), 4)}
        seconds += time.monotonic() - began
        if held is not None:
            idx, labels, views = held
            probs = predict(classifier, top, cache, idx, views)
            acc, ll = scores(probs, labels, n_classes)
            record.update({"student_accuracy": round(acc, 4), "student_loss": round(ll, 4)})
            if on_epoch is not None:
                acc, ll = scores(on_epoch(probs), labels, n_classes)
                record.update({"accuracy": round(acc, 4), "log_loss": round(ll, 4)})
        records.append(record)
        if checkpoint is not None:
            _save(checkpoint, {"key": key, "epoch": epoch + 1, "records": json.dumps(records), "seconds": seconds,
                               "top": top.state_dict(), "head": classifier.head.state_dict(),
                               "opt": opt.state_dict(), "sched": sched.state_dict()})
    for p in params + list(classifier.head.parameters()):
        p.requires_grad_(False)
    return {"epochs": records, "seconds": round(seconds, 1), "resumed_at": resumed}


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a kill leaves the last epoch's state or this one

"""Write a run folder: the chosen model's weights (safetensors), its manifest and a short report."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from ..data.files import sha256_file, write_atomic
from ..model.predictor import MANIFEST_FILE, WEIGHTS_FILE
from .html import write_report
from .markdown import render_report

FORMAT = "omniclas-run/1"


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("omniclas", "torch", "torchvision", "timm", "fastai", "numpy", "scikit-learn", "pillow", "tifffile",
                 "openvino", "onnxruntime"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def test_metrics(classes, y_true, probs) -> dict:
    y_pred = probs.argmax(1) if len(probs) else np.array([], dtype=int)
    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {"accuracy": float((y_pred == y_true).mean()) if len(y_true) else None, "images": int(len(y_true)),
            "per_class": [{"class": c, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                           "support": int(s[i])} for i, c in enumerate(classes)],
            "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()}


def write_run(out_dir: Path, predictor, *, cfg, dataset, split, history, auto, best_round, stop_reason, candidates,
              selection, automl, data_paths,
              y_test, test_probs, views, estimate, runtime, wall_time_s, stage_seconds, work=None,
              student=None) -> dict:
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    weights_tmp = out_dir / (WEIGHTS_FILE + ".tmp")
    save_file({k: v.contiguous() for k, v in predictor.model.state_dict().items()}, str(weights_tmp))
    weights_tmp.replace(out_dir / WEIGHTS_FILE)
    manifest = dict(predictor.manifest)
    manifest.update({
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "process": automl["process"] if automl else cfg.process,  # what trained the saved model
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "selection": selection,
        "keep": cfg.keep,
        "runtime": runtime,  # where the frozen bodies ran: name, version, precision
        "bf16": bool(runtime and runtime.get("precision") == "bf16"),
        "view_plan": views,  # which views labelled, trained and predict, and the held-out evidence for the choice
        "estimate": estimate,  # how rounds and models were judged without the test set
        "cost": {"body_passes_per_image": len(predictor.model.members) * len(predictor.model.views)},
        **({"automl": automl} if automl else {}),  # the candidates AutoML tried, their estimates, its choice
        # whether a student ran, its held-out estimate against the frozen ensemble's, its epochs and time
        **({"student": student} if student else {}),
        "iterations": history,
        "best_iteration": best_round,
        "stop_reason": stop_reason,
        "candidates": candidates,
        "test": test_metrics(dataset.classes, y_test, test_probs),
        # every test image with its true and predicted class: the report shows the mistakes
        "test_predictions": [{"path": dataset.relative(path), "true": dataset.classes[int(y)],
                              "predicted": dataset.classes[int(p.argmax())], "confidence": round(float(p.max()), 4)}
                             for (path, _), y, p in zip(split.test, y_test, test_probs)],
        "auto_labelled": sorted(auto, key=lambda r: (r["iteration"], r["path"])),
        "counts": {"train": len(split.train), "valid": len(split.valid), "test": len(split.test),
                   "unlabelled": len(split.unlabelled), "skipped": len(dataset.skipped)},
        "splits": split.assignment(dataset),
        "skipped_files": dataset.skipped,
        "data_hashes": {"dataset": dataset.content_hash(data_paths), "weights": sha256_file(out_dir / WEIGHTS_FILE)},
        "dataset": str(dataset.root),
        "versions": package_versions(),
        "wall_time_s": round(wall_time_s, 1),
        "stage_seconds": dict(stage_seconds),  # features, training, labelling, ...: where the time went
        "work": dict(work or {}),  # by kind of work (features, fit, vote, ...): units done and their seconds
    })
    write_atomic(out_dir / MANIFEST_FILE, json.dumps(manifest, indent=1).encode())
    write_atomic(out_dir / "report.md", render_report(manifest).encode())
    write_report(out_dir, manifest)  # report.html: the same, with pictures
    return manifest

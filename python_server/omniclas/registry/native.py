"""Framework ``omniclas``: models trained by OmniClas (safetensors weights + run manifest)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .errors import RunFolderError
from .frameworks import Framework

WEIGHTS = "model.safetensors"
RUN_MANIFEST = "manifest.json"
REPORT = "report.html"
_PROVENANCE_KEYS = ("process", "config", "seed", "iterations", "best_iteration", "stop_reason", "candidates",
                    "auto_labelled", "counts", "data_hashes", "dataset", "versions", "wall_time_s", "bf16")


def _metrics(test: dict) -> dict:
    out = {}
    if not isinstance(test, dict):
        return out
    if test.get("accuracy") is not None:
        out["test_accuracy"] = float(test["accuracy"])
    per_class = test.get("per_class") or []
    f1s = [r.get("f1") for r in per_class if isinstance(r.get("f1"), (int, float))]
    if f1s:
        out["test_macro_f1"] = float(np.mean(f1s))
    if test.get("images") is not None:
        out["test_images"] = int(test["images"])
    return out


class NativeModel:
    def __init__(self, predictor):
        self.predictor = predictor
        self.classes = list(predictor.classes)
        self.manifest = predictor.manifest  # its calibration: temperature and unsure threshold

    def predict_proba(self, images):
        return self.predictor.predict_proba(images)


class OmniClasFramework(Framework):
    name = "omniclas"
    description = "Models trained by OmniClas: safetensors weights and a JSON manifest (PyTorch)."

    def create(self, dest: Path, source, **options) -> dict:
        if options:
            raise RunFolderError(f"unknown option(s) for framework omniclas: {', '.join(options)}")
        run = Path(source).expanduser()
        if not run.is_dir():
            raise RunFolderError(f"run folder not found: {run}", field="run_dir")
        for fname in (WEIGHTS, RUN_MANIFEST):
            if not (run / fname).is_file():
                raise RunFolderError(f"{run} is not a finished OmniClas run: {fname} is missing", field="run_dir")
        try:
            run_manifest = json.loads((run / RUN_MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise RunFolderError(f"{run / RUN_MANIFEST}: unreadable ({err})", field="run_dir") from None
        missing = [k for k in ("classes", "backbone", "input_size", "mean", "std") if k not in run_manifest]
        if missing:
            raise RunFolderError(f"{run / RUN_MANIFEST} lacks {', '.join(missing)}", field="run_dir")
        with open(run / WEIGHTS, "rb") as f:  # safetensors: 8-byte little-endian header length, then JSON
            head = f.read(9)
        if len(head) < 9 or head[8:9] != b"{":
            raise RunFolderError(f"{run / WEIGHTS} is not a safetensors file", field="run_dir")
        shutil.copyfile(run / WEIGHTS, dest / WEIGHTS)
        report = [REPORT] if (run / REPORT).is_file() else []  # the training report, shown by the server
        for fname in report:
            shutil.copyfile(run / fname, dest / fname)
        manifest = dict(run_manifest)  # every run key stays, so Predictor.load reads the folder as it is
        manifest.update({
            "classes": list(run_manifest["classes"]),
            "backbone": run_manifest["backbone"],
            "head": run_manifest.get("head"),
            "input_size": list(run_manifest["input_size"]),
            "normalisation": {"scale": 1 / 255, "mean": run_manifest["mean"], "std": run_manifest["std"]},
            "metrics": _metrics(run_manifest.get("test")),
            "provenance": {"run_dir": str(run.resolve()), "run_format": run_manifest.get("format"),
                           "run_created": run_manifest.get("created"),
                           **{k: run_manifest[k] for k in _PROVENANCE_KEYS if k in run_manifest}},
            "files": [WEIGHTS, *report],
        })
        return manifest

    def load(self, folder: Path, manifest: dict, bf16: bool | None = None):
        from ..model.predictor import Predictor

        return NativeModel(Predictor.load(folder, bf16=bf16))

    def export_onnx(self, folder: Path, manifest: dict, out: Path) -> Path:
        from ..export.onnx import export_folder

        return export_folder(folder, out, name=manifest.get("name"))

    def export_bioimageio(self, folder: Path, manifest: dict, out: Path, **options) -> Path:
        from ..export.bioimageio import export_package

        return export_package(folder, out, name=manifest.get("name"), **options)

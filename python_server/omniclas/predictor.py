"""Load a trained model folder (a run or a registry version) and classify images with it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .backbones import Classifier, create_classifier
from .errors import OmniClasError
from .imageio import read_image
from .preprocess import bf16_supported, resize_batch, run_batches, to_unit

WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"


class Predictor:
    """A classifier plus everything needed to prepare its input, as recorded in its manifest."""

    def __init__(self, model: Classifier, manifest: dict, bf16: bool | None = None, batch_size: int = 64):
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.manifest = manifest
        self.classes: list[str] = list(manifest["classes"])
        self.input_size: tuple[int, int] = tuple(manifest["input_size"])
        self.mean, self.std = tuple(manifest["mean"]), tuple(manifest["std"])
        self.bf16 = bf16_supported() if bf16 is None else bool(bf16)
        self.batch_size = batch_size

    @classmethod
    def load(cls, folder, bf16: bool | None = None) -> "Predictor":
        """Rebuild the classifier from ``model.safetensors`` and ``manifest.json``; nothing is unpickled."""
        from safetensors.torch import load_file

        folder = Path(folder)
        manifest_path, weights_path = folder / MANIFEST_FILE, folder / WEIGHTS_FILE
        for path in (manifest_path, weights_path):
            if not path.is_file():
                raise OmniClasError(f"{folder} is not a model folder: {path.name} is missing", field="model")
        try:
            manifest = json.loads(manifest_path.read_text())
            model = create_classifier(manifest["backbone"], len(manifest["classes"]), pretrained=False,
                                      feature_norm=manifest.get("feature_norm"))
            model.load_state_dict(load_file(str(weights_path)))
        except (ValueError, KeyError, RuntimeError, OSError) as err:
            raise OmniClasError(f"{folder}: cannot load the model ({err})", field="model") from None
        return cls(model, manifest, bf16=bf16)

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """uint8 ``HxWx3`` arrays -> N x 3 x S x S floats in 0..1 (normalisation happens in :meth:`logits`)."""
        return to_unit(resize_batch(images, self.input_size[0]))

    def logits(self, x_unit: torch.Tensor) -> torch.Tensor:
        # The body runs in bf16 where enabled; the linear head always in float32, as in training.
        feats = run_batches(self.model.body, x_unit, self.mean, self.std, self.bf16, self.batch_size)
        with torch.inference_mode():
            return self.model.classify(feats)

    def predict_proba(self, items) -> np.ndarray:
        """Class probabilities, one row per item (a path, encoded bytes, or an ``HxWx3`` uint8 array)."""
        images = [item if isinstance(item, np.ndarray) else read_image(item) for item in items]
        if not images:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return torch.softmax(self.logits(self.preprocess(images)), dim=1).numpy()

    def predict_images(self, items) -> list[dict]:
        return [self.describe(p) for p in self.predict_proba(items)]

    def describe(self, probs: np.ndarray) -> dict:
        best = int(np.argmax(probs))
        return {"class": self.classes[best], "confidence": float(probs[best]),
                "probabilities": {c: float(p) for c, p in zip(self.classes, probs)}}

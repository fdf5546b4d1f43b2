"""Load a trained model folder (a run or a registry version) and classify images with it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..data.imageio import read_image
from ..data.preprocess import resize_batch, to_unit
from ..errors import OmniClasError
from . import calibration
from . import network as net

WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"


class Predictor:
    """A :class:`~omniclas.model.network.Network` plus everything needed to prepare its input, as its manifest records.

    The members' bodies run on the fastest runtime installed (:mod:`omniclas.model.runtime`), compiled on first use;
    the heads and the averaging run in float32 torch, the same code as the saved graph.
    """

    def __init__(self, model: net.Network, manifest: dict, bf16: bool | None = None, batch_size: int = 64,
                 runtime: str = "auto", unsure_threshold: float | None = None):
        self.model = model.eval()
        self.manifest = manifest
        self.unsure_threshold = unsure_threshold  # None: the run's own (manifest["calibration"])
        self.classes: list[str] = list(manifest["classes"])
        self.input_size: tuple[int, int] = tuple(manifest["input_size"])
        self.bf16 = bf16
        self.batch_size = batch_size
        self.runtime = runtime
        self._bodies = None

    @classmethod
    def load(cls, folder, bf16: bool | None = None, runtime: str = "auto") -> "Predictor":
        """Rebuild the network from ``model.safetensors`` and ``manifest.json``; nothing is unpickled."""
        from safetensors.torch import load_file

        folder = Path(folder)
        manifest_path, weights_path = folder / MANIFEST_FILE, folder / WEIGHTS_FILE
        for path in (manifest_path, weights_path):
            if not path.is_file():
                raise OmniClasError(f"{folder} is not a model folder: {path.name} is missing", field="model")
        try:
            manifest = json.loads(manifest_path.read_text())
            model = net.build(manifest)
            model.load_state_dict(net.upgrade_state_dict(load_file(str(weights_path)), manifest))
        except (ValueError, KeyError, TypeError, RuntimeError, OSError) as err:
            raise OmniClasError(f"{folder}: cannot load the model ({err})", field="model") from None
        return cls(model, manifest, bf16=bf16, runtime=runtime)

    @property
    def runtime_info(self) -> dict:
        return self.bodies()[0].describe()

    def bodies(self):
        """The members' bodies compiled for forward passes (once)."""
        if self._bodies is None:
            from .runtime import compile_body

            frozen = [m.get("head") == "linear" for m in net.members_of(self.manifest)]
            self._bodies = [compile_body(m.body, self.input_size[0], self.runtime, self.bf16, cache=keep)
                            for m, keep in zip(self.model.members, frozen)]
        return self._bodies

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """uint8 ``HxWx3`` arrays -> N x 3 x S x S floats in 0..1 (each member normalises for itself)."""
        return to_unit(resize_batch(images, self.input_size[0]))

    def probabilities(self, x_unit: torch.Tensor) -> torch.Tensor:
        bodies = self.bodies()
        with torch.inference_mode():
            return torch.cat([self.model.probabilities(x_unit[s:s + self.batch_size], bodies)
                              for s in range(0, len(x_unit), self.batch_size)])

    def predict_proba(self, items) -> np.ndarray:
        """Class probabilities, one row per item (a path, encoded bytes, or an ``HxWx3`` uint8 array)."""
        images = [item if isinstance(item, np.ndarray) else read_image(item) for item in items]
        if not images:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return self.probabilities(self.preprocess(images)).numpy()

    def predict_images(self, items) -> list[dict]:
        return [self.describe(p) for p in self.predict_proba(items)]

    def predict_objects(self, image, labels, options=None, image_name: str | None = None,
                        labels_name: str | None = None) -> list[dict]:
        """One result per object of a label image (docs/objects.md): ``image`` and ``labels`` are paths, encoded
        bytes or arrays (``labels``: 2-D integers, 0 = background, n = object n). Each row holds ``image``,
        ``object``, ``x``, ``y``, ``bbox_*``, ``area``, ``border`` and the class, or ``error`` for an object not
        classified. ``options``: an :class:`~omniclas.data.objects.ObjectOptions` (padding, mask_outside, ...)."""
        from ..data.objects import ObjectOptions, object_rows, read_field

        image_name = image_name or (str(image) if isinstance(image, (str, Path)) else "image")
        labels_name = labels_name or (str(labels) if isinstance(labels, (str, Path)) else "labels")
        fields = read_field(image, labels, image_name, labels_name, options or ObjectOptions())
        return object_rows(fields, self.predict_images, size=self.input_size)

    def describe(self, probs: np.ndarray) -> dict:
        return describe_for(self, probs, self.unsure_threshold)


def describe_for(model, probs: np.ndarray, unsure_threshold: float | None = None) -> dict:
    """One row of ``model``'s probabilities as a result: calibrated by the temperature its manifest records (none
    for a model without one), ``unsure`` below its threshold or ``unsure_threshold`` where given."""
    temperature, threshold, all_unsure = calibration.settings(getattr(model, "manifest", None) or {},
                                                              unsure_threshold)
    return describe(list(model.classes), calibration.apply_temperature(probs, temperature), threshold, all_unsure)


def describe(classes, probs: np.ndarray, threshold: float | None = None, all_unsure: bool = False) -> dict:
    """A result's class, confidence, probabilities, ``unsure`` (confidence below ``threshold``) and runner-up
    (the second most probable class) from one row of class probabilities."""
    order = np.argsort(-np.asarray(probs), kind="stable")
    best = int(order[0])
    confidence = float(probs[best])
    runner_up = {"class": classes[int(order[1])], "probability": float(probs[order[1]])} if len(order) > 1 else None
    return {"class": classes[best], "confidence": confidence,
            "unsure": all_unsure or (threshold is not None and confidence < threshold), "runner_up": runner_up,
            "probabilities": {c: float(p) for c, p in zip(classes, probs)}}

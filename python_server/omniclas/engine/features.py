"""Every image of a run, resized once, and the frozen bodies' features per (backbone, view), each computed once.

Labelling, training, cross-validation and the final test all read features from here, so no feature is ever
computed twice in a run. Bodies run on the fastest runtime installed (:mod:`omniclas.model.runtime`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.preprocess import normalise, to_unit
from ..model.backbones import Classifier, create_classifier, get_backbone_cfg
from ..model.network import apply_view
from ..model.runtime import CompiledBody, compile_body


class ImageBank:
    def __init__(self, x_uint8: torch.Tensor, *, bf16: bool | None, batch_size: int, runtime: str, report):
        self.x = x_uint8
        self.size = int(x_uint8.shape[-1])
        self.bf16 = bf16
        self.batch_size = max(1, batch_size)
        self.runtime = runtime
        self.report = report
        self._bodies: dict[str, Classifier] = {}
        self._compiled: dict[str, CompiledBody] = {}
        self._features: dict[tuple[str, str], np.ndarray] = {}
        self._have: dict[tuple[str, str], np.ndarray] = {}
        self._finetuned: dict[int, CompiledBody] = {}  # the last fine-tuned body, compiled

    def __len__(self) -> int:
        return len(self.x)

    def pretrained(self, backbone: str, num_classes: int, feature_norm: str | None = None) -> Classifier:
        """A fresh classifier whose body holds ImageNet weights (read from disk once per backbone)."""
        if backbone not in self._bodies:
            self._bodies[backbone] = create_classifier(backbone, num_classes, pretrained=True)
        model = create_classifier(backbone, num_classes, pretrained=False, feature_norm=feature_norm)
        model.body.load_state_dict(self._bodies[backbone].body.state_dict())
        return model

    def compiled(self, backbone: str) -> CompiledBody:
        if backbone not in self._compiled:
            self._compiled[backbone] = compile_body(self.pretrained(backbone, 2).body, self.size, self.runtime, self.bf16)
        return self._compiled[backbone]

    @property
    def runtime_info(self) -> dict | None:
        first = next(iter(self._compiled.values()), None)
        return first.describe() if first else None

    def missing(self, backbone: str, view: str, indices) -> np.ndarray:
        have = self._have.get((backbone, view))
        indices = np.asarray(indices, dtype=int)
        return indices if have is None else indices[~have[indices]]

    def features(self, backbone: str, indices, view: str = "original") -> np.ndarray:
        """Pooled body features (float32) of images ``indices`` under view ``view``."""
        indices = np.asarray(indices, dtype=int)
        todo = self.missing(backbone, view, indices)
        if len(todo):
            self._compute(backbone, view, np.unique(todo))
        return self._features[(backbone, view)][indices]

    def finetuned_proba(self, classifier: Classifier, backbone: str, indices, view: str = "original") -> np.ndarray:
        """Class probabilities from a fine-tuned network (its body is not the frozen one, so nothing is cached)."""
        key = id(classifier)
        if key not in self._finetuned:
            self._finetuned = {key: compile_body(classifier.body, self.size, self.runtime, self.bf16, cache=False)}
        cfg = get_backbone_cfg(backbone)
        indices = np.asarray(indices, dtype=int)
        out = []
        for start in range(0, len(indices), self.batch_size):
            chunk = indices[start:start + self.batch_size]
            x = normalise(apply_view(to_unit(self.x[chunk]), view), cfg.mean, cfg.std)
            with torch.inference_mode():
                out.append(torch.softmax(classifier.classify(self._finetuned[key](x)), dim=1).numpy())
        return np.concatenate(out) if out else np.zeros((0, classifier.head.out_features), dtype=np.float32)

    def _compute(self, backbone: str, view: str, todo: np.ndarray) -> None:
        cfg = get_backbone_cfg(backbone)
        body = self.compiled(backbone)
        key = (backbone, view)
        self.report(stage="features", model=backbone, message=f"{backbone}: features of {len(todo)} images ({view})")
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            with self.report.work("features", len(chunk)):
                x = normalise(apply_view(to_unit(self.x[chunk]), view), cfg.mean, cfg.std)
                feats = body(x).numpy()
            if key not in self._features:
                self._features[key] = np.zeros((len(self.x), feats.shape[1]), dtype=np.float32)
                self._have[key] = np.zeros(len(self.x), dtype=bool)
            self._features[key][chunk] = feats
            self._have[key][chunk] = True

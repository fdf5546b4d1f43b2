"""The student's frozen part, cut from a body, and its activations on disk.

A student fine-tunes only the top of a body (:mod:`.student`): the activations entering the trained blocks depend
on the image, the body, the input size, the view and the cut point alone, so they are computed once (on the
fastest runtime, like the features) and kept in the feature store as float16 rows, one table per (body, size,
view, cut point, runtime), keyed by the image file's sha256 like the features. Training reads them a batch at a
time, so memory does not grow with the number of images.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from ..data.preprocess import normalise, to_unit
from ..errors import ConfigError
from ..model.backbones import get_backbone_cfg
from ..model.network import apply_view
from ..model.runtime import CONVERSION, body_key, compile_body

# Where the body is cut: the frozen part ends before this block (EfficientNet-Lite: blocks[5:] and conv_head
# train, issue 23's probe), or before this layer (ResNet: layer4 trains).
CUTS = {"timm": 5, "torchvision_resnet": 4}


class _Flat(nn.Module):
    """The frozen part with a flat output (N x C*H*W), as the runtimes and the store take rows."""

    def __init__(self, stem: nn.Module):
        super().__init__()
        self.stem = stem

    def forward(self, x):
        return self.stem(x).flatten(1)


class _Top(nn.Module):
    """The trained part: activations -> pooled features."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, a):
        return self.layers(a).mean((2, 3))


def split_body(backbone: str, body: nn.Module) -> tuple[nn.Module, nn.Module, str]:
    """(frozen stem, trained top, cut name) of ``body``; the top's modules are the body's own, so training the
    top trains the body in place. Raises :class:`ConfigError` for a body with no known cut."""
    cfg = get_backbone_cfg(backbone)
    if cfg.family == "timm" and hasattr(body, "blocks"):
        cut = CUTS["timm"]
        stem = nn.Sequential(body.conv_stem, body.bn1, *body.blocks[:cut])
        return stem, _Top([*body.blocks[cut:], body.conv_head, body.bn2]), f"blocks{cut}"
    if cfg.arch.startswith("resnet"):
        stem = nn.Sequential(body.conv1, body.bn1, body.relu, body.maxpool, body.layer1, body.layer2, body.layer3)
        return stem, _Top([body.layer4]), "layer4"
    raise ConfigError(f"the student cannot fine-tune backbone '{backbone}' (no cut point known); use an "
                      f"EfficientNet-Lite or ResNet backbone, or --student off", field="student")


class ActivationCache:
    """Activations entering the student's top, per view, in the feature store."""

    def __init__(self, bank, backbone: str, stem: nn.Module, cut: str):
        self.bank, self.backbone, self.cut = bank, backbone, cut
        self.flat = _Flat(stem).eval()
        size = bank.size
        with torch.no_grad():
            self.shape = tuple(stem.eval()(torch.zeros(1, 3, size, size)).shape[1:])
        self._compiled = None
        self._tables = {}

    def _body(self):
        if self._compiled is None:
            self._compiled = compile_body(self.flat, self.bank.size, self.bank.runtime, self.bank.bf16)
        return self._compiled

    def table(self, view: str):
        if view not in self._tables:
            runtime = self._body().describe()
            key = hashlib.sha256("|".join(["student", self.backbone, str(self.bank.size), view, self.cut,
                                           runtime["name"], runtime["version"], runtime["precision"], CONVERSION,
                                           body_key(self.flat, self.bank.size)]).encode())
            self._tables[view] = self.bank.store.table(key.hexdigest()[:32], int(np.prod(self.shape)))
        return self._tables[view]

    def missing(self, indices, views) -> list[int]:
        """Those of ``indices`` whose activations under some of ``views`` the store lacks."""
        digests = {int(i): self.bank.digest_of(int(i)) for i in indices}
        return sorted({int(i) for v in views for i in indices if digests[int(i)] not in self.table(v)})

    def compute(self, todo: list[int], views, report) -> None:
        """Compute the activations of ``todo`` (what :meth:`missing` named) under ``views``, a batch at a time."""
        digests = {i: self.bank.digest_of(i) for i in todo}
        cfg = get_backbone_cfg(self.backbone)
        # planned by the caller (student_step.expect_student)
        for start in range(0, len(todo), self.bank.batch_size):
            batch = todo[start:start + self.bank.batch_size]
            x_unit = to_unit(self.bank.pixels(batch))
            for v in views:
                with report.work("activations", len(batch)):
                    rows = self._body()(normalise(apply_view(x_unit, v), cfg.mean, cfg.std)).numpy()
                self.table(v).append([digests[i] for i in batch], rows)
            report(message=f"student: activations of {min(start + len(batch), len(todo))} / {len(todo)} images")
        for v in views:
            self.table(v).flush()

    def read(self, indices, view: str) -> torch.Tensor:
        """float32 activations (N x C x H x W) of ``indices`` under ``view``."""
        rows = self.table(view).read([self.bank.digest_of(int(i)) for i in indices])
        return torch.from_numpy(rows).view(len(rows), *self.shape)

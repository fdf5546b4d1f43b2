"""Framework plug-ins: how a registered model's files are made, loaded and exported.

A framework is a class with a ``name``, registered under the Python entry-point group
``omniclas.frameworks`` (``name = "module:Class"``). Three ship with OmniClas:

* ``omniclas`` - models trained by OmniClas (``model.safetensors`` + the run manifest);
* ``onnx`` - an external ONNX image classifier plus its class list, run with onnxruntime;
* ``bioimageio`` - a BioImage Model Zoo classifier package, run with bioimageio.core (extra ``bioimageio``).

Third-party packages add more by declaring an entry point in the same group. The built-in ones are always
available, even when the package is used from a source checkout without installed metadata.
"""
from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import FrameworkUnavailable

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "omniclas.frameworks"
BUILTIN = {
    "omniclas": "omniclas.registry.native:OmniClasFramework",
    "onnx": "omniclas.registry.onnx_framework:OnnxFramework",
    "bioimageio": "omniclas.registry.bioimageio_framework:BioimageioFramework",
}


class LoadedModel(Protocol):
    """What a framework's ``load`` returns."""

    classes: list[str]

    def predict_proba(self, images: list[np.ndarray]) -> np.ndarray:
        """``HxWx3`` uint8 arrays -> ``N x len(classes)`` probabilities."""


class Framework:
    """Base class of framework plug-ins.

    ``create`` writes a model's files into an empty folder and returns the framework-specific part of its
    manifest; it must list every file it wrote in ``"files"`` (name -> sha256 is filled by the registry).
    ``load`` builds a :class:`LoadedModel` from a registered folder (files already verified).
    ``export_onnx`` writes an ONNX file for Java tools; ``export_bioimageio`` a BioImage Model Zoo package.
    """

    name: str = ""
    description: str = ""

    def create(self, dest: Path, source, **options) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def load(self, folder: Path, manifest: dict, bf16: bool | None = None) -> LoadedModel:  # pragma: no cover
        raise NotImplementedError

    def export_onnx(self, folder: Path, manifest: dict, out: Path) -> Path:  # pragma: no cover
        raise NotImplementedError(f"framework '{self.name}' cannot export to ONNX")

    def export_bioimageio(self, folder: Path, manifest: dict, out: Path, **options) -> Path:
        from ..errors import OmniClasError

        raise OmniClasError(f"models of framework '{self.name}' cannot be exported as BioImage Model Zoo packages",
                            field="format")


def _load_target(spec: str):
    module, _, attr = spec.partition(":")
    obj = __import__(module, fromlist=[attr])
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def discover() -> dict[str, str]:
    """Name -> "module:attr" of every framework: the built-ins plus installed entry points."""
    found = dict(BUILTIN)
    try:
        eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception as err:  # broken metadata must not take the registry down
        log.warning("cannot read entry points %s: %s", ENTRY_POINT_GROUP, err)
        eps = []
    for ep in eps:
        found[ep.name] = ep.value
    return found


_instances: dict[str, Framework] = {}


def list_frameworks() -> list[str]:
    return sorted(discover(), key=lambda n: (n not in BUILTIN, list(BUILTIN).index(n) if n in BUILTIN else 0, n))


def get_framework(name: str) -> Framework:
    if name in _instances:
        return _instances[name]
    specs = discover()
    if name not in specs:
        raise FrameworkUnavailable(f"unknown framework '{name}'; available: {', '.join(list_frameworks())}",
                                   field="framework")
    try:
        cls = _load_target(specs[name])
        inst = cls() if isinstance(cls, type) else cls
    except Exception as err:
        raise FrameworkUnavailable(f"framework '{name}' ({specs[name]}) cannot be loaded: {err}",
                                   field="framework") from None
    inst.name = name
    _instances[name] = inst
    return inst

"""The OmniClas model registry and its Python API (DeepClas4Bio's operations plus register/delete/rename/export).

Module-level functions use the default registry root (``$OMNICLAS_MODELS``, else ``~/OmniClas/models``, the
folder the CLI, the server, the DeepClas4Bio commands and Fiji share); pass ``root=`` to use another, or build a
:class:`Registry`.

>>> from omniclas import registry
>>> registry.register("runs/bbbc013-nd", "cells")          # doctest: +SKIP
>>> registry.predict("cells", "image.png")["class"]          # doctest: +SKIP
"""
from __future__ import annotations

from ..report.measures import list_measures
from .errors import (
    FrameworkUnavailable,
    ImageTooLarge,
    InvalidName,
    ModelExists,
    ModelIntegrityError,
    ModelNotFound,
    PathNotAllowed,
    RunFolderError,
)
from .frameworks import ENTRY_POINT_GROUP, Framework, get_framework, list_frameworks
from .store import Registry, default_root, models_root_choice, parse_ref

__all__ = [
    "Registry", "Framework", "default_root", "models_root_choice", "parse_ref", "get_registry", "ENTRY_POINT_GROUP",
    "list_frameworks", "get_framework", "list_models", "model_info", "predict", "predict_batch", "evaluate",
    "list_measures", "register", "import_onnx", "delete", "rename", "export",
    "ModelNotFound", "ModelExists", "ModelIntegrityError", "FrameworkUnavailable", "InvalidName",
    "RunFolderError", "ImageTooLarge", "PathNotAllowed",
]


_registries: dict[str, Registry] = {}


def get_registry(root=None) -> Registry:
    """One Registry per root, so loaded models stay cached between calls."""
    key = str(root if root is not None else default_root())
    if key not in _registries:
        _registries[key] = Registry(key)
    return _registries[key]


def list_models(framework: str | None = None, root=None) -> list[dict]:
    return get_registry(root).list_models(framework)


def model_info(model: str, root=None) -> dict:
    return get_registry(root).model_info(model)


def predict(model: str, image, root=None) -> dict:
    """``{"image","class","confidence","probabilities":{class: p},"top":[...]}`` for one image (path/bytes/array)."""
    return get_registry(root).predict(model, image)


def predict_batch(model: str, images: list, root=None) -> list[dict]:
    return get_registry(root).predict_batch(model, images)


def evaluate(dataset, measures=None, predictors=None, labels_file=None, root=None) -> dict:
    return get_registry(root).evaluate(dataset, measures, predictors, labels_file)


def register(run_dir, name: str, root=None) -> dict:
    return get_registry(root).register(run_dir, name)


def import_onnx(onnx_file, classes, name: str, root=None, **options) -> dict:
    return get_registry(root).register(onnx_file, name, framework="onnx", classes=classes, **options)


def delete(model: str, root=None) -> str:
    return get_registry(root).delete(model)


def rename(model: str, new_name: str, root=None) -> dict:
    return get_registry(root).rename(model, new_name)


def export(model: str, out, format: str = "onnx", root=None):
    return get_registry(root).export(model, out, format)

"""DeepClas4Bio's Python API, answered by the OmniClas model registry.

For clients written against the original ``deepclas4bio`` package, such as the ImagePy plugin::

    import deepclas4bio as dc4b
    dc4b.listFrameworks()                         # ['omniclas', 'onnx']
    dc4b.listModels("omniclas")                   # registered model names; [] for Keras and other frameworks
    dc4b.predict("cell.png", "omniclas", "cells") # the class name

Models come from ``$OMNICLAS_MODELS`` (else the default registry); each function also takes ``root=``.
docs/deepclas4bio.md describes the protocol.
"""
from omniclas.deepclas4bio import (
                                   evaluate,
                                   listFrameworks,
                                   listMeasures,
                                   listModels,
                                   listReadDatasets,
                                   predict,
                                   predictBatch,
)

__all__ = ["predict", "predictBatch", "listFrameworks", "listModels", "listMeasures", "listReadDatasets", "evaluate"]

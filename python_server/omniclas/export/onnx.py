"""Export a native OmniClas model to ONNX so Java tools (onnxruntime, DeepClas4Bio, Fiji) can run it.

The exported graph is the whole :class:`~omniclas.model.network.Network`, ensembles and averaged views included, as one
graph. It takes ``input``: float32 NCHW RGB in 0..1 (pixel / 255) resized to the model's input size, and
applies each member's normalisation itself; it outputs ``probabilities`` (the mean over members and views) and
``logits`` (their natural log, so that softmax(logits) = probabilities), one row per image.
Class names, input size and normalisation are stored in the ONNX metadata (keys ``omniclas.*``), so the file is
self-describing and re-importable with the ``onnx`` framework.

torch 2.9+ defaults to the dynamo exporter, which needs ``onnxscript``; the TorchScript exporter
(``dynamo=False``) needs nothing extra and handles these CNNs, so it is used first.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAMES = ("logits", "probabilities")


def _wrapper(network, outputs=OUTPUT_NAMES):
    import torch
    from torch import nn

    class Exportable(nn.Module):
        def __init__(self):
            super().__init__()
            self.network = network

        def forward(self, x):
            probs = self.network(x)
            named = {"logits": lambda: torch.log(probs.clamp_min(1e-30)), "probabilities": lambda: probs}
            return tuple(named[o]() for o in outputs)

    return Exportable().eval()


def metadata(manifest: dict, name: str | None = None) -> dict[str, str]:
    h, w = manifest["input_size"]
    return {
        "omniclas.classes": json.dumps(list(manifest["classes"])),
        "omniclas.input_size": json.dumps([int(h), int(w)]),
        "omniclas.mean": json.dumps([0.0, 0.0, 0.0]),
        "omniclas.std": json.dumps([1.0, 1.0, 1.0]),
        "omniclas.members": json.dumps(manifest.get("members") or []),
        "omniclas.views": json.dumps(manifest.get("views") or ["original"]),
        "omniclas.input": "NCHW float32 RGB in 0..1 (pixel/255), resized to input_size; normalised inside the graph",
        "omniclas.normalised_in_graph": "true",
        "omniclas.backbone": str(manifest.get("backbone")),
        "omniclas.model": str(name or manifest.get("name") or ""),
        "omniclas.version": str(manifest.get("version") or ""),
    }


def export_model(network, manifest: dict, out, name: str | None = None, verify: bool = True,
                 outputs: tuple[str, ...] = OUTPUT_NAMES) -> Path:
    """Export ``network`` (a :class:`~omniclas.model.network.Network`, float32, input in 0..1) to ONNX at ``out``.
    ``outputs``: which of ``logits`` and ``probabilities`` the graph returns, in that order (a BioImage Model Zoo
    package takes ``probabilities`` alone)."""
    import onnx
    import torch

    out = Path(out)
    h, w = (int(v) for v in manifest["input_size"])
    unknown = [o for o in outputs if o not in OUTPUT_NAMES]
    if unknown or not outputs:
        raise ValueError(f"ONNX outputs must be among {OUTPUT_NAMES}, got {list(outputs)}")
    wrapped = _wrapper(network.float().eval().to(memory_format=torch.contiguous_format), outputs)
    example = torch.rand(2, 3, h, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(wrapped, (example,), str(out), dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=list(outputs),
                              dynamic_axes={INPUT_NAME: {0: "batch"}, **{o: {0: "batch"} for o in outputs}},
                              do_constant_folding=True)
    proto = onnx.load(str(out))
    for key, value in metadata(manifest, name).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "omniclas"
    proto.doc_string = f"OmniClas image classifier; classes: {', '.join(manifest['classes'])}"
    onnx.save(proto, str(out))
    if verify:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = dict(zip(outputs, sess.run(list(outputs), {INPUT_NAME: example.numpy()})))
        got = got["probabilities"] if "probabilities" in got else np.exp(got["logits"])
        with torch.no_grad():
            want = wrapped.network(example).numpy()
        if not np.allclose(got, want, atol=1e-3, rtol=1e-3):
            raise RuntimeError(f"ONNX export check failed: max difference {np.abs(got - want).max():.2e}")
    return out


def export_folder(folder, out, name: str | None = None, verify: bool = True) -> Path:
    """Export a run or registry folder (``model.safetensors`` + ``manifest.json``) to ``out``."""
    from ..model.predictor import Predictor

    predictor = Predictor.load(folder, bf16=False, runtime="torch")
    manifest = dict(predictor.manifest)
    return export_model(predictor.model, manifest, out, name=name or manifest.get("name"), verify=verify)

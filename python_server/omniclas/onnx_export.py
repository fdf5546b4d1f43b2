"""Export a native OmniClas model to ONNX so Java tools (onnxruntime, DeepClas4Bio, Fiji) can run it.

The exported graph takes ``input``: float32 NCHW RGB in 0..1 (pixel / 255) resized to the model's input size, and
applies the normalisation itself; it outputs ``logits`` and ``probabilities`` (softmax), one row per image.
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


def _wrapper(model, mean, std):
    import torch
    from torch import nn

    class Exportable(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

        def forward(self, x):
            logits = self.model((x - self.mean) / self.std)
            return logits, torch.softmax(logits, dim=1)

    return Exportable().eval()


def metadata(manifest: dict, name: str | None = None) -> dict[str, str]:
    h, w = manifest["input_size"]
    return {
        "omniclas.classes": json.dumps(list(manifest["classes"])),
        "omniclas.input_size": json.dumps([int(h), int(w)]),
        "omniclas.mean": json.dumps(list(manifest["mean"])),
        "omniclas.std": json.dumps(list(manifest["std"])),
        "omniclas.input": "NCHW float32 RGB in 0..1 (pixel/255), resized to input_size; normalised inside the graph",
        "omniclas.normalised_in_graph": "true",
        "omniclas.backbone": str(manifest.get("backbone")),
        "omniclas.model": str(name or manifest.get("name") or ""),
        "omniclas.version": str(manifest.get("version") or ""),
    }


def export_model(model, manifest: dict, out, name: str | None = None, verify: bool = True) -> Path:
    """Export ``model`` (a float32 classifier taking normalised NCHW input) with ``manifest``'s preprocessing."""
    import onnx
    import torch

    out = Path(out)
    h, w = (int(v) for v in manifest["input_size"])
    wrapped = _wrapper(model.float().eval().to(memory_format=torch.contiguous_format), manifest["mean"], manifest["std"])
    example = torch.rand(2, 3, h, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(wrapped, (example,), str(out), dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                              dynamic_axes={INPUT_NAME: {0: "batch"}, **{o: {0: "batch"} for o in OUTPUT_NAMES}},
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
        got = sess.run(["logits"], {INPUT_NAME: example.numpy()})[0]
        with torch.no_grad():
            want = wrapped(example)[0].numpy()
        if not np.allclose(got, want, atol=1e-3, rtol=1e-3):
            raise RuntimeError(f"ONNX export check failed: max difference {np.abs(got - want).max():.2e}")
    return out


def export_folder(folder, out, name: str | None = None, verify: bool = True) -> Path:
    """Export a run or registry folder (``model.safetensors`` + ``manifest.json``) to ``out``."""
    from .predictor import Predictor

    predictor = Predictor.load(folder, bf16=False)
    manifest = dict(predictor.manifest)
    return export_model(predictor.model, manifest, out, name=name or manifest.get("name"), verify=verify)

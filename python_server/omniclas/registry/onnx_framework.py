"""Framework ``onnx``: an external ONNX image classifier plus its class list, run with onnxruntime.

Import options (``register(file.onnx, name, framework="onnx", classes=..., ...)``):

* ``classes``: a list of names or a text file with one class per line, in output order. Optional when the file
  carries ``omniclas.classes`` metadata (every OmniClas export does).
* ``input_size``: ``[h, w]`` or one int; default from the metadata, else the graph's static input shape, else 224.
* ``mean``/``std``: per-channel, applied to pixel/255; default from the metadata, else ImageNet's.
* ``output``: ``"logits"``, ``"probabilities"`` or ``"auto"`` (softmax unless rows already sum to 1).

Input layout (NCHW or NHWC) is read from the graph. Images are squashed to the input size with bilinear
resampling, as OmniClas does for its own models.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ..errors import OmniClasError
from .errors import RunFolderError
from .frameworks import Framework

MODEL_FILE = "model.onnx"
CLASSES_FILE = "classes.txt"
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class OnnxImportError(OmniClasError):
    http_status = 400


def _read_classes(classes) -> list[str]:
    if classes is None:
        return []
    if isinstance(classes, (list, tuple)):
        names = [str(c).strip() for c in classes]
    else:
        path = Path(classes).expanduser()
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as err:
            raise OnnxImportError(f"cannot read class list {path}: {err}", field="classes") from None
    names = [n for n in names if n and not n.startswith("#")]
    if len(names) < 2:
        raise OnnxImportError("the class list needs at least two class names, one per line", field="classes")
    if len(set(names)) != len(names):
        raise OnnxImportError("the class list has duplicate names", field="classes")
    return names


def _static(dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def to_probabilities(out: np.ndarray, output: str = "auto") -> np.ndarray:
    """Rows of class scores as probabilities: softmax for ``"logits"``, none for ``"probabilities"``, and for
    ``"auto"`` softmax unless every row already lies in 0..1 and sums to 1."""
    out = np.asarray(out, dtype=np.float64)
    is_prob = np.all(out >= 0) and np.all(out <= 1) and np.allclose(out.sum(1), 1.0, atol=1e-3)
    if output == "logits" or (output == "auto" and not is_prob):
        out = np.exp(out - out.max(1, keepdims=True))
        out /= out.sum(1, keepdims=True)
    return out.astype(np.float32)


class OnnxModel:
    def __init__(self, path: Path, manifest: dict):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.classes = list(manifest["classes"])
        self.input_name = manifest.get("input_name") or self.session.get_inputs()[0].name
        self.output_name = manifest.get("output_name") or self.session.get_outputs()[0].name
        self.layout = manifest.get("layout", "NCHW")
        self.size = tuple(int(v) for v in manifest["input_size"])
        self.mean = np.asarray(manifest["mean"], dtype=np.float32)
        self.std = np.asarray(manifest["std"], dtype=np.float32)
        self.output = manifest.get("output", "auto")

    def _prepare(self, images: list[np.ndarray]) -> np.ndarray:
        from PIL import Image

        h, w = self.size
        batch = np.empty((len(images), h, w, 3), dtype=np.uint8)
        for i, img in enumerate(images):
            batch[i] = img if img.shape[:2] == (h, w) else np.asarray(
                Image.fromarray(img).resize((w, h), Image.BILINEAR))
        x = (batch.astype(np.float32) / 255.0 - self.mean) / self.std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if self.layout == "NCHW" else x)

    def predict_proba(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        out = np.asarray(self.session.run([self.output_name], {self.input_name: self._prepare(images)})[0],
                         dtype=np.float64).reshape(len(images), -1)
        if out.shape[1] != len(self.classes):
            raise OmniClasError(f"the ONNX model outputs {out.shape[1]} values per image but has "
                                f"{len(self.classes)} classes")
        return to_probabilities(out, self.output)


class OnnxFramework(Framework):
    name = "onnx"
    description = "External ONNX image classifiers with a class list, run with onnxruntime."

    def create(self, dest: Path, source, classes=None, input_size=None, mean=None, std=None, output="auto",
               **options) -> dict:
        import onnx
        import onnxruntime as ort

        if options:
            raise OnnxImportError(f"unknown option(s) for framework onnx: {', '.join(options)}")
        src = Path(source).expanduser()
        if not src.is_file():
            raise RunFolderError(f"ONNX file not found: {src}", field="file")
        try:
            proto = onnx.load(str(src), load_external_data=False)
            onnx.checker.check_model(proto)
        except Exception as err:
            raise OnnxImportError(f"{src} is not a valid ONNX model ({str(err).splitlines()[0][:200]})",
                                  field="file") from None
        for tensor in proto.graph.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                raise OnnxImportError(f"{src} keeps its weights in external data files; save it as one file "
                                      f"(onnx.save(model, path, save_as_external_data=False))", field="file")
        meta = {p.key: p.value for p in proto.metadata_props}
        names = _read_classes(classes) or _read_classes(json.loads(meta["omniclas.classes"])
                                                        if "omniclas.classes" in meta else None)
        if not names:
            raise OnnxImportError("a class list is needed (a text file with one class name per line)",
                                  field="classes")
        try:
            sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
        except Exception as err:
            raise OnnxImportError(f"onnxruntime cannot run {src}: {str(err).splitlines()[0][:200]}",
                                  field="file") from None
        inp = sess.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4:
            raise OnnxImportError(f"{src}: expected one image input of rank 4 (NCHW or NHWC), got shape {shape}",
                                  field="file")
        layout = "NHWC" if shape[3] == 3 and shape[1] != 3 else "NCHW"
        static_hw = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
        if input_size is not None:
            try:
                size = [int(input_size)] if isinstance(input_size, (int, float, str)) else [int(v) for v in input_size]
            except (TypeError, ValueError):
                raise OnnxImportError(f"invalid input size {input_size!r}", field="input_size") from None
            size = size * 2 if len(size) == 1 else size
        elif "omniclas.input_size" in meta:
            size = [int(v) for v in json.loads(meta["omniclas.input_size"])]
        elif all(_static(d) for d in static_hw):
            size = [int(d) for d in static_hw]
        else:
            size = [224, 224]
        if len(size) != 2 or not all(8 <= v <= 4096 for v in size):
            raise OnnxImportError(f"invalid input size {size}", field="input_size")
        if mean is None and std is None and meta.get("omniclas.normalised_in_graph") == "true":
            mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
        mean = [float(v) for v in (mean if mean is not None else IMAGENET_MEAN)]
        std = [float(v) for v in (std if std is not None else IMAGENET_STD)]
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise OnnxImportError("mean and std need three values each, std > 0", field="mean")
        if output not in ("auto", "logits", "probabilities"):
            raise OnnxImportError("output must be auto, logits or probabilities", field="output")
        outputs = [o.name for o in sess.get_outputs()]
        out_name = "probabilities" if "probabilities" in outputs else outputs[0]
        out_shape = next(o.shape for o in sess.get_outputs() if o.name == out_name)
        if len(out_shape) >= 2 and _static(out_shape[-1]) and out_shape[-1] != len(names):
            raise OnnxImportError(f"the model outputs {out_shape[-1]} classes but the class list has {len(names)}",
                                  field="classes")
        shutil.copyfile(src, dest / MODEL_FILE)
        (dest / CLASSES_FILE).write_text("\n".join(names) + "\n", encoding="utf-8")
        manifest = {
            "classes": names,
            "backbone": meta.get("omniclas.backbone"),
            "head": None,
            "input_size": size,
            "mean": mean,
            "std": std,
            "normalisation": {"scale": 1 / 255, "mean": mean, "std": std},
            "layout": layout,
            "input_name": inp.name,
            "output_name": out_name,
            "output": "probabilities" if out_name == "probabilities" else output,
            "metrics": {},
            "provenance": {"source": str(src.resolve()), "opset": [o.version for o in proto.opset_import],
                           "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
                           "metadata": meta},
            "files": [MODEL_FILE, CLASSES_FILE],
        }
        # a quick run on a blank image proves the model and its preprocessing fit together
        try:
            OnnxModel(dest / MODEL_FILE, manifest).predict_proba([np.zeros((size[0], size[1], 3), dtype=np.uint8)])
        except OmniClasError:
            raise
        except Exception as err:
            raise OnnxImportError(f"{src}: a test run on a {size[0]}x{size[1]} image failed "
                                  f"({str(err).splitlines()[0][:200]}); check input_size and layout",
                                  field="input_size") from None
        return manifest

    def load(self, folder: Path, manifest: dict, bf16: bool | None = None):
        return OnnxModel(folder / MODEL_FILE, manifest)

    def export_onnx(self, folder: Path, manifest: dict, out: Path) -> Path:
        shutil.copyfile(folder / MODEL_FILE, out)
        return out

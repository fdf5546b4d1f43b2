"""Framework ``bioimageio``: a BioImage Model Zoo (bioimage.io) package of an image classifier, run with
bioimageio.core.

Import: ``register(package.zip or package folder, name, framework="bioimageio")``. A package is taken when it
describes a classifier: one image input (axes batch, channel with 1 or 3 channels, y, x; the batch and channel
axes may be absent), ONNX or TorchScript weights, and a first output of axes ``batch, channel``, one value per
class. Anything else is refused with a message naming the field at fault.

Class names: ``config.omniclas.classes`` (packages exported by OmniClas), else the output's channel names.
Images reach the model as OmniClas feeds its own: 8-bit RGB (grey, the mean of R, G and B, for one-channel
models), squashed (bilinear) to the input's size (its fixed size, else that of the package's test input), as
values 0..255 in the input's data type, or 0..1 where its data range ends at 1; the package's own
preprocessing then runs. Outputs are taken as probabilities when every row is one, else softmaxed.
"""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np

from ..errors import OmniClasError
from .errors import FrameworkUnavailable, RunFolderError
from .frameworks import Framework
from .onnx_framework import to_probabilities

PACKAGE_FILE = "package.zip"
RUNNABLE = ("onnx", "torchscript")
MAX_TEXT_BYTES = 16 << 20  # a description, documentation or other text file of a package (bioimageio.yaml, .md)
MAX_MEMBER_BYTES = 2 << 30  # any file of a package (ONNX itself stops at 2 GB)
MAX_PACKAGE_BYTES = 4 << 30  # all the files of a package, unpacked
TEXT_SUFFIXES = (".yaml", ".yml", ".md", ".json", ".txt", ".cff", ".bib")


class BioimageioImportError(OmniClasError):
    http_status = 400


def _require():
    from ..export.bioimageio import require_bioimageio

    require_bioimageio(FrameworkUnavailable, field="framework")


def check_package_sizes(src: Path) -> None:
    """Refuse a package whose files are over the size limits, from the sizes its zip directory (or the folder)
    declares, before any is read: a 2 GB bioimageio.yaml must not be loaded into memory to find out. zipfile never
    reads a member beyond its declared size, so the check bounds what the import reads."""
    import zipfile

    if src.is_dir():
        sizes = [(str(p.relative_to(src)), p.stat().st_size) for p in src.rglob("*") if p.is_file()]
    else:
        try:
            with zipfile.ZipFile(src) as zf:
                sizes = [(info.filename, info.file_size) for info in zf.infolist() if not info.is_dir()]
        except (zipfile.BadZipFile, OSError) as err:
            raise BioimageioImportError(f"{src}: not a BioImage Model Zoo package (not a readable zip: {err})",
                                        field="file") from None
    for name, size in sizes:
        limit = MAX_TEXT_BYTES if name.lower().endswith(TEXT_SUFFIXES) else MAX_MEMBER_BYTES
        if size > limit:
            raise BioimageioImportError(f"{src}: its file {name[:200]} is {size / (1 << 20):.0f} MB unpacked, over "
                                        f"the limit of {limit >> 20} MB for such a file", field="file")
    total = sum(size for _, size in sizes)
    if total > MAX_PACKAGE_BYTES:
        raise BioimageioImportError(f"{src}: its files are {total >> 20} MB unpacked, over the limit of "
                                    f"{MAX_PACKAGE_BYTES >> 20} MB for a package", field="file")


def load_package(source, io_checks: bool):
    """The package's model description (converted to format 0.5); a clear error where it is no valid model."""
    from bioimageio.spec import InvalidDescr, load_description

    try:
        descr = load_description(source, perform_io_checks=io_checks, format_version="latest")
    except Exception as err:  # unreadable zip, no bioimageio.yaml, ...
        raise BioimageioImportError(f"{source}: not a BioImage Model Zoo package ({str(err).splitlines()[0][:200]})",
                                    field="file") from None
    if isinstance(descr, InvalidDescr):
        errors = [f"{'.'.join(map(str, e.loc)) or 'package'}: {e.msg}" for e in descr.validation_summary.errors]
        raise BioimageioImportError(f"{source}: the package does not validate ({'; '.join(errors[:5])})",
                                    field="file")
    if descr.type != "model":
        raise BioimageioImportError(f"{source}: the package describes a {descr.type}, not a model", field="file")
    return descr


def _axes_text(tensor) -> str:
    return ", ".join(f"{a.id} ({a.type})" for a in tensor.axes)


def classifier_spec(descr, source) -> dict:
    """What OmniClas needs to run ``descr`` as a classifier, or an error that says why it is none."""
    from bioimageio.core.digest_spec import get_test_input_sample

    where = f"{source} ({descr.name})"
    if len(descr.inputs) != 1:
        raise BioimageioImportError(f"{where}: the model has {len(descr.inputs)} inputs; an image classifier "
                                    f"takes one image", field="inputs")
    ipt = descr.inputs[0]
    if getattr(ipt, "output_of", None):
        raise BioimageioImportError(f"{where}: its input is the output of model {ipt.output_of}; OmniClas feeds "
                                    f"images", field="inputs")
    extra = [a for a in ipt.axes if a.type not in ("batch", "channel", "space")
             or (a.type == "space" and str(a.id) not in ("y", "x"))]
    if extra or not {"y", "x"} <= {str(a.id) for a in ipt.axes if a.type == "space"}:
        raise BioimageioImportError(f"{where}: input '{ipt.id}' has axes {_axes_text(ipt)}; an image classifier "
                                    f"takes batch, channel, y, x", field="inputs")
    channel = next((a for a in ipt.axes if a.type == "channel"), None)
    channels = len(channel.channel_names) if channel is not None else 1
    if channels not in (1, 3):
        raise BioimageioImportError(f"{where}: input '{ipt.id}' has {channels} channels; OmniClas feeds 1 (grey) or "
                                    f"3 (RGB)", field="inputs")
    out = descr.outputs[0]
    out_axes = [a for a in out.axes if a.type != "batch"]
    if len(out_axes) != 1 or out_axes[0].type != "channel":
        raise BioimageioImportError(f"{where}: output '{out.id}' has axes {_axes_text(out)}, so the model is not a "
                                    f"classifier: a classifier outputs one value per class, axes batch, channel",
                                    field="outputs")
    names = [str(n) for n in out_axes[0].channel_names]
    config = (descr.config.model_dump().get("omniclas") or {}) if descr.config is not None else {}
    classes = [str(c) for c in config.get("classes") or []]
    if len(classes) != len(names):
        classes = names
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise BioimageioImportError(f"{where}: output '{out.id}' needs two or more distinct channel names, one per "
                                    f"class; got {classes}", field="outputs")
    formats = [f for f in RUNNABLE if getattr(descr.weights, f) is not None]
    if not formats:
        present = ", ".join(sorted(descr.weights.available_formats)) or "none"
        raise BioimageioImportError(f"{where}: weights in {present}; OmniClas runs onnx or torchscript weights",
                                    field="weights")
    test_shape = dict(get_test_input_sample(descr).members[ipt.id].tagged_shape)
    size = []
    for axis_id in ("y", "x"):
        axis = next(a for a in ipt.axes if str(a.id) == axis_id)
        size.append(int(axis.size) if isinstance(axis.size, int) else int(test_shape[axis.id]))
    data = ipt.data[0] if isinstance(ipt.data, (list, tuple)) else ipt.data
    top = getattr(data, "range", (None, None))[1]
    batch = next((a for a in ipt.axes if a.type == "batch"), None)
    return {
        "classes": classes,
        "input_size": size,
        "input": {"id": str(ipt.id), "axes": [str(a.id) for a in ipt.axes], "channels": channels,
                  "dtype": str(ipt.dtype), "unit_range": top is not None and float(top) <= 1.0,
                  "batch": "free" if batch is not None and batch.size is None else "one"},
        "output": {"id": str(out.id), "axes": [str(a.id) for a in out.axes]},
        "weight_format": formats[0],
    }


class ZooModel:
    """A package run by bioimageio.core's prediction pipeline (its pre- and postprocessing included)."""

    def __init__(self, path: Path, manifest: dict):
        from bioimageio.core import create_prediction_pipeline

        self.descr = load_package(path, io_checks=False)  # its sha256 was checked by the registry
        self.classes = list(manifest["classes"])
        self.spec = manifest["bioimageio"]
        self.size = tuple(int(v) for v in manifest["input_size"])
        self.pipeline = create_prediction_pipeline(self.descr, weights_format=manifest["weight_format"],
                                                   devices=["cpu"])
        self._lock = threading.Lock()  # one forward pass at a time through the adapter

    def _input(self, images: list[np.ndarray]) -> np.ndarray:
        """N x C x H x W in the input's data type."""
        from ..data.preprocess import resize_batch

        h, w = self.size
        if h == w:
            x = resize_batch(images, h).numpy()
        else:
            from PIL import Image

            x = np.stack([np.asarray(Image.fromarray(i).resize((w, h), Image.BILINEAR)) for i in images])
            x = x.transpose(0, 3, 1, 2)
        x = x.astype(np.float32)
        if self.spec["input"]["channels"] == 1:
            x = x.mean(1, keepdims=True)
        if self.spec["input"]["unit_range"]:
            x /= 255.0
        return x.astype(self.spec["input"]["dtype"])

    def _run(self, x: np.ndarray) -> np.ndarray:
        """``x``: N x C x H x W -> N x classes."""
        from bioimageio.core import Sample, Tensor
        from bioimageio.spec.model.v0_5 import AxisId

        ipt = self.spec["input"]
        dims = [d for d in ("batch", "channel", "y", "x") if d in ipt["axes"]]
        data = x if "channel" in ipt["axes"] else x[:, 0]
        data = data if "batch" in ipt["axes"] else data[0]
        sample = Sample(members={ipt["id"]: Tensor(data, dims=dims)}, stat={}, id=None)
        with self._lock:
            out = self.pipeline.predict_sample_without_blocking(sample).members[self.spec["output"]["id"]]
        order = [AxisId(d) for d in ("batch", "channel") if d in out.dims]
        return np.asarray(out.transpose(order).to_numpy(), dtype=np.float64).reshape(len(x), -1)

    def predict_proba(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        x = self._input(images)
        if self.spec["input"]["batch"] == "free":
            out = self._run(x)
        else:
            out = np.concatenate([self._run(x[i:i + 1]) for i in range(len(x))])
        if out.shape[1] != len(self.classes):
            raise OmniClasError(f"the model outputs {out.shape[1]} values per image but has {len(self.classes)} "
                                f"classes")
        return to_probabilities(out, "auto")


class BioimageioFramework(Framework):
    name = "bioimageio"
    description = "BioImage Model Zoo (bioimage.io) classifier packages, ONNX or TorchScript, run with bioimageio.core."

    def create(self, dest: Path, source, **options) -> dict:
        if options:
            raise BioimageioImportError(f"unknown option(s) for framework bioimageio: {', '.join(options)}")
        _require()
        from bioimageio.spec import save_bioimageio_package

        src = Path(source).expanduser()
        if not src.exists():
            raise RunFolderError(f"BioImage Model Zoo package not found: {src}", field="file")
        check_package_sizes(src)
        descr = load_package(src, io_checks=True)
        spec = classifier_spec(descr, src)
        if src.is_file():
            shutil.copyfile(src, dest / PACKAGE_FILE)
        else:
            save_bioimageio_package(descr, output_path=dest / PACKAGE_FILE)
        config = (descr.config.model_dump().get("omniclas") or {}) if descr.config is not None else {}
        manifest = {
            "classes": spec.pop("classes"),
            "backbone": f"bioimage.io: {descr.name}",
            "head": None,
            "input_size": spec.pop("input_size"),
            "weight_format": spec.pop("weight_format"),
            "bioimageio": spec,
            "metrics": {"test_accuracy": float(config["test_accuracy"])}
            if isinstance(config.get("test_accuracy"), (int, float)) else {},
            "provenance": {"source": str(src.resolve()), "name": descr.name, "description": descr.description,
                           "format_version": descr.format_version, "license": str(descr.license or ""),
                           "authors": [a.name for a in descr.authors],
                           "cite": [c.text for c in descr.cite], "tags": list(descr.tags)},
            "files": [PACKAGE_FILE],
        }
        # a run on a blank image proves the package and the way OmniClas feeds it fit together
        try:
            ZooModel(dest / PACKAGE_FILE, manifest).predict_proba(
                [np.zeros((manifest["input_size"][0], manifest["input_size"][1], 3), dtype=np.uint8)])
        except OmniClasError:
            raise
        except Exception as err:
            raise BioimageioImportError(f"{src}: a test run on a blank image failed "
                                        f"({str(err).splitlines()[0][:200]})", field="file") from None
        return manifest

    def load(self, folder: Path, manifest: dict, bf16: bool | None = None):
        _require()
        return ZooModel(folder / PACKAGE_FILE, manifest)

    def export_onnx(self, folder: Path, manifest: dict, out: Path) -> Path:
        raise OmniClasError(f"model '{manifest.get('name')}' is a BioImage Model Zoo package: export it with "
                            f"format bioimageio", field="format")

    def export_bioimageio(self, folder: Path, manifest: dict, out: Path, **options) -> Path:
        """The package as it was imported."""
        shutil.copyfile(folder / PACKAGE_FILE, out)
        return out

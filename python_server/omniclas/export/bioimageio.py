"""Export a model trained by OmniClas as a BioImage Model Zoo (bioimage.io) model package.

The package is a zip holding ``bioimageio.yaml`` (model description, format 0.5), the whole network as one ONNX
graph with a dynamic batch axis (ensemble members and averaged views included), the same network traced to
TorchScript where it traces, ``test_input.npy``/``test_output.npy`` made from a real training image, a cover
image and a README whose "# Validation" section holds the run's test metrics.

Tensors: input ``input`` is ``batch, channel, y, x``: 8-bit RGB already resized to the model's input size; the
package's preprocessing scales it by 1/255, as training did (each member normalises inside the graph). Output
``probabilities`` is ``batch, channel``: the class probabilities (softmax inside the graph), one channel per class.

Channel names must be Python identifiers, so class names are encoded reversibly (:func:`channel_name`,
:func:`class_name`); the original names are also kept in ``config.omniclas.classes``.

Needs the optional extra ``omniclas[bioimageio]`` (bioimageio.spec, bioimageio.core).
"""
from __future__ import annotations

import getpass
import keyword
import logging
import re
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..errors import OmniClasError

log = logging.getLogger(__name__)

INPUT_ID = "input"
OUTPUT_ID = "probabilities"
ONNX_FILE = "weights.onnx"
TORCHSCRIPT_FILE = "weights_torchscript.pt"
YAML_FILE = "bioimageio.yaml"
DEFAULT_LICENSE = "CC-BY-4.0"
PAPER = {
    "text": "Inés A., Domínguez C., Heras J., Mata E., Pascual V. Biomedical image classification made easier "
            "thanks to transfer and semi-supervised learning (AutoML using transfer and semi-supervised learning, "
            "Universidad de La Rioja). Computer Methods and Programs in Biomedicine 198, 105782 (2021).",
    "doi": "10.1016/j.cmpb.2020.105782",
}
# Used when the installed package names no home page (pyproject [project.urls]); override with project_url=.
PROJECT_URL = "https://pypi.org/project/omniclas/"
TAGS = ["classification", "image-classification", "2d", "transfer-learning", "semi-supervised-learning",
        "omniclas", "onnx", "torchscript"]


class BioimageioExportError(OmniClasError):
    http_status = 400


def require_bioimageio(error=BioimageioExportError, field: str = "format"):
    """Import bioimageio.core and .spec, or raise ``error`` saying how to install them."""
    try:
        import bioimageio.core  # noqa: F401
        import bioimageio.spec  # noqa: F401
    except ImportError:
        raise error("BioImage Model Zoo support needs bioimageio.core and bioimageio.spec: "
                    "pip install 'omniclas[bioimageio]'", field=field) from None


# ------------------------------------------------------------------ class names <-> channel names
_PLAIN = re.compile(r"[A-Za-z0-9]")


def channel_name(name: str) -> str:
    """A Python identifier that encodes ``name`` reversibly: ASCII letters and digits stay, ``_`` becomes
    ``__``, any other character ``_<hex code>_``; a leading digit, and the first letter of a keyword, are encoded
    too. ``"G1 phase"`` -> ``"G1_20_phase"``, ``"0"`` -> ``"_30_"``."""
    out = []
    for i, ch in enumerate(name):
        if ch == "_":
            out.append("__")
        elif _PLAIN.fullmatch(ch) and not (i == 0 and ch.isdigit()):
            out.append(ch)
        else:
            out.append(f"_{ord(ch):x}_")
    text = "".join(out)
    if keyword.iskeyword(text):
        text = f"_{ord(name[0]):x}_" + text[1:]
    if not text:
        raise BioimageioExportError("a class name is empty", field="classes")
    return text


def class_name(channel: str) -> str:
    """The inverse of :func:`channel_name`."""
    out, i = [], 0
    while i < len(channel):
        ch = channel[i]
        if ch != "_":
            out.append(ch)
            i += 1
        elif channel[i + 1:i + 2] == "_":
            out.append("_")
            i += 2
        else:
            end = channel.find("_", i + 1)
            if end < 0:
                raise ValueError(f"'{channel}' is not an encoded class name")
            out.append(chr(int(channel[i + 1:end], 16)))
            i = end + 1
    return "".join(out)


# ------------------------------------------------------------------ pieces of the package
def _authors(authors) -> list[dict]:
    """Given names, else the git user name, else the login name."""
    if isinstance(authors, str):
        authors = [a.strip() for a in authors.split(",")]
    names = [a for a in (authors or []) if a]
    if not names:
        try:
            names = [subprocess.run(["git", "config", "--get", "user.name"], capture_output=True, text=True,
                                    timeout=5).stdout.strip()]
        except (OSError, subprocess.SubprocessError):
            names = []
        names = [n for n in names if n] or [getpass.getuser()]
    return [{"name": n} for n in names]


def _project_url() -> str:
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        meta = metadata("omniclas")
    except PackageNotFoundError:
        return PROJECT_URL
    for entry in meta.get_all("Project-URL") or []:
        _, _, url = entry.partition(",")
        if url.strip().startswith("http"):
            return url.strip()
    home = meta.get("Home-page") or ""
    return home if home.startswith("http") else PROJECT_URL


def _model_name(manifest: dict, name: str | None) -> str:
    """Letters, digits, ``_+- ()``, 5 to 64 characters, as the spec wants."""
    base = name or manifest.get("name") or Path(str(manifest.get("dataset") or "model")).name
    text = re.sub(r"[^A-Za-z0-9_+\- ()]+", "-", f"OmniClas {base} classifier").strip("- ")
    return text[:64]


def _sample_images(manifest: dict, sample_image=None) -> list[Path]:
    """Real images of the training set (the manifest's dataset + splits), train split first."""
    if sample_image is not None:
        path = Path(sample_image).expanduser()
        if not path.is_file():
            raise BioimageioExportError(f"sample image not found: {path}", field="sample_image")
        return [path]
    root = Path(str(manifest.get("dataset") or ""))
    splits = manifest.get("splits") or {}
    order = {"train": 0, "valid": 1, "test": 2}
    candidates = sorted((p for p, s in splits.items() if s in order), key=lambda p: (order[splits[p]], p))
    found = [root / p for p in candidates if (root / p).is_file()]
    if not found:
        raise BioimageioExportError(
            f"no training image found under {root} (the manifest's 'dataset'); the test tensors of a model package "
            f"are made from a real image: pass sample_image=PATH (--sample-image)", field="sample_image")
    return found


def _read_first(paths: list[Path]):
    from ..data.imageio import read_image
    from ..errors import ImageReadError

    for path in paths:
        try:
            return path, read_image(path)
        except ImageReadError as err:
            log.warning("skipping %s for the test tensors: %s", path, err)
    raise BioimageioExportError("none of the training images could be read for the test tensors",
                                field="sample_image")


def _cover(manifest: dict, paths: list[Path], out: Path) -> None:
    """A 2:1 cover: one training image per class (up to 8), with the class name under it."""
    from PIL import Image, ImageDraw, ImageFont

    from ..data.imageio import read_image

    root = Path(str(manifest.get("dataset") or ""))
    by_class: dict[str, Path] = {}
    for path in paths:
        try:
            cls = path.relative_to(root).parts[0]
        except ValueError:
            cls = ""
        if cls in manifest["classes"] and cls not in by_class:
            by_class[cls] = path
    picks = list(by_class.items())[:8] or [("", paths[0])]
    tile, label = 160, 24
    canvas = Image.new("RGB", (640, 320), "white")
    font = ImageFont.load_default()
    draw = ImageDraw.Draw(canvas)
    for i, (cls, path) in enumerate(picks):
        x, y = (i % 4) * tile, (i // 4) * tile
        try:
            img = Image.fromarray(read_image(path)).resize((tile - 8, tile - label - 4), Image.BILINEAR)
        except OmniClasError:
            continue
        canvas.paste(img, (x + 4, y + 4))
        draw.text((x + 4, y + tile - label + 4), cls[:24], fill="black", font=font)
    canvas.save(out)


def _sample_tensors(x, y, stage: Path) -> None:
    """The test image as PNG and its probabilities as TIFF: samples a person (or imageio) can open."""
    import tifffile
    from PIL import Image

    Image.fromarray(x[0].permute(1, 2, 0).numpy()).save(stage / "sample_input.png")
    tifffile.imwrite(stage / "sample_output.tif", y)


def _readme(manifest: dict, name: str, channels: list[str]) -> str:
    from ..report.measures import wilson_interval

    test = manifest.get("test") or {}
    size = manifest["input_size"][0]
    lines = [f"# {name}", "",
             f"Image classifier for {len(manifest['classes'])} classes, trained with OmniClas "
             f"(process `{manifest.get('process', '-')}`, {manifest.get('backbone')} with a "
             f"{manifest.get('head', '-')} head; probabilities averaged over "
             f"{len(manifest.get('members') or [1])} member(s) and the views "
             f"{', '.join(manifest.get('views') or ['original'])}).", "",
             "## Input", "",
             f"One RGB image, 8-bit, resized (squashed, bilinear) to {size} x {size} pixels: axes "
             "`batch, channel, y, x`. The package's preprocessing divides by 255; the network normalises inside. "
             "OmniClas maps other images to 8-bit RGB first: grey is copied to R, G and B; 16-bit and float images "
             "are rescaled per channel from their 0.1st to 99.9th percentile.", "",
             "## Output", "",
             "Class probabilities, axes `batch, channel`: one channel per class. Channel names are the class names "
             "made Python identifiers (letters and digits kept, `_` as `__`, other characters as `_<hex code>_`); "
             "the original names are in `config.omniclas.classes`.", "",
             "| channel | channel name | class |", "|---|---|---|"]
    lines += [f"| {i} | `{ch}` | {c} |" for i, (ch, c) in enumerate(zip(channels, manifest["classes"]))]
    lines += ["", "# Validation", ""]
    acc, n = test.get("accuracy"), test.get("images") or 0
    if acc is None or not n:
        lines.append("The training run held out no test images, so no test metrics are recorded.")
    else:
        lo, hi = wilson_interval(round(acc * n), n)
        lines += [f"Accuracy on {n} held-out test images of the training run (never used for training or model "
                  f"choice): **{acc:.3f}** (95% Wilson interval {lo:.3f} to {hi:.3f}).", "",
                  "| class | precision | recall | F1 | test images |", "|---|---|---|---|---|"]
        lines += [f"| {r['class']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |"
                  for r in test.get("per_class") or []]
        est = manifest.get("estimate") or {}
        if est.get("method"):
            lines += ["", f"Rounds and models were chosen by {est['method']}"
                      + (f" ({est['folds']} folds of the manual labels)." if est.get("folds") else ".")]
    lines += ["", "To validate on your own data, label a few images per class and compare the predicted class "
              "(the channel of highest probability) with your labels; `omniclas evaluate` does this for a "
              "registered model.", "", "## Citation", "", PAPER["text"] + f" doi:{PAPER['doi']}", ""]
    return "\n".join(lines)


def _torchscript(network, example, out: Path) -> bool:
    """Trace ``network`` to TorchScript at ``out``; False (and no file) where it does not trace faithfully."""
    import torch

    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(network, example, check_trace=False)
            other = torch.rand(3, *example.shape[1:])  # another batch size: the batch axis must stay free
            if not torch.allclose(traced(other), network(other), atol=1e-4):
                raise RuntimeError("the traced graph differs from the network")
            torch.jit.save(traced, str(out))
        return True
    except Exception as err:  # tracing is best effort: ONNX is always there
        log.warning("no TorchScript weights: %s", err)
        out.unlink(missing_ok=True)
        return False


def describe(manifest: dict, *, name: str, channels: list[str], authors, license: str, torchscript: bool,
             tags, project_url: str) -> dict:
    """The ``bioimageio.yaml`` content (files relative to the package root)."""
    import torch
    from bioimageio.spec.model.v0_5 import ModelDescr

    from .. import __version__
    from .onnx import OPSET

    size = int(manifest["input_size"][0])
    test = manifest.get("test") or {}
    weights = {"onnx": {"source": ONNX_FILE, "opset_version": OPSET,
                        "comment": "the whole network (members and views averaged) as one graph"}}
    if torchscript:
        weights["torchscript"] = {"source": TORCHSCRIPT_FILE, "pytorch_version": torch.__version__,
                                  "comment": "the network traced from PyTorch"}
        weights["onnx"]["parent"] = "torchscript"  # both come from the same traced network
    members = manifest.get("members") or []
    return {
        "format_version": ModelDescr.implemented_format_version,
        "type": "model",
        "name": name,
        "description": (f"Image classifier for {len(manifest['classes'])} classes "
                        f"({', '.join(manifest['classes'][:6])}{', ...' if len(manifest['classes']) > 6 else ''}), "
                        f"trained with OmniClas by transfer and semi-supervised learning")[:1024],
        "authors": _authors(authors),
        "cite": [PAPER, {"text": f"OmniClas {__version__}: image classification for biology labs with few labels",
                         "url": project_url}],
        "license": license,
        "tags": list(dict.fromkeys(list(tags or TAGS) + [m["backbone"].replace("_", "-") for m in members])),
        "documentation": {"source": "README.md"},
        "covers": [{"source": "cover.png"}],
        "version": str(manifest["version"]) if manifest.get("version") else None,
        "inputs": [{
            "id": INPUT_ID,
            "description": f"8-bit RGB image resized to {size} x {size}",
            "axes": [{"type": "batch"},
                     {"type": "channel", "channel_names": ["red", "green", "blue"]},
                     {"type": "space", "id": "y", "size": size},
                     {"type": "space", "id": "x", "size": size}],
            "test_tensor": {"source": "test_input.npy"},
            "sample_tensor": {"source": "sample_input.png"},
            "data": {"type": "uint8", "range": [0, 255]},
            # the spec appends a cast back to the input's type unless the steps end with one
            "preprocessing": [{"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
                              {"id": "scale_linear", "kwargs": {"gain": 1 / 255}},
                              {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}}],
        }],
        "outputs": [{
            "id": OUTPUT_ID,
            "description": "class probabilities (softmax inside the graph), one channel per class",
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": channels}],
            "test_tensor": {"source": "test_output.npy"},
            "sample_tensor": {"source": "sample_output.tif"},
            "data": {"type": "float32", "range": [0.0, 1.0]},
        }],
        "weights": weights,
        "config": {
            "bioimageio": {"task": "classification", "architecture_type": "CNN + linear classifier",
                           "architecture_description": f"{manifest.get('backbone')}, {len(members) or 1} member(s), "
                                                       f"views {', '.join(manifest.get('views') or ['original'])}"},
            "omniclas": {"classes": list(manifest["classes"]), "channel_names": channels,
                         "input_size": [size, size], "input": "RGB pixel/255, normalised inside the graph",
                         "members": members, "views": manifest.get("views") or ["original"],
                         "process": manifest.get("process"), "test_accuracy": test.get("accuracy"),
                         "test_images": test.get("images"), "omniclas_version": __version__},
        },
    }


def export_package(folder, out, *, name: str | None = None, authors=None, license: str = DEFAULT_LICENSE,
                   sample_image=None, tags=None, project_url: str | None = None) -> Path:
    """Write the BioImage Model Zoo package of a run or registry ``folder`` (``model.safetensors`` +
    ``manifest.json``) to ``out`` (a .zip), validated against the spec. Returns the zip's path."""
    require_bioimageio()
    import torch
    from bioimageio.spec import InvalidDescr, ValidationContext, build_description, save_bioimageio_package

    from ..data.preprocess import resize_batch, to_unit
    from ..model.predictor import Predictor
    from .onnx import export_model

    predictor = Predictor.load(folder, bf16=False, runtime="torch")
    manifest = dict(predictor.manifest)
    channels = [channel_name(c) for c in manifest["classes"]]
    name = _model_name(manifest, name)
    paths = _sample_images(manifest, sample_image)
    sample_path, image = _read_first(paths)
    x = resize_batch([image], int(manifest["input_size"][0]))  # uint8 NCHW, as Predictor.preprocess
    network = predictor.model.float().eval()
    with torch.no_grad():
        y = network(to_unit(x)).numpy().astype(np.float32)
    out = Path(out).expanduser()
    if out.suffix.lower() != ".zip":
        out = out.with_suffix(".zip")
    with tempfile.TemporaryDirectory(prefix="omniclas-bioimageio-") as tmp:
        stage = Path(tmp)
        np.save(stage / "test_input.npy", x.numpy())
        np.save(stage / "test_output.npy", y)
        _sample_tensors(x, y, stage)
        export_model(network, manifest, stage / ONNX_FILE, name=manifest.get("name"), outputs=("probabilities",))
        traced = _torchscript(network, to_unit(x), stage / TORCHSCRIPT_FILE)
        _cover(manifest, paths, stage / "cover.png")
        (stage / "README.md").write_text(_readme(manifest, name, channels), encoding="utf-8")
        url = project_url or _project_url()
        content = describe(manifest, name=name, channels=channels, authors=authors, license=license,
                           torchscript=traced, tags=tags, project_url=url)
        content = {k: v for k, v in content.items() if v is not None}
        # The project URL is ours: no need to ask the network whether it exists.
        context = ValidationContext(root=stage, file_name=YAML_FILE, perform_io_checks=True, known_files={url: None})
        descr = build_description(content, context=context)
        if isinstance(descr, InvalidDescr):  # a bug here, not the user's: say what the spec refused
            errors = [f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in descr.validation_summary.errors]
            raise BioimageioExportError(f"the model package does not validate ({'; '.join(errors[:5])})",
                                        field="format")
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.tmp.zip")
        try:
            # validated above, with every file checked; re-checking would ask the network about the project URL
            with context.replace(perform_io_checks=False):
                save_bioimageio_package(descr, output_path=partial)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    log.info("exported %s to %s (test tensors from %s)", folder, out, sample_path)
    return out

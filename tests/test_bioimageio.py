"""BioImage Model Zoo packages: a native model and an ensemble export, pass ``bioimageio test`` with the network
cut off, predict what OmniClas predicts, and come back in through the ``bioimageio`` framework; packages that are
no classifiers are refused with a message that says why."""
from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from distilled_run import distilled_run
from live_server import DATA_ROOT, require_data, server_env

pytest.importorskip("bioimageio.core", reason="needs the bioimageio extra: pip install 'omniclas[bioimageio]'")

from bioimageio.core import Sample, Tensor, create_prediction_pipeline  # noqa: E402
from bioimageio.spec import load_model_description  # noqa: E402
from bioimageio.spec.model.v0_5 import ModelDescr  # noqa: E402

from omniclas.export.bioimageio import (PAPER, YAML_FILE, BioimageioExportError, channel_name,  # noqa: E402
                                        class_name, export_package)
from omniclas.errors import OmniClasError  # noqa: E402
from omniclas.data.imageio import read_image  # noqa: E402
from omniclas.model.calibration import apply_temperature  # noqa: E402
from omniclas.model.predictor import Predictor  # noqa: E402
from omniclas.data.preprocess import resize_batch  # noqa: E402
from omniclas.registry import Registry  # noqa: E402
from omniclas.server import create_app  # noqa: E402

# Every HTTP(S) request goes to a closed loopback port: the network is cut off.
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test here reaches past loopback: proxies point at a closed port and direct connections are refused."""
    for k, v in OFFLINE.items():
        monkeypatch.setenv(k, v)
    real = socket.socket.connect
    tried = []

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else ""
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not (host.startswith("127.") or host == "::1"):
            tried.append(address)
            raise OSError(f"network cut off by the test ({address})")
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield
    assert not tried, f"reached for the network: {tried}"


def sample_images(n_per_class: int = 3) -> list[Path]:
    """Real images of every bbbc013 class plus unlabelled ones, of their own sizes."""
    root = require_data("bbbc013")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    return [p for f in folders for p in sorted(f.iterdir())[:n_per_class]]


def package_probabilities(package: Path, images: list[Path], weights: str) -> np.ndarray:
    """Run the package with bioimageio.core (its own preprocessing included) on the images, as 8-bit RGB squashed
    to the input size: what the package's README tells a user to feed."""
    descr = load_model_description(package, perform_io_checks=False)
    size = next(a.size for a in descr.inputs[0].axes if str(a.id) == "y")
    x = resize_batch([read_image(p) for p in images], size).numpy()
    pipeline = create_prediction_pipeline(descr, weights_format=weights, devices=["cpu"])
    sample = Sample(members={"input": Tensor(x, dims=("batch", "channel", "y", "x"))}, stat={}, id=None)
    out = pipeline.predict_sample_without_blocking(sample).members["probabilities"]
    return out.transpose(["batch", "channel"]).to_numpy()


def bioimageio_test(package: Path) -> str:
    """``bioimageio test`` (the CLI) with the network cut off; its whole report."""
    cli = Path(sys.executable).with_name("bioimageio")
    out = subprocess.run([str(cli), "test", str(package)], env=server_env(**OFFLINE), capture_output=True, text=True,
                         timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    return text


@pytest.fixture(scope="module")
def registry(nd_run, tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("zoo") / "models")
    reg.register(nd_run.run_dir, "cells")
    return reg


@pytest.fixture(scope="module")
def native_package(registry, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for k, v in OFFLINE.items():
            mp.setenv(k, v)
        return registry.export("cells", tmp_path_factory.mktemp("pkg") / "cells.zip", format="bioimageio",
                               authors=["Ada Lovelace"])


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    """The distillation run (two members) set to average four views, and its package."""
    folder = tmp_path_factory.mktemp("ensemble") / "run"
    shutil.copytree(distilled_run(tmp_path_factory), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["views"] = ["original", "hflip", "vflip", "hvflip"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.MonkeyPatch.context() as mp:
        for k, v in OFFLINE.items():
            mp.setenv(k, v)
        package = export_package(folder, folder.parent / "ensemble.zip")
    return folder, package


def test_class_names_become_identifiers_and_come_back():
    names = ["0", "G1 phase", "a_b", "__", "Mitosis (late)", "é", "class", "None", "x-y", "α", "CytoplasmicGFP"]
    channels = [channel_name(n) for n in names]
    assert all(c.isidentifier() and c.isascii() for c in channels)
    assert not any(__import__("keyword").iskeyword(c) for c in channels)
    assert len(set(channels)) == len(names)
    assert [class_name(c) for c in channels] == names
    assert channel_name("CytoplasmicGFP") == "CytoplasmicGFP" and channel_name("G1 phase") == "G1_20_phase"


def test_native_package_holds_what_the_zoo_asks_for(native_package, nd_run):
    m = json.loads((nd_run.run_dir / "manifest.json").read_text())
    with zipfile.ZipFile(native_package) as z:
        names = set(z.namelist())
        assert {YAML_FILE, "weights.onnx", "weights_torchscript.pt", "test_input.npy", "test_output.npy",
                "cover.png", "README.md"} <= names
        rdf = yaml.safe_load(z.read(YAML_FILE))
        readme = z.read("README.md").decode()
        cover = Image.open(io.BytesIO(z.read("cover.png")))
        test_input = np.load(io.BytesIO(z.read("test_input.npy")))
        test_output = np.load(io.BytesIO(z.read("test_output.npy")))
    assert rdf["format_version"] == ModelDescr.implemented_format_version and rdf["type"] == "model"
    (ipt,), (out,) = rdf["inputs"], rdf["outputs"]
    assert [a["type"] for a in ipt["axes"]] == ["batch", "channel", "space", "space"]
    assert [a["size"] for a in ipt["axes"][2:]] == m["input_size"]
    assert ipt["data"]["type"] == "uint8"
    steps = [(p["id"], p.get("kwargs")) for p in ipt["preprocessing"]]
    assert ("scale_linear", {"gain": pytest.approx(1 / 255)}) in steps and steps[-1] == ("ensure_dtype",
                                                                                        {"dtype": "float32"})
    assert [a["type"] for a in out["axes"]] == ["batch", "channel"]
    assert out["axes"][1]["channel_names"] == [channel_name(c) for c in m["classes"]]
    assert rdf["config"]["omniclas"]["classes"] == m["classes"]
    assert rdf["license"] == "CC-BY-4.0" and [a["name"] for a in rdf["authors"]] == ["Ada Lovelace"]
    assert {"doi": PAPER["doi"]}.items() <= rdf["cite"][0].items() and len(rdf["cite"]) == 2
    assert "classification" in rdf["tags"] and rdf["covers"] and rdf["documentation"]
    assert {"onnx", "torchscript"} == set(rdf["weights"])
    assert "# Validation" in readme and f"**{m['test']['accuracy']:.3f}**" in readme
    assert cover.width == 2 * cover.height
    # the test tensors come from a real image of the training split, and are what OmniClas predicts for it
    root = Path(m["dataset"])
    train = [root / p for p, s in m["splits"].items() if s == "train"]
    matches = [p for p in train if np.array_equal(resize_batch([read_image(p)], m["input_size"][0]).numpy(),
                                                  test_input)]
    assert matches, "test_input.npy is no training image"
    want = Predictor.load(nd_run.run_dir, bf16=False, runtime="torch").predict_proba(matches[:1])
    assert test_output.shape == (1, len(m["classes"])) and np.abs(test_output - want).max() < 1e-5


@pytest.mark.parametrize("which", ["native", "ensemble"])
def test_bioimageio_test_passes_and_the_package_predicts_as_omniclas(which, native_package, nd_run, ensemble):
    folder, package = (nd_run.run_dir, native_package) if which == "native" else ensemble
    report = bioimageio_test(package)
    assert "passed" in report and "❌" not in report
    for weights in ("onnx", "torchscript"):
        assert f"Reproduce test outputs from test inputs ({weights})" in report
    images = sample_images()
    want = Predictor.load(folder, bf16=False, runtime="torch").predict_proba(images)
    for weights in ("onnx", "torchscript"):
        got = package_probabilities(package, images, weights)
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-3, weights
    if which == "native":  # and what the command line answers, in float32
        out = subprocess.run([sys.executable, "-m", "omniclas", "predict", str(folder), *map(str, images), "--json",
                              "--no-bf16"], env=server_env(), capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        classes = json.loads((folder / "manifest.json").read_text())["classes"]
        cli = np.array([[r["probabilities"][c] for c in classes] for r in json.loads(out.stdout)])
        # the package carries the network as trained; the CLI applies the run's temperature (docs/calibration.md)
        temperature = json.loads((folder / "manifest.json").read_text())["calibration"]["temperature"]
        assert np.abs(cli - apply_temperature(got, temperature)).max() < 1e-3
    if which == "ensemble":
        import onnx

        with zipfile.ZipFile(package) as z:
            graph = onnx.load_from_string(z.read("weights.onnx")).graph
        assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["probabilities"]
        assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"  # any batch size
        manifest = json.loads((folder / "manifest.json").read_text())
        assert len(manifest["members"]) == 2 and len(manifest["views"]) == 4


def test_imported_package_is_a_model_like_any_other(registry, native_package, nd_run, tmp_path, monkeypatch):
    m = registry.register(native_package, "zoo", framework="bioimageio")
    assert m["framework"] == "bioimageio" and m["classes"] == json.loads(
        (nd_run.run_dir / "manifest.json").read_text())["classes"]
    assert [x["name"] for x in registry.list_models("bioimageio")] == ["zoo"]
    images = sample_images()
    want = Predictor.load(nd_run.run_dir, bf16=False, runtime="torch").predict_proba(images)
    got = np.array([[r["probabilities"][c] for c in m["classes"]] for r in registry.predict_batch("zoo", images)])
    assert np.abs(got - want).max() < 1e-3
    # the unpacked folder imports as well
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(native_package) as z:
        z.extractall(unpacked)
    registry.register(unpacked, "zoo-folder", framework="bioimageio")
    assert registry.predict("zoo-folder", images[0])["class"] == m["classes"][int(want[0].argmax())]
    # exported again, it is the package it came from; ONNX export says how to export it
    again = registry.export("zoo", tmp_path / "again.zip", format="bioimageio")
    assert again.read_bytes() == native_package.read_bytes()
    with pytest.raises(OmniClasError, match="format bioimageio"):
        registry.export("zoo", tmp_path / "zoo.onnx")
    # the DeepClas4Bio commands (real processes) see it
    env = server_env(OMNICLAS_MODELS=str(registry.root), **OFFLINE)
    run = [sys.executable, "-m", "omniclas.deepclas4bio"]
    assert subprocess.run(run + ["listModels", "bioimageio"], cwd=tmp_path, env=env, timeout=120).returncode == 0
    assert json.loads((tmp_path / "data.json").read_text())["models"] == ["zoo", "zoo-folder"]
    assert subprocess.run(run + ["predict", str(images[0]), "bioimageio", "zoo"], cwd=tmp_path, env=env,
                          timeout=120).returncode == 0
    assert json.loads((tmp_path / "data.json").read_text())["class"] == m["classes"][int(want[0].argmax())]
    # and the server
    app = create_app({"MODELS_ROOT": str(registry.root), "DATASET_ROOTS": [str(DATA_ROOT)],
                      "JOBS_DIR": str(tmp_path / "jobs"), "BF16": False})
    try:
        c = app.test_client()
        assert c.get("/api/v1/models/zoo").get_json()["framework"] == "bioimageio"
        r = c.post("/api/v1/predict", data={"model": "zoo", "images": [(io.BytesIO(images[0].read_bytes()),
                                                                         images[0].name)]},
                   content_type="multipart/form-data")
        assert r.status_code == 200 and r.get_json()["results"][0]["class"] == m["classes"][int(want[0].argmax())]
        r = c.get("/api/v1/models/cells/export?format=bioimageio")
        assert r.status_code == 200 and r.mimetype == "application/zip"
        assert "cells-v1.bioimageio.zip" in r.headers["Content-Disposition"]
        with zipfile.ZipFile(io.BytesIO(r.data)) as z:
            assert yaml.safe_load(z.read(YAML_FILE))["type"] == "model"
        r = c.get("/api/v1/models/cells/export?format=keras")
        assert r.status_code == 400 and "bioimageio" in r.get_json()["error"]["message"]
    finally:
        app.extensions["omniclas"].close()


def test_command_line_export_and_import(registry, tmp_path):
    env = server_env(OMNICLAS_MODELS=str(registry.root), **OFFLINE)
    omniclas = [sys.executable, "-m", "omniclas"]
    # no --format: a name ending in .zip asks for a zoo package
    out = subprocess.run(omniclas + ["export", "cells", str(tmp_path / "cli.zip"),
                                     "--author", "Grace Hopper", "--license", "MIT"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "bioimageio test" in out.stdout
    with zipfile.ZipFile(tmp_path / "cli.zip") as z:
        rdf = yaml.safe_load(z.read(YAML_FILE))
    assert rdf["license"] == "MIT" and rdf["authors"] == [{"name": "Grace Hopper"}]
    out = subprocess.run(omniclas + ["import-bioimageio", str(tmp_path / "cli.zip"), "from-cli"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "imported 'from-cli'" in out.stdout, out.stderr
    (tmp_path / "notes.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip: no package in it
    out = subprocess.run(omniclas + ["import-bioimageio", str(tmp_path / "notes.zip"), "bad"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "not a BioImage Model Zoo package" in out.stderr
    assert "Traceback" not in out.stderr


def image_to_image_package(folder: Path) -> Path:
    """A real, valid zoo package that is no classifier: a 3x3 convolution, image in, image out."""
    import torch
    from bioimageio.spec import ValidationContext, build_description, save_bioimageio_package

    folder.mkdir()
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 1, 3, padding=1).eval()
    x = resize_batch([read_image(sample_images(1)[0])], 64).float().mean(1, keepdim=True) / 255
    with torch.no_grad():
        y = net(x)
        torch.onnx.export(net, (x,), str(folder / "net.onnx"), dynamo=False, opset_version=17,
                          input_names=["raw"], output_names=["smooth"])
    np.save(folder / "in.npy", x.numpy())
    np.save(folder / "out.npy", y.numpy())
    (folder / "README.md").write_text("# Smoothing\n\n# Validation\n\nNone.\n")
    Image.fromarray((x[0, 0].numpy() * 255).astype(np.uint8)).resize((128, 64)).save(folder / "cover.png")
    space = [{"type": "space", "id": "y", "size": 64}, {"type": "space", "id": "x", "size": 64}]
    rdf = {"format_version": ModelDescr.implemented_format_version, "type": "model", "name": "a smoothing filter",
           "description": "not a classifier", "authors": [{"name": "Test"}], "license": "MIT",
           "cite": [{"text": "the paper", "doi": PAPER["doi"]}], "documentation": {"source": "README.md"},
           "covers": [{"source": "cover.png"}],
           "inputs": [{"id": "raw", "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["grey"]}, *space],
                       "test_tensor": {"source": "in.npy"}, "data": {"type": "float32"}}],
           "outputs": [{"id": "smooth", "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["grey"]},
                                                 *space], "test_tensor": {"source": "out.npy"},
                        "data": {"type": "float32"}}],
           "weights": {"onnx": {"source": "net.onnx", "opset_version": 17}}}
    descr = build_description(rdf, context=ValidationContext(root=folder, perform_io_checks=True))
    assert isinstance(descr, ModelDescr), descr.validation_summary.format()
    with ValidationContext(root=folder, perform_io_checks=False):
        return save_bioimageio_package(descr, output_path=folder.parent / "smooth.zip")


def test_packages_that_are_no_classifiers_are_refused(registry, tmp_path):
    package = image_to_image_package(tmp_path / "smooth")
    with pytest.raises(OmniClasError) as err:
        registry.register(package, "smooth", framework="bioimageio")
    message = str(err.value)
    assert "is not a classifier" in message and "smooth" in message and "batch, channel" in message
    assert err.value.field == "outputs" and err.value.http_status == 400
    assert "smooth" not in registry.names()
    with pytest.raises(OmniClasError, match="not found"):
        registry.register(tmp_path / "missing.zip", "gone", framework="bioimageio")
    # a run whose training images have moved asks for an image to make the test tensors from
    run = tmp_path / "moved-run"
    shutil.copytree(registry.resolve("cells")[2], run)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "dataset": str(tmp_path / "moved")}))
    with pytest.raises(BioimageioExportError, match="no training image found under .*--sample-image") as err:
        export_package(run, tmp_path / "x.zip")
    assert err.value.field == "sample_image"
    with pytest.raises(BioimageioExportError, match="sample image not found"):
        export_package(run, tmp_path / "x.zip", sample_image=tmp_path / "nowhere.png")
    assert not (tmp_path / "x.zip").exists()


def test_a_package_with_a_huge_description_is_refused_before_it_is_read(tmp_path, capsys):
    """A 64 MB bioimageio.yaml packs into 64 KB: refused from the sizes the zip declares (a 2 GB one used to be
    loaded, 10 GB of memory), by the command and the registry alike, leaving no model behind."""
    from omniclas.cli import main

    package = tmp_path / "bomb.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("bioimageio.yaml", "w") as member:
            chunk = b"#" + b" " * ((1 << 20) - 1)
            for _ in range(64):
                member.write(chunk)
        zf.writestr("weights.onnx", b"\x00" * 16)
    assert package.stat().st_size < 1 << 20
    models = tmp_path / "models"
    assert main(["import-bioimageio", str(package), "bomb", "--models-root", str(models)]) == 2
    err = capsys.readouterr().err
    assert "bioimageio.yaml is 64 MB unpacked, over the limit of 16 MB" in err, err
    folder = tmp_path / "unpacked"
    folder.mkdir()
    (folder / "bioimageio.yaml").write_bytes(b"#" + b" " * (17 << 20))
    with pytest.raises(OmniClasError, match="bioimageio.yaml is 17 MB unpacked") as caught:
        Registry(models).register(folder, "bomb", framework="bioimageio")
    assert caught.value.http_status == 400 and caught.value.field == "file"
    assert not models.exists() or Registry(models).names() == []

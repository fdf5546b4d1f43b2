"""ONNX: every native model exports; the export re-imports through the onnx framework with the same classes;
external ONNX classifiers import with a class list."""
from __future__ import annotations

import json

import numpy as np
import pytest

from live_server import require_data

from omniclas.model.calibration import apply_temperature
from omniclas.registry import Registry
from omniclas.registry.onnx_framework import OnnxImportError


@pytest.fixture(scope="module")
def reg(live_server, tmp_path_factory):
    r = Registry(tmp_path_factory.mktemp("onnx") / "models", bf16=False)
    r.register(live_server.run_dir, "cells")
    return r


@pytest.fixture(scope="module")
def exported(reg, tmp_path_factory):
    return reg.export("cells", tmp_path_factory.mktemp("export") / "cells.onnx")


def test_export_is_self_describing(exported):
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(exported))
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["omniclas.classes"]) == ["CytoplasmicGFP", "NoGFP", "NuclearGFP"]
    assert json.loads(meta["omniclas.input_size"]) == [64, 64]
    sess = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input"]
    assert [o.name for o in sess.get_outputs()] == ["logits", "probabilities"]
    logits, probs = sess.run(None, {"input": np.random.default_rng(0).random((5, 3, 64, 64), dtype=np.float32)})
    assert logits.shape == probs.shape == (5, 3)  # dynamic batch
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)


def test_reimport_gives_same_classes(reg, exported, live_server, tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("CytoplasmicGFP\nNoGFP\nNuclearGFP\n")
    m = reg.register(exported, "cells-onnx", framework="onnx", classes=classes)
    assert m["framework"] == "onnx" and m["classes"] == ["CytoplasmicGFP", "NoGFP", "NuclearGFP"]
    assert m["input_size"] == [64, 64]
    assert [x["name"] for x in reg.list_models("onnx")] == ["cells-onnx"]
    images = sorted(p for c in ("CytoplasmicGFP", "NoGFP", "NuclearGFP")
                    for p in (require_data() / c).iterdir())
    native = reg.predict_batch("cells", images)
    onnx_res = reg.predict_batch("cells-onnx", images)
    assert [r["class"] for r in native] == [r["class"] for r in onnx_res]
    # the export carries the network as trained; the native model applies its run's temperature (docs/calibration.md)
    temperature = json.loads((live_server.run_dir / "manifest.json").read_text())["calibration"]["temperature"]
    onnx_probs = np.array([[r["probabilities"][c] for c in m["classes"]] for r in onnx_res])
    np.testing.assert_allclose([r["confidence"] for r in native],
                               apply_temperature(onnx_probs, temperature).max(axis=1), atol=1e-3)
    # exporting an onnx-framework model hands back its file
    again = reg.export("cells-onnx", tmp_path / "again.onnx")
    assert again.read_bytes() == exported.read_bytes()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_external_onnx_classifier(reg, tmp_path):
    """A model that OmniClas did not make: NHWC input, fixed 32x32, probabilities out, no metadata."""
    import torch

    class Tiny(torch.nn.Module):
        def forward(self, x):  # NHWC; class 0 = dark, class 1 = bright
            m = x.mean(dim=(1, 2, 3)).unsqueeze(1)
            return torch.softmax(torch.cat([-m * 10, m * 10], 1), 1)

    path = tmp_path / "tiny.onnx"
    torch.onnx.export(Tiny(), (torch.rand(1, 32, 32, 3),), str(path), dynamo=False, input_names=["x"],
                      output_names=["p"], dynamic_axes={"x": {0: "n"}, "p": {0: "n"}}, opset_version=17)
    with pytest.raises(OnnxImportError, match="class list"):
        reg.register(path, "tiny", framework="onnx")
    with pytest.raises(OnnxImportError, match="classes"):
        reg.register(path, "tiny", framework="onnx", classes=["a", "b", "c"])
    m = reg.register(path, "tiny", framework="onnx", classes=["dark", "bright"], mean=[0.5] * 3, std=[0.5] * 3)
    assert m["input_size"] == [32, 32]
    manifest = reg.model_info("tiny")["manifest"]
    assert manifest["layout"] == "NHWC" and manifest["output"] == "auto"
    dark = np.full((50, 40, 3), 10, np.uint8)
    bright = np.full((20, 20, 3), 250, np.uint8)
    res = reg.predict_batch("tiny", [dark, bright])
    assert [r["class"] for r in res] == ["dark", "bright"]
    assert res[1]["confidence"] > 0.9


def test_bad_onnx_files_refused(reg, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(OnnxImportError, match="not a valid ONNX"):
        reg.register(junk, "junk", framework="onnx", classes=["a", "b"])
    with pytest.raises(Exception, match="not found"):
        reg.register(tmp_path / "missing.onnx", "junk", framework="onnx", classes=["a", "b"])
    assert "junk" not in reg.names()

"""The saved ensemble works everywhere a model works: run folder, `omniclas predict`, the registry, the server,
the DeepClas4Bio commands, and ONNX as one graph."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from live_server import ROOT, server_env

from omniclas.config import TrainConfig
from omniclas.engine import train
from omniclas.data.imageio import read_image
from omniclas.model.calibration import apply_temperature
from omniclas.model.predictor import Predictor
from omniclas.registry import Registry

CLASSES = ["CytoplasmicGFP", "NoGFP", "NuclearGFP"]


@pytest.fixture(scope="module")
def ensemble_run(small_bbbc013, tmp_path_factory):
    cfg = TrainConfig(dataset=str(small_bbbc013), out_dir=str(tmp_path_factory.mktemp("ens") / "run"), process="imd",
                      backbones=("efficientnet_lite0", "efficientnet_lite1"), image_size=64, max_iterations=1,
                      auto_views=False)
    return train(cfg)


@pytest.fixture(scope="module")
def registry(ensemble_run, tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("ens-models") / "models")
    reg.register(ensemble_run.run_dir, "cells-ensemble")
    return reg


@pytest.fixture(scope="module")
def images(small_bbbc013):
    return sorted((small_bbbc013 / "unlabelled").iterdir())[:6]


def test_the_run_saves_one_ensemble_with_flipped_views(ensemble_run):
    m = ensemble_run.manifest
    assert len(m["members"]) == 2 and m["views"] == ["original", "hflip", "vflip", "hvflip"]
    assert m["cost"]["body_passes_per_image"] == 8


def test_registry_predicts_as_the_run_folder(registry, ensemble_run, images):
    direct = Predictor.load(ensemble_run.run_dir).predict_proba(images)
    results = registry.predict_batch("cells-ensemble", images)
    assert [r["class"] for r in results] == [CLASSES[i] for i in direct.argmax(1)]
    calibrated = apply_temperature(direct, ensemble_run.manifest["calibration"]["temperature"])
    np.testing.assert_allclose([r["confidence"] for r in results], calibrated.max(1), atol=1e-5)
    info = registry.model_info("cells-ensemble")
    assert info["backbone"] == "efficientnet_lite0+efficientnet_lite1" and len(info["manifest"]["members"]) == 2


def test_onnx_export_is_one_graph_with_the_same_predictions(registry, ensemble_run, images, tmp_path):
    import onnx
    import onnxruntime as ort

    out = registry.export("cells-ensemble", tmp_path / "ensemble.onnx")
    proto = onnx.load(str(out))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert len(json.loads(meta["omniclas.members"])) == 2
    reference = Predictor.load(ensemble_run.run_dir, bf16=False, runtime="torch")
    x = reference.preprocess([read_image(p) for p in images]).numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert len(session.get_inputs()) == 1
    probs = session.run(["probabilities"], {"input": x})[0]
    np.testing.assert_allclose(probs, reference.predict_proba(images), atol=1e-3)


def test_server_classifies_with_the_ensemble(registry, images):
    from omniclas.server import create_app

    app = create_app({"MODELS_ROOT": str(registry.root), "TESTING": True})
    client = app.test_client()
    files = [(open(p, "rb"), p.name) for p in images[:2]]
    try:
        resp = client.post("/api/v1/predict", data={"model": "cells-ensemble", "images": files},
                           content_type="multipart/form-data")
    finally:
        for f, _ in files:
            f.close()
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["model"] == "cells-ensemble" and [r["image"] for r in body["results"]] == [p.name for p in images[:2]]
    expected = registry.predict_batch("cells-ensemble", images[:2])
    assert [r["class"] for r in body["results"]] == [r["class"] for r in expected]


def test_deepclas4bio_predict_command_uses_the_ensemble(registry, images, tmp_path):
    env = server_env(OMNICLAS_MODELS=str(registry.root))
    script = os.path.join(os.path.dirname(sys.executable), "deepclas4bio-predict")
    proc = subprocess.run([script, str(images[0]), "omniclas", "cells-ensemble"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads((tmp_path / "data.json").read_text())
    assert answer["class"] == registry.predict("cells-ensemble", images[0])["class"]


def test_omniclas_predict_command_on_the_run_folder(ensemble_run, images, tmp_path):
    out = tmp_path / "results.csv"
    proc = subprocess.run([sys.executable, "-m", "omniclas", "predict", str(ensemble_run.run_dir), *map(str, images),
                           "--csv", str(out)], cwd=ROOT, env=server_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = out.read_text().splitlines()
    assert len(rows) == 1 + len(images) and rows[0].startswith("image,")

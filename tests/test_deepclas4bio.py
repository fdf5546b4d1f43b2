"""DeepClas4Bio command-line compatibility: every command writes ./data.json with DeepClas4Bio's exact keys."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from live_server import require_data, server_env, small_dataset

from omniclas import deepclas4bio as dc
from omniclas.registry import Registry


@pytest.fixture(scope="module")
def models_root(live_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("dc4b") / "models"
    reg = Registry(root)
    reg.register(live_server.run_dir, "cells")
    reg.export("cells", root.parent / "cells.onnx")
    reg.register(root.parent / "cells.onnx", "cells-onnx", framework="onnx")
    return root


@pytest.fixture()
def cwd(tmp_path, monkeypatch, models_root):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMNICLAS_MODELS", str(models_root))
    return tmp_path


def data_json(cwd):
    return json.loads((cwd / "data.json").read_text())


def images():
    root = require_data()
    return [str(sorted((root / c).iterdir())[0]) for c in ("CytoplasmicGFP", "NoGFP", "NuclearGFP")]


def test_list_frameworks(cwd):
    assert dc.list_frameworks_main([]) == 0
    d = data_json(cwd)
    assert d["type"] == "frameworks" and d["frameworks"][:2] == ["omniclas", "onnx"]


def test_list_models(cwd):
    assert dc.list_models_main(["omniclas"]) == 0
    assert data_json(cwd) == {"type": "models", "framework": "omniclas", "models": ["cells"]}
    assert dc.list_models_main(["onnx"]) == 0
    assert data_json(cwd) == {"type": "models", "framework": "onnx", "models": ["cells-onnx"]}


def test_predict(cwd):
    img = images()[1]
    assert dc.predict_main([img, "omniclas", "cells"]) == 0
    d = data_json(cwd)
    assert {k: d[k] for k in ("type", "image", "framework", "model")} == {
        "type": "classification", "image": img, "framework": "omniclas", "model": "cells"}
    assert d["class"] in ("CytoplasmicGFP", "NoGFP", "NuclearGFP") and 0 < d["confidence"] <= 1


def test_predict_batch(cwd):
    imgs = images()
    (cwd / "batch.json").write_text(json.dumps({"framework": "onnx", "model": "cells-onnx", "images": imgs}))
    assert dc.predict_batch_main(["batch.json"]) == 0
    d = data_json(cwd)
    assert {k: d[k] for k in ("type", "framework", "model")} == {"type": "classification", "framework": "onnx",
                                                                   "model": "cells-onnx"}
    assert [r["image"] for r in d["results"]] == imgs
    assert all(set(r) >= {"image", "class"} for r in d["results"])


def test_list_measures(cwd):
    assert dc.list_measures_main([]) == 0
    assert data_json(cwd) == {"type": "measures", "measures": ["accuracy", "precision", "recall", "f1", "jaccardIndex",
                                                               "matthewsCorrelation", "auroc", "rank5"]}


def test_evaluate(cwd):
    labels = cwd / "labels.txt"
    labels.write_text("CytoplasmicGFP\nNoGFP\nNuclearGFP\n")
    cfg = {"readDataset": "ReadDatasetFolders", "pathDataset": str(small_dataset(cwd / "small")), "pathLabels": str(labels),
           "measures": ["accuracy", "rank5", "f1"],
           "predictors": [{"framework": "omniclas", "model": "cells"}, {"framework": "onnx", "model": "cells-onnx"}]}
    (cwd / "eval.json").write_text(json.dumps(cfg))
    assert dc.evaluate_main(["eval.json"]) == 0
    d = data_json(cwd)
    assert set(d) == {"cells", "cells-onnx"}
    for name in d:
        assert set(d[name]) == {"accuracy", "rank5", "f1"} and 0.6 < d[name]["accuracy"] <= 1


def test_errors_write_an_error_document(cwd, capsys):
    assert dc.predict_main([str(cwd / "missing.png"), "omniclas", "cells"]) == 2
    assert data_json(cwd)["type"] == "error" and "missing.png" in data_json(cwd)["message"]
    assert dc.predict_main([images()[0], "onnx", "cells"]) == 2
    assert "framework 'omniclas'" in data_json(cwd)["message"]
    assert dc.list_models_main(["caffe"]) == 2
    (cwd / "bad.json").write_text("{nope")
    assert dc.predict_batch_main(["bad.json"]) == 2
    assert dc.evaluate_main(["bad.json"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_console_entry_runs_as_a_process(cwd, models_root):
    env = server_env(OMNICLAS_MODELS=models_root)
    out = subprocess.run([sys.executable, "-m", "omniclas.deepclas4bio", "listModels", "omniclas"], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert data_json(cwd) == {"type": "models", "framework": "omniclas", "models": ["cells"]}

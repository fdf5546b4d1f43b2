"""DeepClas4Bio compatibility: every command writes ./data.json with DeepClas4Bio's exact keys, on success and on
every failure, and the importable ``deepclas4bio`` module answers as the original one (real model and images)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile

from live_server import require_data, server_env, small_dataset

from omniclas import deepclas4bio as dc
from omniclas.data.imageio import read_image
from omniclas.registry import Registry

CLASSES = ("CytoplasmicGFP", "NoGFP", "NuclearGFP")


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
    return [str(sorted((root / c).iterdir())[0]) for c in CLASSES]


def stale(cwd):
    """An answer left by an earlier call, which a failing call must replace."""
    (cwd / "data.json").write_text(json.dumps({"type": "models", "framework": "omniclas", "models": ["old"]}))


def test_list_frameworks(cwd):
    assert dc.list_frameworks_main([]) == 0
    d = data_json(cwd)
    assert d["type"] == "frameworks" and d["frameworks"][:2] == ["omniclas", "onnx"]


def test_list_models(cwd):
    assert dc.list_models_main(["omniclas"]) == 0
    assert data_json(cwd) == {"type": "models", "framework": "omniclas", "models": ["cells"]}
    assert dc.list_models_main(["onnx"]) == 0
    assert data_json(cwd) == {"type": "models", "framework": "onnx", "models": ["cells-onnx"]}
    # the first call of every Java client: a framework OmniClas does not have answers with no models
    assert dc.list_models_main(["Keras"]) == 0
    assert data_json(cwd) == {"type": "models", "framework": "Keras", "models": []}
    assert dc.list_models_main(["-f", "omniclas"]) == 0  # the old script flag
    assert data_json(cwd)["models"] == ["cells"]


def test_list_read_datasets_and_measures(cwd):
    assert dc.list_read_datasets_main([]) == 0
    d = data_json(cwd)
    assert d["type"] == "readDatasets" and [r["name"] for r in d["readDatasets"]] == ["ReadDatasetFolders"]
    assert all(isinstance(r["description"], str) and r["description"] for r in d["readDatasets"])
    assert dc.list_measures_main([]) == 0
    assert data_json(cwd) == {"type": "measures", "measures": ["accuracy", "precision", "recall", "f1", "jaccardIndex",
                                                               "matthewsCorrelation", "auroc", "rank5"]}


def test_predict(cwd):
    img = images()[1]
    assert dc.predict_main([img, "omniclas", "cells"]) == 0
    d = data_json(cwd)
    assert {k: d[k] for k in ("type", "image", "framework", "model")} == {
        "type": "classification", "image": img, "framework": "omniclas", "model": "cells"}
    assert d["class"] in CLASSES and 0 < d["confidence"] <= 1 and "slices" not in d
    assert isinstance(d["unsure"], bool) and d["runner_up"]["class"] in CLASSES and d["runner_up"]["class"] != d["class"]
    assert d["runner_up"]["probability"] <= d["confidence"]
    assert dc.predict_main(["-i", img, "-f", "omniclas", "-m", "cells"]) == 0  # the old script flags
    assert data_json(cwd)["class"] == d["class"]


def test_path_split_at_its_spaces_is_joined_again(cwd):
    """Runtime.exec(String) splits 'deepclas4bio-predict /my images/cell 1.png omniclas cells' at every space."""
    folder = cwd / "my images"
    folder.mkdir()
    target = folder / "cell 1.png"
    target.write_bytes(open(images()[2], "rb").read())
    assert dc.predict_main(f"{target} omniclas cells".split()) == 0
    assert data_json(cwd)["image"] == str(target) and data_json(cwd)["class"] in CLASSES
    assert dc.predict_main(str(target).split()) == 2  # the path alone, split in three: no framework, no model
    assert "usage" in data_json(cwd)["message"] and str(target) in data_json(cwd)["message"]
    (folder / "batch.json").write_text(json.dumps({"framework": "omniclas", "model": "cells", "images": [str(target)]}))
    assert dc.predict_batch_main(str(folder / "batch.json").split()) == 0
    assert data_json(cwd)["results"][0]["image"] == str(target)


def test_stacks_give_every_page(cwd):
    pages = [read_image(p) for p in images()]
    h, w = min(p.shape[0] for p in pages), min(p.shape[1] for p in pages)
    stack = cwd / "stack.tif"
    tifffile.imwrite(stack, np.stack([p[:h, :w] for p in pages]), photometric="rgb")
    assert dc.predict_main([str(stack), "omniclas", "cells"]) == 0
    d = data_json(cwd)
    assert [s["slice"] for s in d["slices"]] == [1, 2, 3] and d["class"] == d["slices"][0]["class"]
    (cwd / "batch.json").write_text(json.dumps({"framework": "omniclas", "model": "cells",
                                                "images": [str(stack), images()[0]]}))
    assert dc.predict_batch_main(["batch.json"]) == 0
    rows = data_json(cwd)["results"]
    assert [(r["image"], r.get("slice")) for r in rows] == [(str(stack), 1), (str(stack), 2), (str(stack), 3),
                                                            (images()[0], None)]


def test_predict_batch(cwd):
    imgs = images()
    (cwd / "batch.json").write_text(json.dumps({"framework": "onnx", "model": "cells-onnx", "images": imgs}))
    assert dc.predict_batch_main(["batch.json"]) == 0
    d = data_json(cwd)
    assert {k: d[k] for k in ("type", "framework", "model")} == {"type": "classification", "framework": "onnx",
                                                                   "model": "cells-onnx"}
    assert [r["image"] for r in d["results"]] == imgs
    assert all(set(r) >= {"image", "class"} for r in d["results"])


def test_predict_batch_config_in_data_json_and_unreadable_files(cwd):
    """DeepClas4BioIcyKvasir writes its request into ./data.json and lists every file of a folder."""
    (cwd / "notes.txt").write_text("not an image")
    request = {"framework": "omniclas", "model": "cells", "images": [images()[0], str(cwd / "notes.txt")]}
    (cwd / "data.json").write_text(json.dumps(request))
    assert dc.predict_batch_main([str(cwd / "data.json")]) == 1  # one file could not be read
    d = data_json(cwd)
    assert d["type"] == "classification" and len(d["results"]) == 2
    assert d["results"][0]["class"] in CLASSES
    assert d["results"][1]["class"] is None and "notes.txt" in d["results"][1]["error"]


def test_evaluate(cwd):
    labels = cwd / "labels.txt"
    labels.write_text("CytoplasmicGFP\nNoGFP\nNuclearGFP\n")
    cfg = {"readDataset": "ReadDatasetFolders", "pathDataset": str(small_dataset(cwd / "small")),
           "pathLabels": str(labels), "measures": ["accuracy", "rank5", "f1"],
           "predictors": [{"framework": "omniclas", "model": "cells"}, {"framework": "onnx", "model": "cells-onnx"}]}
    (cwd / "eval.json").write_text(json.dumps(cfg))
    assert dc.evaluate_main(["eval.json"]) == 0
    d = data_json(cwd)
    assert set(d) == {"cells", "cells-onnx"}
    for name in d:
        assert set(d[name]) == {"accuracy", "rank5", "f1"} and 0.6 < d[name]["accuracy"] <= 1
    text = (cwd / "data.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # json-simple could not parse them


def deepcompare_table(d: dict) -> list[list]:
    """What DeepCompareJ does with evaluate's answer: each value cast to an object, each measure to a Double."""
    rows = []
    for model, measures in d.items():
        assert isinstance(measures, dict), (model, measures)
        assert all(v is None or isinstance(v, float) for v in measures.values()), measures
        rows.append([model, *measures.values()])
    return rows


def test_evaluate_errors_keep_a_shape_deepcomparej_casts(cwd, capsys):
    dataset = str(small_dataset(cwd / "ds"))
    cfg = {"readDataset": "ReadDatasetFolders", "pathDataset": dataset, "pathLabels": "",
           "measures": ["accuracy"], "predictors": [{"framework": "omniclas", "model": "cells"}]}
    (cwd / "labels.txt").write_text("NoGFP\nGhost\n")
    for change, words in (({"pathDataset": str(cwd / "nowhere")}, "nowhere"),
                          ({"readDataset": "ReadDatasetCSV"}, "ReadDatasetCSV"),
                          ({"measures": ["ACCURACY"]}, "did you mean 'accuracy'"),
                          ({"predictors": [{"framework": "Keras", "model": "VGG16"}]}, "Keras"),
                          ({"pathLabels": str(cwd / "labels.txt")}, "Ghost"),
                          ({"pathLabels": str(cwd / "no-labels.txt")}, "no-labels.txt")):
        (cwd / "eval.json").write_text(json.dumps({**cfg, **change}))
        assert dc.evaluate_main(["eval.json"]) == 2
        rows = deepcompare_table(data_json(cwd))
        assert len(rows) == 1 and rows[0][0].startswith(dc.ERROR_KEY) and words in rows[0][0], (change, rows)
    assert "Traceback" not in capsys.readouterr().err


def test_errors_write_an_error_document(cwd, capsys):
    assert dc.predict_main([str(cwd / "missing.png"), "omniclas", "cells"]) == 2
    assert data_json(cwd)["type"] == "error" and "missing.png" in data_json(cwd)["message"]
    assert data_json(cwd)["class"] is None
    assert dc.predict_main([images()[0], "onnx", "cells"]) == 2
    assert "framework 'omniclas'" in data_json(cwd)["message"]
    assert dc.predict_main([images()[0], "Keras", "VGG16"]) == 2
    assert "not installed" in data_json(cwd)["message"]
    (cwd / "bad.json").write_text("{nope")
    assert dc.predict_batch_main(["bad.json"]) == 2
    assert data_json(cwd)["results"] == []
    assert dc.evaluate_main(["bad.json"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


@pytest.mark.parametrize("main, argv, key", [
    (dc.predict_main, ["only-an-image.png"], "class"), (dc.predict_main, [], "class"),
    (dc.list_models_main, [], "models"), (dc.list_models_main, ["a", "b"], "models"),
    (dc.predict_batch_main, [], "results"), (dc.list_frameworks_main, ["extra"], "frameworks"),
    (dc.list_read_datasets_main, ["extra"], "readDatasets"), (dc.list_measures_main, ["--bogus"], "measures")])
def test_usage_errors_replace_the_last_answer(cwd, main, argv, key):
    stale(cwd)
    assert main(argv) == 2
    d = data_json(cwd)
    assert d["type"] == "error" and "usage" in d["message"] and d[key] in ([], None)
    stale(cwd)
    assert dc.evaluate_main([]) == 2
    assert next(iter(data_json(cwd))).startswith(dc.ERROR_KEY + "usage")


def test_a_killed_command_leaves_no_stale_answer(cwd, models_root):
    """The answer is first written as 'did not finish': a command killed while it works (here: blocked reading
    a pipe named as its image) leaves that, not the previous call's answer."""
    stale(cwd)
    fifo = cwd / "image.png"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "omniclas.deepclas4bio", "predict", str(fifo), "omniclas",
                             "cells"], cwd=cwd, env=server_env(OMNICLAS_MODELS=models_root))
    try:
        deadline = time.monotonic() + 120
        while "did not finish" not in (cwd / "data.json").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, "the placeholder was never written"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    d = data_json(cwd)
    assert d["type"] == "error" and d["class"] is None and "did not finish" in d["message"]


def test_importable_deepclas4bio_module(cwd, models_root):
    """The ImagePy client: ``import deepclas4bio as dc4b`` with the original function names."""
    import deepclas4bio as dc4b

    assert dc4b.listFrameworks()[:2] == ["omniclas", "onnx"]
    assert dc4b.listModels("Keras") == [] and dc4b.listModels("omniclas") == ["cells"]
    assert "rank5" in dc4b.listMeasures() and dc4b.listReadDatasets()[0]["name"] == "ReadDatasetFolders"
    cls = dc4b.predict(images()[1], "omniclas", "cells")
    assert isinstance(cls, str) and cls in CLASSES
    assert dc4b.predictBatch(images(), "onnx", "cells-onnx") == [dc4b.predict(i, "onnx", "cells-onnx")
                                                                   for i in images()]
    result = dc4b.evaluate("ReadDatasetFolders", str(small_dataset(cwd / "small")), "", ["accuracy"],
                           [{"framework": "omniclas", "model": "cells"}])
    assert set(result) == {"cells"} and 0.6 < result["cells"]["accuracy"] <= 1
    from omniclas.errors import OmniClasError

    with pytest.raises(OmniClasError, match="not installed"):
        dc4b.predict(images()[0], "Keras", "VGG16")


def test_console_entry_runs_as_a_process(cwd, models_root):
    env = server_env(OMNICLAS_MODELS=models_root)
    out = subprocess.run([sys.executable, "-m", "omniclas.deepclas4bio", "listModels", "omniclas"], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert data_json(cwd) == {"type": "models", "framework": "omniclas", "models": ["cells"]}
    stale(cwd)
    out = subprocess.run([sys.executable, "-m", "omniclas.deepclas4bio", "listEverything"], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and data_json(cwd)["type"] == "error"

"""One unreadable image never sinks a batch: the HTTP API (a real server on loopback and the Flask test client), the
DeepClas4Bio commands (as processes) and evaluation answer for every other image and name the bad one.

The bad image is a real PNG cut in half, from the fixture set (tests/data/corrupt/).
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import warnings

import pytest
import requests

from live_server import require_data, server_env, small_dataset

from omniclas.registry import Registry
from omniclas.server import create_app

CLASSES = ("CytoplasmicGFP", "NoGFP", "NuclearGFP")


def good_images():
    root = require_data()
    return [sorted((root / c).iterdir())[0] for c in CLASSES]


def uploads(corrupt_png):
    """Three good images with a truncated one third, each under the client's own file name."""
    files = [(p.name, p.read_bytes()) for p in good_images()]
    files.insert(2, ("broken.png", corrupt_png.read_bytes()))
    return files


def check_results(results, names):
    assert [r["image"] for r in results] == names
    bad = results[2]
    assert set(bad) == {"image", "error"}, bad
    assert bad["error"].startswith("broken.png: ") and "truncated" in bad["error"]
    for r in results[:2] + results[3:]:
        assert r["class"] in CLASSES and "error" not in r and set(r["probabilities"]) == set(CLASSES)


def test_predict_over_http_answers_every_image(live_server, corrupt_png):
    files = uploads(corrupt_png)
    r = requests.post(live_server.api("predict"), data={"model": live_server.model},
                      files=[("images", (name, data, "image/png")) for name, data in files], timeout=120)
    assert r.status_code == 200, r.text
    check_results(r.json()["results"], [name for name, _ in files])


@pytest.fixture(scope="module")
def models_root(live_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad") / "models"
    Registry(root).register(live_server.run_dir, "cells")
    return root


def test_predict_in_the_flask_app_and_its_limits(models_root, tmp_path, corrupt_png):
    """Each image's own trouble (corrupt, unknown format, too many pixels) is its result; the request's limits
    (pages, decoded bytes of all the images together) still refuse the request."""
    app = create_app({"MODELS_ROOT": str(models_root), "JOBS_DIR": str(tmp_path / "jobs"), "BF16": False,
                      "MAX_PAGES": 4})
    try:
        c = app.test_client()

        def post(files):
            return c.post("/api/v1/predict", content_type="multipart/form-data",
                          data={"model": "cells", "images": [(io.BytesIO(d), n) for n, d in files]})

        files = uploads(corrupt_png)
        r = post(files)
        assert r.status_code == 200, r.get_data(as_text=True)
        check_results(r.get_json()["results"], [n for n, _ in files])
        one = post([("notes.gif", b"GIF89a not really")])
        assert one.status_code == 200 and "GIF is not supported" in one.get_json()["results"][0]["error"]
        too_many = post(files + [("fifth.png", files[0][1])])  # 5 pages, the request allows 4
        assert too_many.status_code == 413 and "pages" in too_many.get_json()["error"]["message"]
    finally:
        app.extensions["omniclas"].close()


def test_deepclas4bio_commands_answer_for_the_good_images(models_root, tmp_path, corrupt_png):
    work = tmp_path / "work"
    work.mkdir()
    broken = work / "broken.png"
    shutil.copy(corrupt_png, broken)
    images = [str(p) for p in good_images()]
    images.insert(2, str(broken))
    (work / "batch.json").write_text(json.dumps({"framework": "omniclas", "model": "cells", "images": images}))
    env = server_env(OMNICLAS_MODELS=models_root)
    out = subprocess.run([sys.executable, "-m", "omniclas.deepclas4bio", "predictBatch", "batch.json"], cwd=work,
                         env=env, capture_output=True, text=True, timeout=300)
    answer = json.loads((work / "data.json").read_text())
    assert answer["type"] == "classification" and [r["image"] for r in answer["results"]] == images, out.stderr
    assert answer["results"][2]["class"] is None and "truncated" in answer["results"][2]["error"]
    assert all(r["class"] in CLASSES for i, r in enumerate(answer["results"]) if i != 2)

    dataset = small_dataset(tmp_path / "small", per_class=4)
    shutil.copy(corrupt_png, dataset / "NoGFP" / "broken.png")
    (work / "eval.json").write_text(json.dumps({"readDataset": "ReadDatasetFolders", "pathDataset": str(dataset),
                                                "measures": ["accuracy"],
                                                "predictors": [{"framework": "omniclas", "model": "cells"}]}))
    out = subprocess.run([sys.executable, "-m", "omniclas.deepclas4bio", "evaluate", "eval.json"], cwd=work,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    answer = json.loads((work / "data.json").read_text())
    assert 0 < answer["cells"]["accuracy"] <= 1
    skipped = [k for k in answer if k.startswith("SKIPPED")]
    assert len(skipped) == 1 and "1 unreadable image" in skipped[0] and "broken.png" in skipped[0]
    assert answer[skipped[0]] == {}  # a table row DeepCompareJ can show: an object with no measures


def test_python_api_and_evaluation_name_the_bad_image(models_root, tmp_path, corrupt_png, capsys):
    import deepclas4bio as dc4b

    from omniclas.cli import main

    images = [str(p) for p in good_images()]
    images.insert(2, str(corrupt_png))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        classes = dc4b.predictBatch(images, "omniclas", "cells", root=models_root)
    assert classes[2] is None and all(c in CLASSES for i, c in enumerate(classes) if i != 2)
    assert [str(corrupt_png) in str(w.message) for w in caught] == [True]

    dataset = small_dataset(tmp_path / "small", per_class=4)
    shutil.copy(corrupt_png, dataset / "NoGFP" / "broken.png")
    result = Registry(models_root).evaluate(dataset, ["accuracy"], ["cells"])
    assert result["images"] == 12 and [s["path"] for s in result["skipped"]] == [str(dataset / "NoGFP" / "broken.png")]
    assert main(["evaluate", str(dataset), "--model", "cells", "--models-root", str(models_root)]) == 0
    out = capsys.readouterr().out
    assert "12 images" in out and "1 unreadable, not counted" in out and "broken.png" in out

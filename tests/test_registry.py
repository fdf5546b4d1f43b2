"""The model registry: layout, manifest, atomic writes, tamper refusal, names, predict and evaluate (real model)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from live_server import require_data, small_dataset  # the live_server fixture itself comes from conftest

from omniclas.errors import DatasetError, ImageReadError
from omniclas.registry import (FrameworkUnavailable, InvalidName, ModelExists, ModelIntegrityError, ModelNotFound,
                               Registry, RunFolderError, list_frameworks)
from omniclas.registry import frameworks as fw_mod

PKG = Path(__file__).resolve().parents[1] / "python_server" / "omniclas"


@pytest.fixture(scope="module")
def run_dir(live_server) -> Path:
    return live_server.run_dir


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return small_dataset(tmp_path_factory.mktemp("small") / "cells")


@pytest.fixture()
def reg(tmp_path, run_dir) -> Registry:
    r = Registry(tmp_path / "models", bf16=False)
    r.register(run_dir, "cells")
    return r


def some_images(n_per_class=3):
    root = require_data("bbbc013")
    out = []
    for cls in ("CytoplasmicGFP", "NoGFP", "NuclearGFP"):
        out += sorted((root / cls).iterdir())[:n_per_class]
    return out


def test_layout_manifest_and_card(reg, run_dir):
    folder = reg.root / "cells" / "1"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "manifest.json", "model.safetensors", "report.html"]
    m = json.loads((folder / "manifest.json").read_text())
    run_m = json.loads((run_dir / "manifest.json").read_text())
    assert m["name"] == "cells" and m["version"] == 1 and m["framework"] == "omniclas"
    assert m["classes"] == run_m["classes"] == ["CytoplasmicGFP", "NoGFP", "NuclearGFP"]
    assert m["input_size"] == [64, 64] and m["backbone"] == "efficientnet_lite0"
    assert m["normalisation"]["mean"] == run_m["mean"] and m["normalisation"]["std"] == run_m["std"]
    assert m["metrics"]["test_accuracy"] == pytest.approx(run_m["test"]["accuracy"])
    prov = m["provenance"]
    assert prov["process"] == "nd" and prov["config"]["head"] == "linear"
    assert prov["data_hashes"] == run_m["data_hashes"] and "versions" in prov and prov["run_dir"] == str(run_dir)
    for fname in ("model.safetensors", "README.md"):
        assert m["files"][fname] == hashlib.sha256((folder / fname).read_bytes()).hexdigest()
    card = (folder / "README.md").read_text()
    assert "# cells (version 1)" in card and "NuclearGFP" in card and m["files"]["model.safetensors"] in card
    # weights are a byte-identical copy
    assert (folder / "model.safetensors").read_bytes() == (run_dir / "model.safetensors").read_bytes()


def test_versions_list_info_rename_delete(reg, run_dir):
    assert reg.register(run_dir, "cells")["version"] == 2
    reg.register(run_dir, "other")
    models = {m["name"]: m for m in reg.list_models()}
    assert set(models) == {"cells", "other"} and models["cells"]["version"] == 2 and models["cells"]["versions"] == [1, 2]
    assert reg.list_models("onnx") == [] and len(reg.list_models("omniclas")) == 2
    info = reg.model_info("cells@1")
    assert info["version"] == 1 and info["manifest"]["name"] == "cells"
    with pytest.raises(ModelNotFound):
        reg.model_info("cells@7")
    with pytest.raises(ModelExists):
        reg.rename("cells", "other")
    renamed = reg.rename("cells", "nuclei")
    assert renamed["name"] == "nuclei" and renamed["versions"] == [1, 2]
    assert reg.model_info("nuclei@2")["manifest"]["name"] == "nuclei"
    reg.verify(reg.root / "nuclei" / "2")  # card rewritten, hashes still hold
    assert "# nuclei (version 2)" in (reg.root / "nuclei" / "2" / "README.md").read_text()
    with pytest.raises(ModelNotFound):
        reg.predict("cells", some_images(1)[0])
    assert reg.delete("nuclei@1") == "nuclei@1"
    assert reg.versions("nuclei") == [2]
    assert reg.delete("nuclei") == "nuclei"
    assert [m["name"] for m in reg.list_models()] == ["other"]
    assert not any(p.name.startswith((".tmp", ".trash")) for p in reg.root.iterdir())
    with pytest.raises(FrameworkUnavailable):
        reg.list_models("caffe")


@pytest.mark.parametrize("bad", ["", "../evil", "a/b", "..", ".hidden", "x" * 101, "name@0", "name@x", "a\\b"])
def test_invalid_names_refused(reg, run_dir, bad):
    with pytest.raises(InvalidName):
        reg.register(run_dir, bad) if "@" not in bad else reg.model_info(bad)


def test_register_refuses_non_runs(reg, tmp_path):
    with pytest.raises(RunFolderError):
        reg.register(tmp_path / "missing", "x")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "manifest.json").write_text("{}")
    with pytest.raises(RunFolderError, match="model.safetensors"):
        reg.register(tmp_path / "half", "x")
    # a pickle disguised as weights is refused without being loaded
    (tmp_path / "half" / "model.safetensors").write_bytes(b"\x80\x04\x95pickle")
    (tmp_path / "half" / "manifest.json").write_text(json.dumps(
        {"classes": ["a", "b"], "backbone": "efficientnet_lite0", "input_size": [64, 64], "mean": [0.5] * 3,
         "std": [0.5] * 3}))
    with pytest.raises(RunFolderError, match="not a safetensors"):
        reg.register(tmp_path / "half", "x")
    assert reg.names() == ["cells"]


def test_crash_mid_register_leaves_registry_as_it_was(reg, run_dir, monkeypatch):
    before = sorted(str(p.relative_to(reg.root)) for p in reg.root.rglob("*") if ".lock" not in p.name)
    native = fw_mod.get_framework("omniclas")
    real_create = native.create

    def crash_after_copy(dest, source, **kw):
        real_create(dest, source, **kw)
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(native, "create", crash_after_copy)
    with pytest.raises(KeyboardInterrupt):
        reg.register(run_dir, "cells")
    with pytest.raises(KeyboardInterrupt):
        reg.register(run_dir, "brand-new")
    monkeypatch.undo()

    import omniclas.registry.store as store_mod
    from omniclas.registry.errors import ModelsFolderFull

    def failing_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_mod.os, "rename", failing_rename)
    with pytest.raises(ModelsFolderFull, match="is full"):  # said so, naming the folder
        reg.register(run_dir, "cells")
    monkeypatch.undo()
    after = sorted(str(p.relative_to(reg.root)) for p in reg.root.rglob("*") if ".lock" not in p.name)
    assert [p for p in after if not p.startswith("brand-new")] == before
    assert reg.names() == ["cells"] and reg.versions("cells") == [1]
    # a stray temp folder from a hard crash is ignored by listing and swept later
    stray = reg.root / ".tmp-register-crashed"
    stray.mkdir()
    (stray / "model.safetensors").write_bytes(b"partial")
    assert reg.names() == ["cells"]
    assert reg.register(run_dir, "cells")["version"] == 2


def test_tampered_files_are_refused(reg):
    img = some_images(1)[0]
    assert reg.predict("cells", img)["class"]
    weights = reg.root / "cells" / "1" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        reg.predict("cells", img)
    with pytest.raises(ModelIntegrityError):
        reg.export("cells", reg.root.parent / "x.onnx")
    card = reg.root / "cells" / "1" / "README.md"
    weights.write_bytes(bytes(data[:-100]) + bytes([data[-100] ^ 0xFF]) + bytes(data[-99:]))
    reg.predict("cells", img)  # restored: accepted again
    card.write_text(card.read_text() + "\nextra")
    with pytest.raises(ModelIntegrityError, match="README.md"):
        reg.predict("cells", img)
    (reg.root / "cells" / "1" / "manifest.json").write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="manifest"):
        reg.predict("cells", img)


def test_registry_code_never_unpickles():
    for path in [*(PKG / "registry").glob("*.py"), *(PKG / "export").glob("*.py"), PKG / "model" / "predictor.py",
                 PKG / "deepclas4bio.py"]:
        text = path.read_text()
        for bad in ("import pickle", "pickle.load", "torch.load(", "joblib", "weights_only=False"):
            assert bad not in text, (path, bad)


def test_predict_results_and_stacks(reg, tmp_path):
    import tifffile

    imgs = some_images(2)
    results = reg.predict_batch("cells", imgs)
    assert len(results) == len(imgs)
    for r, path in zip(results, imgs):
        assert r["image"] == str(path)
        assert set(r) >= {"class", "confidence", "probabilities", "top"}
        assert set(r["probabilities"]) == {"CytoplasmicGFP", "NoGFP", "NuclearGFP"}
        assert sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-4)
        assert r["confidence"] == max(r["probabilities"].values()) and r["top"][0]["class"] == r["class"]
    correct = sum(r["class"] == Path(r["image"]).parent.name for r in results)
    assert correct >= len(imgs) - 2
    # the same image as path, bytes and array gives the same answer
    one = imgs[0]
    from omniclas.data.imageio import read_image

    answers = [reg.predict("cells", x) for x in (str(one), one.read_bytes(), read_image(one))]
    assert len({a["class"] for a in answers}) == 1
    assert answers[0]["confidence"] == pytest.approx(answers[2]["confidence"], abs=1e-5)
    # a 16-bit two-page TIFF stack: one result per page
    a, b = (read_image(p).astype(np.uint16) * 257 for p in imgs[:2])
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.stack([a[:h, :w], b[:h, :w]]), photometric="rgb")
    res = reg.predict_batch("cells", [stack])
    assert [r["slice"] for r in res] == [1, 2]
    assert reg.predict("cells", stack).get("slice") is None
    with pytest.raises(ImageReadError):
        reg.predict("cells", b"not an image")


def test_evaluate_all_measures(reg, tmp_path, small):
    from omniclas.report.measures import list_measures

    data = small
    res = reg.evaluate(data, list_measures(), ["cells"])
    assert res["images"] == 30 and res["classes"] == ["CytoplasmicGFP", "NoGFP", "NuclearGFP"]
    vals = res["results"][0]["measures"]
    assert set(vals) == set(list_measures())
    assert 0.6 <= vals["accuracy"] <= 1 and vals["rank5"] == 1.0 and 0.5 <= vals["auroc"] <= 1
    assert -1 <= vals["matthewsCorrelation"] <= 1 and 0 <= vals["jaccardIndex"] <= 1
    # two classes via a label file: binary measures
    labels = tmp_path / "labels.txt"
    labels.write_text("NoGFP\nNuclearGFP\n")
    res2 = reg.evaluate(data, ["accuracy", "precision", "recall", "f1", "auroc"], [{"framework": "omniclas",
                                                                                    "model": "cells"}], labels)
    assert res2["classes"] == ["NoGFP", "NuclearGFP"] and res2["images"] == 20
    assert all(v is not None for v in res2["results"][0]["measures"].values())
    with pytest.raises(DatasetError):
        reg.evaluate(tmp_path / "nowhere", ["accuracy"], ["cells"])
    from omniclas.report.measures import MeasureError

    with pytest.raises(MeasureError, match="unknown measure"):
        reg.evaluate(data, ["bogus"], ["cells"])


def test_measures_match_sklearn():
    from sklearn import metrics as skm

    from omniclas.report.measures import compute

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    p1 = np.clip(y * 0.6 + rng.random(60) * 0.5, 0, 1)
    proba = np.stack([1 - p1, p1], 1)
    pred = proba.argmax(1)
    got = compute(["accuracy", "precision", "recall", "f1", "jaccardIndex", "matthewsCorrelation", "auroc",
                   "rank5"], y, proba)
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert got["jaccardIndex"] == pytest.approx(skm.jaccard_score(y, pred))
    assert got["auroc"] == pytest.approx(skm.roc_auc_score(y, p1))
    assert got["matthewsCorrelation"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert got["rank5"] == 1.0
    y7 = rng.integers(0, 7, 100)
    p7 = rng.random((100, 7))
    p7 /= p7.sum(1, keepdims=True)
    assert compute(["rank5"], y7, p7)["rank5"] == pytest.approx(skm.top_k_accuracy_score(y7, p7, k=5))


def test_frameworks_are_plugins(monkeypatch):
    assert list_frameworks()[:2] == ["omniclas", "onnx"]

    class FakeEP:
        name, value = "toy", "omniclas.registry.onnx_framework:OnnxFramework"

    monkeypatch.setattr(fw_mod.metadata, "entry_points", lambda group: [FakeEP()] if group == fw_mod.ENTRY_POINT_GROUP
                        else [])
    fw_mod._instances.pop("toy", None)
    assert "toy" in list_frameworks() and fw_mod.get_framework("toy").name == "toy"
    fw_mod._instances.pop("toy", None)
    with pytest.raises(FrameworkUnavailable):
        fw_mod.get_framework("caffe")


def test_service_cli(run_dir, tmp_path, capsys, small):
    from omniclas.cli import main

    root = ["--models-root", str(tmp_path / "m")]
    assert main(["register", str(run_dir), "cells", *root]) == 0
    assert "registered 'cells' version 1" in capsys.readouterr().out
    assert main(["models", *root]) == 0 and "efficientnet_lite0" in capsys.readouterr().out
    assert main(["export", "cells", str(tmp_path / "c.onnx"), *root]) == 0
    (tmp_path / "classes.txt").write_text("CytoplasmicGFP\nNoGFP\nNuclearGFP\n")
    assert main(["import-onnx", str(tmp_path / "c.onnx"), str(tmp_path / "classes.txt"), "c-onnx", *root]) == 0
    assert main(["models", "--json", "--framework", "onnx", *root]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["models"][0]["name"] == "c-onnx"
    assert main(["evaluate", str(small), "--model", "cells", "--measures", "accuracy", "rank5", *root]) == 0
    assert "rank5" in capsys.readouterr().out
    assert main(["rename", "c-onnx", "c2", *root]) == 0 and main(["delete", "c2", *root]) == 0
    capsys.readouterr()
    for argv in (["delete", "c2", *root], ["register", str(tmp_path / "nope"), "x", *root],
                 ["import-onnx", str(tmp_path / "classes.txt"), str(tmp_path / "classes.txt"), "x", *root],
                 ["export", "ghost", str(tmp_path / "g.onnx"), *root], ["worker"],
                 ["serve", "--dataset-root", str(tmp_path / "missing")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err
    (tmp_path / "a-file").write_text("")
    for out in (tmp_path / "a-file" / "c.onnx", Path("/proc/c.onnx")):  # a file where a folder should be; no room
        assert main(["export", "cells", str(out), *root]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and str(out) in err and ".tmp" not in err, err  # the user's path


# ------------------------------------------------------------------ crash safety and racing readers
RENAME_STEPS = ["rename:built", "rename:journal", "rename:folder", "rename:index", "rename:retired"]
REGISTER_STEPS = ["register:built", "register:journal", "register:folder", "register:index"]
DELETE_STEPS = ["delete:journal", "delete:index"]


@pytest.fixture(scope="module")
def four_versions(run_dir, tmp_path_factory) -> Path:
    """A registry with one model of four versions, and the class it gives a real image."""
    root = tmp_path_factory.mktemp("four") / "models"
    reg = Registry(root, bf16=False)
    for _ in range(4):
        reg.register(run_dir, "cells")
    return root


def kill_during(args: list[str], root: Path, step: str) -> None:
    """Run ``omniclas ARGS --models-root ROOT`` in a real process that SIGKILLs itself at ``step``."""
    import signal
    import subprocess
    import sys

    from live_server import server_env

    env = server_env(OMNICLAS_CRASH_AT=step)
    out = subprocess.run([sys.executable, "-m", "omniclas", *args, "--models-root", str(root)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == -signal.SIGKILL, (step, out.returncode, out.stderr[-2000:])


def check_whole(root: Path, expected: dict[str, int], image, want_class: str) -> None:
    """The registry holds exactly ``expected`` (name -> number of versions); every version verifies and predicts;
    the next write sweeps whatever the crash left, and leaves only indexed folders."""
    reg = Registry(root, bf16=False)
    assert {n: len(reg.versions(n)) for n in reg.names()} == expected
    for name in expected:
        for v in reg.versions(name):
            manifest = reg.verify(reg.resolve(f"{name}@{v}")[2])
            assert manifest["name"] == name and manifest["version"] == v
            assert f"# {name} (version {v})" in (reg.resolve(f"{name}@{v}")[2] / "README.md").read_text()
        assert reg.predict(name, image)["class"] == want_class
    with reg.layout.writing():
        pass  # a writer finishes or undoes what the crash left
    folders = set(reg.layout.models().values())
    left = {p.name for p in root.iterdir()} - folders - {"index.json", ".lock"}
    assert not left, left


@pytest.mark.parametrize("step", RENAME_STEPS)
def test_rename_killed_at_any_step_leaves_old_or_new(four_versions, tmp_path, step):
    import shutil

    image = some_images(1)[0]
    want = Registry(four_versions, bf16=False).predict("cells", image)["class"]
    root = tmp_path / "models"
    shutil.copytree(four_versions, root, copy_function=os.link)  # files are never rewritten in place
    kill_during(["rename", "cells", "nuclei"], root, step)
    names = Registry(root).names()
    assert names in (["cells"], ["nuclei"]), names
    new_state = step in ("rename:index", "rename:retired")
    assert names == (["nuclei"] if new_state else ["cells"])
    check_whole(root, {names[0]: 4}, image, want)


@pytest.mark.parametrize("step", REGISTER_STEPS + DELETE_STEPS)
def test_register_and_delete_killed_at_any_step(four_versions, run_dir, tmp_path, step):
    import shutil

    image = some_images(1)[0]
    want = Registry(four_versions, bf16=False).predict("cells", image)["class"]
    root = tmp_path / "models"
    shutil.copytree(four_versions, root, copy_function=os.link)
    if step.startswith("register"):
        kill_during(["register", str(run_dir), "other"], root, step)
        expected = {"cells": 4, "other": 1} if step == "register:index" else {"cells": 4}
    else:
        kill_during(["delete", "cells"], root, step)
        expected = {} if step == "delete:index" else {"cells": 4}
    check_whole(root, expected, image, want)


def test_a_new_version_killed_before_it_appears(four_versions, run_dir, tmp_path):
    import shutil

    root = tmp_path / "models"
    shutil.copytree(four_versions, root, copy_function=os.link)
    kill_during(["register", str(run_dir), "cells"], root, "register:built")
    reg = Registry(root)
    assert reg.versions("cells") == [1, 2, 3, 4]
    assert reg.register(run_dir, "cells")["version"] == 5


def test_predictions_racing_renames_never_see_a_half_written_model(four_versions, tmp_path):
    """One thread renames the model back and forth while others classify it through their own Registry: every
    prediction either succeeds or finds the name gone (404), never a sha256 mismatch or a missing file."""
    import shutil
    import threading

    root = tmp_path / "models"
    shutil.copytree(four_versions, root, copy_function=os.link)
    image = some_images(1)[0].read_bytes()
    writer = Registry(root)
    done, warmed_up = threading.Event(), threading.Event()
    outcomes, failures = [], []

    def rename_loop():
        try:
            name = "cells"
            for i in range(12):
                new = "nuclei" if name == "cells" else "cells"
                writer.rename(name, new)
                name = new
        finally:
            done.set()

    def predict_loop():
        reader = Registry(root, bf16=False)
        while not done.is_set():
            for name in ("cells", "nuclei"):
                try:
                    outcomes.append(reader.predict(name, image)["class"])
                    warmed_up.set()
                except ModelNotFound:
                    outcomes.append(None)
                except Exception as err:  # noqa: BLE001 - any other error is the failure this test looks for
                    failures.append(repr(err))

    readers = [threading.Thread(target=predict_loop) for _ in range(2)]
    for t in readers:
        t.start()
    assert warmed_up.wait(300), "no prediction succeeded before the renames"  # the first loads the model
    rename_loop()
    for t in readers:
        t.join(60)
    assert not failures, failures[:3]
    assert any(outcomes) and Registry(root).names() == ["cells"]


def test_registry_from_before_the_index(run_dir, tmp_path):
    """A registry written by an earlier OmniClas (``<root>/<name>/<version>/``, no index) reads as it is, and the
    first write indexes it."""
    import shutil

    src = Registry(tmp_path / "new")
    src.register(run_dir, "cells")
    old = tmp_path / "old"
    old.mkdir()
    shutil.copytree(src.resolve("cells")[2], old / "cells" / "1")
    (old / "stray").mkdir()  # a folder with no version is no model
    reg = Registry(old, bf16=False)
    assert reg.names() == ["cells"] and not (old / "index.json").exists()
    assert reg.predict("cells", some_images(1)[0])["class"]
    reg.register(run_dir, "cells")
    assert json.loads((old / "index.json").read_text())["models"] == {"cells": {"folder": "cells"}}
    assert reg.versions("cells") == [1, 2]
    (old / "index.json").write_text("{broken")
    with pytest.raises(ModelIntegrityError, match="index"):
        reg.names()


def test_cli_says_when_a_new_version_has_other_classes_and_aligns_the_list(run_dir, tmp_path, capsys):
    """Issue 22 items 10 and 15: `omniclas register` under a name whose latest version has other classes warns
    (it was silent); `omniclas models` keeps its columns straight whatever the lengths of names and backbones."""
    from omniclas.cli import main

    root = ["--models-root", str(tmp_path / "m")]
    assert main(["register", str(run_dir), "cells", *root]) == 0
    assert main(["export", "cells", str(tmp_path / "c.onnx"), *root]) == 0
    (tmp_path / "classes.txt").write_text("Cyto\nNone\nNuclear\n")  # the same network, other class names
    name = "a-rather-long-model-name-of-forty-chars"
    assert main(["import-onnx", str(tmp_path / "c.onnx"), str(tmp_path / "classes.txt"), name, *root]) == 0
    capsys.readouterr()
    assert main(["register", str(run_dir), name, *root]) == 0
    captured = capsys.readouterr()
    assert f"registered '{name}' version 2" in captured.out
    assert (f"warning: the classes of '{name}' differ between version 1 (Cyto, None, Nuclear) and version 2 "
            "(CytoplasmicGFP, NoGFP, NuclearGFP)") in captured.err
    assert main(["register", str(run_dir), "cells", *root]) == 0  # the same classes: no warning
    assert "warning" not in capsys.readouterr().err
    assert main(["models", *root]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("name ")  # one line per model (its latest version)
    for column in ("framework", "backbone", "classes"):  # each column starts under its heading, on every line
        at = lines[0].index(column)
        assert all(line[at - 2:at] == "  " and line[at] != " " for line in lines), (column, lines)

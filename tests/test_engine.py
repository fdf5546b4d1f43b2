"""The training loop on real images: stop conditions, determinism, reload identity, 16-bit TIFFs, resume."""
import json

import numpy as np
import pytest
import tifffile

from omniclas.config import TrainConfig
from omniclas.engine import train
from omniclas.engine import loop as loop_module
from omniclas.engine.base_models import lowest_loss_lr
from omniclas.errors import Cancelled, ConfigError, DatasetError
from omniclas.imageio import read_image
from omniclas.predictor import Predictor

FAST = dict(backbones=("efficientnet_lite0",), image_size=64)


def _cfg(dataset, out, **kw):
    return TrainConfig(dataset=str(dataset), out_dir=str(out), **{**FAST, **kw})


def test_run_folder_is_complete(nd_run):
    m = nd_run.manifest
    files = {p.name for p in nd_run.run_dir.iterdir()}
    assert {"model.safetensors", "manifest.json", "report.md"} <= files
    assert "checkpoint" not in files
    assert m["classes"] == ["CytoplasmicGFP", "NoGFP", "NuclearGFP"]
    assert m["backbone"] == "efficientnet_lite0" and m["input_size"] == [64, 64] and m["mean"] == [0.5] * 3
    assert 0.0 <= m["test"]["accuracy"] <= 1.0 and len(m["test"]["per_class"]) == 3
    assert np.array(m["test"]["confusion_matrix"]).sum() == m["test"]["images"] == m["counts"]["test"]
    assert set(m["splits"].values()) == {"train", "valid", "test", "unlabelled"}
    assert len(m["data_hashes"]["dataset"]) == 64 and m["versions"]["torch"].startswith("2.14")
    assert "Test accuracy" in (nd_run.run_dir / "report.md").read_text()
    assert m["test"]["accuracy"] > 0.5  # three classes: well above chance with 12 labels per class


def test_reload_gives_identical_predictions(nd_run, small_bbbc013):
    images = sorted((small_bbbc013 / "unlabelled").iterdir())
    reloaded = Predictor.load(nd_run.run_dir)
    assert np.array_equal(reloaded.predict_proba(images), nd_run.predictor.predict_proba(images))
    fp32 = Predictor.load(nd_run.run_dir, bf16=False)
    assert np.array_equal(fp32.predict_proba(images), Predictor.load(nd_run.run_dir, bf16=False).predict_proba(images))
    result = reloaded.predict_images(images[:1])[0]
    assert set(result) == {"class", "confidence", "probabilities"}
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_same_seed_same_result(small_bbbc013, nd_run, tmp_path):
    again = train(_cfg(small_bbbc013, tmp_path / "again", process="nd"))
    assert again.manifest["data_hashes"] == nd_run.manifest["data_hashes"]
    assert again.manifest["test"] == nd_run.manifest["test"]


@pytest.fixture
def steady_validation(monkeypatch):
    """Hold validation accuracy constant, so that the other stop conditions can be tested on a 6-image
    validation split, where one image more or less right would otherwise end the loop early."""
    real_fit = loop_module._fit

    def fit(*args):
        model = real_fit(*args)
        model.valid_accuracy = 1.0
        return model

    monkeypatch.setattr(loop_module, "_fit", fit)


def test_stop_when_max_iterations_reached(small_bbbc013, tmp_path, steady_validation):
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="idd", threshold=0.5, max_iterations=1, transforms=("hflip",)))
    assert r.manifest["stop_reason"] == "maximum number of iterations reached"
    assert len(r.manifest["iterations"]) == 2
    assert not (r.run_dir / "checkpoint").exists()  # a finished run keeps no resume state
    with pytest.raises(ConfigError, match="already holds a finished run"):
        train(_cfg(small_bbbc013, r.run_dir, process="nd"))


def test_stop_when_no_unlabelled_image_left(small_bbbc013, tmp_path, steady_validation):
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="idd", threshold=0.0, transforms=("vflip",)))
    m = r.manifest
    assert m["stop_reason"] == "no unlabelled image left"
    assert len(m["auto_labelled"]) == 30 and m["iterations"][0]["labelled"] == 30
    assert all(a["iteration"] == 0 and 0 <= a["confidence"] <= 1 for a in m["auto_labelled"])


def test_stop_when_nothing_reaches_the_threshold(small_bbbc013, tmp_path, steady_validation):
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="imd", threshold=1.0,
                   backbones=("efficientnet_lite0", "efficientnet_lite1")))
    assert r.manifest["stop_reason"] == "no unlabelled image reached the confidence threshold 1.0"
    assert r.manifest["auto_labelled"] == []


def test_stop_when_validation_drops(small_bbbc013, tmp_path, monkeypatch):
    """The real loop, with the base-model fit wrapped so that round 1 scores worse on validation."""
    real_fit = loop_module._fit
    calls = []

    def fit_then_worse(*args):
        model = real_fit(*args)
        calls.append(model)
        if len(calls) > 1:
            model.valid_accuracy -= 0.5
        return model

    monkeypatch.setattr(loop_module, "_fit", fit_then_worse)
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="idd", threshold=0.0, transforms=()))
    m = r.manifest
    assert m["stop_reason"].startswith("validation accuracy dropped") and m["best_iteration"] == 0
    assert len(m["iterations"]) == 2


def test_distilling_process_without_unlabelled_images(small_bbbc013, tmp_path):
    import shutil

    root = shutil.copytree(small_bbbc013, tmp_path / "ds")
    shutil.rmtree(root / "unlabelled")
    with pytest.raises(DatasetError, match="needs unlabelled images"):
        train(_cfg(root, tmp_path / "r", process="dd"))


def test_16bit_single_channel_tiffs_train_and_predict(small_bbbc013, tmp_path):
    """BBBC013's GFP channel saved as 16-bit, single-channel TIFFs, the way a camera writes them."""
    root = tmp_path / "tiff16"
    for class_dir in sorted(p for p in small_bbbc013.iterdir() if p.name != "unlabelled"):
        (root / class_dir.name).mkdir(parents=True)
        for f in sorted(class_dir.iterdir()):
            gfp = read_image(f)[:, :, 1].astype(np.uint16) * 64 + 100
            tifffile.imwrite(root / class_dir.name / (f.stem + ".tif"), gfp)
    r = train(_cfg(root, tmp_path / "r", process="nd"))
    probe = next((root / "NuclearGFP").iterdir())
    assert tifffile.imread(probe).dtype == np.uint16
    out = Predictor.load(r.run_dir).predict_images([probe])[0]
    assert out["class"] in r.manifest["classes"]
    assert r.manifest["test"]["accuracy"] > 0.5


def test_cancel_then_resume_from_last_finished_round(small_bbbc013, tmp_path):
    out = tmp_path / "r"
    cfg = _cfg(small_bbbc013, out, process="idd", threshold=0.9, max_iterations=2, transforms=("hflip",))
    state = {"rounds": 0}

    def cancel():
        return state["rounds"] >= 1

    def progress(e):
        if e.stage == "training" and e.iteration == 1:
            state["rounds"] = 1

    with pytest.raises(Cancelled):
        train(cfg, progress=progress, cancel=cancel)
    checkpoint = json.loads((out / "checkpoint" / "state.json").read_text())
    assert checkpoint["next_iteration"] == 1
    resumed = train(cfg, resume=True)
    history = resumed.manifest["iterations"]
    assert history[0]["iteration"] == 0 and history[0] == checkpoint["history"][0]
    assert len(history) >= 2


def test_lr_rule_uses_lowest_loss_and_falls_back():
    assert lowest_loss_lr([1e-4, 1e-3, 1e-2], [1.0, 0.5, 2.0]) == 1e-3
    assert lowest_loss_lr([1e-7, 1e-6, 1e-2], [0.3, 0.2, 2.0]) == 1e-3  # lowest at 1e-6 < 1e-5


def test_paper_finetune_protocol_runs_with_fastai(small_bbbc013, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    events = []
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="nd", head="finetune", frozen_epochs=1, unfrozen_epochs=1,
                   batch_size=16), progress=events.append)
    assert r.manifest["head"] == "finetune"
    epochs = {(e.epoch, e.epochs) for e in events if e.stage == "training" and e.epochs}
    assert epochs == {(1, 2), (2, 2)}
    assert any("learning-rate range test" in e.message for e in events)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # fastai's scratch files went elsewhere
    images = sorted((small_bbbc013 / "unlabelled").iterdir())[:8]
    assert np.array_equal(Predictor.load(r.run_dir).predict_proba(images), r.predictor.predict_proba(images))


def test_end_to_end_imdd_on_bbbc013_with_real_unlabelled_images(shared_data, tmp_path):
    bbbc013 = shared_data / "bbbc013"  # all 198 labelled and 596 unlabelled crops, more than the fixture set
    events = []
    r = train(TrainConfig(dataset=str(bbbc013), out_dir=str(tmp_path / "imdd"), process="imdd"), progress=events.append)
    m = r.manifest
    assert m["config"]["backbones"] == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert m["config"]["transforms"] == ["hflip", "vflip", "hvflip", "blur", "gamma"]
    assert m["counts"]["unlabelled"] == 596 and len(m["auto_labelled"]) > 100
    assert all(a["confidence"] >= 0.8 for a in m["auto_labelled"])
    assert m["test"]["accuracy"] >= 0.75
    assert {e.stage for e in events} >= {"loading", "features", "training", "labelling", "evaluating", "done"}
    assert events[-1].fraction == 1.0

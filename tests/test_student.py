"""The student (issue 23) on real BBBC013 crops: it trains after the rounds, joins the saved network as a member,
saves, loads and predicts the same through the Predictor and through one ONNX graph, and an interrupted student
resumes at its last finished epoch. Few epochs, 64 px: the recipe's quality is measured in benchmarks/."""
import json

import numpy as np
import pytest
import torch

from omniclas.config import TrainConfig
from omniclas.data.imageio import read_image
from omniclas.engine import student_step, train
from omniclas.errors import Cancelled, ConfigError
from omniclas.model.predictor import Predictor


def _cfg(dataset, out, **kw):
    return TrainConfig(dataset=str(dataset), out_dir=str(out), process="idd", max_iterations=1,
                       backbones=("efficientnet_lite0",), image_size=64, **kw)


@pytest.fixture(scope="module")
def student_run(small_bbbc013, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(student_step, "EPOCHS", 2)
        return train(_cfg(small_bbbc013, tmp_path_factory.mktemp("student") / "run", student="on"))


def _test_images(run):
    m = run.manifest
    return [read_image(f"{m['dataset']}/{t['path']}") for t in m["test_predictions"]]


def test_the_student_is_a_member_of_the_saved_network(student_run):
    m = student_run.manifest
    s = m["student"]
    assert s["ran"] and s["mode"] == "on" and s["cut"] == "blocks5"
    assert [x["head"] for x in m["members"]] == ["linear", "student"]
    assert s["automatic_labels"] > 0 and s["images"] == m["counts"]["train"] + s["automatic_labels"]
    # the estimate: students on held-out folds against the frozen heads, per epoch, never the test set
    est = s["estimate"]
    assert len(est["by_epoch"]) == 2 and 1 <= s["epochs"] <= 2 and est["images"] > 0
    assert 0 <= est["ensemble"]["accuracy"] <= 1 and 0 <= est["student"]["accuracy"] <= 1
    assert "student" in (student_run.run_dir / "report.md").read_text().lower()
    assert "Student" in (student_run.run_dir / "report.html").read_text()


def test_the_student_saves_loads_and_predicts_the_same_through_onnx(student_run, tmp_path):
    import onnxruntime as ort

    from omniclas.export.onnx import export_folder

    images = _test_images(student_run)[:6]
    loaded = Predictor.load(student_run.run_dir, bf16=False, runtime="torch")
    probs = loaded.predict_proba(images)
    in_memory = Predictor(student_run.predictor.model, student_run.predictor.manifest, bf16=False, runtime="torch")
    np.testing.assert_allclose(probs, in_memory.predict_proba(images), atol=1e-5)
    # the student changed its body: its member no longer gives the frozen member's answer
    net, x = loaded.model, loaded.preprocess(images)
    with torch.no_grad():
        feats = [net.members[i].body((x - net.mean[i]) / net.std[i]) for i in range(2)]
    assert not np.allclose(feats[0].numpy(), feats[1].numpy(), atol=1e-3)
    onnx_file = export_folder(student_run.run_dir, tmp_path / "model.onnx")
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = sess.run(["probabilities"], {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, probs, atol=1e-3)
    assert len(sess.get_inputs()) == 1  # one graph: both members and every view inside


def test_an_interrupted_student_resumes_at_its_last_epoch(small_bbbc013, tmp_path, monkeypatch):
    monkeypatch.setattr(student_step, "EPOCHS", 3)
    monkeypatch.setattr(student_step, "ESTIMATE_FOLDS", 0)  # `on` without an estimate: the full schedule
    out = tmp_path / "r"
    seen = []

    def progress(e):
        seen.append((e.stage, e.epoch))

    with pytest.raises(Cancelled):
        train(_cfg(small_bbbc013, out, student="on"), progress=progress,
              cancel=lambda: bool(seen) and seen[-1] == ("student", 2))
    saved = torch.load(out / "checkpoint" / "student" / "final.pt", weights_only=True)["epoch"]
    assert 1 <= saved < 3  # interrupted inside the schedule, after at least one finished epoch
    resumed = train(_cfg(small_bbbc013, out, student="on"), resume=True)
    s = resumed.manifest["student"]
    assert s["ran"] and s["resumed_at_epoch"] == saved and s["epochs"] == 3
    assert [r["epoch"] for r in s["training"]] == [1, 2, 3]
    assert not (out / "checkpoint").exists()
    Predictor.load(out).predict_proba(_test_images(resumed)[:2])


def test_student_off_leaves_the_frozen_ensemble_alone(small_bbbc013, tmp_path):
    r = train(_cfg(small_bbbc013, tmp_path / "off", student="off"))
    assert r.manifest["student"] == {"mode": "off", "ran": False, "reason": "--student off"}
    assert [x["head"] for x in r.manifest["members"]] == ["linear"]
    assert "student" not in r.manifest["stage_seconds"]


def test_an_unknown_student_mode_is_refused_by_name(small_bbbc013, tmp_path):
    with pytest.raises(ConfigError) as err:
        _cfg(small_bbbc013, tmp_path / "x", student="sometimes").resolved()
    assert err.value.field == "student"
    assert json.dumps(TrainConfig(dataset="").to_dict())  # the option is recorded with the run


@pytest.mark.slow
def test_a_student_network_passes_bioimageio_test(student_run, tmp_path, monkeypatch):
    from test_bioimageio import OFFLINE, bioimageio_test, package_probabilities, sample_images

    from omniclas.export.bioimageio import export_package

    for k, v in OFFLINE.items():
        monkeypatch.setenv(k, v)
    package = export_package(student_run.run_dir, tmp_path / "student.zip")
    report = bioimageio_test(package)
    assert "passed" in report and "❌" not in report
    images = sample_images()
    want = Predictor.load(student_run.run_dir, bf16=False, runtime="torch").predict_proba(images)
    got = package_probabilities(package, images, "onnx")
    assert np.abs(got - want).max() < 1e-3


def test_auto_tries_no_student_on_a_handful_of_images(small_bbbc013, tmp_path):
    r = train(_cfg(small_bbbc013, tmp_path / "auto"))  # --student auto, the default
    s = r.manifest["student"]
    assert s["mode"] == "auto" and not s["ran"] and "too few images" in s["reason"]
    assert "student" not in r.manifest["stage_seconds"]  # skipped before anything was computed
    assert "Student: not run (auto): too few images" in (r.run_dir / "report.md").read_text()


def test_auto_stops_after_the_first_fold_when_its_student_shows_no_gain(small_bbbc013, tmp_path, monkeypatch):
    """A student that cannot learn (learning rates 0: it stays the linear head it starts from) corrects none of the
    first fold's held-out answers: ``auto`` trains no second fold student and no final one. The plan made before
    the rounds already held the first fold's student, and the fraction never went backwards."""
    from omniclas.engine import progress, student

    monkeypatch.setattr(student_step, "MIN_IMAGES", 0)  # the fixture set is small
    monkeypatch.setattr(student_step, "PLAUSIBLE_GAIN", 1.0)  # and has a handful of held-out labels
    monkeypatch.setattr(student_step, "EPOCHS", 2)
    monkeypatch.setattr(student_step, "ESTIMATE_MAX_IMAGES", 30)  # a fold student reads at most 30 (42 uncapped)
    monkeypatch.setattr(student, "LR", 0.0)
    monkeypatch.setattr(student, "HEAD_LR", 0.0)
    planned = []
    expect = progress.Reporter.expect

    def recording(self, kind, units_left):
        planned.append((self.state.stage, kind, units_left))
        expect(self, kind, units_left)

    monkeypatch.setattr(progress.Reporter, "expect", recording)
    events = []
    r = train(_cfg(small_bbbc013, tmp_path / "futile"), progress=events.append)
    s = r.manifest["student"]
    if "wrong on only" in s.get("reason", ""):  # the frozen heads made fewer than 2 mistakes
        pytest.skip(s["reason"])
    assert not s["ran"] and s["estimate"]["futile"] and s["estimate"]["folds"] == 1
    assert "first fold" in s["reason"]
    assert [x["head"] for x in r.manifest["members"]] == ["linear"]
    assert {e.epochs for e in events if e.stage == "student" and e.epochs} == {2}
    assert not any("fold 2" in e.message for e in events)
    fold = next(e.message for e in events if "fold 1 of 2" in e.message)
    assert int(fold.split(", ")[1].split()[0]) == 30, fold
    assert any(stage in ("loading", "features") and kind == "student" and units > 0 for stage, kind, units in planned)
    fractions = [e.fraction for e in events]
    assert all(b >= a for a, b in zip(fractions, fractions[1:])), fractions
    assert "Student: not run (auto)" in (r.run_dir / "report.md").read_text()


def test_auto_estimates_no_student_where_its_held_out_labels_could_not_show_a_gain():
    """g net corrections out of d changed answers clear z sqrt(d) only where g > z ** 2: 4 at six epochs. Few
    held-out labels cannot hold that much of a plausible gain; too few mistakes leave nothing to correct."""
    assert student_step.least_gain() == 4
    assert not student_step.can_show_gain(20, 8)  # Fashion-MNIST at 5 labels per class: 1 plausible answer
    assert not student_step.can_show_gain(200, 3)  # right on all but 3
    assert student_step.can_show_gain(80, None) and student_step.can_show_gain(146, 16)


def test_a_best_epoch_must_clear_the_noise_of_a_maximum():
    """The estimate is read at the best of its epochs: the gain it must clear grows with how many were read."""
    assert student_step.best_epoch_z(1) == 1.0
    assert student_step.best_epoch_z(6) == pytest.approx(1.893, abs=1e-3)
    assert student_step.best_epoch_z(2) < student_step.best_epoch_z(6) < student_step.best_epoch_z(20)

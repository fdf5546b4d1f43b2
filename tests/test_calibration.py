"""Calibration and "unsure": the temperature and threshold each run fits on its held-out predictions, and every
prediction's unsure flag and runner-up (CLI, CSV, Python API, HTTP API)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from omniclas.cli import main
from omniclas.model import calibration as cal
from omniclas.model.predictor import Predictor


def test_the_temperature_undoes_a_known_overconfidence():
    """Labels drawn from known probabilities, then the probabilities sharpened (T = 0.5): the fit finds T near 2,
    and the ECE falls."""
    rng = np.random.default_rng(0)
    true = rng.dirichlet(np.full(4, 0.7), size=4000)
    y = np.array([rng.choice(4, p=p) for p in true])
    sharp = cal.apply_temperature(true, 0.5)
    t = cal.fit_temperature(sharp, y)
    assert t == pytest.approx(2.0, rel=0.1)
    assert cal.ece(cal.apply_temperature(sharp, t), y) < cal.ece(sharp, y) / 3


def test_the_threshold_is_the_lowest_confidence_that_reaches_the_precision():
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    right = np.array([1, 1, 1, 0, 1, 0], dtype=bool)
    assert cal.precision_threshold(conf, right, 0.8) == 0.7  # 4 of 5 right at or above 0.7
    # 3 of 3 are right at or above 0.9, but their confidences promise only 0.947 on average: 0.95 is the cut
    assert cal.precision_threshold(conf, right, 0.95) == 0.95
    assert cal.precision_threshold(conf, ~right, 0.95) is None  # the most confident is wrong: never reached


def test_a_few_predictions_pull_the_temperature_less():
    assert cal.shrunk(2.0, 50) == pytest.approx(2 ** 0.5)
    assert cal.shrunk(2.0, 5000) == pytest.approx(2.0, rel=0.01)
    assert cal.shrunk(0.5, 10) == pytest.approx(0.5 ** (10 / 60))


def test_too_few_held_out_predictions_fall_back_to_temperature_one():
    probs = np.full((5, 3), 1 / 3)
    out = cal.calibrate(probs, np.zeros(5, dtype=int), 0.95)
    assert out["temperature"] == 1.0 and out["threshold"] is None and "only 5 held-out" in out["note"]


def test_a_run_records_its_calibration(nd_run):
    """The nd fixture run: a temperature from its cross-validated predictions, and a threshold at which those
    predictions reach the target precision (the lowest such confidence)."""
    c = nd_run.manifest["calibration"]
    assert c["method"] == "temperature" and c["target_precision"] == 0.95
    assert c["held_out_images"] == nd_run.manifest["counts"]["train"] >= cal.MIN_HELD_OUT
    assert cal.T_BOUNDS[0] < c["temperature"] < cal.T_BOUNDS[1]
    conf = np.array(c["held_out"]["confidence"])
    right = np.array([r == "1" for r in c["held_out"]["right"]])
    assert len(conf) == len(right) == c["held_out_images"]
    assert c["threshold"] is not None
    sure = conf >= c["threshold"]
    assert right[sure].mean() >= 0.95 and conf[sure].mean() >= 0.95
    assert sure.mean() == pytest.approx(c["coverage"], abs=1e-4)
    lower = conf[conf < c["threshold"]]
    if len(lower):  # one step lower, the precision is no longer reached, as counted or as expected
        wider = conf >= lower.max()
        assert min(right[wider].mean(), conf[wider].mean()) < 0.95
    assert c["temperature"] == pytest.approx(cal.shrunk(c["temperature_fitted"], c["held_out_images"]), abs=1e-4)
    assert 0 <= c["ece_after"] <= 1 and 0 <= c["ece_before"] <= 1
    assert set(c["test"]) == {"images", "ece_before", "ece_after", "coverage", "precision"}
    saved = json.loads((nd_run.run_dir / "manifest.json").read_text())["calibration"]
    assert saved["temperature"] == c["temperature"] and saved["threshold"] == c["threshold"]


def test_predictions_carry_unsure_and_the_runner_up(nd_run, small_bbbc013):
    model = Predictor.load(nd_run.run_dir, bf16=False)
    images = sorted((small_bbbc013 / "NoGFP").iterdir())[:4]
    raw = model.predict_proba(images)
    results = model.predict_images(images)
    c = nd_run.manifest["calibration"]
    for p, r in zip(raw, results):
        calibrated = cal.apply_temperature(p, c["temperature"])
        assert r["confidence"] == pytest.approx(calibrated.max(), abs=1e-6)
        assert r["class"] == model.classes[int(p.argmax())]  # temperature never changes the class
        assert r["unsure"] == (r["confidence"] < c["threshold"])
        second = model.classes[int(np.argsort(-p)[1])]
        assert r["runner_up"] == {"class": second, "probability": pytest.approx(np.sort(calibrated)[-2], abs=1e-6)}


def test_a_run_without_calibration_marks_nothing_unsure(nd_run, small_bbbc013, tmp_path):
    """A run folder from before calibration: temperature 1, nothing unsure, and the CLI says why."""
    import shutil

    old = tmp_path / "old-run"
    shutil.copytree(nd_run.run_dir, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["calibration"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    model = Predictor.load(old, bf16=False)
    image = sorted((small_bbbc013 / "NoGFP").iterdir())[0]
    r = model.predict_images([image])[0]
    assert r["unsure"] is False and r["confidence"] == pytest.approx(model.predict_proba([image])[0].max(), abs=1e-6)


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_cli_csv_has_the_unsure_columns_and_the_threshold_can_change(nd_run, small_bbbc013, tmp_path, capsys):
    folder = small_bbbc013 / "NuclearGFP"
    out = tmp_path / "r.csv"
    assert main(["predict", str(nd_run.run_dir), str(folder), "--csv", str(out)]) == 0
    rows = _csv_rows(out)
    header = list(rows[0])
    assert header[header.index("confidence") + 1:header.index("confidence") + 4] == ["unsure", "runner_up",
                                                                                       "runner_up_p"]
    threshold = nd_run.manifest["calibration"]["threshold"]
    for r in rows:
        assert r["unsure"] == ("true" if float(r["confidence"]) < threshold else "false")
        assert r["runner_up"] in nd_run.manifest["classes"] and r["runner_up"] != r["class"]
        assert float(r["runner_up_p"]) <= float(r["confidence"])
    n_unsure = sum(r["unsure"] == "true" for r in rows)
    assert f"{n_unsure} unsure (calibrated confidence below {threshold:.3f})" in capsys.readouterr().out
    assert main(["predict", str(nd_run.run_dir), str(folder), "--csv", str(out), "--unsure-threshold", "1"]) == 0
    assert {r["unsure"] for r in _csv_rows(out)} == {"true"}
    assert f"{len(rows)} unsure" in capsys.readouterr().out
    assert main(["predict", str(nd_run.run_dir), str(folder), "--csv", str(out), "--unsure-threshold", "0"]) == 0
    assert {r["unsure"] for r in _csv_rows(out)} == {"false"}


def test_cli_refuses_a_threshold_out_of_range(nd_run, small_bbbc013, capsys):
    assert main(["predict", str(nd_run.run_dir), str(small_bbbc013), "--unsure-threshold", "1.5"]) not in (0, 1)
    err = capsys.readouterr().err
    assert "--unsure-threshold must be between 0 and 1" in err and "Traceback" not in err

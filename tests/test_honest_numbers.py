"""Honest numbers: the CLI summary, report.md and report.html lead with the cross-validated estimate and its
interval, always say how many test images the test accuracy rests on, and say plainly when they are too few to
judge (a real tiny run with a test/ folder of 3 images)."""
from __future__ import annotations

import re
import shutil

import pytest

from conftest import copy_subset

from omniclas.cli import main
from omniclas.report import headline

CLASSES = ("CytoplasmicGFP", "NoGFP", "NuclearGFP")


@pytest.fixture(scope="module")
def tiny_run(bbbc013, tmp_path_factory):
    """8 labelled images per class, and a test/ folder of one image per class: 3 test images."""
    base = tmp_path_factory.mktemp("honest")
    dataset = copy_subset(bbbc013, base / "cells", per_class=8)
    for cls in CLASSES:
        (dataset / "test" / cls).mkdir(parents=True)
        shutil.copy(sorted((bbbc013 / cls).iterdir())[-1], dataset / "test" / cls)
    return dataset, base / "run"


def test_summary_and_reports_lead_with_the_estimate(tiny_run, capsys):
    dataset, run = tiny_run
    assert main(["train", str(dataset), "--process", "nd", "--backbones", "efficientnet_lite0", "--head", "linear",
                 "--image-size", "64", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    summary = out[out.index("Summary"):]
    rows = [line.strip() for line in summary.splitlines()[1:4]]
    assert rows[0].startswith("estimated accuracy") and rows[1].startswith("test accuracy")
    assert re.search(r"estimated accuracy +\d\.\d{3} \(95% interval \d\.\d{3} to \d\.\d{3}\) from 5-fold "
                     r"cross-validation on 24 held-out labelled images", rows[0]), rows[0]
    assert re.search(r"test accuracy +\d\.\d{3} on 3 test images \(95% interval \d\.\d{3} to \d\.\d{3}\)", rows[1])
    assert "automatic labels    none: N.D. trains on the labelled images only" in summary
    assert "rounds              1 (round 0), round 0 kept; stopped after round 0: " in summary
    warning = " ".join(summary.split())
    assert ("The test set is too small to judge this model: 3 test images, 1.0 per class on average (fewer than "
            "10) and each class has 1 (fewer than 5)") in warning and "rely on the estimate" in warning

    md = (run / "report.md").read_text()
    lines = md.splitlines()
    assert lines[2].startswith("- **Estimated accuracy: ") and "95% interval" in lines[2]
    assert lines[3].startswith("- Test accuracy: ") and "on 3 test images" in lines[3] and "too small" in lines[3]

    page = (run / "report.html").read_text()
    summary_html = page[page.index('<section id="summary">'):page.index("</section>")]
    assert summary_html.index("Estimated accuracy") < summary_html.index("Test accuracy") < \
        summary_html.index("Dataset")
    assert "<p class=warn>The test set is too small to judge this model: 3 test images" in summary_html
    assert "on 3 test images (95% interval" in summary_html


def test_a_large_enough_test_set_gets_no_warning_and_jobs_carry_the_figures():
    per_class = [{"class": c, "support": 12, "precision": 1, "recall": 1, "f1": 1} for c in CLASSES]
    m = {"classes": list(CLASSES), "test": {"accuracy": 0.9, "images": 36, "per_class": per_class},
         "estimate": {"method": "cross-validation", "folds": 5}, "best_iteration": 1,
         "iterations": [{"iteration": 0, "estimate_accuracy": 0.8, "estimate_images": 60},
                        {"iteration": 1, "estimate_accuracy": 0.85, "estimate_images": 60}]}
    assert headline.small_test_set(m) is None
    assert headline.estimate_text(m).startswith("0.850 (95% interval 0.739 to 0.919) from 5-fold cross-validation "
                                                "on 60 held-out labelled images, round 1")
    per_class[0]["support"] = 4  # one class short of test images is enough to say so
    assert "class CytoplasmicGFP has 4 (fewer than 5)" in headline.small_test_set(m)
    per_class[2]["support"] = 4
    assert "classes CytoplasmicGFP, NuclearGFP have 4" in headline.small_test_set(m)
    figures = headline.job_figures(m)
    assert figures["test_images"] == 36 and figures["estimate"]["images"] == 60
    assert figures["estimate"]["interval"][0] < 0.85 < figures["estimate"]["interval"][1]

"""The results CSV (docs/results-csv.md): one format for `omniclas predict --csv`, Fiji and batch jobs."""
from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest
import tifffile

from omniclas.cli import main
from omniclas.data.imageio import read_image
from omniclas.report import results_csv

CLASSES = ["Cytoplasmic, GFP", 'say "nuclear"', "NoGFP"]  # a comma and quotes: RFC 4180 quoting


def test_header_rows_and_quoting_read_back():
    good = {"image": "a,b.png", "class": CLASSES[1], "confidence": 0.75, "unsure": True,
            "runner_up": {"class": CLASSES[0], "probability": 0.125},
            "probabilities": {CLASSES[0]: 0.125, CLASSES[1]: 0.75, CLASSES[2]: 0.125}}
    page = dict(good, image="stack.tif", slice=3)
    bad = {"image": "broken.png", "error": "broken.png: not a readable PNG, JPEG, TIFF or BMP image (truncated)"}
    text = results_csv.to_text([good, page, bad], CLASSES)
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["image", "slice", "class", "confidence", "unsure", "runner_up", "runner_up_p",
                       *(f"p_{c}" for c in CLASSES), "error"]
    assert rows[1] == ["a,b.png", "1", CLASSES[1], "0.750000", "true", CLASSES[0], "0.125000", "0.125000", "0.750000",
                       "0.125000", ""]
    assert rows[2][:2] == ["stack.tif", "3"]
    assert rows[3] == ["broken.png", "1", "", "", "", "", "", "", "", "", bad["error"]]
    objects = results_csv.header(CLASSES, objects=True)
    assert objects[:10] == ["image", "slice", "object", "x", "y", "bbox_x", "bbox_y", "bbox_width", "bbox_height",
                            "area"]
    cell = dict(good, object=7, x=12.5, y=40.0, bbox_x=3, bbox_y=30, bbox_width=20, bbox_height=21, area=310)
    assert results_csv.row(cell, CLASSES, objects=True)[:10] == ["a,b.png", "1", "7", "12.5", "40.0", "3", "30",
                                                                 "20", "21", "310"]


def test_streaming_writer_writes_as_results_come():
    buf = io.StringIO(newline="")
    writer = results_csv.ResultsCsvWriter(buf, CLASSES)
    assert buf.getvalue().startswith("image,slice,class,confidence,")
    writer.write({"image": "x.png", "error": "x.png: file is empty"})
    assert buf.getvalue().count("\r\n") == 2


def test_predict_writes_the_format_for_images_stacks_and_errors(nd_run, small_bbbc013, corrupt_png, tmp_path):
    images = sorted(small_bbbc013.glob("*/*.png"))[:2]
    pages = [read_image(p) for p in images]
    h, w = min(p.shape[0] for p in pages), min(p.shape[1] for p in pages)
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.stack([p[:h, :w] for p in pages]), photometric="rgb")
    broken = tmp_path / "broken.png"
    shutil.copy(corrupt_png, broken)
    out = tmp_path / "results.csv"
    assert main(["predict", str(nd_run.run_dir), str(images[0]), str(stack), str(broken), "--csv", str(out)]) == 1
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    classes = nd_run.manifest["classes"]
    assert list(rows[0]) == ["image", "slice", "class", "confidence", "unsure", "runner_up", "runner_up_p",
                             *(f"p_{c}" for c in classes), "error"]
    assert [(r["image"], r["slice"]) for r in rows] == [(str(images[0]), "1"), (str(stack), "1"), (str(stack), "2"),
                                                        (str(broken), "1")]
    for r in rows[:3]:
        probs = [float(r[f"p_{c}"]) for c in classes]
        assert sum(probs) == pytest.approx(1, abs=1e-4) and r["error"] == ""
        assert r["class"] == classes[int(np.argmax(probs))] and float(r["confidence"]) == max(probs)
    assert all(r["unsure"] in ("true", "false") and r["runner_up"] in classes for r in rows[:3])
    assert rows[3]["class"] == rows[3]["confidence"] == rows[3]["unsure"] == "" and "truncated" in rows[3]["error"]
    assert all(rows[3][f"p_{c}"] == "" for c in classes)

"""``omniclas predict`` a batch at a time: the CSV as it goes, --resume after a crash, the summary."""
from __future__ import annotations

import csv
import shutil

import pytest

from omniclas.cli import main
from omniclas.data.imageio import read_pages
from omniclas.model.predictor import Predictor
from omniclas.report import results_csv


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def folder(small_bbbc013, corrupt_png, tmp_path_factory):
    """The small bbbc013 copy (66 images) and one broken file."""
    dst = tmp_path_factory.mktemp("stream") / "images"
    shutil.copytree(small_bbbc013, dst)
    shutil.copy(corrupt_png, dst / "zz_broken.png")
    return dst


def whole_folder(run_dir, paths) -> list[dict]:
    """The old way: each image read and classified on its own, the table written at the end."""
    model = Predictor.load(run_dir)
    rows = []
    for p in paths:
        try:
            probs = model.predict_proba(read_pages(p))
        except Exception as err:
            rows.append({"image": str(p), "error": str(err)})
            continue
        rows += [dict(model.describe(q), image=str(p)) for q in probs]
    text = results_csv.to_text(rows, model.classes)
    return list(csv.DictReader(text.splitlines()))


def same_results(a: list[dict], b: list[dict]) -> None:
    assert [(r["image"], r["slice"], r["class"], r["error"] != "") for r in a] == \
           [(r["image"], r["slice"], r["class"], r["error"] != "") for r in b]
    for x, y in zip(a, b):
        if x["confidence"]:
            assert float(x["confidence"]) == pytest.approx(float(y["confidence"]), abs=1e-4)


def test_csv_streams_the_same_results_with_a_summary(nd_run, folder, tmp_path, capsys):
    out = tmp_path / "results.csv"
    assert main(["predict", str(nd_run.run_dir), str(folder), "--csv", str(out), "--batch-size", "16"]) == 1
    printed = capsys.readouterr().out
    rows = read_rows(out)
    paths = sorted(p for p in folder.rglob("*.png"))
    same_results(rows, whole_folder(nd_run.run_dir, paths))
    assert str(folder / "CytoplasmicGFP") not in printed  # a summary, not the rows
    assert f"{len(paths)} images, {len(rows)} rows, 1 errors" in printed and f"Results: {out}" in printed
    for cls in nd_run.manifest["classes"]:
        assert f"  {cls}: {sum(r['class'] == cls for r in rows)}" in printed


def test_without_csv_rows_are_printed(nd_run, folder, capsys):
    image = sorted(folder.rglob("*.png"))[0]
    assert main(["predict", str(nd_run.run_dir), str(image)]) == 0
    assert capsys.readouterr().out.startswith(f"{image}\t")


def test_resume_after_a_cut_csv_classifies_each_image_once(nd_run, folder, tmp_path, capsys):
    out = tmp_path / "results.csv"
    args = ["predict", str(nd_run.run_dir), str(folder), "--csv", str(out), "--batch-size", "16"]
    main(args)
    full = read_rows(out)
    data = out.read_bytes()
    out.write_bytes(data[:len(data) * 2 // 5 + 7])  # a crash: cut mid-line
    assert not out.read_bytes().endswith(b"\n")
    capsys.readouterr()
    assert main(args + ["--resume"]) == 1
    assert "were in the CSV already" in capsys.readouterr().out
    rows = read_rows(out)
    assert sorted(r["image"] for r in rows) == sorted(r["image"] for r in full)  # each once
    by_image = {r["image"]: r for r in rows}
    same_results([by_image[r["image"]] for r in full], full)
    # resuming a finished CSV classifies nothing more
    main(args + ["--resume"])
    assert read_rows(out) == rows


def test_resume_refuses_another_models_csv(nd_run, folder, tmp_path, capsys):
    out = tmp_path / "other.csv"
    out.write_text("image,slice,class,confidence,p_a,p_b,error\r\nx.png,1,a,0.9,0.9,0.1,\r\n")
    before = out.read_bytes()
    assert main(["predict", str(nd_run.run_dir), str(folder), "--csv", str(out), "--resume"]) not in (0, 1)
    assert f"{out} is not a results CSV of this model" in capsys.readouterr().err
    assert out.read_bytes() == before

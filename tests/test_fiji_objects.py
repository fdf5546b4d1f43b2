"""Objects in Fiji, in-process (headless ImageJ through scyjava): Classify Image with ROIs of the ROI Manager or an
open label image in batch-mode macros, Classify Folder with a labels folder, Label Images with object crops, and
``omniclas.imagej.classify_objects`` (issue 16).

Needs the built plugin jar and the live server (tests/live_server.py); fields are composed from real crops.
"""
from __future__ import annotations

import csv as csvlib
import json
import urllib.request
import uuid

import numpy as np
import pytest

import fiji_jvm
from fields import compose_field, pick_crops
from test_fiji_integration import ij, last_error, model_classes, server, settings  # noqa: F401  (fixtures)

PALETTE = [(255, 0, 0), (0, 200, 0), (40, 120, 255)]  # ObjectClassifier.PALETTE: the first three classes


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """12 real crops (4 per class) on a dark canvas, with the crops' rectangles as objects (so ROIs drawn as
    rectangles are the same objects) and their cell masks as a second label image."""
    folder = tmp_path_factory.mktemp("fiji_field")
    crops = pick_crops(4, start=12)
    rects = compose_field(crops, whole_crops=True)
    image, labels = rects.write(folder, "field")
    masks = compose_field(crops)  # same seed: the same places
    masks_path = folder / "other" / "field_cellmasks.png"  # not beside the image: not one of Classify Folder's images
    masks_path.parent.mkdir()
    from PIL import Image

    Image.fromarray(masks.labels).save(masks_path)
    boxes = []
    for n in range(1, 13):
        ys, xs = np.nonzero(rects.labels == n)
        boxes.append((int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)))
    return {"image": image, "labels": labels, "masks": masks_path, "boxes": boxes, "truth": rects.truth}


def api_objects(server, image, labels, **options) -> list[dict]:
    """The server's own answer for the field and a label image (what Fiji must show)."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n{server.model}\r\n'.encode()]
    for key, value in options.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    for key, path in (("images", image), ("labels", labels)):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{path.name}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + path.read_bytes() + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(server.api("predict"), data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())["results"]


def test_classify_objects_of_a_label_image_in_a_batch_macro(ij, server, field, tmp_path, capfd):
    """Headless, batch mode: rows as the server answers for the same field and label image, and the CSV."""
    csv = tmp_path / "objects.csv"
    macro = (f'setBatchMode(true); open("{field["image"]}"); open("{field["labels"]}"); selectImage("field.png"); '
             f'run("Classify Image", "model={server.model} objects=field_masks.png padding=0 csv=[{csv}]"); '
             'print("N=" + nResults); print("CLASS3=" + getResultString("class", 2));')
    capfd.readouterr()
    ij.IJ.runMacro(macro)
    captured = capfd.readouterr()
    out = captured.out
    assert last_error(ij) == "", last_error(ij)
    assert ij.ImageClassifier.lastResults() is not None, captured
    rows = fiji_jvm.table_rows(ij.ImageClassifier.lastResults())
    assert "N=12" in out and len(rows) == 12
    want = api_objects(server, field["image"], field["labels"], padding="0")
    assert [int(r["object"]) for r in rows] == list(range(1, 13))
    assert [r["class"] for r in rows] == [w["class"] for w in want] and f"CLASS3={want[2]['class']}" in out
    for row, w, box in zip(rows, want, field["boxes"]):
        assert (row["bbox_x"], row["bbox_y"], row["bbox_width"], row["bbox_height"]) == box
        assert row["confidence"] == pytest.approx(w["confidence"], abs=1e-3) and row["image"] == "field.png"
    assert "OmniClas colours:" in out and "= red" in out and "OmniClas: field.png: 12 objects" in out
    with csv.open(newline="", encoding="utf-8") as f:
        table = list(csvlib.DictReader(f))
    assert list(table[0])[:10] == ["image", "slice", "object", "x", "y", "bbox_x", "bbox_y", "bbox_width",
                                   "bbox_height", "area"]
    assert [t["class"] for t in table] == [r["class"] for r in rows] and list(table[0])[-1] == "error"


def test_classify_an_open_label_image_colours_the_overlay(ij, server, field, capfd):
    macro = (f'setBatchMode(true); open("{field["image"]}"); open("{field["masks"]}"); '
             f'selectImage("field.png"); '
             f'run("Classify Image", "model={server.model} objects=field_cellmasks.png min_area=200"); '
             'print("N=" + nResults); for (i = 0; i < Overlay.size; i++) { Overlay.activateSelection(i); '
             'print("OVERLAY=" + Roi.getName + "|" + Roi.getStrokeColor); }')
    capfd.readouterr()
    ij.IJ.runMacro(macro)
    out = capfd.readouterr().out
    assert last_error(ij) == "", last_error(ij)
    rows = fiji_jvm.table_rows(ij.ImageClassifier.lastResults())
    want = api_objects(server, field["image"], field["masks"], min_area="200")
    assert [r["class"] for r in rows] == [w.get("class", "") for w in want]
    assert any(r["error"] for r in rows) and all("minimum area" in r["error"] for r in rows if r["error"])
    overlay = [line[len("OVERLAY="):].split("|") for line in out.splitlines() if line.startswith("OVERLAY=")]
    assert len(overlay) == 12
    Color, Colors = (__import__("scyjava").jimport(c) for c in ("java.awt.Color", "ij.plugin.Colors"))
    classes = model_classes(ij, server)
    for (name, colour), row in zip(overlay, rows):
        if row["class"]:
            cls, conf = name[:-1].split(" (")
            unsure = conf.endswith(", unsure")  # unsure objects: light grey, and said in their name
            assert unsure == (row["unsure"] == "true")
            assert cls == row["class"] and float(conf.removesuffix(", unsure")) == pytest.approx(row["confidence"],
                                                                                                 abs=0.006)
            want_colour = Color.lightGray if unsure else Color(*PALETTE[classes.index(row["class"])])
        else:
            assert name == "not classified"
            want_colour = Color.gray
        assert colour == str(Colors.colorToString(want_colour)), (name, colour)


def test_classify_folder_with_a_labels_folder(ij, server, field, tmp_path):
    csv = tmp_path / "folder.csv"
    folder = field["image"].parent  # field.png beside field_masks.png (named like Cellpose's masks)
    ij.IJ.run("Classify Folder...", f"model={server.model} folder=[{folder}] csv=[{csv}] labels=[{folder}] padding=0")
    assert last_error(ij) == "", last_error(ij)
    with csv.open(newline="", encoding="utf-8") as f:
        table = list(csvlib.DictReader(f))
    want = api_objects(server, field["image"], field["labels"], padding="0")
    assert [(t["image"], t["object"], t["class"]) for t in table] == \
        [("field.png", str(w["object"]), w["class"]) for w in want]


def test_label_images_takes_object_crops(ij, server, field, tmp_path, capfd):
    dataset = tmp_path / "dataset"
    macro = (f'setBatchMode(true); open("{field["image"]}"); open("{field["masks"]}"); selectImage("field.png"); '
             f'run("Label Images...", "source=[] dataset=[{dataset}] objects=field_cellmasks.png min_area=300");')
    capfd.readouterr()
    ij.IJ.runMacro(macro)
    ij.IJ.runMacro(macro)  # again: nothing is copied twice
    out = capfd.readouterr().out
    assert last_error(ij) == "", last_error(ij)
    masks = np.asarray(__import__("PIL.Image").Image.open(field["masks"]))
    big = [n for n in range(1, 13) if (masks == n).sum() >= 300]
    assert 0 < len(big) < 12
    assert sorted(p.name for p in (dataset / "unlabelled").iterdir()) == sorted(f"field__obj{n}.png" for n in big)
    assert f"{len(big)} object crop(s)" in out and f"{len(big)} already in the dataset" in out


def test_imagej_py_classifies_rois_and_label_images(ij, server, field):
    from omniclas.data.objects import ObjectOptions
    from omniclas.imagej import classify_objects
    from omniclas.model.predictor import Predictor

    jimport = __import__("scyjava").jimport
    Roi, OvalRoi = jimport("ij.gui.Roi"), jimport("ij.gui.OvalRoi")
    imp = ij.IJ.openImage(str(field["image"]))
    predictor = Predictor.load(server.run_dir)
    rois = [Roi(x, y, w, h) for x, y, w, h in field["boxes"]]
    rows = classify_objects(imp, rois, predictor, ObjectOptions(padding=0))
    want = predictor.predict_objects(field["image"], field["labels"], ObjectOptions(padding=0))
    assert [r["class"] for r in rows] == [w["class"] for w in want] and rows[0]["slice"] == 1
    labels = ij.IJ.openImage(str(field["masks"]))
    rows = classify_objects(imp, labels, predictor)
    assert [r["class"] for r in rows] == [w["class"] for w in predictor.predict_objects(field["image"], field["masks"])]
    x, y, w, h = field["boxes"][0]
    overlapping = [Roi(x, y, w, h), OvalRoi(x + 2, y + 2, w, h)]  # two layers: each keeps its whole area
    rows = classify_objects(imp, overlapping, predictor)
    assert [r["object"] for r in rows] == [1, 2] and rows[0]["area"] == w * h


def test_fijis_object_csv_is_the_clis_byte_for_byte(ij, server, field, tmp_path, monkeypatch):
    """Issue 22 item 5: one results format. The same field, label image and model: Fiji's CSV (Classify Image,
    objects from an open label image) and `omniclas predict --objects --csv` have the same header, the same
    columns and the same number formats (6 decimals, never 8.349E-6); the figures agree."""
    from omniclas.cli import main

    fiji_csv, cli_csv = tmp_path / "fiji.csv", tmp_path / "cli.csv"
    macro = (f'setBatchMode(true); open("{field["image"]}"); open("{field["labels"]}"); selectImage("field.png"); '
             f'run("Classify Image", "model={server.model} objects=field_masks.png padding=0 csv=[{fiji_csv}]");')
    ij.IJ.runMacro(macro)
    assert last_error(ij) == "", last_error(ij)
    monkeypatch.chdir(field["image"].parent)  # the CLI names the image as given: field.png, as Fiji does
    assert main(["predict", str(server.run_dir), "field.png", "--objects", field["labels"].name, "--padding", "0",
                 "--csv", str(cli_csv), "--models-root", str(server.models_root)]) == 0
    fiji_lines = fiji_csv.read_text(encoding="utf-8").splitlines()
    cli_lines = cli_csv.read_text(encoding="utf-8").splitlines()
    assert fiji_lines[0] == cli_lines[0] and len(fiji_lines) == len(cli_lines) == 13
    header = fiji_lines[0].split(",")
    for f_line, c_line in zip(fiji_lines[1:], cli_lines[1:]):
        f_row, c_row = f_line.split(","), c_line.split(",")
        for name, f, c in zip(header, f_row, c_row):
            if name == "confidence" or name.startswith("p_"):
                assert len(f.split(".")[1]) == len(c.split(".")[1]) == 6 and "E" not in f, (name, f, c)
                assert float(f) == pytest.approx(float(c), abs=2e-3), (name, f, c)
            else:
                assert f == c, (name, f_line, c_line)


def test_a_second_objects_run_replaces_the_first_runs_outlines_only(ij, server, field, capfd):
    """Issue 22 item 12: classifying the same field twice (its cell masks, then its rectangles) leaves the second
    run's 12 outlines and the user's own overlay, not 24 outlines drawn over each other; the Objects list offers
    no RGB image as a label image."""
    macro = (f'setBatchMode(true); open("{field["image"]}"); open("{field["masks"]}"); open("{field["labels"]}"); '
             'selectImage("field.png"); makeRectangle(1, 1, 5, 5); setSelectionName("mine"); Overlay.addSelection; Roi.remove; '
             f'run("Classify Image", "model={server.model} objects=field_cellmasks.png"); '
             f'run("Classify Image", "model={server.model} objects=field_masks.png padding=0"); '
             'names = ""; for (i = 0; i < Overlay.size; i++) { Overlay.activateSelection(i); names += Roi.getName + "|"; } '
             'print("OVERLAY=" + Overlay.size + "=" + names);')
    capfd.readouterr()
    ij.IJ.runMacro(macro)
    out = capfd.readouterr().out
    assert last_error(ij) == "", last_error(ij)
    size, names = next(line for line in out.splitlines() if line.startswith("OVERLAY=")).split("=")[1:3]
    assert int(size) == 13 and names.split("|")[0] == "mine", out
    Sources = __import__("scyjava").jimport("org.omniclas.fiji.ui.ObjectClassifier")
    rgb = ij.IJ.openImage(str(field["image"]))  # the field itself is RGB
    grey = ij.IJ.openImage(str(field["labels"]))
    assert rgb.getType() == ij.ImagePlus.COLOR_RGB
    assert not Sources.canLabel(rgb, grey) and Sources.canLabel(grey, rgb)

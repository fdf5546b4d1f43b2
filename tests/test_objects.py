"""Objects from label images (issue 16): reading label images, crops, and the CLI (predict --objects, crops).

Fields are composed from the fixture set's real BBBC013 crops (tests/fields.py) in temporary folders; the real
field with a real segmentation is tests/data/dsb2018 (DSB 2018 nuclei, 125 annotated).
"""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import tifffile
from PIL import Image

from fields import DSB_FIELD, DSB_LABELS, cell_mask, compose_field, pick_crops
from omniclas.cli import main
from omniclas.data.imageio import Budget, ImageTooLarge, read_image
from omniclas.data.labels import find_objects, read_labels
from omniclas.data.objects import ObjectLimit, ObjectOptions, match_by_name, read_field
from omniclas.errors import ConfigError, ImageReadError


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ label images
def test_real_segmentation_gives_every_object_with_its_geometry():
    labels = read_labels(DSB_LABELS)[0]
    assert labels.dtype == np.uint16
    found = find_objects(labels, DSB_LABELS.name)
    values = sorted(int(v) for v in np.unique(labels) if v)
    assert [o.value for o in found.objects] == values and len(values) == 125
    assert found.absent_count == 183 - 125 and found.absent_first[:1] == [min(set(range(1, 184)) - set(values))]
    for obj in found.objects[::10]:
        ys, xs = np.nonzero(labels == obj.value)
        assert obj.area == len(ys)
        assert obj.bbox == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        assert obj.x == pytest.approx(xs.mean()) and obj.y == pytest.approx(ys.mean())
    on_edge = {int(v) for v in np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])) if v}
    assert {o.value for o in found.objects if o.border} == on_edge and on_edge


def test_real_field_in_16_bit_is_read_once_and_cropped():
    fields = read_field(DSB_FIELD, DSB_LABELS, DSB_FIELD.name, DSB_LABELS.name, ObjectOptions(padding=0.5))
    assert len(fields) == 1 and fields[0].slice is None
    f = fields[0]
    whole = read_image(DSB_FIELD)  # the field's conversion: a dim nucleus stays dim beside a bright one
    obj = max(f.objects, key=lambda o: o.area)
    x, y, w, h = obj.bbox
    pad_x, pad_y = int(0.5 * w + 0.5), int(0.5 * h + 0.5)
    crop = f.crop(obj)
    assert crop.shape == (min(512, y + h + pad_y) - max(0, y - pad_y), min(512, x + w + pad_x) - max(0, x - pad_x), 3)
    assert np.array_equal(crop, whole[max(0, y - pad_y):y + h + pad_y, max(0, x - pad_x):x + w + pad_x])
    notes = " | ".join(f.notes())
    assert "on the border" in notes and "58 more absent" not in notes and "absent" in notes


@pytest.mark.parametrize("case", ["wrong_size", "float_tiff", "rgb_png", "jpeg", "negative", "no_objects",
                                  "too_many", "not_an_image"])
def test_bad_label_images_are_refused_naming_the_file(case, tmp_path):
    image = np.zeros((60, 80), dtype=np.uint8)
    labels = np.zeros((60, 80), dtype=np.uint16)
    labels[10:20, 10:20] = 1
    path = tmp_path / f"{case}_masks.tif"
    limit = None
    if case == "wrong_size":
        tifffile.imwrite(path, labels[:50])
        reason = "must have the same size"
    elif case == "float_tiff":
        tifffile.imwrite(path, labels.astype(np.float32))
        reason = "float32"
    elif case == "rgb_png":
        path = path.with_suffix(".png")
        path.write_bytes(png_bytes(np.dstack([labels.astype(np.uint8)] * 3)))
        reason = "3-channel"
    elif case == "jpeg":
        path = path.with_suffix(".jpg")
        Image.fromarray(labels.astype(np.uint8)).save(path)
        reason = "JPEG"
    elif case == "negative":
        tifffile.imwrite(path, (labels.astype(np.int16) - 1))
        reason = "negative"
    elif case == "no_objects":
        tifffile.imwrite(path, np.zeros_like(labels))
        reason = "no objects"
    elif case == "too_many":  # 100,000 objects: every pixel its own object
        image = np.zeros((250, 400), dtype=np.uint8)
        tifffile.imwrite(path, np.arange(1, 100_001, dtype=np.uint32).reshape(250, 400))
        limit, reason = ObjectLimit(5000), "100000 objects"
    else:
        path.write_bytes(b"not an image at all")
        reason = "not a readable"
    with pytest.raises(ImageReadError) as err:
        read_field(image, path, "field.png", path.name, ObjectOptions(), limit=limit)
    assert path.name in str(err.value) and reason in str(err.value), str(err.value)
    assert err.value.field == "labels"
    if case == "too_many":
        assert isinstance(err.value, ImageTooLarge) and err.value.http_status == 413


def test_image_budget_applies_to_label_images():
    labels = np.zeros((300, 300), dtype=np.uint16)
    labels[5:50, 5:50] = 3
    data = png_bytes(labels)
    with pytest.raises(ImageTooLarge, match="masks.png: 300 x 300 pixels"):
        read_labels(data, "masks.png", Budget(max_pixels=50_000))
    with pytest.raises(ImageTooLarge, match="masks.png: the images of this request decode to more"):
        read_labels(data, "masks.png", Budget(request_bytes=100_000))
    with pytest.raises(ImageTooLarge, match="a_masks.png: more than 1 images"):  # the label image is a page too
        read_field(png_bytes(np.zeros((300, 300), np.uint8)), data, "a.png", "a_masks.png", ObjectOptions(),
                   budget=Budget(max_pages=1))


def test_binary_mask_huge_values_and_stacks():
    mask = np.zeros((40, 40), dtype=bool)
    mask[2:6, 2:6] = mask[20:30, 20:30] = True
    found = find_objects(mask, "mask.png")
    assert found.binary_mask and [o.area for o in found.objects] == [16, 100]
    huge = np.zeros((40, 40), dtype=np.uint32)
    huge[1:3, 1:3], huge[10:20, 10:20] = 4_000_000_000, 5
    found = find_objects(huge, "huge.tif")
    assert [(o.value, o.area) for o in found.objects] == [(5, 100), (4_000_000_000, 4)]
    assert found.absent_count == 4_000_000_000 - 2
    # a 2-page stack with a 2-page label stack pairs them page by page
    stack = np.stack([np.full((40, 40), 100, np.uint16), np.full((40, 40), 900, np.uint16)])
    label_stack = np.stack([huge.astype(np.uint16) % 60000, mask.astype(np.uint16) * 2])
    buf = io.BytesIO()
    tifffile.imwrite(buf, label_stack, imagej=True, metadata={"axes": "ZYX"})
    img = io.BytesIO()
    tifffile.imwrite(img, stack, imagej=True, metadata={"axes": "ZYX"})
    fields = read_field(img.getvalue(), buf.getvalue(), "stack.tif", "stack_labels.tif", ObjectOptions())
    assert [f.slice for f in fields] == [1, 2] and [len(f.objects) for f in fields] == [2, 2]
    with pytest.raises(ImageReadError, match="1 label page"):
        read_field(img.getvalue(), huge.astype(np.uint16), "stack.tif", "one.png", ObjectOptions())


def test_padding_and_mask_outside():
    image = np.full((50, 50, 3), 200, dtype=np.uint8)
    labels = np.zeros((50, 50), dtype=np.uint8)
    labels[20:30, 10:30] = 1  # 20 wide, 10 high
    labels[20:22, 10:12] = 0
    for mode, outside in (("none", 200), ("dim", 50), ("blank", 0)):
        f = read_field(image, labels, "i", "l", ObjectOptions(padding=0.5, mask_outside=mode))[0]
        crop = f.crop(f.objects[0])
        assert crop.shape == (20, 40, 3)  # 10 + 2 x 5 high, 20 + 2 x 10 wide
        assert crop[0, 0, 0] == outside and crop[5, 10, 0] == outside and crop[10, 20, 0] == 200
    assert f.crop(f.objects[0], size=(64, 64)).shape == (64, 64, 3)
    for bad in ({"padding": -1}, {"padding": 9}, {"mask_outside": "grey"}, {"min_area": -2}):
        with pytest.raises(ConfigError) as err:
            ObjectOptions(**bad)
        assert err.value.field == next(iter(bad))


def test_label_files_are_matched_by_name():
    assert match_by_name(["A01.png", "B02.tif"], ["B02_cp_masks.png", "A01_labels.tif"]) == [1, 0]
    assert match_by_name(["A01.png"], ["A01.tif"]) == [0]
    assert match_by_name(["A01.png", "B02.png"], ["C_masks.png", "D_masks.png"]) is None


# ------------------------------------------------------------------------------------------------ CLI
def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_objects_of_whole_crops_are_classified_exactly_as_the_crops(nd_run, bbbc013, tmp_path, capsys):
    """Label = each crop's whole rectangle, no padding: every object's crop is the crop file's pixels, so the
    probabilities must be those of the crops themselves."""
    crops = pick_crops(2, start=12)
    field = compose_field(crops, whole_crops=True)
    image, labels = field.write(tmp_path)
    out = tmp_path / "objects.csv"
    assert main(["predict", str(nd_run.run_dir), str(image), "--objects", str(labels), "--padding", "0",
                 "--csv", str(out)]) == 0
    rows = _rows(out)
    capsys.readouterr()
    assert main(["predict", str(nd_run.run_dir), *map(str, crops), "--json"]) == 0
    direct = __import__("json").loads(capsys.readouterr().out)
    assert [int(r["object"]) for r in rows] == list(range(1, len(crops) + 1))
    for row, ref in zip(rows, direct):
        assert row["class"] == ref["class"]
        for c, p in ref["probabilities"].items():
            assert float(row[f"p_{c}"]) == pytest.approx(p, abs=1e-5)


def test_predict_objects_csv_reports_and_matches_a_folder(nd_run, tmp_path, capsys):
    field = compose_field(pick_crops(4, start=12))
    folder = tmp_path / "fields"
    field.write(folder, "A01", suffix="_cp_masks")  # Cellpose's name, beside the image
    compose_field(pick_crops(1, start=16), seed=3).write(folder, "B02", suffix="_labels")
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(folder / "C03.png")  # no label image
    small = min(o for o in field.truth if (field.labels == o).sum() < 400)
    out = tmp_path / "out.csv"
    rc = main(["predict", str(nd_run.run_dir), str(folder), "--objects", str(folder), "--min-area", "400",
               "--csv", str(out)])
    captured = capsys.readouterr()
    assert rc == 1  # C03.png has no label image: an error row, the rest classified
    rows = _rows(out)
    header = list(rows[0])
    assert header[:10] == ["image", "slice", "object", "x", "y", "bbox_x", "bbox_y", "bbox_width", "bbox_height",
                           "area"]
    assert header[10:12] == ["class", "confidence"] and header[-1] == "error"
    assert header[12:15] == ["unsure", "runner_up", "runner_up_p"]
    assert header[15:-1] == [f"p_{c}" for c in nd_run.manifest["classes"]]
    by_image = {}
    for r in rows:
        by_image.setdefault(r["image"].rsplit("/", 1)[-1], []).append(r)
    assert sorted(by_image) == ["A01.png", "B02.png", "C03.png"]  # the label files are not taken for images
    assert len(by_image["A01.png"]) == 12 and len(by_image["B02.png"]) == 3
    assert "no label image" in by_image["C03.png"][0]["error"]
    skipped = [r for r in by_image["A01.png"] if r["error"]]
    assert small in {int(r["object"]) for r in skipped}
    assert all("minimum area of 400 px" in r["error"] and r["class"] == "" and r["area"] for r in skipped)
    classified = [r for r in by_image["A01.png"] if not r["error"]]
    assert all(float(r["confidence"]) > 0 and r["slice"] == "1" for r in classified)
    assert "below the minimum area of 400 px" in captured.err and "12 objects" in captured.err
    assert "Traceback" not in captured.err


def test_field_of_12_real_crops_is_as_accurate_as_the_crops(nd_run, tmp_path, capsys):
    """Issue 16's target: a field of 12 real crops (4 per class, none of them trained on) classified through
    --objects with the default padding is within one object of classifying the crop files themselves."""
    crops = pick_crops(4, start=14)
    field = compose_field(crops, seed=1)
    image, labels = field.write(tmp_path)
    assert main(["predict", str(nd_run.run_dir), str(image), "--objects", str(labels), "--json"]) == 0
    objects = __import__("json").loads(capsys.readouterr().out)
    assert main(["predict", str(nd_run.run_dir), *map(str, crops), "--json"]) == 0
    direct = __import__("json").loads(capsys.readouterr().out)
    right_objects = sum(r["class"] == field.truth[r["object"]] for r in objects)
    right_crops = sum(r["class"] == c.parent.name for r, c in zip(direct, crops))
    assert len(objects) == 12 and abs(right_objects - right_crops) <= 1, (right_objects, right_crops)


def test_crops_for_labelling_map_back_and_classify_as_the_objects(nd_run, tmp_path, capsys):
    field = compose_field(pick_crops(2, start=12))
    image, labels = field.write(tmp_path / "in")
    table = tmp_path / "objects.csv"
    table.write_text("image,object,class\nfield.png,2,NoGFP\nfield,3,NuclearGFP\nfield.png,99,NoGFP\n")
    out = tmp_path / "dataset"
    args = [str(image), "--objects", str(labels), "--out", str(out), "--mask-outside", "dim"]
    assert main(["crops", *args, "--classes", str(table)]) == 1  # object 99 is not in the label image
    captured = capsys.readouterr()
    assert "object 99 of field " in captured.err and "6 crops written" in captured.out
    assert "field.png: 6 objects, 6 cropped" in captured.err and "classified" not in captured.err  # nothing is
    assert sorted(p.name for p in (out / "NoGFP").iterdir()) == ["field__obj2.png"]
    assert sorted(p.name for p in (out / "NuclearGFP").iterdir()) == ["field__obj3.png"]
    assert sorted(p.name for p in (out / "unlabelled").iterdir()) == [f"field__obj{n}.png" for n in (1, 4, 5, 6)]
    assert main(["crops", *args]) == 0  # run again: what is there stays, nothing is written twice
    assert "6 already there" in capsys.readouterr().out
    assert len(list((out / "unlabelled").iterdir())) == 4
    # the crops, classified as files, get the probabilities of the objects classified in the field
    assert main(["predict", str(nd_run.run_dir), str(image), "--objects", str(labels), "--mask-outside", "dim",
                 "--json"]) == 0
    objects = __import__("json").loads(capsys.readouterr().out)
    crop_files = sorted(out.rglob("field__obj*.png"), key=lambda p: int(p.stem.split("obj")[1]))
    assert main(["predict", str(nd_run.run_dir), *map(str, crop_files), "--json"]) == 0
    direct = __import__("json").loads(capsys.readouterr().out)
    for obj, ref in zip(objects, direct):
        assert obj["probabilities"] == pytest.approx(ref["probabilities"], abs=1e-5)


def test_predictor_predict_objects_takes_arrays(nd_run):
    from omniclas.model.predictor import Predictor

    field = compose_field(pick_crops(1, start=12))
    rows = Predictor.load(nd_run.run_dir).predict_objects(field.image, field.labels,
                                                          ObjectOptions(min_area=10 ** 6))
    assert [r["object"] for r in rows] == [1, 2, 3] and all("error" in r for r in rows)
    rows = Predictor.load(nd_run.run_dir).predict_objects(field.image, field.labels)
    assert all(r["class"] in nd_run.manifest["classes"] and r["image"] == "image" for r in rows)
    assert cell_mask(np.zeros((4, 4, 3), np.uint8)).all()

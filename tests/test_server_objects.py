"""Objects in the HTTP API (issue 16): POST /predict with label images, POST /crops, limits, the OpenAPI document.

Through Flask's test client with a real model (the session's ``nd_run``) and fields composed from real crops.
"""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import tifffile
from PIL import Image

from fields import compose_field, pick_crops
from omniclas.cli import main as cli_main
from omniclas.registry import Registry
from omniclas.server import create_app

API = "/api/v1"


@pytest.fixture(scope="module")
def models_root(nd_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("objects") / "models"
    Registry(root).register(nd_run.run_dir, "cells")
    return root


@pytest.fixture()
def make_client(models_root, tmp_path):
    apps = []

    def make(**extra):
        app = create_app({"MODELS_ROOT": str(models_root), "JOBS_DIR": str(tmp_path / f"jobs{len(apps)}"),
                          "BF16": False, **extra})
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["omniclas"].close()


@pytest.fixture(scope="module")
def field_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fields")
    a = compose_field(pick_crops(2, start=12))
    b = compose_field(pick_crops(1, start=16), seed=5)
    return folder, a.write(folder, "A01"), b.write(folder, "B02", suffix="_cp_masks"), a


def part(path, name=None):
    return io.BytesIO(path.read_bytes()), name or path.name


def post(client, route="predict", **data):
    data = {"model": "cells", **data} if route == "predict" else data
    return client.post(f"{API}/{route}", data=data, content_type="multipart/form-data")


def tiff(arr) -> io.BytesIO:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr)
    buf.seek(0)
    return buf


def test_predict_objects_gives_what_the_cli_gives(make_client, models_root, field_files, tmp_path, monkeypatch,
                                                  capsys):
    folder, (a_img, a_lab), (b_img, b_lab), field = field_files
    client = make_client()
    # label images sent in the other order: their names pair them (A01_masks, B02_cp_masks)
    r = post(client, images=[part(a_img), part(b_img)], labels=[part(b_lab), part(a_lab)], padding="0.5",
             mask_outside="dim")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    rows = body["results"]
    assert [(x["image"], x["object"]) for x in rows] == [("A01.png", n) for n in range(1, 7)] + \
        [("B02.png", n) for n in range(1, 4)]
    assert [s["objects"] for s in body["objects"]] == [6, 3] and body["objects"][1]["labels"] == "B02_cp_masks.png"
    for x in rows:
        assert x["class"] in ("CytoplasmicGFP", "NoGFP", "NuclearGFP") and len(x["top"]) == 3
        assert {"x", "y", "bbox_x", "bbox_y", "bbox_width", "bbox_height", "area", "border"} <= set(x)
    monkeypatch.setenv("OMNICLAS_MODELS", str(models_root))
    assert cli_main(["predict", "cells", str(a_img), str(b_img), "--objects", str(folder), "--padding", "0.5",
                     "--mask-outside", "dim", "--json", "--no-bf16"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert [(x["object"], x["class"]) for x in cli] == [(x["object"], x["class"]) for x in rows]
    for got, want in zip(rows, cli):
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-5)
        assert got["bbox_x"] == want["bbox_x"] and got["x"] == want["x"]


def test_label_images_are_paired_by_order_when_names_do_not_pair(make_client, field_files):
    _, (a_img, a_lab), (b_img, b_lab), _ = field_files
    r = post(make_client(), images=[part(a_img), part(b_img)], labels=[part(a_lab, "one.png"),
                                                                        part(b_lab, "two.png")])
    assert r.status_code == 200
    assert [s["labels"] for s in r.get_json()["objects"]] == ["one.png", "two.png"]


def test_bad_label_images_give_error_rows_the_rest_classified(make_client, field_files):
    _, (a_img, a_lab), (b_img, _), field = field_files
    h, w = field.labels.shape
    client = make_client()
    cases = {"small_masks.tif": tiff(field.labels[: h // 2]), "float_masks.tif": tiff(field.labels.astype(np.float32)),
             "empty_masks.tif": tiff(np.zeros_like(field.labels))}
    images = [(io.BytesIO(a_img.read_bytes()), name.replace("_masks.tif", ".png")) for name in cases]
    r = post(client, images=[*images, part(a_img), part(b_img)],
             labels=[(buf, name) for name, buf in cases.items()] + [part(a_lab)], min_area="50")
    assert r.status_code == 200, r.get_data(as_text=True)
    rows = r.get_json()["results"]
    errors = {x["image"]: x["error"] for x in rows if "object" not in x}
    assert "small_masks.tif" in errors["small.png"] and "same size" in errors["small.png"]
    assert "float_masks.tif" in errors["float.png"] and "float32" in errors["float.png"]
    assert "empty_masks.tif" in errors["empty.png"] and "no objects" in errors["empty.png"]
    assert "no label image" in errors["B02.png"]  # one image more than label images
    assert sum(1 for x in rows if x["image"] == "A01.png" and "class" in x) == 6


def test_limits_of_the_request_apply_to_label_images(make_client, field_files):
    _, (a_img, a_lab), _, field = field_files
    h, w = field.labels.shape
    many = np.arange(1, 100_001, dtype=np.uint32).reshape(250, 400)  # 100,000 objects
    r = post(make_client(), images=[(io.BytesIO(png(np.zeros((250, 400), np.uint8))), "dense.png")],
             labels=[(tiff(many), "dense_masks.tif")])
    assert r.status_code == 413
    err = r.get_json()["error"]
    assert err["field"] == "labels" and "dense_masks.tif" in err["message"] and "10000 objects" in err["message"]
    small = make_client(MAX_PIXELS=h * w - 1)  # the image fits nowhere either: the label image is refused first
    r = post(small, images=[part(a_img)], labels=[part(a_lab)])
    assert r.status_code == 413 and "A01.png" in r.get_json()["error"]["message"]
    r = post(make_client(MAX_DECODED_MB=(h * w * 3 + 100) / (1 << 20)), images=[part(a_img)], labels=[part(a_lab)])
    assert r.status_code == 413 and r.get_json()["error"]["field"] == "labels"
    assert "A01_masks.png" in r.get_json()["error"]["message"]
    r = post(make_client(MAX_FILES=1), images=[part(a_img)], labels=[part(a_lab), part(a_lab, "x.png")])
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "labels"
    for route in ("predict", "crops"):  # label images are files, never text
        r = post(make_client(), route, images=[part(a_img)], labels="{}")
        assert r.status_code == 400 and r.get_json()["error"]["field"] == "labels"
    for key, value in (("padding", "-1"), ("padding", "wide"), ("mask_outside", "grey"), ("min_area", "1.5"),
                       ("exclude_border", "maybe")):
        r = post(make_client(), images=[part(a_img)], labels=[part(a_lab)], **{key: value})
        assert r.status_code == 400 and r.get_json()["error"]["field"] == key, (key, r.get_json())


def png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_crops_are_those_of_the_cli(make_client, field_files, tmp_path, capsys):
    _, (a_img, a_lab), _, _ = field_files
    r = post(make_client(), "crops", images=[part(a_img), (io.BytesIO(png(np.zeros((5, 5), np.uint8))), "z.png")],
             labels=[part(a_lab), (io.BytesIO(png(np.zeros((5, 5), np.uint8))), "z_masks.png")], min_area="500")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.get_data()))
    listing = json.loads(zf.read("objects.json"))
    assert "no objects" in listing["errors"][0]["error"] and listing["errors"][0]["image"] == "z.png"
    assert cli_main(["crops", str(a_img), "--objects", str(a_lab), "--out", str(tmp_path / "ds"),
                     "--min-area", "500"]) == 0
    made = sorted((tmp_path / "ds" / "unlabelled").iterdir())
    assert sorted(n for n in zf.namelist() if n.endswith(".png")) == [p.name for p in made]
    assert [c["file"] for c in listing["crops"]] == [p.name for p in made]
    assert listing["objects"][0]["below_min_area"] == 6 - len(made)
    for p in made:
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(zf.read(p.name)))), np.asarray(Image.open(p)))


def test_openapi_document_says_objects(make_client):
    doc = make_client(MAX_FILES=7).get(f"{API}/openapi.json").get_json()
    ref = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    form = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert form["properties"]["labels"]["maxItems"] == 7
    assert form["properties"]["mask_outside"]["enum"] == ["none", "dim", "blank"]
    assert {"padding", "min_area", "exclude_border"} <= set(form["properties"])
    assert "/crops" in doc["paths"] and "ObjectResult" in doc["components"]["schemas"]
    ref = doc["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert "objects" in doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]


def test_thousands_of_one_pixel_objects_cost_a_model_run_per_distinct_crop(make_client, models_root, monkeypatch):
    """9,999 one-pixel objects on a real field (issue 24): identical crops are classified once, so the request
    costs a few hundred model runs, not 9,999 (it took minutes), with the same result for every object."""
    from omniclas.data.imageio import read_image
    from omniclas.data.objects import squash
    from omniclas.registry.manifest import input_size

    from live_server import DATA_ROOT

    rgb = read_image(DATA_ROOT / "dsb2018" / "dsb2018_field.png")
    labels = np.zeros(rgb.shape[:2], np.uint16)
    ys, xs = np.mgrid[0:rgb.shape[0]:2, 0:rgb.shape[1]:2]
    spots = list(zip(ys.ravel(), xs.ravel()))[:9999]
    for value, (y, x) in enumerate(spots, 1):
        labels[y, x] = value
    image_png, labels_png = io.BytesIO(), io.BytesIO()
    Image.fromarray(rgb).save(image_png, "PNG")
    Image.fromarray(labels).save(labels_png, "PNG")
    distinct = len({rgb[y, x].tobytes() for y, x in spots})
    classified = []
    real = Registry.classify

    def counting(model, images, unsure_threshold=None):
        classified.append(len(images))
        return real(model, images, unsure_threshold)

    monkeypatch.setattr(Registry, "classify", staticmethod(counting))
    r = make_client().post(f"{API}/predict", data={
        "model": "cells", "images": (io.BytesIO(image_png.getvalue()), "field.png"),
        "labels": (io.BytesIO(labels_png.getvalue()), "field_masks.png")}, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    results = r.get_json()["results"]
    assert len(results) == 9999 and all("class" in row for row in results)
    assert sum(classified) == distinct < 1000
    monkeypatch.undo()
    _, _, manifest, model = Registry(models_root, bf16=False).load("cells")  # as the app above
    for row in results[::500]:  # each as if classified alone
        y, x = spots[row["object"] - 1]
        alone = real(model, [squash(rgb[y:y + 1, x:x + 1], input_size(manifest))])[0]
        assert row["class"] == alone["class"] and row["confidence"] == pytest.approx(alone["confidence"], abs=1e-5)

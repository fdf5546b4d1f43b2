"""The HTTP API through Flask's test client: routes, errors, auth, uploads, path checks (real model and images)."""
from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from live_server import DATA_ROOT, require_data, small_dataset

from omniclas.data.imageio import read_image
from omniclas.model.predictor import describe_for
from omniclas.registry import Registry
from omniclas.server import create_app

API = "/api/v1"
TOKEN = "s3cret-token-of-24-chars"


@pytest.fixture(scope="module")
def models_root(live_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("srv") / "models"
    Registry(root).register(live_server.run_dir, "cells")
    return root


@pytest.fixture(scope="module")
def escape_root(tmp_path_factory):
    """A dataset root holding symlinks that point outside every root: a whole folder, and class folders."""
    root = tmp_path_factory.mktemp("roots") / "data"
    root.mkdir()
    (root / "escape").symlink_to("/etc")
    (root / "inside").mkdir()
    small_dataset(root / "small")
    outside = small_dataset(tmp_path_factory.mktemp("outside") / "cells")
    (root / "sneaky").mkdir()
    for cls in ("CytoplasmicGFP", "NoGFP", "NuclearGFP"):  # every class folder leads out of the root
        (root / "sneaky" / cls).symlink_to(outside / cls)
    (root / "linked").mkdir()  # a class folder linked within the root is fine
    for cls in ("CytoplasmicGFP", "NoGFP", "NuclearGFP"):
        (root / "linked" / cls).symlink_to(root / "small" / cls)
    return root


def make_app(models_root, tmp_path, **extra):
    cfg = {"MODELS_ROOT": str(models_root), "DATASET_ROOTS": [str(DATA_ROOT)], "JOBS_DIR": str(tmp_path / "jobs"),
           "BF16": False}
    cfg.update(extra)
    app = create_app(cfg)
    app.extensions["omniclas"].jobs.dispatcher.submit = lambda job: None  # no worker: jobs stay queued here
    return app


@pytest.fixture()
def app(models_root, tmp_path, escape_root):
    app = make_app(models_root, tmp_path, DATASET_ROOTS=[str(DATA_ROOT), str(escape_root)])
    yield app
    app.extensions["omniclas"].close()


@pytest.fixture()
def client(app):
    return app.test_client()


def real_images(n=2):
    root = require_data()
    return [p for c in ("CytoplasmicGFP", "NoGFP", "NuclearGFP") for p in sorted((root / c).iterdir())[:n]]


def upload(paths):
    return [(io.BytesIO(p.read_bytes()), p.name) for p in paths]


def post_images(c, files, model="cells", **kw):
    return c.post(f"{API}/predict", data={"model": model, "images": files}, content_type="multipart/form-data", **kw)


def encode(arr, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    if fmt == "TIFF":
        tifffile.imwrite(buf, arr, **kw)
    else:
        Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def assert_error(resp, status, field=None, contains=None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body and body["error"]["status"] == status and body["error"]["message"]
    if field:
        assert body["error"].get("field") == field
    if contains:
        assert contains in body["error"]["message"]
    assert "Traceback" not in resp.get_data(as_text=True)
    return body["error"]


def assert_image_error(resp, name, contains=None):
    """A request that is itself valid answers 200; the one image that could not be read carries its error."""
    assert resp.status_code == 200, resp.get_data(as_text=True)
    (result,) = resp.get_json()["results"]
    assert set(result) == {"image", "error"} and result["image"] == name and result["error"].startswith(f"{name}: ")
    if contains:
        assert contains in result["error"]
    return result["error"]


def test_meta_routes(client):
    h = client.get("/health").get_json()
    assert h["status"] == "ok" and h["version"] == "0.1.0" and h["auth_required"] is False
    assert client.get(f"{API}/health").get_json()["status"] == "ok"
    assert client.get(f"{API}/frameworks").get_json()["frameworks"][:2] == ["omniclas", "onnx"]
    bb = client.get(f"{API}/backbones").get_json()["backbones"]
    assert [b["name"] for b in bb if b["default"]] == ["efficientnet_lite0"]
    assert all(b["offline"] for b in bb if b["name"].startswith("efficientnet_lite"))
    body = client.get(f"{API}/processes").get_json()
    procs = {p["id"]: p for p in body["processes"]}
    assert set(procs) == {"auto", "nd", "dd", "idd", "md", "imd", "mdd", "imdd"}
    assert procs["auto"]["automl"] is True and procs["auto"]["needs_unlabelled"] is False
    assert procs["imdd"]["name"] == "I.M.D.D." and procs["imdd"]["needs_unlabelled"] is True
    assert procs["imdd"]["defaults"]["max_iterations"] == 5 and procs["nd"]["needs_unlabelled"] is False
    assert {o["name"] for o in body["options"]} >= {"backbones", "head", "threshold"}
    assert "rank5" in client.get(f"{API}/measures").get_json()["measures"]


def schema_of(doc, schema):
    """A schema with its $ref followed, and of a nullable one (3.1: anyOf [..., null]) the non-null branch."""
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    branches = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
    return schema_of(doc, branches[0]) if len(branches) == 1 else schema


def test_openapi_describes_every_route(app, client):
    doc = client.get(f"{API}/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API):
            continue
        path = rule.rule[len(API):].replace("<", "{").replace(">", "}")
        assert path in doc["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], (method, path)
    # the /processes answer as served fits what the document says of it
    schema = schema_of(doc, doc["paths"]["/processes"]["get"]["responses"]["200"]["content"]["application/json"]
                       ["schema"])
    body = client.get(f"{API}/processes").get_json()
    assert set(schema["properties"]) == set(body)
    process = schema_of(doc, schema["properties"]["processes"]["items"])
    assert set(process["properties"]) == set(body["processes"][0])
    assert set(schema_of(doc, process["properties"]["defaults"])["properties"]) == set(body["processes"][0]["defaults"])


def test_openapi_says_what_the_server_enforces(models_root, tmp_path, client):
    doc = client.get(f"{API}/openapi.json", headers={"Host": "localhost:5000"}).get_json()
    assert doc["servers"] == [{"url": "/api/v1"}]  # relative: the Host header is not echoed
    # a loopback server without a token asks for none
    assert "security" not in doc and "securitySchemes" not in doc["components"]
    assert not any("security" in op for item in doc["paths"].values() for op in item.values())
    spec = doc["components"]["schemas"]["JobSpec"]
    assert spec["additionalProperties"] is False and spec["required"] == ["dataset"]
    threshold = schema_of(doc, spec["properties"]["threshold"])
    assert threshold["minimum"] == 0 and threshold["maximum"] == 1
    assert spec["properties"]["dataset"]["minLength"] == 1
    tail = next(p for p in doc["paths"]["/jobs/{job_id}/log"]["get"]["parameters"] if p["name"] == "tail")
    assert tail["schema"]["minimum"] == 0
    rename = schema_of(doc, doc["paths"]["/models/{name}/rename"]["post"]["requestBody"]["content"]["application/json"]
                       ["schema"])
    assert rename["properties"]["new_name"]["pattern"] and rename["additionalProperties"] is False
    # what the document refuses, the server refuses too
    assert_error(client.post(f"{API}/models/cells/rename", json={"new_name": ""}), 400, "new_name")
    assert_error(client.post(f"{API}/models/cells/rename", json={"new_name": "x", "extra": 1}), 400, "extra")
    assert_error(client.post(f"{API}/jobs", json={"dataset": "bbbc013", "threshold": 1.5}), 400, "threshold")
    assert_error(client.post(f"{API}/jobs", json={"dataset": "bbbc013", "max_iterations": -1}), 400, "max_iterations")
    assert_error(client.post(f"{API}/jobs", json={"dataset": "   "}), 400, "dataset")
    assert_error(client.get(f"{API}/jobs/{'a' * 12}/log?tail=-1"), 400, "tail")
    assert_error(client.post(f"{API}/evaluate", json={"dataset": "small", "models": ["cells"], "predictors": []}),
                 400, "predictors")
    # a server with a token: every route but /health needs it, or only the mutating ones with PUBLIC_READ
    for public_read in (False, True):
        app = make_app(models_root, tmp_path / str(public_read), TOKEN=TOKEN, PUBLIC_READ=public_read)
        try:
            doc = app.test_client().get(f"{API}/openapi.json",
                                        headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
        finally:
            app.extensions["omniclas"].close()
        assert doc["security"] == [{"bearerAuth": []}]
        assert doc["paths"]["/health"]["get"]["security"] == []
        assert ("security" in doc["paths"]["/models"]["get"]) is public_read
        assert "security" not in doc["paths"]["/jobs"]["post"] and "401" in doc["paths"]["/jobs"]["post"]["responses"]


def test_models_routes(client):
    models = client.get(f"{API}/models").get_json()["models"]
    assert [m["name"] for m in models] == ["cells"]
    m = models[0]
    assert set(m) >= {"name", "version", "framework", "classes", "backbone", "input_size", "metrics", "created"}
    assert client.get(f"{API}/models?framework=onnx").get_json()["models"] == []
    info = client.get(f"{API}/models/cells").get_json()
    assert info["manifest"]["files"]["model.safetensors"] and "path" not in info
    assert_error(client.get(f"{API}/models/nope"), 404, "model")
    assert_error(client.get(f"{API}/models?framework=caffe"), 404, "framework")
    assert_error(client.get(f"{API}/models/.hidden"), 400, "model")
    assert_error(client.get(f"{API}/models/cells@٣"), 400, "model")  # versions are ASCII digits


def test_rename_delete_export(client, tmp_path):
    import onnxruntime as ort

    r = client.get(f"{API}/models/cells/export?format=onnx")
    assert r.status_code == 200 and r.mimetype == "application/octet-stream"
    assert client.get(f"{API}/models/cells/export").data == r.data  # the repeat comes from the cache
    path = tmp_path / "m.onnx"
    path.write_bytes(r.data)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"input": np.zeros((1, 3, 64, 64), np.float32)})[1].shape == (1, 3)
    assert_error(client.get(f"{API}/models/cells/export?format=pt"), 400, "format")
    r = client.post(f"{API}/models/cells/rename", json={"new_name": "renamed"})
    assert r.status_code == 200 and r.get_json()["name"] == "renamed"
    assert_error(client.post(f"{API}/models/renamed/rename", json={"new_name": "../x"}), 400, "new_name")
    assert_error(client.post(f"{API}/models/renamed/rename", json={}), 400, "new_name")
    assert_error(client.post(f"{API}/models/renamed/rename", data="nope", content_type="text/plain"), 400)
    assert_error(client.post(f"{API}/models/renamed@1/rename", json={"new_name": "x"}), 400, "model")
    r = client.post(f"{API}/models/renamed/rename", json={"new_name": "cells"})
    assert r.get_json()["name"] == "cells"
    assert_error(client.delete(f"{API}/models/ghost"), 404)


def test_predict_matches_python_api(client, models_root):
    paths = real_images(2)
    r = post_images(client, upload(paths))
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["model"] == "cells" and body["version"] == 1
    results = body["results"]
    assert [x["image"] for x in results] == [p.name for p in paths]
    expected = Registry(models_root, bf16=False).predict_batch("cells", paths)
    assert [x["class"] for x in results] == [x["class"] for x in expected]
    for got, want in zip(results, expected):
        for c, p in want["probabilities"].items():
            assert got["probabilities"][c] == pytest.approx(p, abs=1e-5)
        assert len(got["top"]) == 3 and got["top"][0]["class"] == got["class"]


def test_large_images_are_squashed_early_with_the_same_result(client, models_root):
    """A large upload is brought to the model's input size right after decoding; the classes and
    probabilities are those of the model's own preprocessing of the full image."""
    img = read_image(real_images(1)[0])
    big = np.asarray(Image.fromarray(img).resize((1500, 1200), Image.BICUBIC))
    r = post_images(client, [(io.BytesIO(encode(big)), "big.png")])
    assert r.status_code == 200, r.get_data(as_text=True)
    got = r.get_json()["results"][0]
    model = Registry(models_root, bf16=False).load("cells")[3]
    raw = np.asarray(model.predict_proba([big]))[0]  # the predictor resizes the full-size image itself
    want = describe_for(model, raw)["probabilities"]  # calibrated by the run's temperature
    for c, p in want.items():
        assert got["probabilities"][c] == pytest.approx(p, abs=1e-5)


def test_predict_tiff_stack_gives_slices(client, tmp_path):
    a = read_image(real_images(1)[0])
    stack = np.stack([a, a[::-1], a[:, ::-1]]).astype(np.uint16) * 200
    r = post_images(client, [(io.BytesIO(encode(stack, "TIFF", photometric="rgb")), "s.tif")])
    assert r.status_code == 200
    assert [x["slice"] for x in r.get_json()["results"]] == [1, 2, 3]
    # pages stored as separate series (one per write) are all classified too
    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as w:
        for i in range(5):
            w.write(np.roll(a, i * 7, axis=1), photometric="rgb")
    r = post_images(client, [(io.BytesIO(buf.getvalue()), "series.tif")])
    assert r.status_code == 200, r.get_data(as_text=True)
    assert [x["slice"] for x in r.get_json()["results"]] == [1, 2, 3, 4, 5]


def test_one_rule_for_stacks_in_cli_api_and_registry(client, models_root, tmp_path, monkeypatch, capsys):
    """Every page of a stack is one image: the CLI, the API and the Python API give the same rows."""
    import csv

    from omniclas.cli import main as cli_main

    pages = [read_image(p) for p in real_images(1)]
    h, w = min(p.shape[0] for p in pages), min(p.shape[1] for p in pages)
    stack_path = tmp_path / "stack.tif"
    tifffile.imwrite(stack_path, np.stack([p[:h, :w] for p in pages]), photometric="rgb")
    api = post_images(client, [(io.BytesIO(stack_path.read_bytes()), "stack.tif")]).get_json()["results"]
    py = Registry(models_root, bf16=False).predict_batch("cells", [stack_path])
    monkeypatch.setenv("OMNICLAS_MODELS", str(models_root))
    assert cli_main(["predict", "cells", str(stack_path), "--csv", str(tmp_path / "out.csv"), "--no-bf16"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert len(api) == len(py) == len(rows) == 3
    assert [r["slice"] for r in rows] == ["1", "2", "3"] and [r["slice"] for r in api] == [1, 2, 3]
    assert [r["class"] for r in rows] == [r["class"] for r in api] == [r["class"] for r in py]
    for row, a in zip(rows, api):
        assert float(row["confidence"]) == pytest.approx(a["confidence"], abs=1e-5)
    assert "1 images, 3 rows, 0 errors" in capsys.readouterr().out  # with --csv a summary; without, the rows
    assert cli_main(["predict", "cells", str(stack_path), "--no-bf16"]) == 0
    assert "[slice 3]" in capsys.readouterr().out


def png_header_bomb(width=100_000, height=100_000) -> bytes:
    """A tiny PNG that declares 10^10 pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_bad_uploads(models_root, tmp_path, client):
    good = real_images(1)[0].read_bytes()
    # an image that cannot be read is that image's result, never the request's error
    assert_image_error(post_images(client, [(io.BytesIO(b"\x89PNG\r\n\x1a\nbroken"), "corrupt.png")]), "corrupt.png")
    assert_image_error(post_images(client, [(io.BytesIO(good[: len(good) // 2]), "truncated.png")]), "truncated.png")
    assert_image_error(post_images(client, [(io.BytesIO(b""), "empty.png")]), "empty.png", "empty")
    assert_image_error(post_images(client, [(io.BytesIO(b"%PDF-1.4 hello"), "doc.pdf")]), "doc.pdf", "PDF")
    assert_image_error(post_images(client, [(io.BytesIO(b"II*\x00garbage"), "no-image.tif")]), "no-image.tif")
    assert_image_error(post_images(client, [(io.BytesIO(png_header_bomb()), "bomb.png")]), "bomb.png", "pixels")
    assert_error(post_images(client, [(io.BytesIO(good), "a.png")], model="ghost"), 404, "model")
    assert_error(post_images(client, [(io.BytesIO(good), "a.png")], model="../../etc"), 400, "model")
    assert_error(client.post(f"{API}/predict", data={"model": "cells"}, content_type="multipart/form-data"), 400,
                 "images")
    assert_error(client.post(f"{API}/predict", data={"images": [(io.BytesIO(good), "a.png")]},
                             content_type="multipart/form-data"), 400, "model")
    assert_error(client.post(f"{API}/predict", data={"model": "cells", "image": [(io.BytesIO(good), "a.png")]},
                             content_type="multipart/form-data"), 400, "image")
    assert_error(client.post(f"{API}/predict", json={"model": "cells"}), 400)
    # limits from the configuration: request size (in the flag's unit), pixels per image, pages per request
    small = make_app(models_root, tmp_path / "s", MAX_UPLOAD_MB=0.05, MAX_PIXELS=900, MAX_PAGES=2)
    try:
        c = small.test_client()
        err = assert_error(post_images(c, [(io.BytesIO(b"\0" * 80_000), "big.png")]), 413)
        assert "too large" in err["message"] and "limit of 0.05 MB" in err["message"]
        assert "--max-upload-mb" in err["message"]
        img = np.asarray(Image.open(io.BytesIO(good)))
        assert img.shape[0] * img.shape[1] > 900
        assert_image_error(post_images(c, [(io.BytesIO(good), "a.png")]), "a.png", "pixels")
        tiny = encode(np.zeros((20, 20, 3), np.uint8))
        assert_error(post_images(c, [(io.BytesIO(tiny), f"{i}.png") for i in range(3)]), 413, "images", "pages")
    finally:
        small.extensions["omniclas"].close()


def test_formats_and_nan_images(client):
    rgb = read_image(real_images(1)[0])
    r = post_images(client, [(io.BytesIO(encode(rgb, "BMP")), "cell.bmp")])
    assert r.status_code == 200, r.get_data(as_text=True)
    for fmt, name in (("GIF", "GIF"), ("WEBP", "WebP")):
        err = assert_image_error(post_images(client, [(io.BytesIO(encode(rgb, fmt)), f"cell.{fmt.lower()}")]),
                                 f"cell.{fmt.lower()}")
        assert f"{name} is not supported" in err and "PNG, JPEG, TIFF or BMP" in err
    nan = np.full((40, 40), np.nan, np.float32)
    assert_image_error(post_images(client, [(io.BytesIO(encode(nan, "TIFF")), "nan.tif")]), "nan.tif",
                       "no finite pixel")
    nan[5:10, 5:10] = 3.0  # some finite pixels: classified
    assert post_images(client, [(io.BytesIO(encode(nan, "TIFF")), "partly.tif")]).status_code == 200


def test_decoded_memory_is_limited(models_root, tmp_path):
    """A small upload that decodes to a large image is refused before it is decoded (its own result says so);
    images that decode to more than the request's limit together get 413."""
    app = make_app(models_root, tmp_path, MAX_IMAGE_MB=16, MAX_DECODED_MB=24)
    try:
        c = app.test_client()
        bomb = encode(np.zeros((2000, 2000), np.float64), "TIFF", compression="zlib")  # 32 MB once decoded
        assert len(bomb) < 200_000
        assert_image_error(post_images(c, [(io.BytesIO(bomb), "float64.tif")]), "float64.tif",
                           "limit of 16 MB per image")
        rgb = read_image(real_images(1)[0])
        big = encode(np.asarray(Image.fromarray(rgb).resize((1000, 1000))))  # 3 MB decoded, ~10 MB to convert
        r = post_images(c, [(io.BytesIO(big), f"{i}.png") for i in range(8)])  # 22.9 MB decoded in all
        assert r.status_code == 200, r.get_data(as_text=True)
        assert len(r.get_json()["results"]) == 8
        err = assert_error(post_images(c, [(io.BytesIO(big), f"{i}.png") for i in range(9)]), 413, "images")
        assert "decode to more than 24 MB in all" in err["message"]
        four = encode(np.zeros((4, 1500, 1500), np.uint8), "TIFF", compression="zlib", imagej=True,
                      metadata={"axes": "CYX"})  # an ImageJ 4-channel image, decoded in one piece: 9 MB
        assert post_images(c, [(io.BytesIO(four), "four-channels.tif")]).status_code == 200
        six = encode(np.zeros((6, 1500, 1500), np.uint8), "TIFF", compression="zlib", imagej=True,
                     metadata={"axes": "CYX"})  # 13.5 MB, and 6.75 MB more for its RGB copy
        assert_image_error(post_images(c, [(io.BytesIO(six), "six-channels.tif")]), "six-channels.tif", "per image")
    finally:
        app.extensions["omniclas"].close()


def test_token_protects_every_route_but_health(models_root, tmp_path):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    routes = (("get", "/models", {}), ("get", "/models/cells", {}), ("get", "/models/cells/export", {}),
              ("get", "/jobs", {}), ("get", "/openapi.json", {}), ("get", "/processes", {}),
              ("post", "/models/cells/rename", {"json": {"new_name": "x"}}), ("delete", "/models/cells", {}),
              ("post", "/jobs", {"json": {"dataset": "bbbc013"}}), ("post", "/predict", {"data": {"model": "cells"}}),
              ("post", "/evaluate", {"json": {}}))
    for public_read in (False, True):
        app = make_app(models_root, tmp_path / str(public_read), TOKEN=TOKEN, PUBLIC_READ=public_read)
        try:
            c = app.test_client()
            assert c.get("/health").get_json()["auth_required"] is True
            assert c.get(f"{API}/health").status_code == 200
            assert "dataset_roots" not in c.get("/health").get_json()  # absolute paths only with the token
            assert "dataset_roots" in c.get("/health", headers=auth).get_json()
            for method, path, kw in routes:
                if public_read and method == "get":
                    assert getattr(c, method)(API + path, **kw).status_code == 200, path
                    continue
                resp = getattr(c, method)(API + path, **kw)
                assert_error(resp, 401)
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
                assert_error(getattr(c, method)(API + path, headers={"Authorization": "Bearer wrong"}, **kw), 401,
                             contains="wrong")
                assert_error(getattr(c, method)(API + path, headers={"Authorization": f"Basic {TOKEN}"}, **kw), 401)
            assert c.get("/").status_code == (200 if public_read else 401)
            models = c.get(f"{API}/models", headers=auth).get_json()["models"]
            assert [m["name"] for m in models] == ["cells"]  # nothing changed
            ok = c.post(f"{API}/models/cells/rename", json={"new_name": "cells2"}, headers=auth)
            assert ok.status_code == 200
            c.post(f"{API}/models/cells2/rename", json={"new_name": "cells"}, headers=auth)
        finally:
            app.extensions["omniclas"].close()


def test_host_header_and_cross_site_requests(app, client):
    """DNS rebinding and cross-site forms against a loopback server without a token are refused."""
    jid = client.post(f"{API}/jobs", json={"dataset": "bbbc013", "process": "nd"}).get_json()["id"]
    evil = {"Host": "evil.example:5000", "Origin": "http://evil.example:5000"}
    err = assert_error(client.post(f"{API}/jobs/{jid}/cancel", headers=evil), 400, "Host")
    assert "evil.example" in err["message"] and "--allowed-host" in err["message"]
    assert_error(client.get(f"{API}/jobs", headers={"Host": "evil.example"}), 400, "Host")
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "http://localhost:8080"}):
        err = assert_error(client.post(f"{API}/jobs/{jid}/cancel", headers=headers), 403)
        assert "cross-site" in err["message"]
    assert client.get(f"{API}/jobs/{jid}").get_json()["state"] == "queued"  # nothing was cancelled
    assert client.get(f"{API}/jobs", headers={"Origin": "http://evil.example"}).status_code == 200  # reading
    for host in ("127.0.0.1:5000", "[::1]:5000", "LOCALHOST"):
        assert client.get(f"{API}/models", headers={"Host": host}).status_code == 200, host
    same = client.post(f"{API}/jobs/{jid}/cancel", headers={"Host": "127.0.0.1:5000",
                                                            "Origin": "http://127.0.0.1:5000",
                                                            "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and same.get_json()["state"] == "cancelled"


@pytest.mark.parametrize("dataset", ["/etc", "../../../../etc", "bbbc013/../../../etc", "escape", "escape/passwd",
                                     str(DATA_ROOT) + "/../../", "/", "~"])
def test_dataset_paths_outside_roots_refused(client, dataset):
    assert_error(client.post(f"{API}/jobs", json={"dataset": dataset}), 403, "dataset")
    assert_error(client.post(f"{API}/evaluate", json={"dataset": dataset, "models": ["cells"]}), 403, "dataset")


def test_symlinked_class_folders_refused(client, escape_root):
    err = assert_error(client.post(f"{API}/jobs", json={"dataset": "sneaky", "process": "nd"}), 403, "dataset")
    assert "sneaky" in err["message"]
    err = assert_error(client.post(f"{API}/evaluate", json={"dataset": "sneaky", "models": ["cells"]}), 403, "dataset")
    assert "outside the server's dataset roots" in err["message"]
    r = client.post(f"{API}/evaluate", json={"dataset": "linked", "models": ["cells"], "measures": ["accuracy"]})
    assert r.status_code == 200 and r.get_json()["images"] == 30
    assert client.post(f"{API}/jobs", json={"dataset": "linked", "process": "nd"}).status_code == 202


def test_long_paths(client):
    long = "a" * 5000
    assert_error(client.post(f"{API}/jobs", json={"dataset": long}), 400, "dataset", "too long")
    assert_error(client.post(f"{API}/evaluate", json={"dataset": long, "models": ["cells"]}), 400, "dataset")
    assert_error(client.post(f"{API}/evaluate", json={"dataset": "small", "models": ["cells"], "labels": long}), 400,
                 "labels")
    name_too_long = "b" * 300  # a path the file system cannot hold: not found
    assert_error(client.post(f"{API}/jobs", json={"dataset": name_too_long}), 404, "dataset")
    assert_error(client.post(f"{API}/evaluate", json={"dataset": f"small/{name_too_long}", "models": ["cells"]}), 404,
                 "dataset")


def test_job_spec_validation(client):
    cases = [({}, 400, "dataset"), ({"dataset": ""}, 400, "dataset"), ({"dataset": 5}, 400, "dataset"),
             ({"dataset": "bbbc013", "out_dir": "/tmp/x"}, 400, "out_dir"),
             ({"dataset": "bbbc013", "bogus": 1}, 400, "bogus"),
             ({"dataset": "bbbc013", "process": "xyz"}, 400, "process"),
             ({"dataset": "bbbc013", "threshold": "high"}, 400, "threshold"),
             ({"dataset": "bbbc013", "threshold": 3}, 400, "threshold"),
             ({"dataset": "bbbc013", "backbones": ["alexnet"]}, 400, "backbones"),
             ({"dataset": "bbbc013", "backbones": "efficientnet_lite0"}, 400, "backbones"),
             ({"dataset": "bbbc013", "batch_size": 0}, 400, "batch_size"),
             ({"dataset": "bbbc013", "max_iterations": True}, 400, "max_iterations"),
             ({"dataset": "bbbc013", "test_fraction": 1.0}, 400, "test_fraction"),
             ({"dataset": "inside-missing"}, 404, "dataset")]
    for spec, status, field in cases:
        assert_error(client.post(f"{API}/jobs", json=spec), status, field)
    assert_error(client.post(f"{API}/jobs", data="[1,2]", content_type="application/json"), 400)
    assert client.get(f"{API}/jobs").get_json()["jobs"] == []
    # null means the process's own default; every option of config.OPTIONS is accepted
    r = client.post(f"{API}/jobs", json={"dataset": "bbbc013", "process": "imdd", "threshold": None,
                                         "keep": "best", "selection": "threshold", "auto_views": False})
    assert r.status_code == 202, r.get_data(as_text=True)
    assert "threshold" not in r.get_json()["spec"] and r.get_json()["spec"]["keep"] == "best"


def test_job_lifecycle_without_worker(app, client):
    r = client.post(f"{API}/jobs", json={"dataset": "bbbc013", "process": "nd", "head": "linear"})
    assert r.status_code == 202
    job = r.get_json()
    assert job["state"] == "queued" and job["job_id"] == job["id"]
    assert job["spec"]["dataset"] == str(DATA_ROOT / "bbbc013")
    jid = job["id"]
    assert [j["id"] for j in client.get(f"{API}/jobs").get_json()["jobs"]] == [jid]
    assert any("queued" in line for line in client.get(f"{API}/jobs/{jid}/log").get_json()["lines"])
    assert_error(client.get(f"{API}/jobs/{jid}/log?tail=-3"), 400, "tail")
    assert_error(client.get(f"{API}/jobs/{jid}/log?tail=²"), 400, "tail")
    assert_error(client.get(f"{API}/jobs/{jid}/log?tail=10001"), 400, "tail")
    assert_error(client.post(f"{API}/jobs/{jid}/register", json={"name": "x"}), 409)
    assert_error(client.post(f"{API}/jobs/{jid}/resume"), 409)
    assert client.post(f"{API}/jobs/{jid}/cancel").get_json()["state"] == "cancelled"
    assert_error(client.post(f"{API}/jobs/{jid}/cancel"), 409)
    resumed = client.post(f"{API}/jobs/{jid}/resume")
    assert resumed.status_code == 202 and resumed.get_json()["state"] == "queued"
    # a running job whose worker stopped beating is shown as interrupted, and can be resumed
    store = app.extensions["omniclas"].jobs.store
    store.update(jid, lambda j: j.update(state="running", runner="elsewhere:1:x", heartbeat=1.0) or j)
    j = client.get(f"{API}/jobs/{jid}").get_json()
    assert j["state"] == "interrupted" and j["resumable"] and "resume" in j["error"]
    for bad in ("nope", "0" * 12, "../../etc", "A" * 12):
        assert_error(client.get(f"{API}/jobs/{bad}"), 404)


def test_evaluate_route(client, escape_root):
    r = client.post(f"{API}/evaluate", json={"dataset": "small", "measures": ["accuracy", "auroc"],
                                             "models": ["cells"]})
    assert r.status_code == 200, r.get_data(as_text=True)
    res = r.get_json()["results"][0]
    assert res["model"] == "cells" and 0.6 < res["measures"]["accuracy"] <= 1
    assert r.get_json()["images"] == 30
    assert_error(client.post(f"{API}/evaluate", json={"dataset": "bbbc013", "models": []}), 400, "models")
    assert_error(client.post(f"{API}/evaluate", json={"dataset": "bbbc013", "models": ["cells"],
                                                      "measures": ["nope"]}), 400, "measures")
    err = assert_error(client.post(f"{API}/evaluate", json={"dataset": "small", "models": ["cells"],
                                                            "measures": ["ACCURACY"]}), 400, "measures")
    assert "did you mean 'accuracy'" in err["message"]
    # the label file's field is called 'labels', as in the request
    (escape_root / "inside" / "labels.txt").write_text("NoGFP\nGhostClass\n")
    err = assert_error(client.post(f"{API}/evaluate", json={"dataset": "small", "models": ["cells"],
                                                            "labels": "inside/labels.txt"}), 400, "labels")
    assert "GhostClass" in err["message"]
    assert_error(client.post(f"{API}/evaluate", json={"dataset": "small", "models": ["cells"],
                                                      "labels": "inside/none.txt"}), 400, "labels")


def test_bad_requests_never_500(client):
    weird = [("get", "/models/%00"), ("get", "/jobs/%2e%2e"), ("post", "/models/x/rename"), ("put", "/models"),
             ("delete", "/jobs"), ("get", "/nope"), ("post", "/jobs/zzz/cancel"), ("get", "/models/a@b")]
    for method, path in weird:
        resp = getattr(client, method)(API + path, data=b"\xff\xfe", content_type="application/json")
        assert 400 <= resp.status_code < 500, (method, path, resp.status_code)
        assert resp.get_json()["error"]["message"]



def test_predict_answers_unsure_and_the_runner_up(client, models_root):
    """Every result carries unsure (against the run's threshold) and the runner-up (docs/calibration.md)."""
    paths = real_images(2)
    r = post_images(client, upload(paths))
    assert r.status_code == 200, r.get_data(as_text=True)
    threshold = Registry(models_root).model_info("cells")["manifest"]["calibration"]["threshold"]
    for x in r.get_json()["results"]:
        assert x["unsure"] == (x["confidence"] < threshold)
        assert x["runner_up"]["class"] != x["class"] and x["runner_up"]["probability"] <= x["confidence"]
        assert x["runner_up"] == x["top"][1]
    doc = client.get(f"{API}/openapi.json").get_json()
    assert "runner_up" in json.dumps(doc) and "unsure_threshold" in json.dumps(doc)  # the predict job's field


def test_predict_takes_an_unsure_threshold_of_its_own(client):
    """The threshold can be changed per request (images and objects), as on the command line; out of 0..1 it is
    refused by name."""
    paths = real_images(2)

    def post(threshold):
        return client.post(f"{API}/predict", content_type="multipart/form-data",
                           data={"model": "cells", "images": upload(paths), "unsure_threshold": threshold})

    every, none = post("1"), post("0")
    assert every.status_code == none.status_code == 200, every.get_data(as_text=True)
    assert all(x["unsure"] for x in every.get_json()["results"] if x["confidence"] < 1)
    assert not any(x["unsure"] for x in none.get_json()["results"])
    assert "objects" not in every.get_json()  # the threshold alone does not ask for objects
    h, w = np.asarray(Image.open(paths[0])).shape[:2]
    labels = np.zeros((h, w), np.uint16)
    labels[: h // 2, : w // 2], labels[h // 2:, w // 2:] = 1, 2
    objects = client.post(f"{API}/predict", content_type="multipart/form-data", data={
        "model": "cells", "images": upload(paths[:1]), "unsure_threshold": "1",
        "labels": [(io.BytesIO(encode(labels)), paths[0].stem + "_labels.png")]})
    assert objects.status_code == 200, objects.get_data(as_text=True)
    rows = [x for x in objects.get_json()["results"] if "class" in x]
    assert rows and all(x["unsure"] for x in rows if x["confidence"] < 1)
    assert_error(post("1.5"), 400, "unsure_threshold")
    left_out = post("null")  # a form field cannot carry JSON's null: its text means the field was left out
    assert left_out.status_code == 200
    assert left_out.get_json()["results"] == post_images(client, upload(paths)).get_json()["results"]


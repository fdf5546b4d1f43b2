"""The HTTP API through Flask's test client: routes, errors, auth, uploads, path checks (real model and images)."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest

from live_server import DATA_ROOT, require_data, small_dataset

from omniclas.registry import Registry
from omniclas.server import create_app

API = "/api/v1"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def models_root(live_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("srv") / "models"
    Registry(root).register(live_server.run_dir, "cells")
    return root


@pytest.fixture(scope="module")
def escape_root(tmp_path_factory):
    """A dataset root holding a symlink that points outside every root."""
    root = tmp_path_factory.mktemp("roots") / "data"
    root.mkdir()
    (root / "escape").symlink_to("/etc")
    (root / "inside").mkdir()
    small_dataset(root / "small")
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


def test_meta_routes(client):
    h = client.get("/health").get_json()
    assert h["status"] == "ok" and h["version"] == "0.1.0" and h["auth_required"] is False
    assert client.get(f"{API}/health").get_json()["status"] == "ok"
    assert client.get(f"{API}/frameworks").get_json()["frameworks"][:2] == ["omniclas", "onnx"]
    bb = client.get(f"{API}/backbones").get_json()["backbones"]
    assert [b["name"] for b in bb if b["default"]] == ["efficientnet_lite0"]
    assert all(b["offline"] for b in bb if b["name"].startswith("efficientnet_lite"))
    procs = {p["id"]: p for p in client.get(f"{API}/processes").get_json()["processes"]}
    assert set(procs) == {"nd", "dd", "idd", "md", "imd", "mdd", "imdd"}
    assert procs["imdd"]["name"] == "I.M.D.D." and procs["imdd"]["needs_unlabelled"] is True
    assert procs["imdd"]["defaults"]["max_iterations"] == 5 and procs["nd"]["needs_unlabelled"] is False
    assert "rank5" in client.get(f"{API}/measures").get_json()["measures"]


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


def test_rename_delete_export(client, tmp_path):
    import onnxruntime as ort

    r = client.get(f"{API}/models/cells/export?format=onnx")
    assert r.status_code == 200 and r.mimetype == "application/octet-stream"
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
    r = client.post(f"{API}/models/renamed/rename", json={"new_name": "cells"})
    assert r.get_json()["name"] == "cells"
    assert_error(client.delete(f"{API}/models/ghost"), 404)


def test_predict_matches_python_api(client, models_root):
    paths = real_images(2)
    r = client.post(f"{API}/predict", data={"model": "cells", "images": upload(paths)},
                    content_type="multipart/form-data")
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


def test_predict_tiff_stack_gives_slices(client, tmp_path):
    import tifffile

    from omniclas.imageio import read_image

    a = read_image(real_images(1)[0])
    stack = np.stack([a, a[::-1], a[:, ::-1]]).astype(np.uint16) * 200
    buf = io.BytesIO()
    tifffile.imwrite(buf, stack, photometric="rgb")
    r = client.post(f"{API}/predict", data={"model": "cells", "images": [(io.BytesIO(buf.getvalue()), "s.tif")]},
                    content_type="multipart/form-data")
    assert r.status_code == 200
    assert [x["slice"] for x in r.get_json()["results"]] == [1, 2, 3]


def png_header_bomb(width=100_000, height=100_000) -> bytes:
    """A tiny PNG that declares 10^10 pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_bad_uploads(models_root, tmp_path, client):
    post = lambda c, files, model="cells": c.post(  # noqa: E731
        f"{API}/predict", data={"model": model, "images": files}, content_type="multipart/form-data")
    good = real_images(1)[0].read_bytes()
    err = assert_error(post(client, [(io.BytesIO(b"\x89PNG\r\n\x1a\nbroken"), "corrupt.png")]), 400, "images")
    assert "corrupt.png" in err["message"]
    assert_error(post(client, [(io.BytesIO(good[: len(good) // 2]), "truncated.png")]), 400, "images")
    assert_error(post(client, [(io.BytesIO(b""), "empty.png")]), 400, "images", "empty")
    assert_error(post(client, [(io.BytesIO(b"%PDF-1.4 hello"), "doc.pdf")]), 400, "images")
    assert_error(post(client, [(io.BytesIO(png_header_bomb()), "bomb.png")]), 413, "images")
    assert_error(post(client, [(io.BytesIO(good), "a.png")], model="ghost"), 404, "model")
    assert_error(post(client, [(io.BytesIO(good), "a.png")], model="../../etc"), 400, "model")
    assert_error(client.post(f"{API}/predict", data={"model": "cells"}, content_type="multipart/form-data"), 400,
                 "images")
    assert_error(client.post(f"{API}/predict", data={"images": [(io.BytesIO(good), "a.png")]},
                             content_type="multipart/form-data"), 400, "model")
    assert_error(client.post(f"{API}/predict", json={"model": "cells"}), 400)
    # limits from the configuration: request size, pixels per image, pages per request
    small = make_app(models_root, tmp_path / "s", MAX_CONTENT_LENGTH=50_000, MAX_PIXELS=900, MAX_PAGES=2)
    try:
        c = small.test_client()
        err = assert_error(post(c, [(io.BytesIO(b"\0" * 80_000), "big.png")]), 413)
        assert "too large" in err["message"]
        img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(io.BytesIO(good)))
        assert img.shape[0] * img.shape[1] > 900
        assert_error(post(c, [(io.BytesIO(good), "a.png")]), 413, "images", "pixels")
        tiny = io.BytesIO()
        __import__("PIL.Image", fromlist=["Image"]).fromarray(np.zeros((20, 20, 3), np.uint8)).save(tiny, "PNG")
        files = [(io.BytesIO(tiny.getvalue()), f"{i}.png") for i in range(3)]
        assert_error(post(c, files), 400, "images")
    finally:
        small.extensions["omniclas"].close()


def test_token_protects_mutating_routes(models_root, tmp_path):
    app = make_app(models_root, tmp_path, TOKEN=TOKEN)
    try:
        c = app.test_client()
        assert c.get("/health").get_json()["auth_required"] is True
        assert c.get(f"{API}/models").status_code == 200  # reading needs no token
        for method, path, kw in (("post", "/models/cells/rename", {"json": {"new_name": "x"}}),
                                 ("delete", "/models/cells", {}),
                                 ("post", "/jobs", {"json": {"dataset": "bbbc013"}}),
                                 ("post", "/predict", {"data": {"model": "cells"}}),
                                 ("post", "/evaluate", {"json": {}})):
            resp = getattr(c, method)(API + path, **kw)
            assert_error(resp, 401)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert_error(getattr(c, method)(API + path, headers={"Authorization": "Bearer wrong"}, **kw), 401,
                         contains="wrong")
            assert_error(getattr(c, method)(API + path, headers={"Authorization": f"Basic {TOKEN}"}, **kw), 401)
        assert [m["name"] for m in c.get(f"{API}/models").get_json()["models"]] == ["cells"]  # nothing changed
        ok = c.post(f"{API}/models/cells/rename", json={"new_name": "cells2"},
                    headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        c.post(f"{API}/models/cells2/rename", json={"new_name": "cells"}, headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        app.extensions["omniclas"].close()


@pytest.mark.parametrize("dataset", ["/etc", "../../../../etc", "bbbc013/../../../etc", "escape", "escape/passwd",
                                     str(DATA_ROOT) + "/../../", "/", "~"])
def test_dataset_paths_outside_roots_refused(client, dataset):
    assert_error(client.post(f"{API}/jobs", json={"dataset": dataset}), 403, "dataset")
    assert_error(client.post(f"{API}/evaluate", json={"dataset": dataset, "models": ["cells"]}), 403, "dataset")


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
             ({"dataset": "inside-missing"}, 400, "dataset")]
    for spec, status, field in cases:
        assert_error(client.post(f"{API}/jobs", json=spec), status, field)
    assert_error(client.post(f"{API}/jobs", data="[1,2]", content_type="application/json"), 400)
    assert client.get(f"{API}/jobs").get_json()["jobs"] == []


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


def test_evaluate_route(client):
    r = client.post(f"{API}/evaluate", json={"dataset": "small", "measures": ["accuracy", "auroc"],
                                             "models": ["cells"]})
    assert r.status_code == 200, r.get_data(as_text=True)
    res = r.get_json()["results"][0]
    assert res["model"] == "cells" and 0.6 < res["measures"]["accuracy"] <= 1
    assert r.get_json()["images"] == 30
    assert_error(client.post(f"{API}/evaluate", json={"dataset": "bbbc013", "models": []}), 400, "models")
    assert_error(client.post(f"{API}/evaluate", json={"dataset": "bbbc013", "models": ["cells"],
                                                      "measures": ["nope"]}), 400, "measures")


def test_bad_requests_never_500(client):
    weird = [("get", "/models/%00"), ("get", "/jobs/%2e%2e"), ("post", "/models/x/rename"), ("put", "/models"),
             ("delete", "/jobs"), ("get", "/nope"), ("post", "/jobs/zzz/cancel"), ("get", "/models/a@b")]
    for method, path in weird:
        resp = getattr(client, method)(API + path, data=b"\xff\xfe", content_type="application/json")
        assert 400 <= resp.status_code < 500, (method, path, resp.status_code)
        assert resp.get_json()["error"]["message"]

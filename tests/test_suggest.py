"""Which images to label next: ``POST /api/v1/suggest`` (Flask's test client) and ``omniclas suggest``, on the
fixture set's real images and a real tiny model trained on them."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from live_server import DATA_ROOT, require_data, train_tiny_run

from omniclas.registry import Registry
from omniclas.server import create_app

API = "/api/v1"
CLASSES = ("CytoplasmicGFP", "NoGFP", "NuclearGFP")


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("suggest")
    root = base / "models"
    Registry(root).register(train_tiny_run(base / "run"), "cells")
    return root


@pytest.fixture(scope="module")
def own_root(tmp_path_factory):
    """A second dataset root: bbbc013 with a class added since the model was trained, and BCCD with a pool."""
    root = tmp_path_factory.mktemp("roots") / "data"
    src = require_data()
    grown = root / "grown"
    for cls in CLASSES:
        shutil.copytree(src / cls, grown / cls)
    pool = sorted((src / "unlabelled").iterdir())
    (grown / "Mitotic").mkdir()
    for f in pool[:2]:  # the biologist found a new class among the unlabelled images
        shutil.copy(f, grown / "Mitotic" / f.name)
    shutil.copytree(src / "unlabelled", grown / "unlabelled", ignore=lambda d, names: [f.name for f in pool[:2]])
    blood = root / "blood"
    shutil.copytree(require_data("bccd_wbc"), blood)
    (blood / "unlabelled").mkdir()
    for f in pool[:6]:
        shutil.copy(f, blood / "unlabelled" / f.name)
    (root / "empty_pool" / "A").mkdir(parents=True)
    cut = DATA_ROOT / "corrupt" / "A01_Cell162_truncated.png"  # a real PNG cut in half
    for name, good in (("damaged", pool[:5]), ("all_damaged", [])):
        (root / name / "unlabelled").mkdir(parents=True)
        for f in [*good, cut]:
            shutil.copy(f, root / name / "unlabelled" / f.name)
    outside = tmp_path_factory.mktemp("outside")  # under no dataset root
    shutil.copy(pool[0], outside / pool[0].name)
    (root / "sneaky" / "unlabelled").mkdir(parents=True)
    (root / "sneaky" / "unlabelled" / pool[0].name).symlink_to(outside / pool[0].name)
    return root


@pytest.fixture()
def client(models_root, own_root, tmp_path):
    app = create_app({"MODELS_ROOT": str(models_root), "DATASET_ROOTS": [str(DATA_ROOT), str(own_root)],
                      "JOBS_DIR": str(tmp_path / "jobs"), "BF16": False})
    app.extensions["omniclas"].jobs.dispatcher.submit = lambda job: None  # no worker: jobs stay queued
    yield app.test_client()
    app.extensions["omniclas"].close()


def post(client, **body):
    return client.post(f"{API}/suggest", json=body)


def assert_error(resp, status, field, contains=None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["status"] == status and error.get("field") == field, error
    if contains:
        assert contains in error["message"], error["message"]
    assert "Traceback" not in resp.get_data(as_text=True)
    return error["message"]


def test_cold_start_gives_n_distinct_unlabelled_images(client):
    resp = post(client, dataset="bbbc013", n=7)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["strategy"] == "cold-start" and body["model"] is None
    rows = body["suggestions"]
    assert [r["rank"] for r in rows] == list(range(1, 8))
    images = [r["image"] for r in rows]
    assert len(set(images)) == 7
    assert all(i.startswith("unlabelled/") and (DATA_ROOT / "bbbc013" / i).is_file() for i in images)
    assert all(r["guess"] is None and r["confidence"] is None and r["reason"] for r in rows)


def test_with_a_model_rows_carry_guesses(client):
    resp = post(client, dataset="bbbc013", model="cells", n=6)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["strategy"] == "uncertain" and body["model"] == "cells@1"
    rows = body["suggestions"]
    assert len({r["image"] for r in rows}) == 6
    assert all(r["guess"] in CLASSES and 0 < r["confidence"] <= 1 for r in rows)
    assert all("unsure between" in r["reason"] for r in rows)


def test_classes_added_since_training_give_a_note(client, own_root):
    resp = post(client, dataset=str(own_root / "grown"), model="cells", n=3)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert len(body["suggestions"]) == 3
    assert any("Mitotic" in note for note in body["notes"])
    assert all(not r["image"].endswith(tuple(p.name for p in (own_root / "grown" / "Mitotic").iterdir()))
               for r in body["suggestions"])  # labelled images are never suggested


def test_more_than_the_pool_suggests_the_whole_pool(client, own_root):
    body = post(client, dataset=str(own_root / "blood"), n=50).get_json()
    assert len(body["suggestions"]) == 6 and any("fewer than the 50" in note for note in body["notes"])


@pytest.mark.parametrize("body, status, field, contains", [
    ({"dataset": "bccd_wbc"}, 400, "dataset", "unlabelled"),  # no unlabelled/ images
    ({"dataset": "nowhere"}, 404, "dataset", "not found"),
    ({"dataset": "0" * 600}, 404, "dataset", "not found"),  # longer than a file name may be
    ({"dataset": "/etc"}, 403, "dataset", "outside"),
    ({"dataset": "bbbc013", "model": "nosuchmodel"}, 404, "model", "nosuchmodel"),
    ({"dataset": "bbbc013", "model": "../x"}, 400, "model", None),
    ({"dataset": "bbbc013", "n": 0}, 400, "n", "from 1 to 500"),
    ({"dataset": "bbbc013", "n": 501}, 400, "n", "from 1 to 500"),
    ({"dataset": "bbbc013", "n": "5"}, 400, "n", None),
    ({"dataset": "bbbc013", "job": "0123456789ab"}, 404, "job", "0123456789ab"),
    ({"dataset": "bbbc013", "model": "cells", "job": "0123456789ab"}, 400, "job", "not both"),
    ({"dataset": "bbbc013", "size": 3}, 400, "size", "unknown field"),
    ({"n": 3}, 400, "dataset", "required"),
])
def test_bad_requests_name_the_field(client, body, status, field, contains):
    assert_error(post(client, **body), status, field, contains)


def test_pool_images_leading_out_of_the_roots_are_refused(client, own_root):
    assert_error(post(client, dataset=str(own_root / "sneaky")), 403, "dataset", "outside")


def test_model_of_another_dataset_is_refused(client, own_root):
    message = assert_error(post(client, dataset=str(own_root / "blood"), model="cells"), 400, "model",
                           "none in common")
    assert "Neutrophil" in message and "NoGFP" in message


def test_empty_pool_folder_is_refused(client, own_root):
    (own_root / "empty_pool" / "unlabelled").mkdir(exist_ok=True)
    assert_error(post(client, dataset=str(own_root / "empty_pool")), 400, "dataset", "is empty")


def test_unreadable_pool_images_are_left_out_with_a_note(client, own_root):
    body = post(client, dataset=str(own_root / "damaged"), n=5).get_json()
    assert sorted(r["image"] for r in body["suggestions"]) == sorted(
        f"unlabelled/{f.name}" for f in (own_root / "damaged" / "unlabelled").iterdir() if "truncated" not in f.name)
    assert any("1 unreadable image" in note and "A01_Cell162_truncated.png" in note for note in body["notes"])
    assert_error(post(client, dataset=str(own_root / "all_damaged")), 400, "dataset", "can be read")


def test_unfinished_job_is_refused(client):
    job = client.post(f"{API}/jobs", json={"dataset": "bbbc013", "process": "nd"}).get_json()
    assert_error(post(client, dataset="bbbc013", job=job["id"]), 409, "job", "queued")


def test_openapi_documents_suggest(client):
    doc = client.get(f"{API}/openapi.json").get_json()
    route = doc["paths"]["/suggest"]["post"]
    assert "200" in route["responses"]
    schema = doc["components"]["schemas"]
    assert any(name.startswith("SuggestBody") for name in schema)


def test_a_finished_training_job_serves_as_the_model(client):
    from omniclas.jobs.runner import claim, execute, runner_token

    spec = {"dataset": "bbbc013", "process": "nd", "head": "linear", "image_size": 64,
            "backbones": ["efficientnet_lite0"]}
    job = client.post(f"{API}/jobs", json=spec).get_json()
    store = client.application.extensions["omniclas"].jobs.store
    token = runner_token()  # the job runs here, in this process, as a worker would run it
    assert execute(store, store.claim_next(lambda j: claim(j, token)), token)["state"] == "finished"
    resp = post(client, dataset="bbbc013", job=job["id"], n=4)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["model"] == f"job:{job['id']}" and body["strategy"] == "uncertain"
    assert all(r["guess"] in CLASSES for r in body["suggestions"]) and len(body["suggestions"]) == 4


# ------------------------------------------------------------------------------------------------ command line
def run_cli(*argv) -> int:
    from omniclas.cli import main

    return main(list(argv))


def test_cli_writes_the_csv_best_first(models_root, tmp_path, capsys):
    import csv

    out = tmp_path / "next.csv"
    assert run_cli("suggest", str(DATA_ROOT / "bbbc013"), "--model", "cells", "--n", "5", "--csv", str(out),
                   "--models-root", str(models_root)) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["rank", "image", "reason", "guess", "confidence"]
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5]
    pool = DATA_ROOT / "bbbc013" / "unlabelled"
    assert all(Path(r["image"]).parent == pool and Path(r["image"]).is_file() for r in rows)  # a path to move
    assert len({r["image"] for r in rows}) == 5
    assert all(r["guess"] in CLASSES and 0 < float(r["confidence"]) <= 1 and r["reason"] for r in rows)
    assert "5 images to label next (uncertain)" in capsys.readouterr().out


def test_cli_cold_start_prints_a_table(capsys):
    assert run_cli("suggest", str(DATA_ROOT / "bbbc013"), "--n", "3") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "(cold-start)" in lines[0] and len(lines) == 4
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"]
    assert all("unlabelled/" in line for line in lines[1:])


@pytest.mark.parametrize("args, contains", [
    (["--n", "0"], "n must be an integer from 1 to 500"),
    (["--n", "501"], "n must be an integer from 1 to 500"),
    (["--model", "nosuchmodel"], "nosuchmodel"),
    (["--csv", "/nonexistent-folder/next.csv"], "does not exist"),
])
def test_cli_bad_input_is_one_clear_line(models_root, capsys, args, contains):
    assert run_cli("suggest", str(DATA_ROOT / "bbbc013"), "--models-root", str(models_root), *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and contains in err and "Traceback" not in err


def test_cli_refuses_a_dataset_without_a_pool_and_a_model_of_another_dataset(models_root, own_root, capsys):
    assert run_cli("suggest", str(DATA_ROOT / "bccd_wbc")) == 2
    assert "unlabelled" in capsys.readouterr().err
    assert run_cli("suggest", str(own_root / "blood"), "--model", "cells", "--models-root", str(models_root)) == 2
    assert "none in common" in capsys.readouterr().err


def test_python_api_takes_a_run_folder(models_root):
    import omniclas

    run = next((models_root / "cells").iterdir())  # the registered version folder reads as a model folder
    result = omniclas.suggest(DATA_ROOT / "bbbc013", n=2, model=run)
    assert result.strategy == "uncertain" and result.model == str(run)
    assert [r.rank for r in result.rows] == [1, 2] and all(r.guess in CLASSES for r in result.rows)

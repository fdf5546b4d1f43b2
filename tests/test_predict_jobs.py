"""Predict jobs (POST /jobs with kind "predict"): a folder classified into results.csv, in the embedded worker and
sharded over RQ workers on a real redis-server, with a worker killed mid-shard."""
from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
import time

import pytest
import requests

from live_server import DATA_ROOT, server_env
from test_jobs import redis_url  # noqa: F401  (a real redis-server, module scope)

from omniclas.cli import main
from omniclas.server import create_app
from omniclas.server.answers import Job

API = "/api/v1"
FOLDER = DATA_ROOT / "bbbc013"  # 100 images
TERMINAL = ("finished", "failed", "cancelled", "interrupted")


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture(scope="module")
def cli_rows(live_server, tmp_path_factory) -> list[dict]:
    """The same folder through ``omniclas predict --csv`` with the same model."""
    out = tmp_path_factory.mktemp("cli") / "results.csv"
    main(["predict", live_server.model, str(FOLDER), "--csv", str(out), "--models-root",
          str(live_server.models_root)])
    return rows_of(out.read_text(encoding="utf-8"))


def same_rows(a: list[dict], b: list[dict]) -> None:
    """Each image once, in the same order, with the same class and confidence (timing aside)."""
    assert len({r["image"] for r in a}) == len(a)
    assert [(r["image"], r["slice"], r["class"]) for r in a] == [(r["image"], r["slice"], r["class"]) for r in b]
    for x, y in zip(a, b):
        assert float(x["confidence"]) == pytest.approx(float(y["confidence"]), abs=1e-4)


def wait(get, jid, timeout=240):
    deadline = time.monotonic() + timeout
    while (job := get(jid))["state"] not in TERMINAL:
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    return job


def test_predict_job_in_the_embedded_worker(live_server, cli_rows):
    r = requests.post(live_server.api("jobs"), json={"kind": "predict", "model": live_server.model,
                                                     "folder": "bbbc013"}, timeout=30)
    assert r.status_code == 202, r.text
    jid = r.json()["job_id"]
    assert r.json()["progress"]["stage"] == "predict" and r.json()["progress"]["images_total"] == 100
    job = wait(lambda j: requests.get(live_server.api(f"jobs/{j}"), timeout=10).json(), jid)
    assert job["state"] == "finished", job
    Job.model_validate(job)  # as the OpenAPI document describes a job
    res = job["result"]
    assert res["images"] == res["rows"] == 100 and res["errors"] == 0 and sum(res["counts"].values()) == 100
    assert job["progress"]["images_done"] == 100 and job["progress"]["fraction"] == 1.0
    got = requests.get(live_server.api(f"jobs/{jid}/results.csv"), timeout=10)
    assert got.status_code == 200 and got.headers["Content-Type"].startswith("text/csv")
    same_rows(rows_of(got.text), cli_rows)
    assert res["counts"] == {c: sum(r["class"] == c for r in cli_rows) for c in res["counts"]}
    assert [r["unsure"] for r in rows_of(got.text)] == [r["unsure"] for r in cli_rows]
    assert res["unsure"] == sum(r["unsure"] == "true" for r in cli_rows)
    assert requests.post(live_server.api(f"jobs/{jid}/register"), json={"name": "x"}, timeout=10).status_code == 409


def test_a_predict_job_takes_its_own_unsure_threshold(live_server):
    r = requests.post(live_server.api("jobs"), json={"kind": "predict", "model": live_server.model,
                                                     "folder": "bbbc013", "unsure_threshold": 1}, timeout=30)
    assert r.status_code == 202, r.text
    job = wait(lambda j: requests.get(live_server.api(f"jobs/{j}"), timeout=10).json(), r.json()["job_id"])
    assert job["state"] == "finished" and job["result"]["unsure"] == job["result"]["rows"] == 100


def test_bad_predict_requests_name_the_field(live_server, tmp_path):
    app = create_app({"MODELS_ROOT": str(live_server.models_root), "DATASET_ROOTS": [str(DATA_ROOT)],
                      "JOBS_DIR": str(tmp_path / "jobs")})
    try:
        c = app.test_client()
        ok = {"kind": "predict", "model": live_server.model, "folder": "bbbc013"}
        cases = [(dict(ok, model="nope"), 404, "model"), (dict(ok, model="bad name!"), 400, "model"),
                 (dict(ok, folder="/etc"), 403, "folder"), (dict(ok, folder="missing"), 404, "folder"),
                 (dict(ok, dataset="bbbc013"), 400, "dataset"), (dict(ok, shard_size=0), 400, "shard_size"),
                 ({"kind": "predict", "folder": "bbbc013"}, 400, "model"), ({"kind": "guess"}, 400, "kind")]
        for body, status, field in cases:
            r = c.post(f"{API}/jobs", json=body)
            assert r.status_code == status and r.get_json()["error"]["field"] == field, (body, r.get_json())
            assert field in r.get_json()["error"]["message"] or status != 400
        assert c.get(f"{API}/jobs").get_json()["jobs"] == []
    finally:
        app.extensions["omniclas"].close()


def test_a_link_at_any_depth_leading_out_of_the_roots_is_refused(live_server, tmp_path):
    """A link four levels down is found at submit (the check used to stop at three levels), and a link made
    after the check is refused when its file is opened: an error row, the file outside never read."""
    import shutil

    from omniclas.registry import Registry
    from omniclas.report.predict_csv import predict_to_csv

    root, outside = tmp_path / "root", tmp_path / "outside"
    deep = root / "plate" / "deep" / "a" / "b" / "c"
    deep.mkdir(parents=True)
    outside.mkdir()
    image = sorted((FOLDER / "NoGFP").iterdir())[0]
    shutil.copy(image, outside / "secret.png")
    shutil.copy(image, root / "plate" / "ok.png")
    (deep / "link.png").symlink_to(outside / "secret.png")
    app = create_app({"MODELS_ROOT": str(live_server.models_root), "DATASET_ROOTS": [str(root)],
                      "JOBS_DIR": str(tmp_path / "jobs")})
    try:
        r = app.test_client().post(f"{API}/jobs", json={"kind": "predict", "model": live_server.model,
                                                        "folder": "plate"})
        assert r.status_code == 403, r.get_json()
        assert "link.png" in r.get_json()["error"]["message"] and r.get_json()["error"]["field"] == "folder"
    finally:
        app.extensions["omniclas"].close()

    (deep / "link.png").unlink()
    (deep / "late.png").symlink_to(outside / "secret.png")
    (deep / "passwd.png").symlink_to("/etc/passwd")
    model = Registry(live_server.models_root).load(live_server.model)[3]
    out = tmp_path / "results.csv"
    predict_to_csv(model, [root / "plate" / "ok.png", deep / "late.png", deep / "passwd.png"], out, roots=[root])
    rows = rows_of(out.read_text(encoding="utf-8"))
    assert rows[0]["class"] and not rows[0]["error"]
    for row in rows[1:]:
        assert not row["class"] and "outside the server's dataset roots" in row["error"], row


def start_worker(url, log, *args, **env):
    return subprocess.Popen([sys.executable, "-m", "omniclas", "worker", "--queue", url, "--threads", "1", *args],
                            stdout=log, stderr=subprocess.STDOUT, env=server_env(**env))


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow  # three workers, three jobs of five shards: about 2 minutes on 2 cores
def test_sharded_on_rq_with_a_worker_killed_mid_shard(redis_url, live_server, cli_rows, tmp_path):  # noqa: F811
    jobs_dir = tmp_path / "jobs"
    app = create_app({"MODELS_ROOT": str(live_server.models_root), "DATASET_ROOTS": [str(DATA_ROOT)],
                      "JOBS_DIR": str(jobs_dir), "QUEUE": redis_url, "STALE_S": 12.0})
    c = app.test_client()
    get = lambda j: c.get(f"{API}/jobs/{j}").get_json()  # noqa: E731
    spec = {"kind": "predict", "model": live_server.model, "folder": str(FOLDER), "shard_size": 20, "batch_size": 8}
    workers = []
    log = open(tmp_path / "workers.log", "wb")
    try:
        jid = c.post(f"{API}/jobs", json=spec).get_json()["job_id"]
        assert get(jid)["progress"]["images_total"] == 100
        # a worker whose shard process (RQ's work horse) is killed (SIGKILL) once a batch of its shard is written;
        # it stops after that one RQ job, which RQ queues again (Retry)
        crashing = start_worker(redis_url, log, "--max-jobs", "1", OMNICLAS_CRASH_AT="predict-batch")
        workers.append(crashing)
        assert crashing.wait(180) == 0
        # the killed shard is the one with a batch done but not all: still "running", or already "queued" again
        # when reading the job found its heartbeat older than STALE_S (a loaded machine: the worker took that long
        # to notice its work horse's death and exit); its state says which, not which shard it is
        shards = app.extensions["omniclas"].jobs.raw(jid)["shards"]
        killed = next(i for i, s in enumerate(shards) if 0 < s["done"] < s["total"])
        assert shards[killed]["state"] in ("running", "queued"), shards[killed]
        shard_csv = jobs_dir / jid / "shards" / f"{killed}.csv"
        assert len(shard_csv.read_bytes().splitlines()) == 1 + 8  # the header and one batch
        with open(shard_csv, "ab") as f:  # and half a line left behind
            f.write(b"/half/a/line.png,1,NoG")
        # no worker now: a queued job is cancelled at once, and has no results.csv
        other = c.post(f"{API}/jobs", json=spec).get_json()["job_id"]
        assert c.get(f"{API}/jobs/{other}/results.csv").status_code == 409
        assert c.post(f"{API}/jobs/{other}/cancel").get_json()["state"] == "cancelled"
        workers.append(start_worker(redis_url, log))
        job = wait(get, jid)
        assert job["state"] == "finished", (job, (tmp_path / "workers.log").read_text()[-3000:])
        assert sum(f"shard {killed}:" in line for line in c.get(f"{API}/jobs/{jid}/log").get_json()["lines"]) == 2
        merged = rows_of(c.get(f"{API}/jobs/{jid}/results.csv").get_data(as_text=True))
        same_rows(merged, cli_rows)  # every image exactly once
        assert job["result"]["images"] == 100 and job["progress"]["images_done"] == 100
        assert get(other)["state"] == "cancelled"
        # two healthy workers share the shards: the same table
        workers.append(start_worker(redis_url, log))
        jid2 = c.post(f"{API}/jobs", json=spec).get_json()["job_id"]
        assert wait(get, jid2)["state"] == "finished"
        same_rows(rows_of(c.get(f"{API}/jobs/{jid2}/results.csv").get_data(as_text=True)), cli_rows)
    finally:
        for w in workers:
            stop(w)
        log.close()
        app.extensions["omniclas"].close()


def test_cancel_stops_after_a_batch_and_resume_continues(live_server, cli_rows, tmp_path):
    """The embedded path in this process: cancelled after its first batch, then resumed: each image once."""
    from omniclas.jobs import predict
    from omniclas.jobs.store import SQLiteJobStore
    from omniclas.registry import Registry

    store = SQLiteJobStore(tmp_path / "jobs.sqlite")
    fields = predict.plan({"kind": "predict", "model": live_server.model, "folder": "bbbc013", "batch_size": 8},
                          tmp_path / "j", Registry(live_server.models_root), [DATA_ROOT])
    job = {"id": "a" * 12, "state": "running", "cancel_requested": True, "job_dir": str(tmp_path / "j"), **fields}
    store.create(job)  # running, and asked to stop: it stops after the batch at work
    assert predict.execute_all(store, job, "here:1:x")["state"] == "cancelled"
    partial = rows_of((tmp_path / "j" / "shards" / "0.csv").read_text(encoding="utf-8"))
    assert len(partial) == 8 and not (tmp_path / "j" / predict.RESULTS).exists()
    job = store.update(job["id"], lambda j: predict.reset_for_resume(j) and j.update(state="queued") or j)
    done = predict.execute_all(store, job, "here:2:y")
    assert done["state"] == "finished" and done["result"]["images"] == 100, done
    same_rows(rows_of((tmp_path / "j" / predict.RESULTS).read_text(encoding="utf-8")), cli_rows)
    assert done["progress"]["images_done"] == 100


def test_a_shard_whose_worker_went_silent_is_queued_again(redis_url, live_server, tmp_path):  # noqa: F811
    """A whole worker gone (kill -9 of the worker and its work horse): its shard's heartbeat goes stale, and the
    next look at the job queues that shard again on RQ (no worker runs here)."""
    from rq import Queue
    from redis import Redis

    app = create_app({"MODELS_ROOT": str(live_server.models_root), "DATASET_ROOTS": [str(DATA_ROOT)],
                      "JOBS_DIR": str(tmp_path / "jobs"), "QUEUE": redis_url, "STALE_S": 30.0})
    try:
        c = app.test_client()
        queue = Queue("omniclas", connection=Redis.from_url(redis_url))
        queue.empty()
        jid = c.post(f"{API}/jobs", json={"kind": "predict", "model": live_server.model, "folder": "bbbc013",
                                          "shard_size": 50}).get_json()["job_id"]
        assert queue.count == 2
        store = app.extensions["omniclas"].jobs.store

        def silent(j):  # shard 1 taken by a worker that then vanished long ago
            j["state"] = "running"
            j["shards"][1].update(state="running", runner="gone:1:x@rq:y", heartbeat=1.0, done=8)
            return j

        store.update(jid, silent)
        assert c.get(f"{API}/jobs/{jid}").get_json()["state"] == "running"
        shard = app.extensions["omniclas"].jobs.raw(jid)["shards"][1]
        assert shard["state"] == "queued" and shard["runner"] is None and shard["done"] == 8
        assert queue.count == 3 and "predict job %s shard 1" % jid in queue.jobs[-1].description
        assert any("shard(s) 1: no sign of life" in line for line in c.get(f"{API}/jobs/{jid}/log").get_json()["lines"])
        queue.empty()
    finally:
        app.extensions["omniclas"].close()

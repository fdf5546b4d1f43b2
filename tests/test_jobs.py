"""Training jobs: the SQLite store, the embedded worker's lifetime, and the distributed mode on real RQ + Redis."""
from __future__ import annotations

import io
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from live_server import DATA_ROOT, free_port, require_data, server_env

from omniclas.jobs.store import SQLiteJobStore
from omniclas.server import create_app

API = "/api/v1"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


def test_sqlite_store_updates_are_atomic(tmp_path):
    store = SQLiteJobStore(tmp_path / "jobs.sqlite")
    store.create({"id": "a" * 12, "state": "queued", "n": 0})
    store.create({"id": "b" * 12, "state": "queued", "n": 0})

    def bump():
        for _ in range(25):
            store.update("a" * 12, lambda j: j.update(n=j["n"] + 1) or j)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("a" * 12)["n"] == 100
    claimed = [store.claim_next(lambda j: j.update(state="running") or j) for _ in range(3)]
    assert [c["id"] if c else None for c in claimed] == ["a" * 12, "b" * 12, None]
    assert store.interrupt_running("test") == ["a" * 12, "b" * 12]
    assert {j["state"] for j in store.list()} == {"interrupted"}
    store.append_log("a" * 12, ["one", "two\nthree"])
    assert store.tail_log("a" * 12, 5)[-2:] == ["one", "two three"] and store.tail_log("a" * 12, 0) == []


def test_embedded_worker_exits_with_its_server(tmp_path):
    script = (
        "import os, sys, time\n"
        "from omniclas.jobs.embedded import EmbeddedDispatcher\n"
        "from omniclas.jobs.store import SQLiteJobStore\n"
        "d = EmbeddedDispatcher(SQLiteJobStore(sys.argv[1]))\n"
        "d.ensure_worker()\n"
        "print(d.worker_pid, flush=True)\n"
        "time.sleep(1)\n"
        "os._exit(0)\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "jobs.sqlite")], capture_output=True, text=True,
                         env=server_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 20
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pid), "the worker outlived its server"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    import redis

    port = free_port()
    work = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def test_distributed_jobs_on_rq_and_redis(redis_url, live_server, tmp_path):
    worker_log = tmp_path / "worker.log"
    with open(worker_log, "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "omniclas", "worker", "--queue", redis_url, "--threads", "1"],
                                  stdout=log, stderr=subprocess.STDOUT, env=server_env(), cwd=str(tmp_path))
    app = create_app({"MODELS_ROOT": str(tmp_path / "models"), "DATASET_ROOTS": [str(DATA_ROOT)],
                      "JOBS_DIR": str(tmp_path / "jobs"), "QUEUE": redis_url})
    try:
        c = app.test_client()
        assert c.get("/health").get_json()["queue"] == "redis"
        spec = {"dataset": "bbbc013", "process": "nd", "head": "linear", "image_size": 64,
                "backbones": ["efficientnet_lite0"]}
        r = c.post(f"{API}/jobs", json=spec)
        assert r.status_code == 202, r.get_data(as_text=True)
        jid = r.get_json()["job_id"]
        other = c.post(f"{API}/jobs", json=spec).get_json()["job_id"]
        assert c.post(f"{API}/jobs/{other}/cancel").get_json()["state"] == "cancelled"  # still queued
        deadline = time.monotonic() + 240
        while (job := c.get(f"{API}/jobs/{jid}").get_json())["state"] in ("queued", "running"):
            assert worker.poll() is None, worker_log.read_text()[-3000:]
            assert time.monotonic() < deadline, (job, worker_log.read_text()[-3000:])
            time.sleep(0.5)
        assert job["state"] == "finished", (job, worker_log.read_text()[-3000:])
        assert job["queue"] == "redis" and job["result"]["test_accuracy"] > 0.6
        lines = c.get(f"{API}/jobs/{jid}/log").get_json()["lines"]
        assert any("[training]" in line for line in lines)
        r = c.post(f"{API}/jobs/{jid}/register", json={"name": "distributed"})
        assert r.status_code == 201, r.get_data(as_text=True)
        img = sorted((require_data() / "NoGFP").iterdir())[0]
        r = c.post(f"{API}/predict", data={"model": "distributed", "images": [(io.BytesIO(img.read_bytes()), img.name)]},
                   content_type="multipart/form-data")
        assert r.status_code == 200 and r.get_json()["results"][0]["class"] in ("CytoplasmicGFP", "NoGFP", "NuclearGFP")
        time.sleep(1.0)  # the worker takes the cancelled job and leaves it alone
        assert c.get(f"{API}/jobs/{other}").get_json()["state"] == "cancelled"
        # the job records live in Redis: a second server sees them
        app2 = create_app({"MODELS_ROOT": str(tmp_path / "models"), "DATASET_ROOTS": [str(DATA_ROOT)],
                           "JOBS_DIR": str(tmp_path / "jobs"), "QUEUE": redis_url})
        ids = [j["id"] for j in app2.test_client().get(f"{API}/jobs").get_json()["jobs"]]
        assert jid in ids and other in ids
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
        app.extensions["omniclas"].close()


def test_unreachable_redis_is_a_clear_error(tmp_path):
    from omniclas.jobs import QueueUnavailable

    with pytest.raises(QueueUnavailable, match="cannot reach Redis"):
        create_app({"MODELS_ROOT": str(tmp_path / "m"), "QUEUE": f"redis://127.0.0.1:{free_port()}/0"})


def test_worker_checks_the_dataset_again_before_training(tmp_path):
    """A class folder swapped for a symlink to outside the roots after the job was accepted: the job fails
    before any image is read."""
    import shutil

    from live_server import small_dataset

    from omniclas.jobs.runner import claim, execute, runner_token

    root = tmp_path / "root"
    dataset = small_dataset(root / "cells", per_class=4)
    outside = small_dataset(tmp_path / "outside", per_class=4)
    store = SQLiteJobStore(tmp_path / "jobs.sqlite")
    store.create({"id": "a" * 12, "state": "queued", "spec": {"dataset": str(dataset), "process": "nd"},
                  "attempts": 0, "run_dir": str(tmp_path / "run"), "dataset_roots": [str(root)]})
    shutil.rmtree(dataset / "NoGFP")
    (dataset / "NoGFP").symlink_to(outside / "NoGFP")
    token = runner_token()
    final = execute(store, store.claim_next(lambda j: claim(j, token)), token)
    assert final["state"] == "failed" and "outside the server's dataset roots" in final["error"]
    assert not (tmp_path / "run").exists()


def test_resume_before_the_first_round_starts_again(tmp_path):
    """A job stopped before any round finished has no checkpoint: resuming it trains from the start."""
    from live_server import small_dataset

    from omniclas.jobs.runner import claim, execute, runner_token

    dataset = small_dataset(tmp_path / "cells", per_class=6)
    store = SQLiteJobStore(tmp_path / "jobs.sqlite")
    store.create({"id": "b" * 12, "state": "queued", "resume": True, "attempts": 1,
                  "spec": {"dataset": str(dataset), "process": "nd", "backbones": ["efficientnet_lite0"],
                           "image_size": 64},
                  "run_dir": str(tmp_path / "run")})
    token = runner_token()
    final = execute(store, store.claim_next(lambda j: claim(j, token)), token)
    assert final["state"] == "finished", final.get("error")
    assert (tmp_path / "run" / "manifest.json").is_file()

"""A real server process on loopback: the whole cycle over HTTP, a restart during a job, the access token."""
from __future__ import annotations

import json
import re
import time

import pytest
import requests

from live_server import DATA_ROOT, free_port, require_data, server_env, start_server, stop_server, wait_health

from omniclas.registry import Registry

TERMINAL = ("finished", "failed", "cancelled", "interrupted")


def wait_job(url, jid, states=TERMINAL, timeout=180, headers=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{url}/api/v1/jobs/{jid}", headers=headers, timeout=10).json()
        if job["state"] in states:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {jid} still {job['state']} after {timeout} s: {job}")


def real_images(per_class=4):
    root = require_data()
    return [p for c in ("CytoplasmicGFP", "NoGFP", "NuclearGFP") for p in sorted((root / c).iterdir())[-per_class:]]


def test_full_cycle_over_http(live_server):
    url = live_server.url
    spec = {"dataset": "bbbc013", "process": "nd", "head": "linear", "image_size": 64,
            "backbones": ["efficientnet_lite0"]}
    # a job cancelled while it runs
    r = requests.post(f"{url}/api/v1/jobs", json={**spec, "head": "finetune", "frozen_epochs": 50}, timeout=10)
    assert r.status_code == 202, r.text
    doomed = r.json()["job_id"]
    wait_job(url, doomed, states=("running",) + TERMINAL)
    assert requests.post(f"{url}/api/v1/jobs/{doomed}/cancel", timeout=10).status_code == 200
    assert wait_job(url, doomed)["state"] == "cancelled"

    r = requests.post(f"{url}/api/v1/jobs", json=spec, timeout=10)
    jid = r.json()["job_id"]
    # predictions stay responsive while the job trains
    running = wait_job(url, jid, states=("running",) + TERMINAL)
    files = [("images", (p.name, p.read_bytes(), "image/png")) for p in real_images(1)]
    t0 = time.monotonic()
    resp = requests.post(f"{url}/api/v1/predict", data={"model": live_server.model}, files=files, timeout=60)
    assert resp.status_code == 200 and time.monotonic() - t0 < 20
    job = wait_job(url, jid)
    assert job["state"] == "finished", job
    assert job["progress"]["stage"] == "done" and job["progress"]["fraction"] == 1.0
    assert running["state"] in ("running", "finished")
    res = job["result"]
    assert res["classes"] == ["CytoplasmicGFP", "NoGFP", "NuclearGFP"] and 0.6 < res["test_accuracy"] <= 1
    assert len(res["confusion_matrix"]) == 3 and {"class", "precision", "recall", "support"} <= set(res["per_class"][0])
    # the figures Fiji shows beside the test accuracy: the estimate with its interval, the test images behind both
    assert res["test_images"] == sum(c["support"] for c in res["per_class"]) and len(res["test_interval"]) == 2
    assert res["estimate"]["images"] > res["test_images"] and "cross-validation" in res["estimate"]["method"]
    assert res["estimate"]["interval"][0] <= res["estimate"]["accuracy"] <= res["estimate"]["interval"][1]
    lines = requests.get(f"{url}/api/v1/jobs/{jid}/log?tail=200", timeout=10).json()["lines"]
    assert any("[training]" in line for line in lines) and "finished" in lines[-1]
    assert lines[-1].endswith(f"finished: test accuracy {res['test_accuracy']:.3f}"), lines[-1]  # not 0.7777777777777778

    r = requests.post(f"{url}/api/v1/jobs/{jid}/register", json={"name": "from-job"}, timeout=60)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "from-job" and r.json()["version"] == 1

    paths = real_images(4)
    files = [("images", (p.name, p.read_bytes(), "image/png")) for p in paths]
    r = requests.post(f"{url}/api/v1/predict", data={"model": "from-job"}, files=files, timeout=60)
    assert r.status_code == 200, r.text
    over_http = r.json()["results"]
    local = Registry(live_server.models_root).predict_batch("from-job", paths)
    assert [x["image"] for x in over_http] == [p.name for p in paths]
    assert [x["class"] for x in over_http] == [x["class"] for x in local]
    for a, b in zip(over_http, local):
        assert a["confidence"] == pytest.approx(b["confidence"], abs=0.02)
    assert sum(x["class"] == p.parent.name for x, p in zip(over_http, paths)) >= len(paths) - 3
    assert requests.delete(f"{url}/api/v1/models/from-job", timeout=10).json() == {"deleted": "from-job"}


def test_restart_during_a_job(tmp_path):
    """Kill server and worker right after the first iteration is checkpointed; after a restart the job is
    interrupted, and its resume continues at the next iteration."""
    require_data()
    models_root, jobs_dir, log = tmp_path / "models", tmp_path / "jobs", tmp_path / "server.log"
    proc, url = start_server(models_root, DATA_ROOT, log, jobs_dir=jobs_dir)
    try:
        # two rounds; a ten-epoch fine-tune on all 100 images (threshold 0 keeps every label) makes the second
        # round last several seconds, so the kill lands inside it
        spec = {"dataset": "bbbc013", "process": "idd", "head": "finetune", "frozen_epochs": 10,
                "unfrozen_epochs": 0, "image_size": 64, "backbones": ["efficientnet_lite0"], "max_iterations": 1,
                "threshold": 0.0}
        jid = requests.post(f"{url}/api/v1/jobs", json=spec, timeout=10).json()["job_id"]
        state_file = jobs_dir / jid / "run" / "checkpoint" / "state.json"
        deadline = time.monotonic() + 180
        while not (state_file.exists() and "candidates" in state_file.read_text()):  # a round is checkpointed
            assert time.monotonic() < deadline and proc.poll() is None, "no checkpoint appeared"
            time.sleep(0.02)
        stop_server(proc, hard=True)  # the server and its worker die at once, as in a crash
    finally:
        stop_server(proc, hard=True)
    next_iteration = json.loads(state_file.read_text())["candidates"][0]["next_round"]
    assert not (jobs_dir / jid / "run" / "manifest.json").exists(), "the job finished before the kill"

    proc, url = start_server(models_root, DATA_ROOT, log, jobs_dir=jobs_dir)
    try:
        job = requests.get(f"{url}/api/v1/jobs/{jid}", timeout=10).json()
        assert job["state"] == "interrupted" and job["resumable"] and "resume" in job["error"]
        assert job["progress"]["iteration"] >= 0
        r = requests.post(f"{url}/api/v1/jobs/{jid}/resume", timeout=10)
        assert r.status_code == 202 and r.json()["state"] == "queued"
        job = wait_job(url, jid)
        assert job["state"] == "finished", job
        assert job["attempts"] == 2
        lines = requests.get(f"{url}/api/v1/jobs/{jid}/log?tail=1000", timeout=10).json()["lines"]
        text = "\n".join(lines)
        assert "interrupted" in text and "resuming job" in text
        assert f"at round {next_iteration}" in text  # the engine continued from the checkpoint
        r = requests.post(f"{url}/api/v1/jobs/{jid}/register", json={"name": "resumed"}, timeout=60)
        assert r.status_code == 201, r.text
    finally:
        stop_server(proc)


def test_non_loopback_bind_requires_token(tmp_path, live_server):
    port = free_port()
    log = tmp_path / "server.log"
    proc, _ = start_server(live_server.models_root, DATA_ROOT, log, jobs_dir=tmp_path / "jobs", host="0.0.0.0",
                           port=port, wait=False)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_health(url, proc, log_path=log)["auth_required"] is True
        token = re.search(r"access token:\s+(\S+)", log.read_text()).group(1)
        assert len(token) >= 16
        auth = {"Authorization": f"Bearer {token}"}
        body = {"new_name": "other"}
        r = requests.post(f"{url}/api/v1/models/{live_server.model}/rename", json=body, timeout=10)
        assert r.status_code == 401 and r.json()["error"]["message"]
        r = requests.post(f"{url}/api/v1/models/ghost/rename", json=body, timeout=10, headers=auth)
        assert r.status_code == 404  # past the token check; the model does not exist
        for path in ("models", f"models/{live_server.model}", "jobs"):  # reading needs the token too
            assert requests.get(f"{url}/api/v1/{path}", timeout=10).status_code == 401, path
            assert requests.get(f"{url}/api/v1/{path}", timeout=10, headers=auth).status_code == 200, path
    finally:
        stop_server(proc)


def test_public_read_and_allowed_hosts(tmp_path, live_server):
    port = free_port()
    log = tmp_path / "server.log"
    token = "a-token-of-thirty-two-characters"
    proc, url = start_server(live_server.models_root, DATA_ROOT, log, jobs_dir=tmp_path / "jobs", port=port,
                             extra_args=["--public-read", "--allowed-host", "cells.lab.example"],
                             env=server_env(OMNICLAS_TOKEN=token))
    try:
        assert requests.get(f"{url}/api/v1/models", timeout=10).status_code == 200  # open reading
        r = requests.post(f"{url}/api/v1/models/{live_server.model}/rename", json={"new_name": "x"}, timeout=10)
        assert r.status_code == 401  # changes still need the token
        named = requests.get(f"{url}/api/v1/models", timeout=10, headers={"Host": f"cells.lab.example:{port}"})
        assert named.status_code == 200
        r = requests.get(f"{url}/api/v1/models", timeout=10, headers={"Host": "evil.example"})
        assert r.status_code == 400 and r.json()["error"]["field"] == "Host"
    finally:
        stop_server(proc)


def test_short_tokens_are_refused(tmp_path, live_server):
    proc, _ = start_server(live_server.models_root, DATA_ROOT, tmp_path / "server.log", port=free_port(),
                           extra_args=["--token", "short"], wait=False)
    try:
        assert proc.wait(timeout=60) == 2
    finally:
        stop_server(proc)
    text = (tmp_path / "server.log").read_text()
    assert "at least 16" in text and "Traceback" not in text


def raw_request(url: str, request: bytes) -> tuple[int, dict]:
    """Send bytes as they are and read the whole answer (the server closes the connection after an error)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split()[1]), json.loads(body)


def test_errors_answered_by_waitress_are_json(live_server):
    """A 70 MB upload is refused by waitress before the app sees it; the answer is JSON, in the flag's unit."""
    host = live_server.url.split("//")[1]
    status, body = raw_request(live_server.url, (
        f"POST /api/v1/predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {70 * 1024 * 1024}\r\n\r\n").encode())
    assert status == 413 and body["error"]["status"] == 413
    assert "limit of 64 MB" in body["error"]["message"] and "--max-upload-mb" in body["error"]["message"]
    status, body = raw_request(live_server.url, b"NOT-HTTP\r\n\r\n")
    assert status == 400 and body["error"]["message"]
    # the same limit when the app answers: a body just over it, sent in full
    r = requests.post(f"{live_server.url}/api/v1/predict", data=b"x" * (64 * 1024 * 1024 + 1), timeout=60,
                      headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413 and "limit of 64 MB" in r.json()["error"]["message"]

"""Requests built to cost the server: each is refused with a 4xx naming what is wrong, quickly and in a short
answer (issue 24: JSON bodies, model references, names, forms, a read-only models folder)."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from live_server import DATA_ROOT, server_env

from omniclas.cli import main
from omniclas.registry import Registry
from omniclas.server import create_app

API = "/api/v1"


@pytest.fixture
def client(tmp_path):
    app = create_app({"MODELS_ROOT": str(tmp_path / "models"), "DATASET_ROOTS": [str(DATA_ROOT)],
                      "JOBS_DIR": str(tmp_path / "jobs")})
    try:
        yield app.test_client()
    finally:
        app.extensions["omniclas"].close()


def error_of(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert len(resp.get_data()) < 4000  # never the request echoed back
    return resp.get_json()["error"]


def test_a_json_body_of_a_million_keys_is_refused_unparsed_and_the_answer_stays_short(client):
    keys = {f"k{i}": 1 for i in range(1_000_000)}
    body = json.dumps({"kind": "predict", "model": "cells", "folder": "bbbc013", **keys})
    err = error_of(client.post(f"{API}/jobs", data=body, content_type="application/json"), 413)
    assert "over the limit of 1048576 bytes for a JSON request" in err["message"] and err["field"] == "body"
    some = json.dumps({"kind": "predict", "model": "cells", "folder": "bbbc013",
                       **{f"k{i}": 1 for i in range(20_000)}})  # under 1 MB: the keys are counted
    err = error_of(client.post(f"{API}/jobs", data=some, content_type="application/json"), 413)
    assert "more than 1000 keys" in err["message"]
    extra = json.dumps({"new_name": "x", **{f"unknown{i:03d}": 1 for i in range(500)}})
    err = error_of(client.post(f"{API}/models/cells/rename", data=extra, content_type="application/json"), 400)
    assert "unknown000" in err["message"] and "and 490 more" in err["message"] and "unknown499" not in err["message"]


@pytest.mark.parametrize("route", ["jobs", "models/cells/rename", "evaluate"])
def test_json_nested_100000_deep_is_a_400_not_a_500(client, route):
    body = "[" * 100_000 + "]" * 100_000
    err = error_of(client.post(f"{API}/{route}", data=body, content_type="application/json"), 400)
    assert err["message"] == "the JSON body is nested too deeply" and err["field"] == "body"


def test_a_model_version_of_5000_digits_is_a_400(client):
    ref = "cells@1" + "0" * 5000
    err = error_of(client.get(f"{API}/models/{ref}"), 400)
    assert "invalid model version" in err["message"] and "at most 9 digits" in err["message"]
    err = error_of(client.post(f"{API}/jobs", json={"kind": "predict", "model": ref, "folder": "bbbc013"}), 400)
    assert err["field"] == "model"


def test_a_name_ending_in_a_newline_is_refused_by_the_cli_and_the_api(client, live_server, tmp_path, capsys):
    models = tmp_path / "cli-models"
    assert main(["register", str(live_server.run_dir), "nl\n", "--models-root", str(models)]) == 2
    assert "invalid model name 'nl\\n'" in capsys.readouterr().err
    assert not models.exists() or not any(models.iterdir())
    for resp in (client.get(f"{API}/models/nl%0A"), client.delete(f"{API}/models/nl%0A"),
                 client.post(f"{API}/models/nl%0A/rename", json={"new_name": "x"})):
        assert error_of(resp, 400)["field"] in ("name", "model")


def test_a_form_of_100000_parts_is_told_about_parts_not_megabytes(client):
    parts = "".join(f"--b\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n1\r\n" for i in range(100_000))
    body = (parts + "--b--\r\n").encode()
    assert len(body) < 8 * (1 << 20)
    err = error_of(client.post(f"{API}/predict", data=body, content_type="multipart/form-data; boundary=b"), 413)
    assert "more than 1000 parts" in err["message"] and "MB" not in err["message"]


READ_ONLY_SCRIPT = """
import json, sys
from omniclas.registry import Registry
from omniclas.server import create_app
models, jobs, run = sys.argv[1:4]
app = create_app({"MODELS_ROOT": models, "JOBS_DIR": jobs, "DATASET_ROOTS": []})
c = app.test_client()
out = [(r.status_code, r.get_json()) for r in (c.delete("/api/v1/models/cells"),
       c.post("/api/v1/models/cells/rename", json={"new_name": "renamed"}))]
try:
    Registry(models).register(run, "other")
except Exception as err:
    out.append((getattr(err, "http_status", None), {"error": {"message": str(err)}}))
app.extensions["omniclas"].close()
print(json.dumps(out))
"""
# root writes anywhere: the server process runs without the capability to ignore permissions, as a service
# account without write access to the folder would
AS_USER = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--inh-caps", "-all"]


def test_a_read_only_models_folder_answers_403_naming_it(live_server, tmp_path):
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: no folder is read-only to this process")
    models, jobs = tmp_path / "models", tmp_path / "jobs"
    Registry(models).register(live_server.run_dir, "cells")
    jobs.mkdir()
    folders = [Path(folder, name) for folder, dirs, _ in os.walk(models) for name in dirs + ["."]]
    try:
        for folder in folders:
            folder.chmod(0o555)
        cmd = [*(AS_USER if os.geteuid() == 0 else []), sys.executable, "-c", READ_ONLY_SCRIPT, str(models),
               str(jobs), str(live_server.run_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=server_env(), timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        answers = json.loads(proc.stdout.strip().splitlines()[-1])
        assert len(answers) == 3
        for status, body in answers:
            assert status == 403, answers
            assert f"the models folder {models} cannot be written" in body["error"]["message"], answers
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert Registry(models).names() == ["cells"]  # nothing changed

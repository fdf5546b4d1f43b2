"""One models folder for every front end: ``$OMNICLAS_MODELS``, else ``~/OmniClas/models`` (never the checkout).

Each test gives the processes it starts a temporary home folder, so the user's own ~/OmniClas is never touched.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from live_server import ROOT, server_env

from omniclas.registry import default_root, models_root_choice
from omniclas.server import create_app


def run(args, env, cwd=None):
    out = subprocess.run([sys.executable, "-m", *args], env=env, cwd=cwd, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def home_env(home: Path, **extra) -> dict:
    """A process with its own home folder and no models setting unless ``extra`` gives one."""
    env = server_env(HOME=home, USERPROFILE=home, **extra)
    if "OMNICLAS_MODELS" not in extra:
        env.pop("OMNICLAS_MODELS", None)
    return env


def test_default_is_the_per_user_folder_never_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OMNICLAS_MODELS")
    assert default_root() == tmp_path / "OmniClas" / "models"
    assert ROOT not in default_root().parents
    root, how = models_root_choice()
    assert "per-user default" in how
    monkeypatch.setenv("OMNICLAS_MODELS", str(tmp_path / "elsewhere"))
    assert models_root_choice() == (tmp_path / "elsewhere", "$OMNICLAS_MODELS")
    assert models_root_choice(tmp_path / "given") == (tmp_path / "given", "--models-root")
    assert not (ROOT / "models").exists(), "the repository's models/ folder must not come back as a registry"


def test_cli_server_and_deepclas4bio_share_one_folder(live_server, tmp_path, monkeypatch):
    """Registered on the command line, the model is in the server's list and in DeepClas4Bio's, with no setting."""
    home = tmp_path / "home"
    home.mkdir()
    env = home_env(home)
    assert "OMNICLAS_MODELS" not in env
    run(["omniclas", "register", str(live_server.run_dir), "cells"], env)
    assert (home / "OmniClas" / "models").is_dir()
    run(["omniclas.deepclas4bio", "listModels", "omniclas"], env, cwd=tmp_path)
    assert json.loads((tmp_path / "data.json").read_text())["models"] == ["cells"]

    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("OMNICLAS_MODELS")
    token = "a-token-of-twenty-four-c"
    app = create_app({"TOKEN": token, "JOBS_DIR": str(tmp_path / "jobs"), "BF16": False})
    try:
        c = app.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        assert [m["name"] for m in c.get("/api/v1/models", headers=auth).get_json()["models"]] == ["cells"]
        assert c.get("/health", headers=auth).get_json()["models_root"] == str(home / "OmniClas" / "models")
        assert "models_root" not in c.get("/health").get_json()  # a path on the server: only with the token
    finally:
        app.extensions["omniclas"].close()


def test_info_without_a_model_describes_the_installation(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    out = run(["omniclas", "info"], home_env(home))
    lines = dict(re.match(r"\s+(\w+(?: folder)?)\s{2,}(.*)", line).groups() for line in out.splitlines()[1:])
    assert "omniclas 0.1.0" in lines["version"]
    assert f"{home / 'OmniClas' / 'models'} (the per-user default" in lines["models folder"]
    assert "cache folder" in lines and "torch" in lines["runtimes"]
    executable = Path(lines["executable"].split()[0])
    assert executable.is_absolute() and executable.is_file()
    out = run(["omniclas", "info"], home_env(home, OMNICLAS_MODELS=tmp_path / "shared"))
    assert f"{tmp_path / 'shared'} ($OMNICLAS_MODELS)" in out
    out = run(["omniclas", "info", "--models-root", str(tmp_path / "given")], home_env(home))
    assert f"{tmp_path / 'given'} (--models-root)" in out

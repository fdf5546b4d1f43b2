"""A real OmniClas server on loopback, shared by the server tests and the Fiji plugin tests.

``live_server`` (session scope) trains one tiny model on the fixture set's bbbc013 (tests/data/bbbc013: process
nd, linear head, 64 px, efficientnet_lite0), registers it in a temporary models root, starts
``python -m omniclas serve`` on a free loopback port with ``--dataset-root tests/data`` (read in place: jobs write
into their jobs folder, never into the dataset), waits for /health and yields a :class:`LiveServer` (``.url``,
``.model``, ``.models_root``, ``.dataset_root``, ``.token`` = None, plus ``.run_dir``, ``.jobs_dir``,
``.api(path)``). The server is stopped after the session.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(__file__).resolve().parent / "data"  # the fixture set in the repository
MODEL_NAME = "bbbc013-tiny"


@dataclass
class LiveServer:
    url: str
    model: str
    models_root: Path
    dataset_root: Path
    token: str | None = None
    run_dir: Path | None = None
    jobs_dir: Path | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)
    log_path: Path | None = None

    def api(self, path: str) -> str:
        return f"{self.url}/api/v1/{path.lstrip('/')}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**extra) -> dict:
    """The environment of a process a test starts: no OMNICLAS_ setting of the developer's, but the session's
    temporary default models folder (conftest), so nothing lands in ~/OmniClas."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNICLAS_") or k == "OMNICLAS_MODELS"}
    src = str(ROOT / "python_server")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def require_data(name: str = "bbbc013") -> Path:
    """A data set of the fixture set (tests/data/<name>), read in place."""
    path = DATA_ROOT / name
    if not path.is_dir():  # part of the repository: missing means a broken checkout, not a reason to skip
        raise FileNotFoundError(f"fixture data set {path} is missing (regenerate with tests/data/make_fixtures.py)")
    return path


def small_dataset(dst: Path, per_class: int = 10) -> Path:
    """A copy of the first ``per_class`` labelled bbbc013 images of each class, for quick evaluations."""
    import shutil

    src = require_data()
    for cls in ("CytoplasmicGFP", "NoGFP", "NuclearGFP"):
        (dst / cls).mkdir(parents=True)
        for f in sorted((src / cls).iterdir())[:per_class]:
            shutil.copy(f, dst / cls / f.name)
    return dst


def train_tiny_run(out_dir: Path, dataset: Path | None = None) -> Path:
    """The fast configuration: nd, linear head, 64 px, efficientnet_lite0 (a few seconds on 2 cores)."""
    from omniclas.config import TrainConfig
    from omniclas.engine import train

    cfg = TrainConfig(dataset=str(dataset or require_data()), out_dir=str(out_dir), process="nd", head="linear",
                      image_size=64, backbones=("efficientnet_lite0",))
    return Path(train(cfg).run_dir)


def wait_health(url: str, proc: subprocess.Popen | None = None, timeout: float = 90, log_path: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            log = log_path.read_text(errors="replace") if log_path else ""
            raise RuntimeError(f"server exited with code {proc.returncode}:\n{log[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                return json.loads(resp.read())
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not answer /health within {timeout} s")


def start_server(models_root: Path, dataset_root: Path, log_path: Path, jobs_dir: Path | None = None,
                 port: int | None = None, host: str = "127.0.0.1", extra_args=(), env: dict | None = None,
                 wait: bool = True) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    cmd = [sys.executable, "-m", "omniclas", "serve", "--host", host, "--port", str(port),
           "--models-root", str(models_root), "--dataset-root", str(dataset_root), *extra_args]
    if jobs_dir is not None:
        cmd += ["--jobs-dir", str(jobs_dir)]
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env or server_env(), start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    if wait:
        try:
            wait_health(url, proc, log_path=log_path)
        except Exception:
            stop_server(proc)
            raise
    return proc, url


def stop_server(proc: subprocess.Popen, hard: bool = False) -> None:
    """Stop the server (SIGTERM, or SIGKILL of its whole process group when ``hard``)."""
    if proc.poll() is not None:
        return
    try:
        if hard:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.terminate()
        proc.wait(timeout=15)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("live_server")
    run_dir = train_tiny_run(base / "run")  # on tests/data/bbbc013
    models_root = base / "models"
    from omniclas.registry import Registry

    Registry(models_root).register(run_dir, MODEL_NAME)
    log_path = base / "server.log"
    proc, url = start_server(models_root, DATA_ROOT, log_path, jobs_dir=base / "jobs")
    server = LiveServer(url=url, model=MODEL_NAME, models_root=models_root, dataset_root=DATA_ROOT, token=None,
                        run_dir=run_dir, jobs_dir=base / "jobs", proc=proc, log_path=log_path)
    try:
        yield server
    finally:
        stop_server(proc)

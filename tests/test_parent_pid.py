"""`omniclas serve --parent-pid PID`: a server that Fiji started stops when that Fiji dies, even by SIGKILL.

A real parent process starts a real `omniclas serve` (with its embedded training worker) and is killed with
SIGKILL; the server stops cleanly: its worker is gone and its port can be bound again within a few seconds.
"""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import psutil

from live_server import DATA_ROOT, ROOT, free_port, server_env, wait_health

PARENT = """
import subprocess, sys, time
server = subprocess.Popen(sys.argv[1:] + ["--parent-pid", str(__import__("os").getpid())], stdin=subprocess.DEVNULL)
print(server.pid, flush=True)
time.sleep(600)
"""


def port_free(port: int) -> bool:
    """Whether a new server could listen there (waitress binds with SO_REUSEADDR too)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def ended(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # exited, not yet reaped by whoever adopted it
    except psutil.NoSuchProcess:
        return True


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_server_stops_when_its_parent_is_killed(tmp_path):
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    cmd = [sys.executable, "-m", "omniclas", "serve", "--port", str(port), "--models-root", str(tmp_path / "models"),
           "--dataset-root", str(DATA_ROOT)]
    parent = subprocess.Popen([sys.executable, "-c", PARENT, *cmd], cwd=ROOT, env=server_env(), stdout=subprocess.PIPE,
                              stderr=log, text=True)
    server, worker = None, None
    try:
        server = psutil.Process(int(parent.stdout.readline()))
        wait_health(f"http://127.0.0.1:{port}", log_path=tmp_path / "server.log")
        assert not port_free(port)
        assert wait_for(lambda: server.children(), 60), "the embedded training worker did not start"
        worker = server.children()[0]
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_for(lambda: ended(server), 15), "the server outlived its parent"
        assert wait_for(lambda: port_free(port), 5), "the port is still held"
        assert wait_for(lambda: ended(worker), 10), "the training worker outlived the server"
        said = (tmp_path / "server.log").read_text()
        assert "the parent process" in said and "stopping the server" in said
    finally:  # whatever failed, leave nothing running
        for proc in (p for p in (worker, server) if p is not None and not ended(p)):
            proc.kill()
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        parent.stdout.close()
        log.close()


def test_a_parent_that_is_not_running_is_refused(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = subprocess.run([sys.executable, "-m", "omniclas", "serve", "--port", str(free_port()), "--models-root",
                          str(tmp_path / "models"), "--parent-pid", str(gone.pid)], cwd=ROOT, env=server_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and f"--parent-pid {gone.pid}: no process with that id is running" in out.stderr
    assert "Traceback" not in out.stderr

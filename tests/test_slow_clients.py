"""Hundreds of idle or trickling connections do not stop a real server (``omniclas serve`` on loopback)."""
from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from live_server import DATA_ROOT, start_server, stop_server

IDLE, TRICKLING = 300, 100
BOUND_S = 120  # every loop below gives up after this long: a hang is a failure, not a stuck suite


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setblocking(False)
    return sock


def _answer(sock: socket.socket) -> bytes | None:
    """What the server sent so far (b"" once it closed), None while it is silent."""
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return None
    except ConnectionResetError:
        return b""
    return data


@pytest.mark.slow
def test_hundreds_of_idle_and_trickling_connections_leave_the_server_answering(tmp_path):
    proc, url = start_server(tmp_path / "models", DATA_ROOT, tmp_path / "server.log",
                             extra_args=["--header-timeout", "2", "--idle-timeout", "4"])
    port = int(url.rsplit(":", 1)[1])
    socks: list[socket.socket] = []
    try:
        idle = [_connect(port) for _ in range(IDLE)]
        trickling = [_connect(port) for _ in range(TRICKLING)]
        socks = idle + trickling
        for i, sock in enumerate(trickling):  # half send headers slowly, half a body that never comes
            sock.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" if i % 2 else
                      b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
        # with 400 connections open, /health and a real route answer at once (waitress's default allowed 100)
        with urllib.request.urlopen(f"{url}/health", timeout=30) as resp:
            assert json.loads(resp.read())["status"] == "ok"
        with urllib.request.urlopen(f"{url}/api/v1/models", timeout=30) as resp:
            assert resp.status == 200

        answers: dict[int, bytes] = {}
        deadline = time.monotonic() + BOUND_S
        while len(answers) < len(trickling) and time.monotonic() < deadline:
            for i, sock in enumerate(trickling):
                if i in answers:
                    continue
                data = _answer(sock)
                if data is not None:
                    answers[i] = data
                else:
                    try:
                        sock.send(b"X" if i % 2 else b"x")  # one more byte: never silent, never done
                    except OSError:
                        answers[i] = b""
            time.sleep(0.5)
        assert len(answers) == len(trickling), "trickling clients still connected"
        timed_out = [a for a in answers.values() if a.split(b"\r\n")[0].endswith(b" 408 Request Timeout")]
        assert len(timed_out) == len(trickling), {a[:40] for a in answers.values()}
        assert b'"status": 408' in timed_out[0] and b"the connection is closed" in timed_out[0]

        closed: set[int] = set()
        while len(closed) < len(idle) and time.monotonic() < deadline:
            closed |= {i for i, sock in enumerate(idle) if i not in closed and _answer(sock) == b""}
            time.sleep(0.5)
        assert len(closed) == len(idle), "idle connections not closed"
        with urllib.request.urlopen(f"{url}/health", timeout=30) as resp:
            assert resp.status == 200
    finally:
        for sock in socks:
            sock.close()
        stop_server(proc)

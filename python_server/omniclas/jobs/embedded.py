"""Embedded mode: one worker process beside the server (multiprocessing ``spawn``), job records in SQLite.

The worker takes queued jobs one at a time and trains with a single CPU thread, so the server keeps a core for
predictions. It exits by itself when the server process goes away (it watches its parent), so a killed server
leaves no orphan training; the next server start marks the job it was running ``interrupted``, and a resume
continues from the run's last finished iteration.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time

log = logging.getLogger(__name__)

POLL_S = 0.5


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


def worker_main(db_path: str, parent_pid: int, threads: int = 1) -> None:
    """The embedded worker process's main loop."""
    from .predict import execute_all, is_predict
    from .runner import claim, execute, limit_threads, runner_token
    from .store import SQLiteJobStore

    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="watch-parent").start()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(name)s: %(message)s")
    limit_threads(threads)
    store = SQLiteJobStore(db_path)
    token = runner_token()
    while True:
        job = store.claim_next(lambda j: claim(j, token))
        if job is None:
            time.sleep(POLL_S)
            continue
        log.info("job %s: started", job["id"])
        final = (execute_all if is_predict(job) else execute)(store, job, token)
        log.info("job %s: %s", job["id"], final["state"] if final else "taken over")


class EmbeddedDispatcher:
    """Starts (and restarts) the worker process; nothing is sent to it: it polls the SQLite store."""

    kind = "embedded"

    def __init__(self, store, threads: int = 1):
        self.store = store
        self.threads = threads
        self._proc: multiprocessing.Process | None = None
        self._lock = threading.Lock()

    @property
    def worker_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def startup(self) -> None:
        n = self.store.interrupt_running("the server stopped while this job was running; resume it to continue "
                                         "from its last finished iteration")
        if n:
            log.info("marked %d job(s) interrupted", len(n))
        if any(j["state"] == "queued" for j in self.store.list()):
            self.ensure_worker()

    def ensure_worker(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.is_alive():
                return
            if self._proc is not None:
                dead_pid = self._proc.pid
                self.store.interrupt_running(
                    f"the worker process (pid {dead_pid}) stopped unexpectedly (exit code {self._proc.exitcode})",
                    only=lambda j: str(j.get("runner") or "").split(":")[1:2] == [str(dead_pid)])
            ctx = multiprocessing.get_context("spawn")
            self._proc = ctx.Process(target=worker_main, args=(str(self.store.path), os.getpid(), self.threads),
                                     name="omniclas-worker", daemon=True)
            self._proc.start()
            log.info("started the training worker (pid %d)", self._proc.pid)

    def check(self) -> None:
        """Notice a worker that died while running a job."""
        with self._lock:
            proc = self._proc
        if proc is not None and not proc.is_alive():
            self.store.interrupt_running(
                f"the worker process (pid {proc.pid}) stopped unexpectedly (exit code {proc.exitcode})",
                only=lambda j: str(j.get("runner") or "").split(":")[1:2] == [str(proc.pid)])
            if any(j["state"] == "queued" for j in self.store.list()):
                self.ensure_worker()

    def submit(self, job: dict) -> None:
        self.ensure_worker()

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(2)
            self.store.interrupt_running("the server was stopped while this job was running; resume it to "
                                         "continue from its last finished iteration",
                                         only=lambda j: str(j.get("runner") or "").split(":")[1:2] == [str(proc.pid)])

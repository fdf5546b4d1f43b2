"""Run one training job: the same code in the embedded worker process and in an RQ worker.

The runner marks the job running, calls :func:`omniclas.engine.train` with a progress callback that writes the
job record (throttled) and its log, a cancel callable that reads the record's ``cancel_requested`` flag, and
``resume=True`` when the job is resumed (the engine continues from ``<run_dir>/checkpoint``). A heartbeat thread
stamps the record every few seconds so the server can tell a job whose worker died (``interrupted``).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from pathlib import Path

from .store import JobStore, now_iso

HEARTBEAT_S = 5.0
PROGRESS_EVERY_S = 0.5
CANCEL_POLL_S = 0.5


def runner_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(job: dict, token: str) -> dict:
    job.update(state="running", runner=token, heartbeat=time.time(), started=now_iso(), finished=None,
               error=None, cancel_requested=False, attempts=int(job.get("attempts", 0)) + 1)
    return job


def limit_threads(threads: int | None) -> None:
    """Keep training to ``threads`` CPU threads (the server keeps the other cores for predictions)."""
    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process


def worker_threads() -> int | None:
    """The threads per job ``omniclas worker --threads`` set for its jobs (None: all)."""
    value = os.environ.get("OMNICLAS_WORKER_THREADS")
    return int(value) if value else None


class _JobLogHandler(logging.Handler):
    def __init__(self, store: JobStore, job_id: str):
        super().__init__(logging.INFO)
        self.store, self.job_id = store, job_id
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record):
        try:
            self.store.append_log(self.job_id, [self.format(record)])
        except Exception:  # logging must never break training
            pass


def _result(run) -> dict:
    from ..report.headline import job_figures

    m = run.manifest
    test = m.get("test") or {}
    return {"run_dir": str(run.run_dir), "test_accuracy": test.get("accuracy"), **job_figures(m),
            "classes": m.get("classes"),
            "backbone": m.get("backbone"), "process": m.get("process"),
            "per_class": test.get("per_class"), "confusion_matrix": test.get("confusion_matrix"),
            "stop_reason": m.get("stop_reason"), "auto_labelled": len(m.get("auto_labelled") or [])}


def execute(store: JobStore, job: dict, token: str) -> dict | None:
    """Train the (already claimed) ``job``; returns its final record, or None when it was taken from us."""
    from ..config import TrainConfig
    from ..engine import train
    from ..errors import Cancelled, OmniClasError

    job_id = job["id"]
    mine = lambda j: j.get("runner") == token and j["state"] == "running"  # noqa: E731
    stop = threading.Event()
    last = {"write": 0.0, "poll": 0.0, "cancel": False, "stage": None, "message": None}

    def heartbeat():
        while not stop.wait(HEARTBEAT_S):
            try:
                store.update(job_id, lambda j: (j.update(heartbeat=time.time()) or j) if mine(j) else None)
            except Exception:
                pass

    def cancel() -> bool:
        now = time.monotonic()
        if not last["cancel"] and now - last["poll"] >= CANCEL_POLL_S:
            last["poll"] = now
            j = store.get(job_id)
            last["cancel"] = j is None or not mine(j) or bool(j.get("cancel_requested"))
        return last["cancel"]

    def progress(event) -> None:
        ev = event.to_dict() if hasattr(event, "to_dict") else dict(event)
        ev["model"] = ev.get("model") or None  # null while no one model is at work (features, labelling, ...)
        now = time.monotonic()
        changed = ev.get("stage") != last["stage"]
        if ev.get("message") and ev.get("message") != last["message"]:
            store.append_log(job_id, [f"{now_iso()} [{ev.get('stage')}] {ev['message']}"])
            last["message"] = ev["message"]
        if changed or now - last["write"] >= PROGRESS_EVERY_S or ev.get("stage") == "done":
            last["write"], last["stage"] = now, ev.get("stage")
            store.update(job_id, lambda j: (j.update(progress=ev, heartbeat=time.time()) or j) if mine(j) else None)

    handler = _JobLogHandler(store, job_id)
    pkg_log = logging.getLogger("omniclas")
    old_level = pkg_log.level
    pkg_log.addHandler(handler)
    if pkg_log.getEffectiveLevel() > logging.INFO:
        pkg_log.setLevel(logging.INFO)
    beat = threading.Thread(target=heartbeat, name=f"heartbeat-{job_id}", daemon=True)
    beat.start()
    # A job stopped before its first finished round has nothing to resume from: it starts again.
    resume = bool(job.get("resume")) and (Path(job["run_dir"]) / "checkpoint" / "state.json").is_file()
    store.append_log(job_id, [f"{now_iso()} {'resuming' if resume else 'starting'} job {job_id} "
                              f"(attempt {job.get('attempts', 1)}) on {token}"])
    final: dict
    try:
        if job.get("dataset_roots") is not None:  # the dataset may have changed since it was checked
            from ..data.roots import check_tree_under_roots, ensure_under_roots

            dataset = ensure_under_roots(Path(job["spec"]["dataset"]), job["dataset_roots"])
            check_tree_under_roots(dataset, job["dataset_roots"])
        cfg = TrainConfig.from_dict({**job["spec"], "out_dir": job["run_dir"]})
        run = train(cfg, progress=progress, cancel=cancel, resume=resume)
        final = {"state": "finished", "result": _result(run), "error": None}
        acc = final["result"]["test_accuracy"]
        store.append_log(job_id, [f"{now_iso()} finished: test accuracy "
                                  + (f"{acc:.3f}" if isinstance(acc, float) else str(acc))])  # not 0.7777777777777778
    except Cancelled:
        final = {"state": "cancelled", "error": "cancelled by the user"}
        store.append_log(job_id, [f"{now_iso()} cancelled"])
    except OmniClasError as err:
        final = {"state": "failed", "error": str(err)}
        store.append_log(job_id, [f"{now_iso()} failed: {err}"])
    except Exception as err:  # a bug: keep the traceback in the log, a short message in the record
        final = {"state": "failed", "error": f"internal error ({type(err).__name__}: {err}); see the job log"}
        store.append_log(job_id, [f"{now_iso()} internal error:"] + traceback.format_exc().splitlines())
    finally:
        stop.set()
        pkg_log.removeHandler(handler)
        pkg_log.setLevel(old_level)

    def finish(j):
        if not mine(j):
            return None  # interrupted or taken over meanwhile: leave the record alone
        j.update(final, finished=now_iso(), runner=None, cancel_requested=False, resume=False)
        if final["state"] == "finished":
            p = dict(j.get("progress") or {})
            p.update(stage="done", fraction=1.0, eta_s=0)
            j["progress"] = p
        return j

    return store.update(job_id, finish)


def rq_execute(job_id: str, redis_url: str, prefix: str = "omniclas", threads: int | None = None) -> str:
    """Entry point RQ workers run (``omniclas worker --queue redis://...`` or ``rq worker``)."""
    from .store import RedisJobStore

    limit_threads(threads or worker_threads())
    store = RedisJobStore(redis_url, prefix)
    token = runner_token()

    def take(j):
        return claim(j, token) if j["state"] == "queued" else None

    job = store.update(job_id, take)
    if job is None:
        return "skipped (not queued any more)"
    final = execute(store, job, token)
    return final["state"] if final else "superseded"

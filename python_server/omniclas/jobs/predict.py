"""Predict jobs: a folder's images classified into ``<jobs_dir>/<id>/results.csv`` (docs/results-csv.md).

At submit the folder's images are listed, sorted, into ``images.txt`` and cut into shards of ``shard_size``. Each
shard writes ``shards/<n>.csv`` a batch at a time and resumes it (rows written are skipped), so a shard run again
after its worker died, or after a resume, classifies each image once. The record keeps one entry per shard (state,
images done, runner, heartbeat); the shard that finishes last merges the shards' CSVs in order into
``results.csv``. On RQ each shard is an RQ job with RQ's ``Retry``: a shard whose work horse was killed, or whose
worker vanished (RQ's abandoned jobs), runs again; the manager also queues a shard again when its heartbeat is
stale (RQ notices an abandoned job only at its next maintenance). The embedded worker runs the job as one shard.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from pathlib import Path

from ..data.roots import check_tree_under_roots, resolve_under_roots
from ..errors import OmniClasError
from .store import JobStore, now_iso

log = logging.getLogger(__name__)

SHARD_SIZE = 2000
BATCH_SIZE = 64
HEARTBEAT_S = 5.0
RESULTS = "results.csv"


class NoImages(OmniClasError):
    http_status = 400


class FolderNotFound(OmniClasError):
    http_status = 404


def is_predict(job: dict) -> bool:
    return (job.get("spec") or {}).get("kind") == "predict"


def plan(spec: dict, job_dir: Path, registry, roots, one_shard: bool = False) -> dict:
    """The checked spec (model pinned to its version, folder resolved), with the folder's images listed into
    ``job_dir/images.txt``; the record's fields for the shards (``one_shard``: the embedded worker's single
    process gains nothing from more)."""
    from ..data.imageio import images_under

    name, version, _ = registry.resolve(spec["model"], "model")
    folder = resolve_under_roots(spec["folder"], roots, field="folder")
    if not folder.is_dir():
        raise FolderNotFound(f"folder not found: {spec['folder']}", field="folder")
    check_tree_under_roots(folder, roots, field="folder", depth=None)  # the listing goes to any depth
    images = [str(p) for p in images_under(folder)]
    if not images:
        raise NoImages(f"no images in {folder} (PNG, JPEG, TIFF or BMP files, in it or its subfolders)",
                       field="folder")
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "images.txt").write_text("".join(p + "\n" for p in images), encoding="utf-8")
    size = len(images) if one_shard else int(spec.get("shard_size") or SHARD_SIZE)
    spec = {**spec, "model": f"{name}@{version}", "folder": str(folder), "shard_size": size,
            "batch_size": int(spec.get("batch_size") or BATCH_SIZE)}
    shards = [{"state": "queued", "done": 0, "total": min(size, len(images) - s), "runner": None, "heartbeat": None,
               "rate": 0.0} for s in range(0, len(images), size)]
    return {"spec": spec, "shards": shards, "images": len(images), "models_root": str(registry.root),
            "dataset_roots": [str(r) for r in roots]}


def progress(job: dict) -> dict:
    """The record's progress: the shards' images summed (the existing progress shape, stage ``predict``)."""
    shards = job["shards"]
    done, total = sum(s["done"] for s in shards), sum(s["total"] for s in shards)
    rate = sum(s.get("rate") or 0.0 for s in shards if s["state"] == "running")
    return {"stage": "predict", "fraction": done / total if total else 1.0, "images_done": done,
            "images_total": total, "images_per_s": round(rate, 2),
            "eta_s": round((total - done) / rate) if rate > 0 else None, "model": None,
            "message": f"{done}/{total} images classified"}


def claim_shard(job: dict, n: int, token: str) -> dict | None:
    """Take shard ``n`` (None: the job is over, or the shard done or taken by a live runner)."""
    shard = job["shards"][n]
    retry = "@rq:" in token and str(shard["runner"]).endswith(token[token.index("@rq:"):])
    if job["state"] not in ("queued", "running") or shard["state"] == "done" or \
            (shard["state"] == "running" and shard["runner"] != token and not retry):
        return None  # a running shard is taken over only by RQ's retry of the same RQ job: its last run is dead
    if job["state"] == "queued":
        job.update(state="running", started=job.get("started") or now_iso(), finished=None, error=None,
                   cancel_requested=False, attempts=int(job.get("attempts", 0)) + 1)
    shard.update(state="running", runner=token, heartbeat=time.time(), rate=0.0)
    job["heartbeat"] = time.time()
    return job


def run_shard(store: JobStore, job_id: str, n: int, token: str) -> str:
    """Classify shard ``n`` of a predict job into its CSV (resuming it); the last shard done merges. Returns what
    happened, for the worker's log."""
    from ..errors import Cancelled
    from ..registry import Registry
    from ..registry.layout import crash_point
    from ..report.predict_csv import predict_to_csv

    job = store.update(job_id, lambda j: claim_shard(j, n, token))
    if job is None:
        return "skipped"
    mine = lambda j: j["state"] == "running" and j["shards"][n]["runner"] == token  # noqa: E731
    job_dir = Path(job["job_dir"])
    stop = threading.Event()
    state = {"first": None, "start": 0.0}  # images the CSV held, and when this run's classifying began

    def beat():
        while not stop.wait(HEARTBEAT_S):
            store.update(job_id, lambda j: _stamp(j, n) if mine(j) else None)

    def on_batch(done: int, total: int) -> None:
        if state["first"] is None:
            state.update(first=done, start=time.monotonic())
        rate = (done - state["first"]) / max(time.monotonic() - state["start"], 1e-9)

        def write(j):
            if not mine(j):
                return None
            j["shards"][n].update(done=done, rate=rate)
            j["progress"] = progress(j)
            return _stamp(j, n)

        store.update(job_id, write)
        if done > state["first"]:
            crash_point("predict-batch")  # tests: a worker killed (SIGKILL) with a batch of its shard written

    def cancel() -> bool:
        j = store.get(job_id)
        return j is None or not mine(j) or bool(j.get("cancel_requested"))

    threading.Thread(target=beat, daemon=True, name=f"heartbeat-{job_id}-{n}").start()
    spec = job["spec"]
    size = spec["shard_size"]
    try:
        with open(job_dir / "images.txt", encoding="utf-8") as f:
            paths = [line.rstrip("\n") for line in itertools.islice(f, n * size, (n + 1) * size)]
        model = Registry(job["models_root"]).load(spec["model"])[3]
        (job_dir / "shards").mkdir(exist_ok=True)
        store.append_log(job_id, [f"{now_iso()} shard {n}: {len(paths)} images on {token}"])
        predict_to_csv(model, paths, job_dir / "shards" / f"{n}.csv", resume=True, batch_size=spec["batch_size"],
                       on_batch=on_batch, cancel=cancel, roots=job.get("dataset_roots"),
                       unsure_threshold=spec.get("unsure_threshold"))
    except Cancelled:
        return _end(store, job_id, n, token, "cancelled", "cancelled by the user")
    except OmniClasError as err:
        return _end(store, job_id, n, token, "failed", str(err))
    except Exception as err:  # a bug: the traceback goes to the worker's log
        log.exception("predict job %s shard %d", job_id, n)
        return _end(store, job_id, n, token, "failed", f"internal error ({type(err).__name__}: {err}); see the log")
    finally:
        stop.set()

    def done(j):
        if not mine(j):
            return None
        j["shards"][n].update(state="done", runner=None, rate=0.0, done=j["shards"][n]["total"])
        j["progress"] = progress(j)
        return j

    job = store.update(job_id, done)
    if job is None or any(s["state"] != "done" for s in job["shards"]):
        return f"shard {n} done"
    return merge(store, job, list(model.classes))  # the last shard done: exactly one runner sees all done


def _stamp(j: dict, n: int) -> dict:
    j["heartbeat"] = j["shards"][n]["heartbeat"] = time.time()
    return j


def _end(store: JobStore, job_id: str, n: int, token: str, state: str, error: str) -> str:
    """A shard stopped: the job with it (cancel, error); its shard CSV stays for a resume."""
    def end(j):
        if j["shards"][n]["runner"] != token:
            return None
        j["shards"][n].update(state="stopped", runner=None, rate=0.0)
        if j["state"] == "running":
            j.update(state=state, error=error, finished=now_iso(), cancel_requested=False, runner=None)
            j["progress"] = progress(j)
        return j

    store.update(job_id, end)
    store.append_log(job_id, [f"{now_iso()} shard {n}: {state}" + (f": {error}" if state == "failed" else "")])
    return state


def merge(store: JobStore, job: dict, classes: list[str]) -> str:
    """The shards' CSVs, in order, into results.csv; the job finished with its tally."""
    from ..report.predict_csv import merge_csvs, read_csv

    job_dir = Path(job["job_dir"])
    out = job_dir / RESULTS
    try:
        parts = [job_dir / "shards" / f"{i}.csv" for i in range(len(job["shards"]))]
        merge_csvs(parts, out)
        result = read_csv(out, classes)[1].result(out, classes)
        final = {"state": "finished", "result": result, "error": None}
    except (OSError, OmniClasError) as err:
        final = {"state": "failed", "error": f"could not merge the shards' results: {err}"}

    def finish(j):
        if j["state"] != "running":
            return None
        j.update(final, finished=now_iso(), cancel_requested=False, runner=None)
        j["progress"] = dict(progress(j), eta_s=0, fraction=1.0)
        return j

    store.update(job["id"], finish)
    store.append_log(job["id"], [f"{now_iso()} {final['state']}: " + (
        f"{final['result']['images']} images, {final['result']['errors']} errors" if "result" in final
        else final["error"])])
    return final["state"]


def stale_shards(job: dict, stale_s: float) -> list[int]:
    """Shards marked running whose runner has not stamped them for ``stale_s`` (its worker died)."""
    now = time.time()
    return [i for i, s in enumerate(job.get("shards") or ())
            if s["state"] == "running" and now - float(s.get("heartbeat") or 0) > stale_s]


def requeue(job: dict, shards: list[int]) -> dict | None:
    """Mark ``shards`` queued again (their CSVs keep the rows done); None when the job is not running."""
    if job["state"] != "running":
        return None
    for i in shards:
        job["shards"][i].update(state="queued", runner=None, rate=0.0)
    return job


def reset_for_resume(job: dict) -> dict:
    """Every shard not done queued again; when all are done (the merge failed), the last one, which then merges."""
    left = [i for i, s in enumerate(job["shards"]) if s["state"] != "done"] or [len(job["shards"]) - 1]
    for i in left:
        job["shards"][i].update(state="queued", runner=None, rate=0.0)
    return job


def pending(job: dict) -> list[int]:
    return [i for i, s in enumerate(job["shards"]) if s["state"] == "queued"]


def execute_all(store: JobStore, job: dict, token: str) -> dict | None:
    """Embedded mode: the (claimed) job's shards one after another, in this process."""
    for n in pending(job):
        if run_shard(store, job["id"], n, token) in ("cancelled", "failed", "skipped"):
            break
    return store.get(job["id"])


def rq_shard(job_id: str, n: int, redis_url: str, prefix: str = "omniclas") -> str:
    """Entry point of a shard's RQ job (``omniclas worker``)."""
    from .runner import limit_threads, runner_token, worker_threads
    from .store import RedisJobStore

    from rq import get_current_job

    limit_threads(worker_threads())
    token = f"{runner_token()}@rq:{get_current_job().id}"
    return run_shard(RedisJobStore(redis_url, prefix), job_id, n, token)

"""The job API shared by the HTTP server and the CLI: submit, list, inspect, cancel, resume, register."""
from __future__ import annotations

import logging
import re
import secrets
import shutil
import time
from pathlib import Path

from ..data.roots import check_tree_under_roots, resolve_under_roots
from ..errors import ConfigError, OmniClasError
from . import predict
from .store import TERMINAL, RedisJobStore, SQLiteJobStore, now_iso

log = logging.getLogger(__name__)

RESUMABLE = ("interrupted", "failed", "cancelled")
LOG_TAIL_MAX = 10000
JOB_ID_RE = re.compile(r"^[0-9a-f]{12}$")
PUBLIC = ("id", "state", "spec", "created", "started", "finished", "progress", "result", "error", "attempts",
          "cancel_requested")


class JobNotFound(OmniClasError):
    http_status = 404


class JobStateError(OmniClasError):
    http_status = 409


class QueueUnavailable(OmniClasError):
    http_status = 503


class DatasetNotFound(OmniClasError):
    http_status = 404


class JobManager:
    def __init__(self, jobs_dir, queue_url: str | None = None, dataset_roots=(), worker_threads: int = 1,
                 stale_s: float = 60.0):
        self.jobs_dir = Path(jobs_dir).expanduser().resolve()
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.dataset_roots = list(dataset_roots)
        self.stale_s = stale_s
        if queue_url:
            from .rq_backend import RQDispatcher

            if not queue_url.startswith(("redis://", "rediss://", "unix://")):
                raise ConfigError(f"--queue must be a redis:// URL, got '{queue_url}'", field="queue")
            self.store = RedisJobStore(queue_url)
            try:
                self.dispatcher = RQDispatcher(self.store)
                self.dispatcher.startup()
            except OmniClasError:
                raise
            except Exception as err:
                raise QueueUnavailable(f"cannot reach Redis at {queue_url}: {err}") from None
        else:
            from .embedded import EmbeddedDispatcher

            self.store = SQLiteJobStore(self.jobs_dir / "jobs.sqlite")
            self.dispatcher = EmbeddedDispatcher(self.store, threads=worker_threads)
            self.dispatcher.startup()

    def warm(self) -> None:
        """Start the embedded worker now (it imports torch), so the first job starts at once."""
        if hasattr(self.dispatcher, "ensure_worker"):
            self.dispatcher.ensure_worker()

    @property
    def mode(self) -> str:
        return self.dispatcher.kind

    # ---------------------------------------------------------------- helpers
    def validate_spec(self, spec: dict) -> dict:
        """A job's options as the server took them (typed and within bounds: ``server.schemas.JobSpec``, built
        from ``config.OPTIONS``; a left-out option takes the process's default): its dataset resolved under the
        dataset roots, and the whole checked as a training configuration."""
        from ..config import TrainConfig
        from ..model.backbones import get_backbone_cfg

        spec = dict(spec)
        dataset = resolve_under_roots(spec["dataset"], self.dataset_roots)
        try:
            found = dataset.is_dir()
        except OSError:
            found = False
        if not found:
            raise DatasetNotFound(f"dataset folder not found: {spec['dataset']}", field="dataset")
        check_tree_under_roots(dataset, self.dataset_roots)
        spec["dataset"] = str(dataset)
        try:
            cfg = TrainConfig.from_dict(spec).resolved()
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid job options: {err}") from None
        for name in cfg.backbones:
            get_backbone_cfg(name)
        return spec

    def public(self, job: dict) -> dict:
        out = {k: job.get(k) for k in PUBLIC}
        out["resumable"] = job["state"] in RESUMABLE
        out["queue"] = self.mode
        return out

    def _refresh(self, job: dict) -> dict:
        """A running job whose worker stopped stamping its heartbeat is marked interrupted; on RQ, a predict job's
        shard whose worker stopped is queued again instead (another worker continues its CSV)."""
        if job["state"] == "running" and predict.is_predict(job) and self.mode == "redis":
            stale = predict.stale_shards(job, self.stale_s)
            if stale and (new := self.store.update(job["id"], lambda j: predict.requeue(j, stale))):
                self.store.append_log(job["id"], [f"{now_iso()} shard(s) {', '.join(map(str, stale))}: no sign of "
                                                  f"life from their worker for {self.stale_s:.0f} s; queued again"])
                self.dispatcher.submit_shards(new, stale)
                job = new
            return job
        if job["state"] == "running" and time.time() - float(job.get("heartbeat") or 0) > self.stale_s:
            stamp = job.get("heartbeat")

            def mark(j):
                if j["state"] != "running" or j.get("heartbeat") != stamp:
                    return None
                j.update(state="interrupted", runner=None, finished=now_iso(),
                         error=f"no sign of life from its worker for {self.stale_s:.0f} s; resume it to continue "
                               f"from its last finished iteration")
                return j

            job = self.store.update(job["id"], mark) or self.store.get(job["id"]) or job
        return job

    def _get(self, job_id: str) -> dict:
        if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
            raise JobNotFound(f"no job with id '{job_id}'", field="id")
        self.dispatcher.check()
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFound(f"no job with id '{job_id}'", field="id")
        return self._refresh(job)

    # ---------------------------------------------------------------- API
    @staticmethod
    def describe_options(spec: dict) -> str:
        """'head=linear, seed=3': the job's options that matter for its process and head (a linear head's job
        lists no epochs), for the log."""
        from ..config import OPTIONS, TrainConfig, get_process

        cfg = TrainConfig.from_dict(spec).resolved()
        values, process = cfg.to_dict(), get_process(cfg.process)
        options = {o.name: o for o in OPTIONS}
        return ", ".join(f"{k}={v}" for k, v in spec.items() if k not in ("dataset", "process")
                         and (k not in options or options[k].applies_to(process, values)))

    def submit(self, spec, registry=None) -> dict:
        if spec.get("kind") == "predict":
            return self._submit_predict(spec, registry)
        spec = self.validate_spec({k: v for k, v in spec.items() if k != "kind"})
        job_id = secrets.token_hex(6)
        job = {"id": job_id, "state": "queued", "spec": spec, "created": now_iso(), "started": None,
               "finished": None, "progress": None, "result": None, "error": None, "attempts": 0,
               "cancel_requested": False, "resume": False, "runner": None, "heartbeat": None,
               "run_dir": str(self.jobs_dir / job_id / "run"), "dataset_roots": list(self.dataset_roots)}
        self.store.create(job)
        options = self.describe_options(spec)
        self.store.append_log(job_id, [f"{job['created']} queued: process {spec.get('process', 'auto')} on "
                                       f"{Path(spec['dataset']).name}" + (f" ({options})" if options else "")])
        return self._dispatch(job)

    def _submit_predict(self, spec: dict, registry=None) -> dict:
        """A folder classified into results.csv (``jobs.predict``) with a model of ``registry`` (default: the
        user's models folder)."""
        if registry is None:
            from ..registry import Registry

            registry = Registry()
        job_id = secrets.token_hex(6)
        job_dir = self.jobs_dir / job_id
        try:
            fields = predict.plan(spec, job_dir, registry, self.dataset_roots, one_shard=self.mode == "embedded")
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)  # a refused job leaves no folder
            raise
        job = {"id": job_id, "state": "queued", "created": now_iso(), "started": None, "finished": None,
               "result": None, "error": None, "attempts": 0, "cancel_requested": False, "resume": False,
               "runner": None, "heartbeat": None, "job_dir": str(job_dir), **fields}
        job["progress"] = predict.progress(job)
        self.store.create(job)
        self.store.append_log(job_id, [f"{job['created']} queued: {job['images']} images of {job['spec']['folder']} "
                                       f"with {job['spec']['model']}, {len(job['shards'])} shard(s)"])
        return self._dispatch(job)

    def _dispatch(self, job: dict) -> dict:
        job_id = job["id"]
        try:
            self.dispatcher.submit(job)
        except Exception as err:
            self.store.update(job_id, lambda j: j.update(state="failed", error=f"could not queue the job: {err}") or j)
            raise QueueUnavailable(f"could not queue the job: {err}") from None
        return self.public(job)

    def list(self) -> list[dict]:
        self.dispatcher.check()
        return [self.public(self._refresh(j)) for j in self.store.list()]

    def get(self, job_id: str) -> dict:
        return self.public(self._get(job_id))

    def raw(self, job_id: str) -> dict:
        return self._get(job_id)

    def log(self, job_id: str, tail: int = 100) -> list[str]:
        self._get(job_id)
        return self.store.tail_log(job_id, max(0, min(int(tail), LOG_TAIL_MAX)))

    def cancel(self, job_id: str) -> dict:
        job = self._get(job_id)
        if job["state"] in TERMINAL:
            raise JobStateError(f"job {job_id} is already {job['state']}", field="id")

        def do(j):
            if j["state"] in ("queued", "interrupted"):
                j.update(state="cancelled", finished=now_iso(), error="cancelled by the user")
            elif j["state"] == "running":
                j["cancel_requested"] = True
            else:
                return None
            return j

        job = self.store.update(job_id, do) or self.store.get(job_id)
        self.store.append_log(job_id, [f"{now_iso()} cancel requested"])
        return self.public(job)

    def resume(self, job_id: str) -> dict:
        job = self._get(job_id)
        if job["state"] not in RESUMABLE:
            raise JobStateError(f"job {job_id} is {job['state']}; only {', '.join(RESUMABLE)} jobs can be resumed",
                                field="id")
        field = "folder" if predict.is_predict(job) else "dataset"
        dataset = resolve_under_roots(job["spec"][field], self.dataset_roots, field)  # the roots may have changed
        check_tree_under_roots(dataset, self.dataset_roots, field)

        def do(j):
            if j["state"] not in RESUMABLE:
                return None
            if predict.is_predict(j):
                predict.reset_for_resume(j)
            j.update(state="queued", resume=True, error=None, finished=None, cancel_requested=False, runner=None,
                     dataset_roots=list(self.dataset_roots))
            return j

        job = self.store.update(job_id, do)
        if job is None:
            raise JobStateError(f"job {job_id} changed state meanwhile; try again", field="id")
        self.store.append_log(job_id, [f"{now_iso()} resume requested"])
        self.dispatcher.submit(job)
        return self.public(job)

    def register(self, job_id: str, name: str, registry) -> dict:
        job = self._get(job_id)
        if predict.is_predict(job):
            raise JobStateError(f"job {job_id} is a predict job: it trained no model to register", field="id")
        if job["state"] != "finished" or not job.get("result"):
            raise JobStateError(f"job {job_id} is {job['state']}; only a finished job can be registered", field="id")
        model = registry.register(job["result"]["run_dir"], name)
        self.store.append_log(job_id, [f"{now_iso()} registered as model '{model['name']}' version {model['version']}"])
        return model

    def results_csv(self, job_id: str) -> Path:
        """A finished predict job's results.csv."""
        job = self._get(job_id)
        if not predict.is_predict(job):
            raise JobNotFound(f"job {job_id} is a training job: it has no results.csv", field="id")
        if job["state"] != "finished":
            raise JobStateError(f"job {job_id} is {job['state']}; its results.csv is there once it is finished",
                                field="id")
        path = Path(job["job_dir"]) / predict.RESULTS
        if not path.is_file():
            raise JobNotFound(f"the results of job {job_id} are gone: {path} is missing", field="id")
        return path

    def close(self) -> None:
        self.dispatcher.close()

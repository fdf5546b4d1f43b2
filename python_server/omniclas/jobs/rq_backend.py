"""Scale-out mode: the same job API on RQ + Redis. Job records and logs live in Redis; the training runs in
``omniclas worker --queue redis://host:6379/0`` (or ``rq worker -u redis://... omniclas``) on any machine that
sees the same file system path for the jobs folder (run folders are written there)."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

QUEUE_NAME = "omniclas"
SHARD_RETRIES = 3


class RQDispatcher:
    """Scale-out mode: jobs go to an RQ queue in Redis; ``omniclas worker`` / ``rq worker`` runs them."""

    kind = "redis"
    QUEUE = QUEUE_NAME

    def __init__(self, store, job_timeout_s: int = 7 * 24 * 3600):
        from redis import Redis
        from rq import Queue

        self.store = store
        self.redis_url = store.url
        self.queue = Queue(self.QUEUE, connection=Redis.from_url(store.url))
        self.job_timeout_s = job_timeout_s
        self.worker_pid = None

    def startup(self) -> None:
        self.store.ping()

    def check(self) -> None:
        pass

    def submit(self, job: dict) -> None:
        from .predict import is_predict, pending
        from .runner import rq_execute

        if is_predict(job):
            self.submit_shards(job, pending(job))
            return
        self.queue.enqueue_call(rq_execute, args=(job["id"], self.redis_url, self.store.prefix),
                                timeout=self.job_timeout_s, result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600,
                                description=f"omniclas training job {job['id']}")

    def submit_shards(self, job: dict, shards: list[int]) -> None:
        """One RQ job per shard of a predict job: any worker takes any shard."""
        from rq import Retry

        from .predict import rq_shard

        for n in shards:  # a retried shard continues its CSV: each image is classified once
            self.queue.enqueue_call(rq_shard, args=(job["id"], n, self.redis_url, self.store.prefix),
                                    timeout=self.job_timeout_s, result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600,
                                    retry=Retry(max=SHARD_RETRIES),
                                    description=f"omniclas predict job {job['id']} shard {n}")

    def close(self) -> None:
        pass


def run_worker(redis_url: str, burst: bool = False, threads: int | None = None, name: str | None = None,
               max_jobs: int | None = None) -> bool:
    """Run an RQ worker on the ``omniclas`` queue until stopped (or, with ``burst``, until the queue is empty; with
    ``max_jobs``, after that many jobs)."""
    import os

    from redis import Redis
    from rq import Queue, Worker

    if threads:
        os.environ["OMNICLAS_WORKER_THREADS"] = str(threads)
    conn = Redis.from_url(redis_url)
    conn.ping()
    import torch  # noqa: F401  (imported once here: each job's forked work horse starts with it)

    from . import predict, runner  # noqa: F401
    worker = Worker([Queue(QUEUE_NAME, connection=conn)], connection=conn, name=name)
    return worker.work(burst=burst, logging_level="INFO", max_jobs=max_jobs)

"""Job records: SQLite (embedded mode, beside the server) or Redis (scale-out mode, shared with RQ workers).

A job is one JSON object (see docs/http-api.md, ``JOB``) plus internal fields: ``run_dir``, ``resume``,
``attempts``, ``cancel_requested``, ``runner`` (who runs it now) and ``heartbeat`` (epoch seconds). Every change
is an atomic read-modify-write (``update``), so the server and a worker never lose each other's writes.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

TERMINAL = ("finished", "failed", "cancelled")
LOG_KEEP = 2000


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


class JobStore:
    """Interface shared by both stores."""

    def create(self, job: dict) -> dict: ...
    def get(self, job_id: str) -> dict | None: ...
    def list(self) -> list[dict]: ...
    def update(self, job_id: str, fn: Callable[[dict], dict | None]) -> dict | None: ...
    def append_log(self, job_id: str, lines: list[str]) -> None: ...
    def tail_log(self, job_id: str, n: int) -> list[str]: ...

    def interrupt_running(self, reason: str, only: Callable[[dict], bool] | None = None) -> list[str]:
        """Mark running jobs (optionally only those ``only`` accepts) as interrupted."""
        done = []
        for job in self.list():
            if job["state"] != "running" or (only is not None and not only(job)):
                continue

            def mark(j):
                if j["state"] != "running" or (only is not None and not only(j)):
                    return None
                j.update(state="interrupted", error=reason, runner=None, finished=now_iso())
                return j

            if self.update(job["id"], mark):
                self.append_log(job["id"], [f"{now_iso()} interrupted: {reason}"])
                done.append(job["id"])
        return done


class SQLiteJobStore(JobStore):
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.logs_dir = self.path.parent
        with self._conn() as c:
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created REAL NOT NULL, "
                      "state TEXT NOT NULL, data TEXT NOT NULL)")
            c.execute("CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created)")
        self._log_lock = threading.Lock()

    @contextlib.contextmanager
    def _conn(self):
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            yield conn
        finally:
            conn.close()

    def create(self, job: dict) -> dict:
        with self._conn() as c:
            c.execute("INSERT INTO jobs (id, created, state, data) VALUES (?, ?, ?, ?)",
                      (job["id"], time.time(), job["state"], json.dumps(job)))
        return job

    def get(self, job_id: str) -> dict | None:
        with self._conn() as c:
            row = c.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def list(self) -> list[dict]:
        with self._conn() as c:
            rows = c.execute("SELECT data FROM jobs ORDER BY created").fetchall()
        return [json.loads(r[0]) for r in rows]

    def update(self, job_id: str, fn) -> dict | None:
        with self._conn() as c:
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
                new = fn(json.loads(row[0])) if row else None
                if new is not None:
                    c.execute("UPDATE jobs SET state = ?, data = ? WHERE id = ?",
                              (new["state"], json.dumps(new), job_id))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return new

    def claim_next(self, claim: Callable[[dict], dict]) -> dict | None:
        """Atomically take the oldest queued job and apply ``claim`` (which marks it running)."""
        with self._conn() as c:
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute("SELECT data FROM jobs WHERE state = 'queued' ORDER BY created LIMIT 1").fetchone()
                job = None
                if row:
                    job = claim(json.loads(row[0]))
                    c.execute("UPDATE jobs SET state = ?, data = ? WHERE id = ?",
                              (job["state"], json.dumps(job), job["id"]))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return job

    def _log_path(self, job_id: str) -> Path:
        return self.logs_dir / job_id / "job.log"

    def append_log(self, job_id: str, lines: list[str]) -> None:
        path = self._log_path(job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._log_lock, open(path, "a", encoding="utf-8") as f:
            for line in lines:
                f.write(line.replace("\n", " ").rstrip() + "\n")

    def tail_log(self, job_id: str, n: int) -> list[str]:
        path = self._log_path(job_id)
        if not path.is_file():
            return []
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max(64 * 1024, n * 400)))
            text = f.read().decode("utf-8", "replace")
        return list(deque(text.splitlines(), maxlen=n)) if n > 0 else []


class RedisJobStore(JobStore):
    """Keys: ``<prefix>:job:<id>`` (JSON), ``<prefix>:jobs`` (sorted set by creation), ``<prefix>:log:<id>``."""

    def __init__(self, url: str, prefix: str = "omniclas"):
        import redis

        self.url = url
        self.prefix = prefix
        self.redis = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def ping(self) -> None:
        self.redis.ping()

    def create(self, job: dict) -> dict:
        pipe = self.redis.pipeline()
        pipe.set(self._key(job["id"]), json.dumps(job))
        pipe.zadd(f"{self.prefix}:jobs", {job["id"]: time.time()})
        pipe.execute()
        return job

    def get(self, job_id: str) -> dict | None:
        raw = self.redis.get(self._key(job_id))
        return json.loads(raw) if raw else None

    def list(self) -> list[dict]:
        ids = [i.decode() for i in self.redis.zrange(f"{self.prefix}:jobs", 0, -1)]
        if not ids:
            return []
        raws = self.redis.mget([self._key(i) for i in ids])
        return [json.loads(r) for r in raws if r]

    def update(self, job_id: str, fn) -> dict | None:
        import redis

        key = self._key(job_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    new = fn(json.loads(raw)) if raw else None
                    if new is None:
                        pipe.unwatch()
                        return None
                    pipe.multi()
                    pipe.set(key, json.dumps(new))
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue

    def append_log(self, job_id: str, lines: list[str]) -> None:
        if not lines:
            return
        key = f"{self.prefix}:log:{job_id}"
        pipe = self.redis.pipeline()
        pipe.rpush(key, *[line.replace("\n", " ").rstrip() for line in lines])
        pipe.ltrim(key, -LOG_KEEP, -1)
        pipe.execute()

    def tail_log(self, job_id: str, n: int) -> list[str]:
        if n <= 0:
            return []
        return [b.decode("utf-8", "replace") for b in self.redis.lrange(f"{self.prefix}:log:{job_id}", -n, -1)]

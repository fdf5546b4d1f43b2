"""Training jobs run outside the request threads: an embedded worker process (SQLite records, the default) or
RQ workers on Redis (``--queue redis://...``)."""
from ..data.roots import resolve_under_roots
from .manager import DatasetNotFound, JobManager, JobNotFound, JobStateError, QueueUnavailable

__all__ = ["DatasetNotFound", "JobManager", "JobNotFound", "JobStateError", "QueueUnavailable", "resolve_under_roots"]

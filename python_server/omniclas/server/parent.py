"""``omniclas serve --parent-pid PID``: the server stops when the process that started it is gone.

Fiji starts a server and stops it when ImageJ quits; a Fiji that is killed (SIGKILL, a crash) runs no shutdown
hook, so the server watches Fiji instead. The check is by pid and start time (psutil), so a new process that
happens to get the same pid does not keep the server alive, and a dead parent not yet reaped (a zombie) counts as
gone. On every platform psutil looks without touching the process.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..errors import ConfigError

log = logging.getLogger(__name__)

POLL_S = 0.5


def watch_parent(pid: int, on_gone: Callable[[], None], poll_s: float = POLL_S) -> threading.Thread:
    """Call ``on_gone()`` (once, from a daemon thread) when process ``pid`` has ended."""
    import psutil

    try:
        started = psutil.Process(pid).create_time()
    except psutil.AccessDenied:  # another user's process: whether it exists is all there is to see
        started = None
    except (psutil.NoSuchProcess, ValueError):
        raise ConfigError(f"--parent-pid {pid}: no process with that id is running", field="parent_pid") from None

    def gone() -> bool:
        try:
            proc = psutil.Process(pid)
            if started is None:
                return False
            return proc.create_time() != started or proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
        except psutil.AccessDenied:
            return False

    def watch() -> None:
        while not gone():
            time.sleep(poll_s)
        log.warning("the parent process %d is gone: stopping the server", pid)
        on_gone()

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread

"""waitress's connections, made to answer errors as JSON and to give up on clients that send too slowly.

waitress reads every request in full on its one I/O thread before a request thread sees it, so slow clients
never hold a request thread; what they hold is a connection, and waitress accepts no more than
``connection_limit`` of them (then ``/health`` waits with the rest). Idle connections are closed after waitress's
``channel_timeout`` (silence counts, so a client sending a byte now and then stays), and
:class:`GuardedChannel` adds the bound waitress lacks: a request's headers must arrive within ``header_s``
seconds of its first byte, its body at no less than ``min_body_rate`` bytes a second on average after that
(a 64 MB upload on a slow link still gets through); otherwise the client gets ``408`` and the connection closes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask
from waitress.utilities import Error

from .errors import waitress_error_body


@dataclass(frozen=True)
class ClientLimits:
    """How slowly a client may send one request (``omniclas serve --header-timeout``)."""

    header_s: float = 10.0
    min_body_rate: float = 16 * 1024  # bytes per second, averaged over the body


class RequestTimeout(Error):
    code = 408
    reason = "Request Timeout"


class JsonErrorTask(ErrorTask):
    """waitress's own error answers (a body over the limit, a malformed request) as the API's JSON errors."""

    def execute(self):
        error = self.request.error
        config = getattr(self.channel.server, "app_config", {})
        body = waitress_error_body(error.code, error.reason, error.body, config)
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class GuardedChannel(HTTPChannel):
    """A connection whose request must arrive within :class:`ClientLimits` (the server's ``client_limits``)."""

    error_task_class = JsonErrorTask
    _started: float | None = None  # when the first byte of the request being received came
    _received = 0  # its bytes so far

    def received(self, data):
        if data and self.request is None:
            self._started, self._received = time.monotonic(), 0
        self._received += len(data)
        result = super().received(data)
        if self.request is None:  # nothing left half received
            self._started = None
        return result

    def readable(self):
        # the I/O loop asks every connection at least once a second (waitress's asyncore_loop_timeout)
        if self._started is not None and self.request is not None:
            self._check_pace(time.monotonic())
        return super().readable()

    def _check_pace(self, now: float) -> None:
        if self.requests:  # an earlier request still being answered: the clock starts once it is done
            self._started = now
            return
        limits: ClientLimits = getattr(self.server, "client_limits", None) or ClientLimits()
        headers_done = self.request.headers_finished
        allowed = limits.header_s + (self._received / limits.min_body_rate if headers_done else 0.0)
        if now - self._started <= allowed:
            return
        what = (f"the body came slower than {limits.min_body_rate / 1024:.4g} KB/s" if headers_done else
                f"the headers did not arrive within {limits.header_s:g} s")
        with self.requests_lock:
            request, self.request, self._started = self.request, None, None
            request.error = RequestTimeout(f"{what}; the connection is closed")
            request.completed = True
            self.requests.append(request)
        self.server.add_task(self)  # the 408 answer, then the connection closes

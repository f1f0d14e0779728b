"""The HTTP server's limits on what clients send: uvicorn's httptools protocol, with the limits it
lacks. Serve the app with it as the README says:

    uvicorn <package>.main:app --http <package>.server:HttpProtocol --timeout-keep-alive 5

uvicorn closes a connection that stays idle between requests (`--timeout-keep-alive`), but
neither it nor httptools bounds a request head's size or its number of headers, nor the time a
head or a body may take to trickle in: a client sending a byte now and then holds its connection
for ever (slowloris), and a head of megabytes is read into memory. Here (settings.py):

- a head (request line and headers) over MAX_REQUEST_HEAD_BYTES, or with more than
  MAX_REQUEST_HEADERS headers, gets 431;
- a head not complete within REQUEST_HEAD_TIMEOUT_S of the connection, or of its first byte
  on a kept-alive connection, and a body not complete within REQUEST_BODY_TIMEOUT_S of its
  head, get 408 (an idle new connection is just closed; an idle kept-alive one after
  `--timeout-keep-alive`);
- a request the parser refuses gets 400;

each in the app's JSON error shape, and the connection is closed. A body's size is the app's
to limit (MAX_BODY_BYTES, body_limit.py): what the app does not read stays unread, past
uvicorn's 64 KiB buffer.
"""

import asyncio
import http
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .settings import Settings, load_settings

# After a refusal, what the client still sends is read and dropped for this long, so that it
# reads the answer before the connection closes (closing with unread data resets it).
LINGER_S = 2.0


@dataclass(frozen=True)
class Limits:
    """What the protocol enforces, from the settings (a test may give its own)."""

    head_bytes: int
    headers: int
    head_timeout_s: float
    body_timeout_s: float

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            head_bytes=settings.max_request_head_bytes,
            headers=settings.max_request_headers,
            head_timeout_s=settings.request_head_timeout_s,
            body_timeout_s=settings.request_body_timeout_s,
        )


class Refused(Exception):
    """Raised from a parser callback to stop parsing and answer `status` with `detail`."""

    def __init__(self, status: http.HTTPStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with limits on request heads and on slow clients. A
    request that comes whole costs a few comparisons: no timer, no callback of its own."""

    limits: ClassVar[Limits] = Limits.of(load_settings())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bytes received since the last head began, a body's first bytes included (its size
        # is only counted exactly when this passes the limit).
        self._head_bytes = 0
        self._head_completed = False  # in the data being parsed: count anew with the next
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._refused = False

    # the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline = self.loop.call_later(self.limits.head_timeout_s, self._head_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadlines()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        if self._head_completed:
            self._head_completed = False
            self._head_bytes = 0
        cycle = self.cycle  # inline `_in_body`: this runs for every request
        if cycle is None or not cycle.more_body:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, Refused):
                self._refuse(refused.status, refused.detail)
            else:
                self._refuse(http.HTTPStatus.BAD_REQUEST, "invalid HTTP request")
            return
        # Deadlines only for what is still to come.
        cycle = self.cycle
        if cycle is not None and cycle.more_body:
            if self._body_deadline is None:
                timeout_s = self.limits.body_timeout_s
                self._body_deadline = self.loop.call_later(timeout_s, self._body_late)
            return
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None
        if self._head_completed:
            return
        if self._head_bytes > self.limits.head_bytes:  # a head still coming, already too large
            self._refuse(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, self._head_too_large())
        elif self._head_deadline is None and self._head_bytes:
            self._head_deadline = self.loop.call_later(self.limits.head_timeout_s, self._head_late)

    def on_headers_complete(self) -> None:
        limits = self.limits
        if len(self.headers) > limits.headers:
            detail = f"more than {limits.headers} headers (MAX_REQUEST_HEADERS)"
            raise Refused(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, detail)
        if self._head_bytes > limits.head_bytes and self._head_size() > limits.head_bytes:
            raise Refused(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, self._head_too_large())
        self._head_completed = True
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().on_headers_complete()

    # the limits

    def _in_body(self) -> bool:
        """Whether the bytes arriving now belong to a request's body (else to a head)."""
        return self.cycle is not None and self.cycle.more_body

    def _head_size(self) -> int:
        """The head's size as parsed: its URL and headers (the method and version aside)."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _head_too_large(self) -> str:
        return f"request head larger than {self.limits.head_bytes} bytes (MAX_REQUEST_HEAD_BYTES)"

    def _head_late(self) -> None:
        self._head_deadline = None
        if self._in_body() or self._head_completed or self.transport.is_closing():
            return
        if not self._head_bytes:  # nothing asked: just close
            self.transport.close()
            return
        detail = f"request head not sent within {self.limits.head_timeout_s:g} s"
        self._refuse(http.HTTPStatus.REQUEST_TIMEOUT, f"{detail} (REQUEST_HEAD_TIMEOUT_S)")

    def _body_late(self) -> None:
        self._body_deadline = None
        if not self._in_body() or self.transport.is_closing():
            return
        cycle = self.cycle
        if self.flow.read_paused or cycle.waiting_for_100_continue:
            # The app has not read what came, or not asked for the body yet: the wait is ours.
            self._body_deadline = self.loop.call_later(self.limits.body_timeout_s, self._body_late)
            return
        detail = f"request body not sent within {self.limits.body_timeout_s:g} s"
        self._refuse(http.HTTPStatus.REQUEST_TIMEOUT, f"{detail} (REQUEST_BODY_TIMEOUT_S)")

    def _refuse(self, status: http.HTTPStatus, detail: str) -> None:
        """Answer `status` in the app's error shape and close the connection (lingering, see
        LINGER_S). A request the app is still on ends there (it reads a disconnect, what it
        sends is dropped); if its answer has begun, or the refusal is of a head sent before
        that answer, the connection is just closed."""
        self._cancel_deadlines()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        cycle = self.cycle
        in_body = cycle is not None and cycle.more_body
        pending = cycle is not None and not cycle.response_complete
        if pending:
            cycle.disconnected = True
            cycle.message_event.set()
        answered = cycle is not None and cycle.response_started
        earlier_due = pending and not in_body  # a head refused while an earlier answer is due
        if earlier_due or (in_body and answered) or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.logger.info("refused a request (%d): %s", status, detail)
        body = json.dumps({"detail": detail}).encode()
        head = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def _cancel_deadlines(self) -> None:
        for deadline in (self._head_deadline, self._body_deadline):
            if deadline is not None:
                deadline.cancel()
        self._head_deadline = self._body_deadline = None

"""The connection edge of the service: bounded request heads and read deadlines.

BentoML 1.4 runs each worker on uvicorn with its C parser (httptools), and passes
uvicorn no option that bounds a request: httptools accepts a request head of any size
(a 64 MiB header was answered 200), and uvicorn arms no timer before a request's head is
complete, so a connection that sends its head slowly, or nothing at all, stays open for
ever (slowloris: 1,100 of them at a 1,024 file limit kept every other client out). Its
only timer, keep-alive, is cancelled by any byte received.

`LimitedHttpProtocol` is uvicorn's own httptools protocol with three limits
(`HttpLimits`, from the settings): a head (request line and headers) larger than
`max_header_bytes` is answered 431; a head not complete `header_timeout` seconds after
the connection opened (or after the first byte of a later request on it) is answered
408; a body not complete `body_timeout` seconds after its head is answered 408 (or the
connection is closed, when an answer has already begun). Every refusal closes the
connection. A connection that never sent a byte is closed without an answer.

BentoML builds uvicorn's config inside its worker, after importing the service, and
lets uvicorn pick its protocol by the name "auto"; `use_limited_protocol` points that
name at this class. It is called at the import of the service in a worker process only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    import asyncio

    from pql.settings import Settings

logger = logging.getLogger("pql.service")

#: What `count_refusal` is told: a head over the limit (431), a head or a body late
#: (408), a new connection silent until the head deadline (closed, nothing to answer).
REFUSALS = ("head_too_large", "head_timeout", "body_timeout", "silent_connection")
IDLE, HEAD, BODY = "idle", "head", "body"  # where a connection is in its current request
HEADER_OVERHEAD = 4  # ": " and CRLF around each header's name and value
#: After a refusal, how long the rest of the request is read and dropped before the
#: socket closes. Closing with unread data makes the kernel reset the connection, and a
#: reset can discard the refusal before the client reads it ("lingering close").
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class HttpLimits:
    """How large a request head may be and how long a request may take to arrive."""

    max_header_bytes: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(settings.max_header_bytes, settings.header_timeout, settings.body_timeout)


@dataclass(frozen=True)
class EdgeHooks:
    """What the service adds at the connection: an outermost app wrapper, a counter."""

    wrap_app: Callable[[Any], Any] | None = None
    count_refusal: Callable[[str], None] | None = None  # told one of REFUSALS


def refusal(status: int, reason: str, message: str, field: str) -> bytes:
    """A complete HTTP answer that closes the connection, in the service's error shape."""
    body = json.dumps({"error": message, "field": field}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded head and head/body deadlines.

    The head's size is counted twice: exactly, from the parser's callbacks, when a head
    completes; and as raw bytes while it is still incomplete, since the parser buffers a
    half-read header itself (memory is then bounded by the limit plus one read).
    """

    limits: ClassVar[HttpLimits]
    hooks: ClassVar[EdgeHooks]
    _wrapped: ClassVar[tuple[Any, Any] | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = self._app_for(self.app)
        self._phase = HEAD
        self._deadline: asyncio.TimerHandle | None = None
        self._messages = 0  # request heads begun on this connection
        self._head_seen = False  # a byte of the current head arrived
        self._head_bytes = 0  # raw bytes of an incomplete head (after its first read)
        self._head_size = 0  # exact size of the current head, from the callbacks
        self._refused = False

    @classmethod
    def _app_for(cls, app: Any) -> Any:
        """The app every connection runs, wrapped once (not once per connection)."""
        if cls.hooks.wrap_app is None:
            return app
        if cls._wrapped is None or cls._wrapped[0] is not app:
            cls._wrapped = (app, cls.hooks.wrap_app(app))
        return cls._wrapped[1]

    # ---------------------------------------------------------------- the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout, self._head_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:  # answered: the rest is dropped unread
            return
        if self._phase == IDLE:
            self._start_head()
        if self._phase == HEAD:
            self._head_seen = True
        began = self._messages
        super().data_received(data)
        if self._refused:
            self._refuse_large_head()
        elif self._phase == HEAD and began == self._messages:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse_large_head()

    # ---------------------------------------------------------------- parser callbacks

    def on_message_begin(self) -> None:
        self._messages += 1
        self._head_size = self._head_bytes = 0
        if self._phase == IDLE:  # a pipelined request: its head began inside this read
            self._start_head()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + HEADER_OVERHEAD
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        if self._head_size > self.limits.max_header_bytes:
            self._refused = True  # answered by data_received, once the parser returns
            return
        self._phase = BODY
        super().on_headers_complete()
        self._arm(self.limits.body_timeout, self._body_expired)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        self._phase = IDLE  # uvicorn's keep-alive timer takes over once answered
        super().on_message_complete()

    # The service speaks no WebSocket. uvicorn would hand an upgrade request to its
    # WebSocket protocol, which runs the app without `wrap_app` (so BentoML would label
    # its metrics with the raw path again); answered as plain HTTP instead, quietly
    # (uvicorn logs two warnings per such request otherwise).

    def _should_upgrade_to_ws(self) -> bool:
        return False

    def _unsupported_upgrade_warning(self) -> None:
        logger.debug("a WebSocket upgrade request, answered as plain HTTP")

    # ---------------------------------------------------------------- limits

    def _start_head(self) -> None:
        self._phase = HEAD
        self._head_seen = True
        self._head_bytes = 0
        self._arm(self.limits.header_timeout, self._head_expired)

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse_large_head(self) -> None:
        self._refused = True
        self._count("head_too_large")
        limit = self.limits.max_header_bytes
        message = f"request line and headers over {limit} bytes"
        self._close_with(refusal(431, "Request Header Fields Too Large", message, "headers"))

    def _head_expired(self) -> None:
        self._deadline = None
        if self._phase != HEAD or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined head: close after that answer
            return
        if not self._head_seen:  # opened and silent: nothing to answer
            self._count("silent_connection")
            self._close_with(b"")
            return
        self._count("head_timeout")
        seconds = self.limits.header_timeout
        message = f"request line and headers not received within {seconds:g} s"
        self._close_with(refusal(408, "Request Timeout", message, "headers"))

    def _body_expired(self) -> None:
        self._deadline = None
        if self._phase != BODY or self.transport.is_closing():
            return
        self._count("body_timeout")
        cycle = self.cycle
        answer = b""
        if cycle is not None and not cycle.response_started:
            seconds = self.limits.body_timeout
            message = f"request body not received within {seconds:g} s"
            answer = refusal(408, "Request Timeout", message, "body")
            # the app waiting for the body now reads a disconnect; its answer is dropped
            cycle.disconnected = True
            cycle.message_event.set()
        self._close_with(answer)

    def _count(self, refusal: str) -> None:
        if self.hooks.count_refusal is not None:
            self.hooks.count_refusal(refusal)

    def _close_with(self, answer: bytes) -> None:
        """Answer (if anything), then close: at once, or after `LINGER_SECONDS` of
        reading and dropping whatever the client still sends."""
        self._disarm()
        self._phase = IDLE
        self._refused = True  # data_received drops everything from now on
        if not answer or not self.transport.can_write_eof():
            if answer:
                self.transport.write(answer)
            self.transport.close()
            return
        self.transport.write(answer)
        self.transport.write_eof()
        self.flow.resume_reading()
        self._deadline = self.loop.call_later(LINGER_SECONDS, self.transport.close)


def use_limited_protocol(
    limits: HttpLimits,
    wrap_app: Callable[[Any], Any] | None = None,
    count_refusal: Callable[[str], None] | None = None,
) -> None:
    """Make uvicorn's "auto" HTTP protocol (BentoML's choice) the limited one.

    `wrap_app` wraps the ASGI app outside every BentoML middleware (the metrics path
    labels use it); `count_refusal` hears of each refusal (BentoML's request metrics
    never see them). uvicorn resolves "auto" when its server starts, after this.
    """
    from uvicorn import config

    hooks = EdgeHooks(wrap_app, count_refusal)
    protocol = type(
        "LimitedHttpProtocol", (LimitedHttpProtocol,), {"limits": limits, "hooks": hooks}
    )
    config.HTTP_PROTOCOLS["auto"] = protocol  # type: ignore[assignment]  # a class is allowed
    logger.debug("connection limits: %s", limits)

"""What the sync and async HTTP/1.1 transports share: no I/O here.

Why a separate module: the two transports differ only in how bytes move
(asyncio protocol callbacks vs blocking sockets) and how a caller waits for a
connection (a future vs an event). Request checks and framing, answer parsing
with httptools, the pool's bookkeeping and the mapping of failures to httpx's
exception classes live here once, so the "never resend after the write" rule
cannot drift between them.
"""

from __future__ import annotations

import collections
import re
from typing import Final, Generic, Protocol, TypeVar

import httptools
import httpx

#: Connections per origin (scheme, host, port); callers beyond this wait for one.
MAX_CONNECTIONS: Final = 256
#: Status line and headers of an answer larger than this are refused (h11 allows 16 KiB).
MAX_HEAD_BYTES: Final = 64 * 1024

_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_TARGET: Final = re.compile(rb"[\x00-\x20\x7f]")

Origin = tuple[str, str, int]
Timeouts = dict[str, float | None]


def origin_of(request: httpx.Request) -> Origin:
    """(scheme, host, port) of the request, refused locally unless plain http(s)."""
    url = request.url
    scheme = url.scheme
    if scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(
            f"the URL must start with http:// or https://, not {scheme or 'nothing'}",
            request=request,
        )
    if not url.host:
        raise httpx.UnsupportedProtocol("the URL has no host", request=request)
    return (scheme, url.host, url.port or (443 if scheme == "https" else 80))


def timeouts_of(request: httpx.Request) -> Timeouts:
    timeouts: Timeouts = request.extensions.get("timeout", {})
    return timeouts


def request_bytes(request: httpx.Request, body: list[bytes]) -> bytes:
    """The request line, headers and framed body, refused (before sending) if malformed."""
    method = request.method.encode("ascii", "replace")
    target = request.url.raw_path
    if not _TOKEN.fullmatch(method):
        raise httpx.LocalProtocolError(f"invalid method {request.method!r}", request=request)
    if not target or _BAD_TARGET.search(target):
        raise httpx.LocalProtocolError("invalid request target", request=request)
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    length: int | None = None
    chunked = False
    for name, value in request.headers.raw:
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise httpx.LocalProtocolError(
                f"invalid header {name[:100]!r} (control characters or not a token)",
                request=request)
        lower = name.lower()
        if lower == b"content-length":
            if not value.strip().isdigit():
                raise httpx.LocalProtocolError("invalid Content-Length", request=request)
            length = int(value)
        elif lower == b"transfer-encoding":
            chunked = value.strip().lower() == b"chunked"
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    size = sum(len(chunk) for chunk in body)
    if chunked:
        for chunk in body:
            if chunk:
                parts += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
        parts.append(b"0\r\n\r\n")
    elif size != (length or 0):
        raise httpx.LocalProtocolError(
            f"the body has {size} bytes, its Content-Length says {length or 0}", request=request)
    else:
        parts += body
    return b"".join(parts)


class Answer:
    """httptools callbacks for one response; anything after its end marks the line dirty."""

    __slots__ = ("body", "done", "eof_framed", "head_bytes", "head_done", "headers",
                 "keep_alive", "parser", "reason", "status", "stray")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.body: list[bytes] = []
        self.status = 0
        self.head_bytes = 0
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self.stray = False
        #: no Content-Length and not chunked: the body ends when the server closes
        self.eof_framed = True

    def on_message_begin(self) -> None:
        if self.done:
            self.stray = True

    def on_status(self, reason: bytes) -> None:
        if not self.done:
            self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.done:
            return
        self.headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length" or (
            lower == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self.eof_framed = False

    def on_headers_complete(self) -> None:
        if self.done:
            return
        self.status = self.parser.get_status_code()
        if self.status >= 200 or self.status == 101:
            self.head_done = True
        if self.status in (204, 304):
            self.eof_framed = False

    def on_body(self, body: bytes) -> None:
        if not self.done:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.done:
            self.stray = True
        elif not self.head_done:  # an interim 1xx answer: the real one follows
            self.headers = []
            self.reason = b""
            self.eof_framed = True
        else:
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()

    def feed(self, data: bytes, request: httpx.Request) -> None:
        if self.done:  # bytes after the answer: never read them as the next one
            self.stray = True
            return
        if not self.head_done:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.done:
                self.stray = True
                return
            raise httpx.RemoteProtocolError(f"malformed answer: {exc}", request=request
                                            ) from None
        if not self.head_done and self.head_bytes > MAX_HEAD_BYTES:
            raise httpx.RemoteProtocolError(
                f"the answer's head is larger than {MAX_HEAD_BYTES} bytes", request=request)

    def take(self, data: bytes, request: httpx.Request) -> None:
        """Feed what a read returned; ``b""`` (the server closed) is an error unless
        the body is delimited by the close."""
        if data:
            self.feed(data, request)
        elif not self.head_done:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                            request=request)
        elif self.eof_framed:
            self.done = True
            self.keep_alive = False
        else:
            raise httpx.RemoteProtocolError("the server closed the connection mid-body",
                                            request=request)

    def next_chunk(self) -> bytes:
        """The body bytes parsed so far (and not yet handed out)."""
        chunks, self.body = self.body, []
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def reusable_after(self) -> bool:
        """The exchange completed cleanly and the server keeps the connection open."""
        return self.done and self.keep_alive and not self.stray

    def response(self, request: httpx.Request,
                 stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> httpx.Response:
        if request.method == "HEAD":  # no body follows, whatever the headers say
            self.done = True
            self.keep_alive = False
        return httpx.Response(
            self.status,
            headers=self.headers,
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": self.reason.strip()},
        )


def read_failure(exc: Exception, timeout: float | None,
                 request: httpx.Request) -> httpx.TransportError:
    """A failed wait for the answer: the request may have arrived, so never resent."""
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(f"no answer within {timeout} s", request=request)
    # the connection was reset or failed (OSError, TLS)
    return httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request)


def connect_failure(exc: Exception, origin: Origin, timeout: float | None,
                    request: httpx.Request) -> httpx.TransportError:
    """No connection: nothing was sent, so the caller may retry."""
    _, host, port = origin
    if isinstance(exc, TimeoutError):
        return httpx.ConnectTimeout(f"no connection to {host}:{port} within {timeout} s",
                                    request=request)
    # refused, unreachable, DNS, TLS handshake or certificate
    return httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request)


def pool_timeout(request: httpx.Request) -> httpx.PoolTimeout:
    return httpx.PoolTimeout("no connection to the backend was free in time", request=request)


def closed_transport(request: httpx.Request) -> httpx.ConnectError:
    return httpx.ConnectError("the transport is closed", request=request)


class Pooled(Protocol):
    origin: Origin
    idle_since: float

    def reusable(self) -> bool: ...

    def close(self) -> None: ...

    def unpool(self) -> None:
        """Leaving the idle list: stop watching it for the server closing it."""


C = TypeVar("C", bound=Pooled)
C_in = TypeVar("C_in", bound=Pooled, contravariant=True)


class Waiter(Protocol[C_in]):
    """A caller waiting for a connection (or None: a free slot); an asyncio future fits."""

    def done(self) -> bool: ...

    def set_result(self, result: C_in | None, /) -> None: ...


class PoolBook(Generic[C]):
    """Idle connections per origin (LIFO, so light traffic stays on warm ones), counts
    against the limit, and callers waiting for a slot. No I/O and no locking: the sync
    transport calls it under its lock, the async one from its event loop."""

    def __init__(self, max_connections: int, keepalive_expiry: float) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max = max_connections
        self.expiry = keepalive_expiry
        self.idle: dict[Origin, collections.deque[C]] = {}
        #: connections per origin counted against the limit: open, opening, or promised
        #: to a waiter (a freed slot handed over)
        self.count: dict[Origin, int] = {}
        self.waiters: dict[Origin, collections.deque[Waiter[C]]] = {}
        self.busy: set[C] = set()
        self.closed = False

    def open_connections(self) -> int:
        return sum(self.count.values())

    def take_idle(self, origin: Origin, now: float) -> C | None:
        """The most recently used live idle connection (stale ones are closed)."""
        idle = self.idle.get(origin)
        while idle:
            conn = idle.pop()
            conn.unpool()
            if now - conn.idle_since < self.expiry and conn.reusable():
                cutoff = now - self.expiry
                while idle and idle[0].idle_since < cutoff:  # the oldest are at the left
                    old = idle.popleft()
                    old.unpool()
                    self.discard(old)
                return conn
            self.discard(conn)
        return None

    def reserve(self, origin: Origin) -> bool:
        """Count one more connection to ``origin`` if the limit allows."""
        count = self.count.get(origin, 0)
        if count < self.max:
            self.count[origin] = count + 1
            return True
        return False

    def wait(self, origin: Origin, waiter: Waiter[C]) -> None:
        self.waiters.setdefault(origin, collections.deque()).append(waiter)

    def release(self, conn: C, now: float) -> bool:
        """A finished exchange: the connection goes to a waiter, or idle (True), or away."""
        self.busy.discard(conn)
        if self.closed or not conn.reusable():
            self.discard(conn)
            return False
        waiters = self.waiters.get(conn.origin)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return False
        conn.idle_since = now
        self.idle.setdefault(conn.origin, collections.deque()).append(conn)
        return True

    def drop_idle(self, conn: C) -> None:
        """The server closed an idle connection or spoke unasked."""
        idle = self.idle.get(conn.origin)
        if idle is not None and conn in idle:
            idle.remove(conn)
            self.discard(conn)

    def discard(self, conn: C) -> None:
        self.busy.discard(conn)
        conn.close()
        self.free_slot(conn.origin)

    def free_slot(self, origin: Origin) -> None:
        """One connection fewer: a waiter may open one in its place."""
        waiters = self.waiters.get(origin)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter; the count stays
                return
        self.count[origin] -= 1

    def close(self) -> list[C]:
        """Close idle connections; the busy ones are returned for the caller to close."""
        self.closed = True
        for idle in self.idle.values():
            while idle:
                conn = idle.pop()
                conn.unpool()
                self.discard(conn)
        return list(self.busy)

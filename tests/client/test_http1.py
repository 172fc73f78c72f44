"""The HTTP/1.1 transports against real loopback servers that misbehave on cue.

Every test runs against both the async transport and its blocking twin (driven
from worker threads, as ``send_many`` drives it), so the two cannot drift.

Every server records each request body it received, so each fault checks the
shim's rule: a request whose bytes may have reached the server is never sent
again by the transport, and a request that never left is reported as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from shim.client.http1 import AsyncHTTP1Transport
from shim.client.http1_sync import HTTP1Transport
from shim.client.retry import FailureKind
from shim.client.steps import classify

pytestmark = pytest.mark.anyio

#: What the server does with the next request: "ok", "drop" (close without a word),
#: "partial" (half the body, then close), "hold" (answer once released),
#: "503", "close-after" (answer, then close the connection as an idle timeout would),
#: "big" (a chunked answer of several MB), "stray" (answer plus bytes nobody asked for),
#: "interim" (100 Continue first), "until-close" (body ended by closing, no length),
#: "conn-close" (answer with Connection: close), "huge-head", "garbage".
Action = str


@dataclass
class Backend:
    url: str = ""
    actions: list[Action] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    accepted: int = 0
    open_now: int = 0
    most_open: int = 0
    holding: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    closed: int = 0
    strays: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if b"transfer-encoding: chunked" in head.lower():
                    body = await reader.readuntil(b"0\r\n\r\n")
                else:
                    body = await reader.readexactly(length)
                self.received.append(body)
                action = self.actions.pop(0) if self.actions else "ok"
                if action == "drop":
                    return
                if action == "partial":
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"x" * 50)
                    await writer.drain()
                    return
                if action == "hold":
                    self.holding += 1
                    await self.release.wait()
                    self.holding -= 1
                if action == "big":
                    chunk = b"y" * 65536
                    writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    for _ in range(64):
                        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                    continue
                if action == "until-close":
                    writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
                    return
                if action == "huge-head":
                    writer.write(b"HTTP/1.1 200 OK\r\n" + b"x-filler: %s\r\n" % (b"f" * 1000)
                                 * 100)
                    await writer.drain()
                    return
                if action == "garbage":
                    writer.write(b"HTTP/1.1 two hundred\r\n\r\n")
                    await writer.drain()
                    return
                if action == "head":
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n")
                    await writer.drain()
                    continue
                if action == "interim":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                status = b"503 Service Unavailable" if action == "503" else b"200 OK"
                answer = json.dumps({"echo": body.decode("latin-1")}).encode()
                close = b"connection: close\r\n" if action == "conn-close" else b""
                writer.write(b"HTTP/1.1 %s\r\ncontent-type: application/json\r\n%s"
                             b"content-length: %d\r\n\r\n%s" % (status, close, len(answer),
                                                                answer))
                if action == "stray":
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray")
                await writer.drain()
                if action == "stray":
                    self.strays += 1
                if action == "stray-later":
                    await self.release.wait()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray")
                    await writer.drain()
                    self.strays += 1
                if action in ("close-after", "conn-close"):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.closed += 1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _serve(ssl_context: ssl.SSLContext | None = None) -> tuple[Backend, asyncio.Server]:
    backend = Backend()
    server = await asyncio.start_server(backend.handle, "127.0.0.1", 0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    backend.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}/v1/x?q=1"
    return backend, server


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    state, server = await _serve()
    try:
        yield state
    finally:
        state.release.set()
        server.close()
        await server.wait_closed()


class Side:
    """One transport under test: the async one on the loop, the sync one on a thread."""

    def __init__(self, transport: AsyncHTTP1Transport | HTTP1Transport) -> None:
        self.transport = transport
        self.sync = isinstance(transport, HTTP1Transport)

    async def send(self, request: httpx.Request) -> httpx.Response:
        """The response with its body read and closed."""
        transport = self.transport
        if isinstance(transport, HTTP1Transport):
            return await asyncio.to_thread(_send_sync, transport, request)
        response = await transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def send_unread(self, request: httpx.Request) -> httpx.Response:
        """The response closed as soon as its head arrived, its body left unread."""
        transport = self.transport
        if isinstance(transport, HTTP1Transport):
            return await asyncio.to_thread(_send_unread_sync, transport, request)
        response = await transport.handle_async_request(request)
        await response.aclose()
        return response

    def open_connections(self) -> int:
        return self.transport.open_connections()

    def in_flight(self) -> int:
        return self.transport.in_flight()

    async def aclose(self) -> None:
        if isinstance(self.transport, HTTP1Transport):
            self.transport.close()
        else:
            await self.transport.aclose()


def _send_sync(transport: HTTP1Transport, request: httpx.Request) -> httpx.Response:
    response = transport.handle_request(request)
    try:
        response.read()
    finally:
        response.close()
    return response


def _send_unread_sync(transport: HTTP1Transport, request: httpx.Request) -> httpx.Response:
    response = transport.handle_request(request)
    response.close()
    return response


Make = Callable[..., Side]


@pytest.fixture(params=["async", "sync"])
def make(request: pytest.FixtureRequest) -> Make:
    """Builds the transport under test (same keyword arguments for both)."""
    kind = AsyncHTTP1Transport if request.param == "async" else HTTP1Transport

    def build(**kwargs: object) -> Side:
        return Side(kind(**kwargs))  # type: ignore[arg-type]

    return build


async def _post(transport: Side, url: str, body: bytes, **timeout: float) -> httpx.Response:
    request = httpx.Request("POST", url, content=body,
                            extensions={"timeout": {"connect": 5, "read": 5, "write": 5,
                                                    "pool": 5, **timeout}})
    return await transport.send(request)


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (polling the loop), failing after 10 s."""
    deadline = asyncio.get_running_loop().time() + 10
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def test_sequential_requests_reuse_one_connection(backend: Backend, make: Make) -> None:
    transport = make()
    try:
        for i in range(20):
            response = await _post(transport, backend.url, b"m%d" % i)
            assert response.status_code == 200
            assert response.json() == {"echo": f"m{i}"}
        assert backend.accepted == 1
        assert backend.received == [b"m%d" % i for i in range(20)]
        assert transport.in_flight() == 0
        assert transport.open_connections() == 1
    finally:
        await transport.aclose()


async def test_concurrency_is_capped_and_every_request_arrives_once(
    backend: Backend, make: Make
) -> None:
    transport = make(max_connections=3)
    try:
        backend.actions = ["hold"] * 10
        calls = [asyncio.ensure_future(_post(transport, backend.url, b"c%d" % i))
                 for i in range(10)]
        await _until(lambda: backend.holding == 3, "three held requests")
        assert transport.open_connections() == 3
        backend.release.set()
        answers = await asyncio.gather(*calls)
        assert [a.json()["echo"] for a in answers] == [f"c{i}" for i in range(10)]
        assert sorted(backend.received) == sorted(b"c%d" % i for i in range(10))
        assert backend.most_open == 3
        assert transport.in_flight() == 0
    finally:
        await transport.aclose()


async def test_many_callers_share_few_connections(backend: Backend, make: Make) -> None:
    # The sync transport is driven from the default executor's worker threads here.
    transport = make(max_connections=2)
    try:
        answers = await asyncio.gather(*(_post(transport, backend.url, b"s%d" % i)
                                         for i in range(200)))
        assert [a.json()["echo"] for a in answers] == [f"s{i}" for i in range(200)]
        assert sorted(backend.received) == sorted(b"s%d" % i for i in range(200))
        assert backend.most_open <= 2
        assert transport.in_flight() == 0
        assert 1 <= transport.open_connections() <= 2
    finally:
        await transport.aclose()


async def test_waiting_for_a_free_connection_times_out_without_sending(
    backend: Backend, make: Make
) -> None:
    transport = make(max_connections=1)
    try:
        backend.actions = ["hold"]
        first = asyncio.ensure_future(_post(transport, backend.url, b"first"))
        await _until(lambda: backend.holding == 1, "the first request held")
        with pytest.raises(httpx.PoolTimeout) as caught:
            await _post(transport, backend.url, b"second", pool=0.05)
        assert classify(caught.value).kind is FailureKind.CONNECT
        backend.release.set()
        assert (await first).status_code == 200
        assert backend.received == [b"first"]  # the timed-out one never left
        assert (await _post(transport, backend.url, b"third")).status_code == 200
        assert backend.accepted == 1
    finally:
        await transport.aclose()


async def test_connection_dropped_before_the_answer_is_not_resent(
    backend: Backend, make: Make
) -> None:
    transport = make()
    try:
        backend.actions = ["drop"]
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await _post(transport, backend.url, b"lost")
        assert classify(caught.value).kind is FailureKind.SENT
        assert backend.received == [b"lost"]
        assert transport.open_connections() == 0
        assert (await _post(transport, backend.url, b"next")).status_code == 200
        assert backend.received == [b"lost", b"next"]
    finally:
        await transport.aclose()


async def test_connection_dropped_mid_body_is_not_resent(backend: Backend, make: Make) -> None:
    transport = make()
    try:
        backend.actions = ["partial"]
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await _post(transport, backend.url, b"half")
        assert classify(caught.value).kind is FailureKind.SENT
        assert backend.received == [b"half"]
        assert transport.in_flight() == 0
        assert transport.open_connections() == 0
        assert (await _post(transport, backend.url, b"next")).status_code == 200
        assert backend.received == [b"half", b"next"]
    finally:
        await transport.aclose()


async def test_read_timeout_is_not_resent_and_drops_the_connection(
    backend: Backend, make: Make
) -> None:
    transport = make()
    try:
        backend.actions = ["hold"]
        with pytest.raises(httpx.ReadTimeout) as caught:
            await _post(transport, backend.url, b"slow", read=0.05)
        assert classify(caught.value).kind is FailureKind.SENT
        assert transport.open_connections() == 0
        # The held connection is gone: the next call gets a fresh one at once.
        assert (await _post(transport, backend.url, b"next")).status_code == 200
        assert backend.received == [b"slow", b"next"]
        assert backend.accepted == 2
    finally:
        await transport.aclose()


async def test_5xx_is_an_answer_and_keeps_the_connection(backend: Backend, make: Make) -> None:
    transport = make()
    try:
        backend.actions = ["503"]
        response = await _post(transport, backend.url, b"busy")
        assert response.status_code == 503
        assert response.json() == {"echo": "busy"}
        assert (await _post(transport, backend.url, b"again")).status_code == 200
        assert backend.accepted == 1
        assert backend.received == [b"busy", b"again"]
    finally:
        await transport.aclose()


async def test_keep_alive_connection_closed_by_the_server_is_replaced(
    backend: Backend, make: Make
) -> None:
    transport = make()
    try:
        backend.actions = ["close-after"]
        assert (await _post(transport, backend.url, b"one")).status_code == 200
        # The async pool drops it as the close arrives; the sync pool checks it when taken.
        await _until(lambda: backend.closed == 1 and (transport.sync
                                                      or transport.open_connections() == 0),
                     "the close to reach the pool")
        assert (await _post(transport, backend.url, b"two")).status_code == 200
        assert backend.received == [b"one", b"two"]
        assert backend.accepted == 2
    finally:
        await transport.aclose()


async def test_a_server_sending_more_than_the_answer_loses_its_connection(
    backend: Backend, make: Make
) -> None:
    transport = make()
    try:
        backend.actions = ["stray"]
        assert (await _post(transport, backend.url, b"one")).json() == {"echo": "one"}
        # The async pool sees the extra bytes with the answer; a blocking read may take
        # the answer alone, and the sync pool finds the rest when it takes the connection.
        assert transport.sync or transport.open_connections() == 0
        await _until(lambda: backend.strays == 1, "the stray bytes sent")
        response = await _post(transport, backend.url, b"two")
        assert response.json() == {"echo": "two"}
        assert backend.received == [b"one", b"two"]
        assert backend.accepted == 2
    finally:
        await transport.aclose()


async def test_bytes_arriving_on_an_idle_connection_are_never_read_as_an_answer(
    backend: Backend, make: Make
) -> None:
    transport = make()
    try:
        backend.actions = ["stray-later"]
        assert (await _post(transport, backend.url, b"one")).json() == {"echo": "one"}
        assert transport.open_connections() == 1
        backend.release.set()
        await _until(lambda: backend.strays == 1 and (transport.sync
                                                      or transport.open_connections() == 0),
                     "the stray bytes to reach the pool")
        response = await _post(transport, backend.url, b"two")
        assert response.json() == {"echo": "two"}
        assert backend.received == [b"one", b"two"]
        assert backend.accepted == 2
    finally:
        await transport.aclose()


async def test_connect_refused_is_a_connect_error(backend: Backend, make: Make) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    transport = make()
    try:
        with pytest.raises(httpx.ConnectError) as caught:
            await _post(transport, f"http://127.0.0.1:{port}/x", b"never")
        assert classify(caught.value).kind is FailureKind.CONNECT
        assert transport.open_connections() == 0
    finally:
        await transport.aclose()


async def test_a_cancelled_call_frees_its_connection(backend: Backend, make: Make) -> None:
    transport = make(max_connections=1)
    if transport.sync:
        await transport.aclose()
        pytest.skip("a blocking call cannot be cancelled (see the abandoned-body test)")
    try:
        backend.actions = ["hold"]
        call = asyncio.ensure_future(_post(transport, backend.url, b"cancelled"))
        await _until(lambda: backend.holding == 1, "the request held")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert transport.open_connections() == 0
        assert (await _post(transport, backend.url, b"after")).status_code == 200
        assert backend.received == [b"cancelled", b"after"]
    finally:
        await transport.aclose()


async def test_a_body_closed_unread_gives_its_connection_up(
    backend: Backend, make: Make
) -> None:
    transport = make()
    try:
        backend.actions = ["big"]
        response = await transport.send_unread(httpx.Request(
            "POST", backend.url, content=b"abandoned", extensions={"timeout": {"read": 5}}))
        assert response.status_code == 200
        assert transport.in_flight() == 0
        assert transport.open_connections() == 0  # unread bytes: never reused
        assert (await _post(transport, backend.url, b"after")).json() == {"echo": "after"}
        assert backend.received == [b"abandoned", b"after"]
        assert backend.accepted == 2
    finally:
        await transport.aclose()


async def test_large_chunked_answer_arrives_whole(backend: Backend, make: Make) -> None:
    transport = make()
    try:
        backend.actions = ["big"]
        response = await _post(transport, backend.url, b"download")
        assert response.content == b"y" * 65536 * 64
        assert (await _post(transport, backend.url, b"after")).status_code == 200
        assert backend.accepted == 1
    finally:
        await transport.aclose()


async def test_multipart_body_is_streamed_with_its_length(backend: Backend, make: Make) -> None:
    transport = make()
    try:
        request = httpx.Request("POST", backend.url, data={"type": "image/png"},
                                files={"file": ("a.png", b"\x89PNG" * 1000, "image/png")})
        response = await transport.send(request)
        assert response.status_code == 200
        assert len(backend.received[0]) == int(request.headers["content-length"])
        assert b"\x89PNG" * 1000 in backend.received[0]
    finally:
        await transport.aclose()


async def test_unsupported_scheme_is_refused_locally(make: Make) -> None:
    transport = make()
    with pytest.raises(httpx.UnsupportedProtocol) as caught:
        await transport.send(httpx.Request("GET", "ftp://127.0.0.1/x"))
    assert classify(caught.value).kind is FailureKind.LOCAL


async def test_head_answer_has_no_body_whatever_its_length_says(
    backend: Backend, make: Make
) -> None:
    transport = make()
    try:
        backend.actions = ["head"]
        response = await transport.send(
            httpx.Request("HEAD", backend.url, extensions={"timeout": {"read": 5}}))
        assert (response.status_code, response.content) == (200, b"")
        assert response.headers["content-length"] == "1234"
        assert (await _post(transport, backend.url, b"next")).json() == {"echo": "next"}
    finally:
        await transport.aclose()


async def test_interim_answer_is_skipped(backend: Backend, make: Make) -> None:
    transport = make()
    try:
        backend.actions = ["interim"]
        response = await _post(transport, backend.url, b"wait")
        assert (response.status_code, response.json()) == (200, {"echo": "wait"})
        assert (await _post(transport, backend.url, b"next")).status_code == 200
        assert backend.accepted == 1
    finally:
        await transport.aclose()


async def test_body_ended_by_close_and_connection_close_are_not_reused(
    backend: Backend, make: Make
) -> None:
    transport = make()
    try:
        backend.actions = ["until-close", "conn-close"]
        assert (await _post(transport, backend.url, b"one")).content == b"all of it"
        assert transport.open_connections() == 0
        assert (await _post(transport, backend.url, b"two")).json() == {"echo": "two"}
        assert transport.open_connections() == 0
        assert (await _post(transport, backend.url, b"three")).status_code == 200
        assert backend.accepted == 3
        assert backend.received == [b"one", b"two", b"three"]
    finally:
        await transport.aclose()


@pytest.mark.parametrize("action", ["huge-head", "garbage"])
async def test_malformed_answer_is_a_protocol_error_after_sending(
    backend: Backend, make: Make, action: Action
) -> None:
    transport = make()
    try:
        backend.actions = [action]
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await _post(transport, backend.url, b"sent")
        assert classify(caught.value).kind is FailureKind.SENT
        assert backend.received == [b"sent"]
        assert transport.open_connections() == 0
    finally:
        await transport.aclose()


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({"x-key": "abc\r\nx-injected: 1"}, b"{}"),
        ({"bad name": "v"}, b"{}"),
        ({"content-length": "5"}, b"{}"),
    ],
)
async def test_malformed_request_is_refused_before_sending(
    backend: Backend, make: Make, headers: dict[str, str], content: bytes
) -> None:
    transport = make()
    try:
        request = httpx.Request("POST", backend.url, content=content)
        request.headers.update(headers)
        with pytest.raises(httpx.LocalProtocolError) as caught:
            await transport.send(request)
        assert classify(caught.value).kind is FailureKind.LOCAL
        assert transport.open_connections() == 0
        assert backend.accepted == 0
    finally:
        await transport.aclose()


async def test_body_of_unknown_length_is_sent_chunked(backend: Backend, make: Make) -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"hello", b"", b" world"):
            yield part

    def sync_parts() -> Iterator[bytes]:
        yield from (b"hello", b"", b" world")

    transport = make()
    try:
        request = httpx.Request("POST", backend.url,
                                content=sync_parts() if transport.sync else parts())
        assert request.headers["transfer-encoding"] == "chunked"
        await transport.send(request)
        assert backend.received == [b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"]
    finally:
        await transport.aclose()


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )
    except FileNotFoundError:
        pytest.skip("openssl is not installed")
    return cert, key


async def test_https_backend_verified_against_its_certificate(
    tmp_path: Path, make: Make
) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    state, server = await _serve(server_tls)
    trusting = make(verify=ssl.create_default_context(cafile=str(cert)))
    default = make()
    try:
        for i in range(3):
            assert (await _post(trusting, state.url, b"tls%d" % i)).json() == {"echo": f"tls{i}"}
        assert state.accepted == 1
        with pytest.raises(httpx.ConnectError) as caught:  # self-signed: not trusted by default
            await _post(default, state.url, b"untrusted")
        assert classify(caught.value).kind is FailureKind.CONNECT
        assert state.received == [b"tls0", b"tls1", b"tls2"]
    finally:
        await trusting.aclose()
        await default.aclose()
        server.close()
        await server.wait_closed()

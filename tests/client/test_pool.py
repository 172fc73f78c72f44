"""The sharded async pool against a real loopback HTTP server that counts its connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from shim.client.pool import ShardedAsyncTransport

pytestmark = pytest.mark.anyio


@dataclass
class CountingServer:
    """HTTP/1.1 keep-alive server: answers ``{"ok": true}`` after an optional hold."""

    url: str = ""
    accepted: int = 0
    open_now: int = 0
    most_open: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    drop_next: bool = False

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
                await reader.readexactly(length)
                if self.drop_next:
                    self.drop_next = False
                    return
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                await self.hold.wait()
                self.in_flight -= 1
                body = b'{"ok": true}'
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server() -> AsyncIterator[CountingServer]:
    state = CountingServer()
    state.hold.set()
    srv = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}/x"
    try:
        yield state
    finally:
        srv.close()
        await srv.wait_closed()


async def _post(transport: ShardedAsyncTransport, url: str) -> httpx.Response:
    response = await transport.handle_async_request(httpx.Request("POST", url, content=b"{}"))
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response


async def test_sequential_calls_reuse_one_connection(server: CountingServer) -> None:
    async with ShardedAsyncTransport(shards=4, per_shard=2) as transport:
        for _ in range(20):
            assert (await _post(transport, server.url)).status_code == 200
        assert server.accepted == 1
        assert transport.in_flight() == 0


async def test_concurrency_is_capped_by_shards_times_connections(server: CountingServer) -> None:
    server.hold.clear()
    async with ShardedAsyncTransport(shards=3, per_shard=2) as transport:
        calls = [asyncio.ensure_future(_post(transport, server.url)) for _ in range(15)]
        deadline = asyncio.get_running_loop().time() + 10
        while server.in_flight < 6 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert server.in_flight == 6  # every connection of every shard busy, the rest queue
        server.hold.set()
        answers = await asyncio.gather(*calls)
        assert [a.status_code for a in answers] == [200] * 15
        assert server.most_in_flight == 6
        assert server.most_open <= 6
        assert transport.in_flight() == 0


async def test_busy_shards_spread_the_load(server: CountingServer) -> None:
    server.hold.clear()
    async with ShardedAsyncTransport(shards=4, per_shard=8) as transport:
        calls = [asyncio.ensure_future(_post(transport, server.url)) for _ in range(8)]
        deadline = asyncio.get_running_loop().time() + 10
        while server.in_flight < 8 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert transport.shard_load() == [2, 2, 2, 2]
        server.hold.set()
        await asyncio.gather(*calls)
        assert transport.shard_load() == [0, 0, 0, 0]


async def test_a_dropped_connection_raises_and_frees_its_slot(server: CountingServer) -> None:
    server.drop_next = True
    async with ShardedAsyncTransport(shards=2, per_shard=1) as transport:
        with pytest.raises(httpx.RemoteProtocolError):
            await _post(transport, server.url)
        assert transport.in_flight() == 0
        assert (await _post(transport, server.url)).status_code == 200
        assert transport.in_flight() == 0

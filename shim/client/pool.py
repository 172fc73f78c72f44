"""An async connection pool whose cost per request does not grow with concurrency.

httpcore's pool, on every request and every release, walks all of its
connections and asks each one whether it has expired; for an idle HTTP/1.1
connection that asks the socket (``getpeername`` through anyio's typed
attributes, then a readability poll). With 64 requests in flight against one
backend that walk is most of the gateway's CPU, so throughput at 64 concurrent
callers fell below the single-caller figure.

This transport keeps httpx/httpcore for everything they do well (HTTP/1.1,
TLS, proxies-free keep-alive, timeouts) and only splits the pool: ``shards``
small ``httpx.AsyncHTTPTransport`` pools, each capped at ``per_shard``
connections. A request goes to the shard with the fewest requests in flight
(the first one on a tie, so light traffic keeps reusing the same warm
connections). Each walk is then over a handful of connections, whatever the
total concurrency.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Final

import httpx

__all__ = ["ShardedAsyncTransport"]

#: Connections per shard: small enough that the per-request walk stays cheap,
#: large enough that a shard rarely queues.
PER_SHARD: Final = 8
SHARDS: Final = 32


class ShardedAsyncTransport(httpx.AsyncBaseTransport):
    """``shards`` independent pools of ``per_shard`` connections, least-busy first."""

    def __init__(
        self,
        *,
        shards: int = SHARDS,
        per_shard: int = PER_SHARD,
        keepalive_expiry: float = 4.0,
    ) -> None:
        if shards < 1 or per_shard < 1:
            raise ValueError("shards and per_shard must be at least 1")
        self._limits = httpx.Limits(
            max_connections=per_shard,
            max_keepalive_connections=per_shard,
            keepalive_expiry=keepalive_expiry,
        )
        # Shards are made when first needed and share one TLS context: building a
        # context loads the CA bundle (tens of ms), once per pool is enough.
        self._shards: list[httpx.AsyncHTTPTransport | None] = [None] * shards
        self._tls: ssl.SSLContext | None = None
        self._busy = [0] * shards

    def _shard(self, index: int) -> httpx.AsyncHTTPTransport:
        shard = self._shards[index]
        if shard is None:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            shard = self._shards[index] = httpx.AsyncHTTPTransport(
                verify=self._tls, limits=self._limits
            )
        return shard

    def shard_load(self) -> list[int]:
        """Requests in flight per shard (a request counts until its body is closed)."""
        return list(self._busy)

    def in_flight(self) -> int:
        return sum(self._busy)

    def _pick(self) -> int:
        busy = self._busy
        best = 0
        low = busy[0]
        if low == 0:
            return 0
        for i in range(1, len(busy)):
            if busy[i] < low:
                best, low = i, busy[i]
                if low == 0:
                    break
        return best

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._pick()
        self._busy[index] += 1
        try:
            response = await self._shard(index).handle_async_request(request)
        except BaseException:
            self._busy[index] -= 1
            raise
        # The shard stays busy until the body is consumed and the connection released.
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _Released(stream, self._busy, index)
        return response

    async def aclose(self) -> None:
        for shard in self._shards:
            if shard is not None:
                await shard.aclose()


class _Released(httpx.AsyncByteStream):
    """Wraps a response stream; closing it marks its shard one request less busy."""

    __slots__ = ("_busy", "_done", "_index", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream, busy: list[int], index: int) -> None:
        self._stream = stream
        self._busy = busy
        self._index = index
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if not self._done:
                self._done = True
                self._busy[self._index] -= 1

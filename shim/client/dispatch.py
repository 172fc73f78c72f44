"""Drivers: run a router's plans with real I/O, sync or async.

Each dispatcher owns one httpx connection pool shared by every channel (auth
headers are per request), so a thousand tenants cost one pool, not a thousand.
Timeouts come with each request (per channel), so no call can hang.

When the dispatcher owns its pool, plain exchanges go straight to the httpx
transport: the client layer's cookie jar, auth flow and event hooks cost about
a quarter of the CPU of a send and the shim needs none of them. Exchanges that
must follow redirects (Meta media downloads) go through an ``httpx.Client``
wrapping the same transport, so there is still only one pool. A caller-supplied
client (tests, the gateway) is used as is, for every exchange.

The async side pools through :class:`shim.client.http1.AsyncHTTP1Transport`
(asyncio and httptools, httpx's models and error classes): httpcore's per-request
work was most of the gateway's CPU, and its pool walked every connection on
every request, which made the gateway slower at 64 concurrent callers than at one.
The sync side pools through its blocking twin,
:class:`shim.client.http1_sync.HTTP1Transport`, for the same reason: httpcore was
most of the CPU of a sync send.
"""

from __future__ import annotations

import functools
import time
from types import TracebackType
from typing import Any, Final

import anyio
import httpx

from shim.client.core import UNSET, RequestOptions, Router
from shim.client.http1 import AsyncHTTP1Transport
from shim.client.http1_sync import HTTP1Transport
from shim.client.response import ShimResponse
from shim.client.steps import Exchange, Plan, Step, StepResult, classify

__all__ = ["AsyncDispatcher", "Dispatcher", "default_limits"]

#: Keep-alive shorter than common server idle timeouts (uvicorn: 5 s), so a
#: pooled connection is not reused just as the server closes it (that race
#: would look like a lost response).
KEEPALIVE_EXPIRY: Final = 4.0


def _advance(plan: Plan, result: StepResult) -> Step | ShimResponse:
    """The plan's next step, or its response once it is done."""
    try:
        return plan.send(result)
    except StopIteration as done:
        response: ShimResponse = done.value
        return response


def default_limits() -> httpx.Limits:
    return httpx.Limits(
        max_connections=256, max_keepalive_connections=128, keepalive_expiry=KEEPALIVE_EXPIRY
    )


class Dispatcher:
    """Runs plans on a thread (blocking sleeps, one connection pool); thread-safe."""

    def __init__(self, router: Router, *, http: httpx.Client | None = None) -> None:
        self.router = router
        self._own = http is None
        self._transport: httpx.BaseTransport | None = None
        if http is None:
            self._transport = HTTP1Transport(keepalive_expiry=KEEPALIVE_EXPIRY)
            http = httpx.Client(transport=self._transport, trust_env=False)
        self.http = http

    def dispatch(
        self,
        method: str,
        path: str,
        *,
        headers: Any = None,
        content: bytes | None = None,
        json: Any = UNSET,
        channel: str | None = None,
        options: RequestOptions | None = None,
    ) -> ShimResponse:
        """Serve one On-Prem call (see :mod:`shim.client.core` for the contract)."""
        plan = self.router.plan(
            method,
            path,
            headers=headers,
            content=content,
            json=json,
            channel=channel,
            options=options,
        )
        return self.run(plan)

    def run(self, plan: Plan) -> ShimResponse:
        result: StepResult = None
        elapsed = 0.0
        try:
            step = next(plan)
            while True:
                if isinstance(step, Exchange):
                    started = time.perf_counter()
                    result = self._exchange(step)
                    elapsed += time.perf_counter() - started
                else:
                    time.sleep(step.seconds)
                    result = None
                step = plan.send(result)
        except StopIteration as done:
            response: ShimResponse = done.value
            response.elapsed = elapsed
            return response

    def _exchange(self, step: Exchange) -> StepResult:
        try:
            if self._transport is not None and not step.follow_redirects:
                response = self._transport.handle_request(step.request)
                try:
                    response.read()
                finally:
                    response.close()
                return response
            return self.http.send(step.request, follow_redirects=step.follow_redirects)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return classify(exc)

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncDispatcher:
    """Runs plans on an event loop (anyio sleeps, one ``httpx.AsyncClient``)."""

    def __init__(self, router: Router, *, http: httpx.AsyncClient | None = None) -> None:
        self.router = router
        #: plans run on worker threads when the state store is a network round trip away
        self._offload = bool(getattr(router.state, "remote", False))
        self._own = http is None
        self._transport: httpx.AsyncBaseTransport | None = None
        if http is None:
            self._transport = AsyncHTTP1Transport(keepalive_expiry=KEEPALIVE_EXPIRY)
            http = httpx.AsyncClient(transport=self._transport, trust_env=False)
        self.http = http

    async def dispatch(
        self,
        method: str,
        path: str,
        *,
        headers: Any = None,
        content: bytes | None = None,
        json: Any = UNSET,
        channel: str | None = None,
        options: RequestOptions | None = None,
    ) -> ShimResponse:
        """Serve one On-Prem call (see :mod:`shim.client.core` for the contract)."""
        make = functools.partial(
            self.router.plan,
            method,
            path,
            headers=headers,
            content=content,
            json=json,
            channel=channel,
            options=options,
        )
        if self._offload:
            return await self.run(await anyio.to_thread.run_sync(make))
        return await self.run(make())

    async def run(self, plan: Plan) -> ShimResponse:
        result: StepResult = None
        elapsed = 0.0
        while True:
            # A plan on a networked state store waits on it: keep that off the event loop.
            if self._offload:
                step = await anyio.to_thread.run_sync(_advance, plan, result)
            else:
                step = _advance(plan, result)
            if isinstance(step, ShimResponse):
                step.elapsed = elapsed
                return step
            if isinstance(step, Exchange):
                started = time.perf_counter()
                result = await self._exchange(step)
                elapsed += time.perf_counter() - started
            else:
                await anyio.sleep(step.seconds)
                result = None

    async def _exchange(self, step: Exchange) -> StepResult:
        try:
            if self._transport is not None and not step.follow_redirects:
                response = await self._transport.handle_async_request(step.request)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
                return response
            return await self.http.send(step.request, follow_redirects=step.follow_redirects)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return classify(exc)

    async def aclose(self) -> None:
        if self._own:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncDispatcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

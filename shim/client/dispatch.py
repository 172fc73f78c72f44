"""Drivers: run a router's plans with real I/O, sync or async.

Each dispatcher owns one httpx connection pool shared by every channel (auth
headers are per request), so a thousand tenants cost one pool, not a thousand.
Timeouts come with each request (per channel), so no call can hang.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Final

import anyio
import httpx

from shim.client.core import UNSET, RequestOptions, Router
from shim.client.response import ShimResponse
from shim.client.steps import Exchange, Plan, StepResult, classify

__all__ = ["AsyncDispatcher", "Dispatcher", "default_limits"]

#: Keep-alive shorter than common server idle timeouts (uvicorn: 5 s), so a
#: pooled connection is not reused just as the server closes it (that race
#: would look like a lost response).
KEEPALIVE_EXPIRY: Final = 4.0


def default_limits() -> httpx.Limits:
    return httpx.Limits(
        max_connections=256, max_keepalive_connections=128, keepalive_expiry=KEEPALIVE_EXPIRY
    )


class Dispatcher:
    """Runs plans on a thread (blocking sleeps, one ``httpx.Client``); thread-safe."""

    def __init__(self, router: Router, *, http: httpx.Client | None = None) -> None:
        self.router = router
        self._own = http is None
        self.http = http or httpx.Client(limits=default_limits(), trust_env=False)

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
        try:
            step = next(plan)
            while True:
                if isinstance(step, Exchange):
                    result = self._exchange(step)
                else:
                    time.sleep(step.seconds)
                    result = None
                step = plan.send(result)
        except StopIteration as done:
            response: ShimResponse = done.value
            return response

    def _exchange(self, step: Exchange) -> StepResult:
        try:
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
        self._own = http is None
        self.http = http or httpx.AsyncClient(limits=default_limits(), trust_env=False)

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
        plan = self.router.plan(
            method,
            path,
            headers=headers,
            content=content,
            json=json,
            channel=channel,
            options=options,
        )
        return await self.run(plan)

    async def run(self, plan: Plan) -> ShimResponse:
        result: StepResult = None
        try:
            step = next(plan)
            while True:
                if isinstance(step, Exchange):
                    result = await self._exchange(step)
                else:
                    await anyio.sleep(step.seconds)
                    result = None
                step = plan.send(result)
        except StopIteration as done:
            response: ShimResponse = done.value
            return response

    async def _exchange(self, step: Exchange) -> StepResult:
        try:
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

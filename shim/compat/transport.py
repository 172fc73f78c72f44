"""The httpx side of the drop-in: sync and async transports that route On-Prem URLs.

Wire them like any transport::

    httpx.Client(transport=ShimTransport())                       # all URLs; others fall back
    httpx.Client(mounts={"https://waba.360dialog.io": ShimTransport()})
    httpx.AsyncClient(transport=AsyncShimTransport())

An On-Prem URL is dispatched through the shim's router and answered in
On-Prem shape; any other URL goes to ``fallback`` (default: a plain
``httpx.HTTPTransport()``/``AsyncHTTPTransport()``). An outcome-unknown call
raises :class:`OutcomeUnknownReadTimeout`, an ``httpx.ReadTimeout`` carrying
the idempotency key. The caller's read timeout applies per attempt; connect
timeouts, retries and pacing come from the channel config.
"""

from __future__ import annotations

from typing import Any

import httpx

from shim.client import AsyncDispatcher, Dispatcher, Outcome, RequestOptions, Router, ShimResponse
from shim.client.errors import OutcomeUnknown
from shim.compat import runtime

__all__ = ["AsyncShimTransport", "OutcomeUnknownReadTimeout", "ShimTransport"]

_WIRE_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection"})


class OutcomeUnknownReadTimeout(httpx.ReadTimeout):
    """The request was sent and its fate is unknown; it was not resent.

    An ``httpx.ReadTimeout`` for existing ``except`` clauses; ``idempotency_key``
    (also in the message) reconciles it with status webhooks.
    """

    def __init__(self, shim_response: ShimResponse, *, request: httpx.Request) -> None:
        self.shim_response = shim_response
        self.idempotency_key = shim_response.idempotency_key
        self.channel = shim_response.channel
        super().__init__(str(OutcomeUnknown(shim_response)), request=request)


def _options(request: httpx.Request) -> RequestOptions | None:
    timeout = request.extensions.get("timeout")
    read = timeout.get("read") if isinstance(timeout, dict) else None
    return RequestOptions(read_timeout=float(read)) if read is not None else None


def _response(request: httpx.Request, shim: ShimResponse) -> httpx.Response:
    headers = [(k, v) for k, v in shim.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    if shim.outcome is Outcome.UNKNOWN:
        raise OutcomeUnknownReadTimeout(shim, request=request)
    return httpx.Response(shim.status_code, headers=headers, content=shim.content, request=request)


class ShimTransport(httpx.BaseTransport):
    """Sync transport: On-Prem URLs through the shim, everything else to ``fallback``.

    ``router``: an explicitly wired router (the transport then owns a
    dispatcher for it); None uses the process-wide one (``WABA_MIGRATE_CONFIG``).
    """

    def __init__(
        self, fallback: httpx.BaseTransport | None = None, *, router: Router | None = None
    ) -> None:
        self._fallback = fallback
        self._router = router
        self._own: Dispatcher | None = Dispatcher(router) if router is not None else None

    @property
    def fallback(self) -> httpx.BaseTransport:
        if self._fallback is None:
            self._fallback = httpx.HTTPTransport()
        return self._fallback

    def handles(self, url: httpx.URL | str) -> bool:
        """Would this transport route ``url`` through the shim?"""
        return runtime.intercept(str(url), self._router) is not None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.handles(request.url):
            return self.fallback.handle_request(request)
        dispatcher = self._own or runtime.shared_dispatcher()
        with runtime.serving_call():
            shim = dispatcher.dispatch(
                request.method,
                str(request.url),
                headers=request.headers,
                content=request.read() or None,
                options=_options(request),
            )
        return _response(request, shim)

    def close(self) -> None:
        if self._fallback is not None:
            self._fallback.close()
        if self._own is not None:
            self._own.close()


class AsyncShimTransport(httpx.AsyncBaseTransport):
    """Async transport: On-Prem URLs through the shim, everything else to ``fallback``.

    Each transport runs its own :class:`AsyncDispatcher` (an async connection
    pool belongs to one event loop); the router (pacing, idempotency) is shared.
    """

    def __init__(
        self, fallback: httpx.AsyncBaseTransport | None = None, *, router: Router | None = None
    ) -> None:
        self._fallback = fallback
        self._router = router
        self._dispatcher: AsyncDispatcher | None = None

    @property
    def fallback(self) -> httpx.AsyncBaseTransport:
        if self._fallback is None:
            self._fallback = httpx.AsyncHTTPTransport()
        return self._fallback

    def handles(self, url: httpx.URL | str) -> bool:
        """Would this transport route ``url`` through the shim?"""
        return runtime.intercept(str(url), self._router) is not None

    def _dispatcher_for(self, router: Router) -> AsyncDispatcher:
        current = self._dispatcher
        if current is None or current.router is not router:
            # First call, or the shared config was reloaded: a pool for this router.
            self._dispatcher = current = AsyncDispatcher(router)
        return current

    async def dispatch(
        self,
        method: str,
        url: str,
        *,
        headers: Any,
        content: bytes | None,
        options: RequestOptions | None,
    ) -> ShimResponse | None:
        """Serve one call :meth:`handles` said is On-Prem; None when the config went away.

        The one async path to the router: the aiohttp drop-in's middleware
        sends through here too, so both answer alike.
        """
        router = self._router or runtime.current_router()
        if router is None:  # the config went away between the two looks
            return None
        previous = self._dispatcher
        dispatcher = self._dispatcher_for(router)
        if previous is not None and previous is not dispatcher:
            await previous.aclose()
        with runtime.serving_call():
            return await dispatcher.dispatch(
                method, url, headers=headers, content=content, options=options
            )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.handles(request.url):
            return await self.fallback.handle_async_request(request)
        content = await request.aread() or None
        shim = await self.dispatch(
            request.method,
            str(request.url),
            headers=request.headers,
            content=content,
            options=_options(request),
        )
        if shim is None:
            return await self.fallback.handle_async_request(request)
        return _response(request, shim)

    async def aclose(self) -> None:
        if self._fallback is not None:
            await self._fallback.aclose()
        if self._dispatcher is not None:
            await self._dispatcher.aclose()
            self._dispatcher = None

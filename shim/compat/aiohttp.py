"""``from shim.compat import aiohttp``: aiohttp, with On-Prem URLs routed through the shim.

:class:`ClientSession` is aiohttp's own session with one more middleware,
:class:`~shim.compat.middleware.ShimMiddleware`, innermost: a request to an
On-Prem URL (``waba.360dialog.io``, ``waba-sandbox.360dialog.io``, or a
``legacy_base_url``/On-Prem ``base_url`` of the channel config) is served by
the shim and answered as a real ``aiohttp.ClientResponse`` in On-Prem shape;
the channel is picked by the ``D360-API-KEY``/``Authorization: Bearer`` the
call carries. Every other request goes out through aiohttp unchanged.
:func:`request` mirrors ``aiohttp.request``; every other name is aiohttp's own
(``ClientTimeout``, ``BasicAuth``, ``ClientError``, ``ClientResponseError``,
``FormData``, ``TCPConnector`` ...).

aiohttp is an optional dependency (``pip install 'waba-migrate[aiohttp]'``);
importing this module without it raises an ``ImportError`` that says so.

Limits: a call that passes its own ``middlewares=`` replaces the session's
(aiohttp's rule), the shim's included, so that call is not routed; sessions
made by other libraries (``aiohttp_client_cache.CachedSession`` ...) are not
this class and are not routed; ``ws_connect`` is not routed.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import AsyncIterator, Sequence
from typing import Any

try:
    import aiohttp as _aiohttp
except ModuleNotFoundError as _missing:
    if _missing.name != "aiohttp":
        raise
    raise ImportError(
        "shim.compat.aiohttp needs aiohttp, an optional dependency of waba-migrate: "
        "pip install 'waba-migrate[aiohttp]'"
    ) from _missing

from aiohttp import (
    BasicAuth,
    ClientConnectionError,
    ClientConnectorError,
    ClientError,
    ClientMiddlewareType,
    ClientOSError,
    ClientPayloadError,
    ClientRequest,
    ClientResponse,
    ClientResponseError,
    ClientTimeout,
    ContentTypeError,
    FormData,
    ServerDisconnectedError,
    ServerTimeoutError,
    TCPConnector,
    TraceConfig,
    __version__,
    hdrs,
)

from shim.client import Router
from shim.compat.middleware import OutcomeUnknownReadTimeout, ShimClientResponse, ShimMiddleware

__all__ = [
    "BasicAuth",
    "ClientConnectionError",
    "ClientConnectorError",
    "ClientError",
    "ClientOSError",
    "ClientPayloadError",
    "ClientRequest",
    "ClientResponse",
    "ClientResponseError",
    "ClientSession",
    "ClientTimeout",
    "ContentTypeError",
    "FormData",
    "OutcomeUnknownReadTimeout",
    "ServerDisconnectedError",
    "ServerTimeoutError",
    "ShimClientResponse",
    "ShimMiddleware",
    "TCPConnector",
    "TraceConfig",
    "__version__",
    "hdrs",
    "request",
]

with warnings.catch_warnings():
    # aiohttp warns on any subclass; this one only adds a middleware through the
    # public constructor and closes what it opened.
    warnings.simplefilter("ignore", DeprecationWarning)

    class ClientSession(_aiohttp.ClientSession):
        """``aiohttp.ClientSession`` whose On-Prem calls go through the shim; the rest is untouched.

        ``router`` wires this session to an explicit router instead of the
        process-wide one (tests, multi-config processes). Callers' own
        ``middlewares=`` run around the shim's.
        """

        ATTRS = _aiohttp.ClientSession.ATTRS | frozenset({"_shim_middleware"})

        def __init__(
            self,
            base_url: Any = None,
            *,
            router: Router | None = None,
            middlewares: Sequence[ClientMiddlewareType] = (),
            **kwargs: Any,
        ) -> None:
            shim = ShimMiddleware(router)
            super().__init__(base_url, middlewares=(*middlewares, shim), **kwargs)
            shim.read_timeout = self.timeout.sock_read
            self._shim_middleware = shim

        async def close(self) -> None:
            await super().close()
            shim: ShimMiddleware | None = getattr(self, "_shim_middleware", None)
            if shim is not None:
                await shim.aclose()


@contextlib.asynccontextmanager
async def request(
    method: str,
    url: Any,
    *,
    connector: _aiohttp.BaseConnector | None = None,
    cookies: Any = None,
    timeout: ClientTimeout | None = None,
    router: Router | None = None,
    **kwargs: Any,
) -> AsyncIterator[ClientResponse]:
    """One request with a short-lived :class:`ClientSession` (like ``aiohttp.request``)."""
    session_options: dict[str, Any] = {"cookies": cookies, "router": router}
    if timeout is not None:
        session_options["timeout"] = timeout
    async with (
        ClientSession(
            connector=connector, connector_owner=connector is None, **session_options
        ) as session,
        session.request(method, url, **kwargs) as response,
    ):
        yield response


def __getattr__(name: str) -> Any:
    """Every other aiohttp name (``web``, ``ClientWebSocketResponse``, ``MultipartWriter`` ...)."""
    try:
        return getattr(_aiohttp, name)
    except AttributeError:
        if name.startswith("_"):
            raise
        try:
            return importlib.import_module(f"aiohttp.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'aiohttp' has no attribute {name!r}") from None

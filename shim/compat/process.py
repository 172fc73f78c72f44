"""Process-wide drop-in: every ``requests``, ``httpx`` and ``aiohttp`` call to an On-Prem URL.

Third-party libraries (On-Prem SDKs, framework integrations) ``import requests``
or ``import httpx`` themselves, so rewriting the application's imports does not
reach them. :func:`install` patches the one place each library chooses how to
send a request: ``requests.Session.get_adapter`` (module functions such as
``requests.post`` use a Session too), ``httpx.Client._transport_for_url`` /
``httpx.AsyncClient._transport_for_url``, and, when aiohttp 3.12 or later is
installed, ``aiohttp.ClientSession._request``, which gets the shim's
middleware innermost (after the session's and the call's own middlewares;
``aiohttp.request()`` makes a session too). Because these are looked up on the
class at send time, sessions and clients created before :func:`install` are
covered as well. An On-Prem URL (see :func:`shim.compat.runtime.intercept`) is
served by the shim; every other URL goes where it went before.

Limits: urllib3 or http.client used directly, an aiohttp older than 3.12 (no
client middlewares) and aiohttp websockets are not covered; a library that
vendors its own copy of requests, subclasses ``Session`` overriding
``get_adapter``, or calls a transport's
``handle_request`` itself bypasses it; it changes the whole process, every
thread, until :func:`uninstall`.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

import httpx
import requests
from requests.adapters import BaseAdapter

from shim.client import Router
from shim.compat import runtime
from shim.compat.adapter import ShimAdapter
from shim.compat.transport import AsyncShimTransport, ShimTransport
from shim.config import Config

__all__ = ["install", "installed", "uninstall"]

_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}
_adapter: ShimAdapter | None = None
_transport: ShimTransport | None = None
#: The attribute a patched AsyncClient keeps its own shim transport in (async
#: pools belong to one event loop, so they cannot be shared process-wide).
_ASYNC_ATTR = "_waba_migrate_shim"


def _routes(url: str) -> bool:
    # The shim's own backend calls (an On-Prem backend is an On-Prem URL) go out as is.
    return not runtime.serving() and runtime.intercept(url) is not None


def _get_adapter(self: requests.Session, url: str) -> BaseAdapter:
    if _adapter is not None and _routes(url):
        return _adapter
    chosen: BaseAdapter = _originals["requests"](self, url)
    return chosen


def _sync_transport(self: httpx.Client, url: httpx.URL) -> httpx.BaseTransport:
    if _transport is not None and _routes(str(url)):
        return _transport
    chosen: httpx.BaseTransport = _originals["httpx"](self, url)
    return chosen


def _async_transport(self: httpx.AsyncClient, url: httpx.URL) -> httpx.AsyncBaseTransport:
    if _transport is not None and _routes(str(url)):
        shim = self.__dict__.get(_ASYNC_ATTR)
        if not isinstance(shim, AsyncShimTransport):
            shim = AsyncShimTransport()
            self.__dict__[_ASYNC_ATTR] = shim
        return shim
    chosen: httpx.AsyncBaseTransport = _originals["httpx_async"](self, url)
    return chosen


def _aiohttp_session_class() -> Any:
    """aiohttp's ClientSession when aiohttp with client middlewares (3.12+) is installed."""
    try:
        import aiohttp
    except ImportError:
        return None
    if not hasattr(aiohttp, "ClientMiddlewareType"):  # before 3.12: no middlewares
        return None
    return aiohttp.ClientSession


#: One shim middleware per plain aiohttp session (its async pool belongs to the
#: session's event loop); closed with the session.
_aio_middlewares: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _aio_middleware(session: Any) -> Any:
    found = _aio_middlewares.get(session)
    if found is None:  # aiohttp is optional: its middleware is imported with the first session
        from shim.compat.middleware import ShimMiddleware

        found = _aio_middlewares[session] = ShimMiddleware(
            read_timeout=session.timeout.sock_read)
    return found


async def _aio_request(self: Any, method: str, str_or_url: Any, **kwargs: Any) -> Any:
    # The drop-in's own sessions already carry the shim's middleware.
    if getattr(self, "_shim_middleware", None) is None and "aiohttp" in _originals:
        own = kwargs.get("middlewares")
        around = self._middlewares if own is None else own
        kwargs["middlewares"] = (*around, _aio_middleware(self))
    return await _originals["aiohttp"](self, method, str_or_url, **kwargs)


async def _aio_close(self: Any) -> None:
    await _originals["aiohttp_close"](self)
    found = _aio_middlewares.pop(self, None)
    if found is not None:
        await found.aclose()


def install(
    config: Config | str | os.PathLike[str] | None = None, *, router: Router | None = None
) -> None:
    """Route every On-Prem call of this process through the shim (idempotent).

    ``config``/``router`` pin the channel config like :func:`shim.compat.configure`;
    with neither, ``WABA_MIGRATE_CONFIG`` is read on the first On-Prem call.
    """
    global _adapter, _transport
    if config is not None or router is not None:
        runtime.configure(config, router=router)
    with _lock:
        if _originals:
            return
        _originals["requests"] = requests.Session.get_adapter
        _originals["httpx"] = httpx.Client._transport_for_url
        _originals["httpx_async"] = httpx.AsyncClient._transport_for_url
        _adapter = ShimAdapter()
        _transport = ShimTransport()
        requests.Session.get_adapter = _get_adapter  # type: ignore[method-assign]
        httpx.Client._transport_for_url = _sync_transport  # type: ignore[method-assign]
        httpx.AsyncClient._transport_for_url = _async_transport  # type: ignore[method-assign]
        session = _aiohttp_session_class()
        if session is not None:
            _originals["aiohttp"] = session._request
            _originals["aiohttp_close"] = session.close
            session._request = _aio_request
            session.close = _aio_close


def uninstall() -> None:
    """Put ``requests``, ``httpx`` and ``aiohttp`` back as they were (idempotent)."""
    global _adapter, _transport
    with _lock:
        if not _originals:
            return
        requests.Session.get_adapter = _originals.pop("requests")  # type: ignore[method-assign]
        httpx.Client._transport_for_url = _originals.pop("httpx")  # type: ignore[method-assign]
        httpx.AsyncClient._transport_for_url = _originals.pop(  # type: ignore[method-assign]
            "httpx_async")
        if "aiohttp" in _originals:
            session = _aiohttp_session_class()
            session._request = _originals.pop("aiohttp")
            session.close = _originals.pop("aiohttp_close")
        adapter, transport, _adapter, _transport = _adapter, _transport, None, None
    if adapter is not None:
        adapter.close()
    if transport is not None:
        transport.close()


def installed() -> bool:
    return bool(_originals)

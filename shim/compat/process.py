"""Process-wide drop-in: every ``requests`` and ``httpx`` call to an On-Prem URL.

Third-party libraries (On-Prem SDKs, framework integrations) ``import requests``
or ``import httpx`` themselves, so rewriting the application's imports does not
reach them. :func:`install` patches the one place each library chooses how to
send a request: ``requests.Session.get_adapter`` (module functions such as
``requests.post`` use a Session too) and ``httpx.Client._transport_for_url`` /
``httpx.AsyncClient._transport_for_url``. Because these are looked up on the
class at send time, sessions and clients created before :func:`install` are
covered as well. An On-Prem URL (see :func:`shim.compat.runtime.intercept`) is
served by the shim; every other URL goes where it went before.

Limits: only ``requests`` and ``httpx`` are covered (aiohttp only through the
``shim.compat.aiohttp`` drop-in; not urllib3 or
http.client used directly); a library that vendors its own copy of requests,
subclasses ``Session`` overriding ``get_adapter``, or calls a transport's
``handle_request`` itself bypasses it; it changes the whole process, every
thread, until :func:`uninstall`.
"""

from __future__ import annotations

import os
import threading
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


def uninstall() -> None:
    """Put ``requests`` and ``httpx`` back as they were (idempotent)."""
    global _adapter, _transport
    with _lock:
        if not _originals:
            return
        requests.Session.get_adapter = _originals.pop("requests")  # type: ignore[method-assign]
        httpx.Client._transport_for_url = _originals.pop("httpx")  # type: ignore[method-assign]
        httpx.AsyncClient._transport_for_url = _originals.pop(  # type: ignore[method-assign]
            "httpx_async")
        adapter, transport, _adapter, _transport = _adapter, _transport, None, None
    if adapter is not None:
        adapter.close()
    if transport is not None:
        transport.close()


def installed() -> bool:
    return bool(_originals)

"""``from shim.compat import httpx``: the httpx module, with On-Prem URLs routed through the shim.

``Client``/``AsyncClient`` are httpx's own clients whose transport choice is
extended: an On-Prem URL (On-Prem hosts and the hosts named in the channel
config) goes to :class:`ShimTransport`/:class:`AsyncShimTransport`, every
other URL to whatever httpx would have used (its pool, your ``mounts=``, env
proxies). The module-level ``get``/``post``/... and ``stream`` mirror httpx's
and use these clients; every other name is httpx's own.

The config comes from ``WABA_MIGRATE_CONFIG`` (see :mod:`shim.compat.runtime`),
or pass ``router=`` to a client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx as _httpx
from httpx import (
    URL,
    AsyncBaseTransport,
    AsyncHTTPTransport,
    Auth,
    BaseTransport,
    BasicAuth,
    ConnectError,
    ConnectTimeout,
    Cookies,
    Headers,
    HTTPError,
    HTTPStatusError,
    HTTPTransport,
    Limits,
    MockTransport,
    QueryParams,
    ReadTimeout,
    Request,
    RequestError,
    Response,
    Timeout,
    TimeoutException,
    TransportError,
    codes,
)

from shim.client import Router
from shim.compat.transport import AsyncShimTransport, OutcomeUnknownReadTimeout, ShimTransport

__all__ = [
    "URL",
    "AsyncBaseTransport",
    "AsyncClient",
    "AsyncHTTPTransport",
    "AsyncShimTransport",
    "Auth",
    "BaseTransport",
    "BasicAuth",
    "Client",
    "ConnectError",
    "ConnectTimeout",
    "Cookies",
    "HTTPError",
    "HTTPStatusError",
    "HTTPTransport",
    "Headers",
    "Limits",
    "MockTransport",
    "OutcomeUnknownReadTimeout",
    "QueryParams",
    "ReadTimeout",
    "Request",
    "RequestError",
    "Response",
    "ShimTransport",
    "Timeout",
    "TimeoutException",
    "TransportError",
    "codes",
    "delete",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "request",
    "stream",
]

if not hasattr(_httpx.Client, "_transport_for_url") or not hasattr(
    _httpx.AsyncClient, "_transport_for_url"
):  # pragma: no cover - guards an httpx upgrade: never let On-Prem calls bypass the shim
    raise ImportError(
        f"shim.compat.httpx does not support httpx {_httpx.__version__} "
        "(Client._transport_for_url is gone); wire ShimTransport explicitly instead"
    )

_DEFAULT_TIMEOUT = Timeout(timeout=5.0)


class Client(_httpx.Client):
    """``httpx.Client`` whose On-Prem calls go through the shim; the rest is untouched."""

    def __init__(self, *, router: Router | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shim = ShimTransport(router=router)

    def _transport_for_url(self, url: URL) -> BaseTransport:
        if self._shim.handles(url):
            return self._shim
        return super()._transport_for_url(url)

    def close(self) -> None:
        super().close()
        self._shim.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        self._shim.close()


class AsyncClient(_httpx.AsyncClient):
    """``httpx.AsyncClient`` whose On-Prem calls go through the shim; the rest is untouched."""

    def __init__(self, *, router: Router | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shim = AsyncShimTransport(router=router)

    def _transport_for_url(self, url: URL) -> AsyncBaseTransport:
        if self._shim.handles(url):
            return self._shim
        return super()._transport_for_url(url)

    async def aclose(self) -> None:
        await super().aclose()
        await self._shim.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await super().__aexit__(exc_type, exc_value, traceback)
        await self._shim.aclose()


# -- module-level helpers (same parameters as httpx's) ---------------------------


def request(
    method: str,
    url: URL | str,
    *,
    params: Any = None,
    content: Any = None,
    data: Any = None,
    files: Any = None,
    json: Any = None,
    headers: Any = None,
    cookies: Any = None,
    auth: Any = None,
    proxy: Any = None,
    timeout: Any = _DEFAULT_TIMEOUT,
    follow_redirects: bool = False,
    verify: Any = True,
    trust_env: bool = True,
) -> Response:
    """Send one request with a short-lived :class:`Client` (like ``httpx.request``)."""
    with Client(
        cookies=cookies, proxy=proxy, verify=verify, timeout=timeout, trust_env=trust_env
    ) as client:
        return client.request(
            method=method,
            url=url,
            content=content,
            data=data,
            files=files,
            json=json,
            params=params,
            headers=headers,
            auth=auth,
            follow_redirects=follow_redirects,
        )


@contextlib.contextmanager
def stream(
    method: str,
    url: URL | str,
    *,
    params: Any = None,
    content: Any = None,
    data: Any = None,
    files: Any = None,
    json: Any = None,
    headers: Any = None,
    cookies: Any = None,
    auth: Any = None,
    proxy: Any = None,
    timeout: Any = _DEFAULT_TIMEOUT,
    follow_redirects: bool = False,
    verify: Any = True,
    trust_env: bool = True,
) -> Iterator[Response]:
    """Stream one response (like ``httpx.stream``)."""
    with (
        Client(
            cookies=cookies, proxy=proxy, verify=verify, timeout=timeout, trust_env=trust_env
        ) as client,
        client.stream(
            method=method,
            url=url,
            content=content,
            data=data,
            files=files,
            json=json,
            params=params,
            headers=headers,
            auth=auth,
            follow_redirects=follow_redirects,
        ) as response,
    ):
        yield response


def get(url: URL | str, **kwargs: Any) -> Response:
    return request("GET", url, **kwargs)


def options(url: URL | str, **kwargs: Any) -> Response:
    return request("OPTIONS", url, **kwargs)


def head(url: URL | str, **kwargs: Any) -> Response:
    return request("HEAD", url, **kwargs)


def post(url: URL | str, **kwargs: Any) -> Response:
    return request("POST", url, **kwargs)


def put(url: URL | str, **kwargs: Any) -> Response:
    return request("PUT", url, **kwargs)


def patch(url: URL | str, **kwargs: Any) -> Response:
    return request("PATCH", url, **kwargs)


def delete(url: URL | str, **kwargs: Any) -> Response:
    return request("DELETE", url, **kwargs)


def __getattr__(name: str) -> Any:
    """Every other httpx name (``Proxy``, ``ByteStream``, ``__version__`` ...)."""
    return getattr(_httpx, name)

"""``from shim.compat import requests``: requests, with On-Prem URLs routed through the shim.

The same call surface as ``requests`` (``get``/``post``/.../``request``,
``Session``/``session()``, exceptions, ``codes``, ``exceptions``, ``adapters``
...). A URL on an On-Prem host (``waba.360dialog.io``,
``waba-sandbox.360dialog.io``, or a ``legacy_base_url``/On-Prem ``base_url`` of
the channel config) is served by the shim and answered as a real
``requests.Response`` in On-Prem shape; the channel is picked by the
``D360-API-KEY``/``Authorization: Bearer`` the call carries. Every other URL
goes to requests unchanged. The config comes from ``WABA_MIGRATE_CONFIG``,
loaded on first use (see :mod:`shim.compat.runtime`).

An outcome-unknown send raises :class:`OutcomeUnknownReadTimeout`, a
``requests.exceptions.ReadTimeout`` whose message and ``idempotency_key``
carry the key to reconcile with status webhooks; it is never resent.
"""

from __future__ import annotations

from typing import Any

import requests as _requests
from requests import (
    ConnectionError,
    ConnectTimeout,
    HTTPError,
    JSONDecodeError,
    PreparedRequest,
    ReadTimeout,
    Request,
    RequestException,
    Response,
    Timeout,
    TooManyRedirects,
    URLRequired,
    __version__,
    adapters,
    auth,
    codes,
    cookies,
    exceptions,
    hooks,
    models,
    status_codes,
    structures,
    utils,
)

from shim.compat.adapter import OutcomeUnknownReadTimeout, Session, ShimAdapter

__all__ = [
    "ConnectTimeout",
    "ConnectionError",
    "HTTPError",
    "JSONDecodeError",
    "OutcomeUnknownReadTimeout",
    "PreparedRequest",
    "ReadTimeout",
    "Request",
    "RequestException",
    "Response",
    "Session",
    "ShimAdapter",
    "Timeout",
    "TooManyRedirects",
    "URLRequired",
    "__version__",
    "adapters",
    "auth",
    "codes",
    "cookies",
    "delete",
    "exceptions",
    "get",
    "head",
    "hooks",
    "models",
    "options",
    "patch",
    "post",
    "put",
    "request",
    "session",
    "status_codes",
    "structures",
    "utils",
]


def session() -> Session:
    """A new :class:`Session` (like ``requests.session()``)."""
    return Session()


def request(method: str | bytes, url: str | bytes, **kwargs: Any) -> Response:
    """Send one request with a short-lived :class:`Session` (like ``requests.request``)."""
    with Session() as s:
        return s.request(method=method, url=url, **kwargs)


def get(url: str | bytes, params: Any = None, **kwargs: Any) -> Response:
    return request("get", url, params=params, **kwargs)


def options(url: str | bytes, **kwargs: Any) -> Response:
    return request("options", url, **kwargs)


def head(url: str | bytes, **kwargs: Any) -> Response:
    kwargs.setdefault("allow_redirects", False)
    return request("head", url, **kwargs)


def post(url: str | bytes, data: Any = None, json: Any = None, **kwargs: Any) -> Response:
    return request("post", url, data=data, json=json, **kwargs)


def put(url: str | bytes, data: Any = None, **kwargs: Any) -> Response:
    return request("put", url, data=data, **kwargs)


def patch(url: str | bytes, data: Any = None, **kwargs: Any) -> Response:
    return request("patch", url, data=data, **kwargs)


def delete(url: str | bytes, **kwargs: Any) -> Response:
    return request("delete", url, **kwargs)


def __getattr__(name: str) -> Any:
    """Every other requests name (``packages``, ``compat``, ``api`` ...)."""
    return getattr(_requests, name)

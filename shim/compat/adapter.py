"""The requests side of the drop-in: a transport adapter and a Session that picks it.

requests already has the right seam: a Session asks ``get_adapter(url)`` which
adapter sends a prepared request. :class:`Session` answers with
:class:`ShimAdapter` for On-Prem URLs (whatever the caller mounted, so a
``session.mount("https://", HTTPAdapter(max_retries=3))`` cannot leak a call to
the retired host) and with requests' own choice for every other URL. Because
the adapter sees the *prepared* request, every calling style works unchanged:
module functions, sessions, ``json=``, ``data=``, ``params=``, ``files=``,
``auth=``, hooks, ``stream=True``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPHeaderDict, HTTPResponse

from shim.client import Dispatcher, Outcome, RequestOptions, Router, ShimResponse
from shim.client.errors import OutcomeUnknown
from shim.compat import runtime

__all__ = ["OutcomeUnknownReadTimeout", "Session", "ShimAdapter"]

#: Headers describing the backend's wire encoding; the shim's content is already decoded.
_WIRE_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection"})

Timeout = float | tuple[float, float] | tuple[float, None] | tuple[None, None] | None


class OutcomeUnknownReadTimeout(requests.exceptions.ReadTimeout):
    """The request was sent and its fate is unknown; it was not resent.

    A ``requests.exceptions.ReadTimeout``, so existing ``except`` clauses keep
    working; ``idempotency_key`` (also in the message) lets the caller reconcile
    it with status webhooks (Cloud echoes it as ``biz_opaque_callback_data``).
    """

    def __init__(
        self,
        shim_response: ShimResponse,
        *,
        request: requests.PreparedRequest,
        response: requests.Response,
    ) -> None:
        self.shim_response = shim_response
        self.idempotency_key = shim_response.idempotency_key
        self.channel = shim_response.channel
        super().__init__(str(OutcomeUnknown(shim_response)), request=request, response=response)


class ShimAdapter(BaseAdapter):
    """Sends On-Prem requests through the shim's router; answers in On-Prem shape.

    ``router``: an explicitly wired router (the adapter then owns a dispatcher
    for it); None uses the process-wide one from ``WABA_MIGRATE_CONFIG``.
    """

    def __init__(self, router: Router | None = None) -> None:
        super().__init__()
        self._own: Dispatcher | None = Dispatcher(router) if router is not None else None

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        # verify/cert/proxies describe the caller's link to the old host; the
        # shim's own pool talks to the backend with the channel's settings.
        dispatcher = self._own or runtime.shared_dispatcher()
        url = request.url or ""
        read = _read_timeout(timeout)
        with runtime.serving_call():
            shim = dispatcher.dispatch(
                (request.method or "GET").upper(),
                url,
                headers=request.headers,
                content=_body_bytes(request.body),
                options=RequestOptions(read_timeout=read) if read is not None else None,
            )
        response = self.build_response(request, shim)
        if shim.outcome is Outcome.UNKNOWN:
            raise OutcomeUnknownReadTimeout(shim, request=request, response=response)
        return response

    def build_response(
        self, request: requests.PreparedRequest, shim: ShimResponse
    ) -> requests.Response:
        """A real ``requests.Response`` carrying the shim's On-Prem answer."""
        content = shim.content
        headers = HTTPHeaderDict()
        for name, value in shim.headers.multi_items():
            if name.lower() not in _WIRE_HEADERS:
                headers.add(name, value)
        headers["Content-Length"] = str(len(content))
        raw = HTTPResponse(
            body=io.BytesIO(content),
            headers=headers,
            status=shim.status_code,
            reason=shim.reason_phrase,
            preload_content=False,
            decode_content=False,
            request_method=request.method,
            request_url=request.url,
        )
        response = requests.Response()
        response.status_code = shim.status_code
        response.headers = CaseInsensitiveDict(raw.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = raw
        response.reason = shim.reason_phrase
        response.url = request.url or ""
        response.request = request
        response.connection = self  # type: ignore[assignment]  # requests types it HTTPAdapter
        return response

    def close(self) -> None:
        if self._own is not None:
            self._own.close()


class Session(requests.Session):
    """``requests.Session`` whose On-Prem calls go through the shim; the rest is untouched.

    ``router`` wires this session to an explicit router instead of the
    process-wide one (tests, multi-config processes).
    """

    def __init__(self, *, router: Router | None = None) -> None:
        super().__init__()
        self._shim_router = router
        self._shim_adapter: ShimAdapter | None = None

    def get_adapter(self, url: str) -> BaseAdapter:
        router: Router | None = getattr(self, "_shim_router", None)
        if runtime.intercept(url, router) is not None:
            adapter: ShimAdapter | None = getattr(self, "_shim_adapter", None)
            if adapter is None:
                adapter = self._shim_adapter = ShimAdapter(router)
            return adapter
        return super().get_adapter(url)

    def close(self) -> None:
        super().close()
        adapter: ShimAdapter | None = getattr(self, "_shim_adapter", None)
        if adapter is not None:
            adapter.close()


def _read_timeout(timeout: Timeout) -> float | None:
    """The caller's read timeout (requests: a number or a (connect, read) pair)."""
    if isinstance(timeout, tuple):
        return timeout[1]
    return timeout


def _body_bytes(body: Any) -> bytes | None:
    """A prepared body as bytes (str, bytes, file objects and chunk iterators)."""
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    read = getattr(body, "read", None)
    if callable(read):
        data = read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if isinstance(body, Iterable):
        return b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in body)
    raise TypeError(f"cannot send a request body of type {type(body).__name__}")

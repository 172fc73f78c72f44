"""The aiohttp side of the drop-in: a client middleware that routes On-Prem URLs.

aiohttp (3.12 and later) builds each request completely (``base_url``,
``params=``, session and call headers, ``auth=``, ``json=`` with the session's
``json_serialize``, ``data=`` as bytes, form, :class:`aiohttp.FormData` or a
stream) and then hands it to the session's middlewares. :class:`ShimMiddleware`
sits innermost. A request whose URL the shim routes (the same
:meth:`AsyncShimTransport.handles` decision as the requests and httpx
drop-ins) is served by :meth:`AsyncShimTransport.dispatch`, the async path the
httpx drop-in uses, and answered as a real :class:`aiohttp.ClientResponse` in
On-Prem shape. Every other request goes on to aiohttp's own connection,
untouched. What the session does with a response afterwards
(``raise_for_status=True``, cookies, redirects) applies to the shim's answer as
it would to a network one.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Final, cast

from aiohttp import (
    ClientHandlerType,
    ClientRequest,
    ClientResponse,
    ServerTimeoutError,
    hdrs,
)
from aiohttp.abc import AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.helpers import TimerNoop
from aiohttp.http import HttpVersion11
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy

from shim.client import Outcome, RequestOptions, Router, ShimResponse
from shim.client.errors import OutcomeUnknown
from shim.compat.transport import AsyncShimTransport

__all__ = ["OutcomeUnknownReadTimeout", "ShimClientResponse", "ShimMiddleware"]

#: Headers describing the backend's wire encoding; the shim's content is already decoded.
_WIRE_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection"})

#: aiohttp 3.14 added ``stream_writer`` to ClientResponse(); earlier 3.x have no such argument.
_TAKES_STREAM_WRITER: Final = "stream_writer" in inspect.signature(ClientResponse).parameters

#: The response state ``ClientResponse.start()`` fills from the wire; filled here from
#: the shim's answer. Checked at import so an aiohttp upgrade fails loudly, not silently.
_FILLED: Final = ("_headers", "_raw_headers", "_body", "_raw_cookie_headers", "_closed")
if not all(hasattr(ClientResponse, name) for name in _FILLED):  # pragma: no cover
    raise ImportError(
        "shim.compat.aiohttp does not support this aiohttp version "
        "(ClientResponse no longer keeps " + ", ".join(_FILLED) + ")"
    )


class OutcomeUnknownReadTimeout(ServerTimeoutError):
    """The request was sent and its fate is unknown; it was not resent.

    An ``aiohttp.ServerTimeoutError`` (so also ``aiohttp.ClientError`` and
    ``asyncio.TimeoutError``) for existing ``except`` clauses;
    ``idempotency_key`` (also in the message) reconciles it with status webhooks.
    """

    def __init__(self, shim_response: ShimResponse) -> None:
        self.shim_response = shim_response
        self.idempotency_key = shim_response.idempotency_key
        self.channel = shim_response.channel
        super().__init__(str(OutcomeUnknown(shim_response)))


class _Sent:
    """What ClientResponse asks of a finished request writer: how much was sent."""

    def __init__(self, size: int) -> None:
        self.output_size = size


class ShimClientResponse(ClientResponse):
    """A real ``aiohttp.ClientResponse`` holding the shim's On-Prem answer, already read.

    ``json()``, ``text()``, ``read()``, ``content``, ``headers``, ``status``,
    ``raise_for_status()``, ``async with`` are aiohttp's own.
    """

    @classmethod
    def answer(cls, request: ClientRequest, shim: ShimResponse, sent: int) -> ShimClientResponse:
        loop = asyncio.get_running_loop()
        extra: dict[str, Any] = {}
        if _TAKES_STREAM_WRITER:
            extra["stream_writer"] = cast(AbstractStreamWriter, _Sent(sent))
        response = cls(
            request.method,
            request.original_url,
            writer=None,
            continue100=None,
            timer=TimerNoop(),
            request_info=request.request_info,
            traces=[],
            loop=loop,
            session=None,  # type: ignore[arg-type]  # aiohttp accepts None (no charset hook)
            **extra,
        )
        content = shim.content
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in shim.headers.multi_items():
            if name.lower() not in _WIRE_HEADERS:
                headers.add(name, value)
        headers[hdrs.CONTENT_LENGTH] = str(len(content))
        stream = StreamReader(BaseProtocol(loop), max(len(content), 2**16), loop=loop)
        stream.feed_data(content)
        stream.feed_eof()
        response.version = HttpVersion11
        response.status = shim.status_code
        response.reason = shim.reason_phrase
        response._headers = CIMultiDictProxy(headers)
        response._raw_headers = tuple(
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        )
        response.content = stream
        response._body = content
        cookies = headers.getall(hdrs.SET_COOKIE, ())
        response._raw_cookie_headers = tuple(cookies) if cookies else None
        response._closed = True  # read in full: no connection behind it
        return response


class ShimMiddleware:
    """aiohttp client middleware: On-Prem URLs through the shim, everything else onward.

    ``router``: an explicitly wired router; None uses the process-wide one
    (``WABA_MIGRATE_CONFIG``). ``read_timeout`` is the caller's per-attempt read
    timeout (the session's ``ClientTimeout.sock_read``); connect timeouts,
    retries and pacing come from the channel config, and the session's
    ``total`` timeout still bounds the whole call as aiohttp's own.
    """

    def __init__(self, router: Router | None = None, *, read_timeout: float | None = None) -> None:
        self.transport = AsyncShimTransport(router=router)
        self.read_timeout = read_timeout

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        url = str(request.url)
        if not self.transport.handles(url):
            return await handler(request)
        body = request.body
        content = await body.as_bytes() if body else b""
        read = self.read_timeout
        shim = await self.transport.dispatch(
            request.method,
            url,
            headers=request.headers,
            content=content or None,
            options=RequestOptions(read_timeout=read) if read is not None else None,
        )
        if shim is None:  # the config went away between the two looks
            return await handler(request)
        if shim.outcome is Outcome.UNKNOWN:
            raise OutcomeUnknownReadTimeout(shim)
        return ShimClientResponse.answer(request, shim, len(content))

    async def aclose(self) -> None:
        await self.transport.aclose()

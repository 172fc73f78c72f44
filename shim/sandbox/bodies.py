"""Reading request bodies without ever turning bad input into a 500.

Every body is capped: ``MAX_JSON_BYTES`` for JSON calls (a Cloud send is a few
KB), ``MAX_BODY_BYTES`` for anything (a media upload; Cloud's largest media
type, documents, is 100 MB). Over the cap the answer is a plain 413, checked
against ``Content-Length`` first and again while reading.
"""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shim.json_input import JSONInputError
from shim.json_input import read_json as parse_json

__all__ = ["MAX_BODY_BYTES", "MAX_JSON_BYTES", "BadBody", "BodyCap", "read_json"]

MB: Final = 1024 * 1024
#: Largest body of any request (Cloud's largest media type, documents, is 100 MB).
MAX_BODY_BYTES: Final = 100 * MB
#: Largest JSON body (Cloud sends and control calls are a few KB).
MAX_JSON_BYTES: Final = 1 * MB


class BadBody(ValueError):
    """The body is not the JSON the endpoint expects; the message names where."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def read_json(request: Request, *, empty_ok: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if empty_ok:
            return {}
        raise BadBody("body: empty, expected a JSON object")
    try:
        return parse_json(raw, max_bytes=MAX_JSON_BYTES, surrogates=False)
    except JSONInputError as exc:
        raise BadBody(f"body: {exc.where}: {exc.reason}", exc.status) from exc


class BodyCap:
    """Outermost ASGI layer: refuse bodies over ``limit`` bytes with a plain 413."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await _too_large(send, self.limit)
                return
        seen = 0
        started = False
        limit = self.limit

        async def capped_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _Overflow
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, tracking_send)
        except _Overflow:
            if not started:
                await _too_large(send, limit)


class _Overflow(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": f"request body over {limit} bytes"}).encode()
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    })
    await send({"type": "http.response.body", "body": body})

"""ASGI pieces: a guard in front of an existing webhook app, and an app calling On-Prem handlers.

``WebhookGuard`` answers Meta's GET handshake itself and lets a POST through
only when its signature (or shared-secret header) checks out; the body it read
to check is replayed to the wrapped app unchanged. ``OnPremWebhookApp`` goes
one step further and calls a handler once per translated On-Prem body.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shim.mapping.hosts import MAX_WEBHOOK_BYTES
from shim.translate import TranslationError
from shim.translate.types import OnPremWebhook
from shim.webhooks.adapters import onprem_bodies
from shim.webhooks.scope import NumberScope
from shim.webhooks.signature import Verdict, WebhookAuth

__all__ = ["BodyTooLarge", "OnPremWebhookApp", "WebhookGuard", "read_body"]

log = logging.getLogger(__name__)

_UNCHECKED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing to buffer more than ``limit`` bytes."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                if int(value) > limit:
                    raise BodyTooLarge
            except ValueError:
                pass
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def lower_headers(scope: Scope) -> dict[str, str]:
    """Request headers keyed by lower-case name (ASGI already lower-cases them)."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


def refusal(verdict: Verdict) -> Response:
    return JSONResponse({"error": verdict.reason}, status_code=verdict.status)


def too_large(limit: int) -> Response:
    return JSONResponse({"error": f"body over {limit} bytes"}, status_code=413)


async def handshake(scope: Scope, auth: WebhookAuth) -> Response:
    verdict, challenge = auth.check_handshake(Request(scope).query_params)
    if not verdict.ok:
        return refusal(verdict)
    return PlainTextResponse(challenge)


class WebhookGuard:
    """Authenticate webhook POSTs and answer the GET handshake in front of ``app``.

    ``paths``: only these request paths are guarded (default: every path).
    A GET carrying ``hub.mode`` is answered here; other GETs/HEADs/OPTIONS go
    to ``app`` untouched. Any other method must pass ``auth.check_post``:
    401 when the signature/secret header is missing, 403 when it is wrong,
    413 when the body is over ``max_body``.
    """

    def __init__(
        self,
        app: ASGIApp,
        auth: WebhookAuth,
        *,
        paths: Iterable[str] | None = None,
        max_body: int = MAX_WEBHOOK_BYTES,
    ) -> None:
        self.app = app
        self.auth = auth
        self.paths = None if paths is None else frozenset(paths)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.paths is not None and scope["path"] not in self.paths):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method in _UNCHECKED_METHODS:
            if method == "GET" and b"hub.mode" in scope.get("query_string", b""):
                await (await handshake(scope, self.auth))(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        try:
            body = await read_body(scope, receive, self.max_body)
        except BodyTooLarge:
            await too_large(self.max_body)(scope, receive, send)
            return
        verdict = self.auth.check_post(lower_headers(scope), body)
        if not verdict.ok:
            await refusal(verdict)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


Handler = Callable[[OnPremWebhook], Awaitable[Any] | Any]


class OnPremWebhookApp:
    """An ASGI webhook endpoint that calls ``handler`` once per On-Prem body.

    The handler (sync handlers run in a thread pool) gets an ``OnPremWebhook``:
    ``.body`` is the flat On-Prem body, ``.phone_number_id`` its number. It
    answers 200 once every body was handled. If the handler raises, the answer
    is 500 so the sender redelivers the whole POST later (bodies already
    handled arrive again: make the handler idempotent, or use the relay, which
    acknowledges at once and deduplicates).

    ``phone_number_id`` (or ``waba_id``) binds the endpoint to the number its
    secret belongs to: changes about another number are not handed to the
    handler and are logged as security events. To serve several numbers with
    different secrets, mount one bound app per number, each on its own path.
    """

    def __init__(
        self,
        handler: Handler,
        auth: WebhookAuth,
        *,
        max_body: int = MAX_WEBHOOK_BYTES,
        phone_number_id: str | None = None,
        waba_id: str | None = None,
    ) -> None:
        self.handler = handler
        self.numbers = NumberScope(phone_number_id, waba_id)
        self.guard = WebhookGuard(self._handle, auth, max_body=max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        await self.guard(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._respond(Request(scope, receive))
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        if request.method != "POST":
            return JSONResponse({"error": "use POST (or GET with hub.* for the handshake)"}, 405)
        content_type = request.headers.get("content-type", "")
        if "json" not in content_type.lower():
            return JSONResponse({"error": f"expected application/json, got {content_type!r}"}, 415)
        try:
            bodies = onprem_bodies(await request.body(),
                                   phone_number_id=self.numbers.phone_number_id,
                                   waba_id=self.numbers.waba_id)
        except TranslationError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        for item in bodies:
            try:
                if inspect.iscoroutinefunction(self.handler):
                    await self.handler(item)
                else:
                    result = await run_in_threadpool(self.handler, item)
                    if inspect.isawaitable(result):
                        await result
            except Exception:
                log.exception("webhook handler failed (phone_number_id=%s)", item.phone_number_id)
                return JSONResponse({"error": "handler failed; redeliver later"}, 500)
        return PlainTextResponse("OK")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return

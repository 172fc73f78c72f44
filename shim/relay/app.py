"""The relay's HTTP side: verify, commit, acknowledge; plus ``/healthz``.

``POST /webhooks/{channel}`` answers 200 only after the raw event is durably
committed (group commit keeps that fast), and answers 4xx for anything it
will never accept (unknown channel, bad signature, wrong content type, not
JSON or not webhook-shaped, over 3 MB): nothing is stored. A storage failure
answers 503, so the sender retries later. Full translation happens in the
worker; a webhook-shaped body it cannot translate becomes a dead letter.
The event is stored with the other channels whose credentials also accept
it: the worker routes items only among those (see ``routing``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from shim.json_input import JSONInputError, read_json
from shim.mapping.hosts import MAX_WEBHOOK_BYTES
from shim.relay.channels import RelayChannel
from shim.relay.health import PROMETHEUS_CONTENT_TYPE, health_problems, prometheus
from shim.relay.store import Store
from shim.relay.worker import DeliveryWorker
from shim.webhooks.asgi import BodyTooLarge, handshake, lower_headers, read_body, refusal

__all__ = ["create_app"]

log = logging.getLogger(__name__)


_ONPREM_KEYS = frozenset({"contacts", "messages", "statuses", "errors"})

#: Concurrent POSTs from which the worker holds back most delivery slots ...
BUSY_ACKS = 4
#: ... for this long after the last time that many were seen (acks come in waves:
#: a group commit answers a whole batch at once, so "in flight now" flickers).
BUSY_HOLD = 0.1

_OK_START = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                         (b"content-length", b"2")]}
_OK_BODY = {"type": "http.response.body", "body": b"OK"}


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class Ingest:
    """``/webhooks/{channel}``: GET handshake, POST verify-and-store."""

    def __init__(self, store: Store, channels: Mapping[str, RelayChannel],
                 worker: DeliveryWorker | None, max_body: int) -> None:
        self.store = store
        self.channels = channels
        self.worker = worker
        self.max_body = max_body
        self.active = 0  # requests being handled right now (ack pressure)
        self._busy_until = 0.0

    def busy(self) -> bool:
        """Many POSTs in flight at once within the last ``BUSY_HOLD`` seconds."""
        return time.monotonic() < self._busy_until

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.active += 1
        if self.active >= BUSY_ACKS:
            self._busy_until = time.monotonic() + BUSY_HOLD
        try:
            response = await self._respond(scope, receive)
        finally:
            self.active -= 1
        if response is None:  # the hot path: skip building a Response object
            await send(_OK_START)
            await send(_OK_BODY)
        else:
            await response(scope, receive, send)

    async def _respond(self, scope: Scope, receive: Receive) -> Response | None:
        name = scope["path_params"]["channel"]
        channel = self.channels.get(name)
        if channel is None:
            return _error(404, f"unknown channel {name[:64]!r} (not in the relay config, "
                               "or it has no forward_url)")
        if scope["method"] in ("GET", "HEAD"):
            return await handshake(scope, channel.auth)
        try:
            body = await read_body(scope, receive, self.max_body)
        except BodyTooLarge:
            return _error(413, f"body over {self.max_body} bytes (Cloud sends at most 3 MB)")
        headers = lower_headers(scope)
        verdict = channel.auth.check_post(headers, body)
        if not verdict.ok:
            return refusal(verdict)
        content_type = headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            return _error(415, f"expected Content-Type application/json, got {content_type[:80]!r}")
        problem = _check(body)
        if problem:
            return _error(400, problem)
        peers = channel.accepting_peers(self.channels, headers, body) if channel.peers else ()
        try:
            await self.store.add_event(name, body, time.time(), peers)
        except Exception:
            log.exception("could not store an event of channel %s", name)
            return _error(503, "could not store the event; retry later")
        if self.worker is not None:
            self.worker.wake()
        return None


def _check(body: bytes) -> str | None:
    """Why ``body`` is not a webhook body at all (None: it looks like one).

    Only the envelope is checked here; the worker translates the rest. A body
    that is JSON and webhook-shaped but that the translator cannot handle is
    kept and dead-lettered (replayable after a fix) rather than refused, since
    a 4xx only makes Meta retry the same bytes for days.
    """
    try:
        value = read_json(body)
    except JSONInputError as exc:
        return f"not a webhook body: {exc}"
    if not isinstance(value, dict):
        return f"not a webhook body: $: expected a JSON object, got {type(value).__name__}"
    if "entry" in value:
        if not isinstance(value["entry"], list):
            return "not a webhook body: $.entry: expected a JSON array"
        return None
    if "object" in value or not value.keys() & _ONPREM_KEYS:
        return ('not a webhook body: $: expected Cloud "entry" or On-Prem '
                '"messages"/"statuses"/"contacts"/"errors"')
    return None


def create_app(
    store: Store,
    channels: Mapping[str, RelayChannel],
    worker: DeliveryWorker | None,
    *,
    max_body: int = MAX_WEBHOOK_BYTES,
) -> Router:
    """The relay ASGI app; the worker (if any) runs for the app's lifespan."""

    async def healthz(request: Request) -> Response:
        try:
            stats = await store.stats()
        except Exception:
            log.exception("health check could not read the store")
            return JSONResponse({"status": "error", "error": "store unavailable"}, 503)
        oldest = stats.oldest_pending_at
        problems = health_problems(stats, worker)
        return JSONResponse({
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "queue_depth": stats.queue_depth,
            "oldest_pending_age_s": round(max(0.0, time.time() - oldest), 3) if oldest else 0.0,
            "pending_deliveries": stats.pending_deliveries,
            "new_events": stats.new_events,
            "dead_letters": stats.dead_letters,
            "refused": stats.refused,
            "worker_errors": worker.step_errors_total if worker is not None else 0,
            "store": "postgresql" if store.shared else "sqlite",
            "channels": sorted(channels),
        })

    async def metrics(request: Request) -> Response:
        try:
            stats = await store.stats()
        except Exception:
            log.exception("metrics could not read the store")
            return _error(503, "store unavailable")
        return Response(prometheus(stats, worker, sorted(channels)),
                        media_type=PROMETHEUS_CONTENT_TYPE)

    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()

    ingest = Ingest(store, channels, worker, max_body)
    if worker is not None:
        worker.ingest_busy = ingest.busy
    # A bare Router: every handler answers its own errors, so the per-request
    # cost of Starlette's error/exception middleware buys nothing here.
    return Router(
        routes=[
            Route("/webhooks/{channel}", ingest, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )

"""Webhook payloads in each API's shape, and their delivery with retries.

Delivery never blocks an API response: handlers call :meth:`WebhookDispatcher.emit`,
which only appends to a buffer. A short flush timer turns the buffer into POSTs
and worker tasks deliver them.

Cloud shape follows Meta's habits (peers-and-reliability section 5): several
items may share one POST and a flush may be delivered out of order. On-Prem
posts are flat, one event each, queued in order (``webhook_concurrency``
workers deliver them, like On-Prem's ``max_concurrent_requests``). Any answer other than 2xx (or no
answer) is retried with exponential back-off, a bounded number of times.
Timings are compressed: Meta retries for days, the sandbox for seconds.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import itertools
import json
import logging
import random
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from shim.mapping.fields import MESSAGING_PRODUCT, WEBHOOK_MESSAGES_FIELD
from shim.mapping.hosts import Target
from shim.sandbox.settings import SandboxSettings
from shim.sandbox.state import SandboxState, WebhookTarget

__all__ = ["Delivery", "Event", "WebhookDispatcher", "cloud_payload", "meta_json", "sign"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
#: Deliveries remembered for ``GET /_sandbox/webhooks`` (oldest dropped first).
DELIVERY_LOG_SIZE = 2000


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One CA bundle per process: building it costs ~100 ms, and sandboxes start often."""
    return httpx.create_ssl_context()


@dataclass(slots=True)
class Event:
    """One webhook item: a status or an inbound message (with its contact)."""

    kind: Literal["status", "message"]
    item: dict[str, Any]
    contact: dict[str, Any] | None = None


def meta_json(payload: Any) -> bytes:
    """Serialize like Meta: ASCII-only with escaped slashes.

    Receivers must verify the signature on these raw bytes; re-serializing the
    parsed JSON will not reproduce them.
    """
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def cloud_payload(settings: SandboxSettings, events: list[Event]) -> dict[str, Any]:
    """One Cloud webhook POST: runs of statuses/messages become changes of one entry."""
    changes: list[dict[str, Any]] = []
    metadata = {
        "display_phone_number": settings.display_phone_number,
        "phone_number_id": settings.phone_number_id,
    }
    for kind, group in itertools.groupby(events, key=lambda e: e.kind):
        items = list(group)
        value: dict[str, Any] = {"messaging_product": MESSAGING_PRODUCT, "metadata": metadata}
        if kind == "message":
            value["contacts"] = [e.contact for e in items if e.contact is not None]
            value["messages"] = [e.item for e in items]
        else:
            value["statuses"] = [e.item for e in items]
        changes.append({"value": value, "field": WEBHOOK_MESSAGES_FIELD})
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": settings.waba_id, "changes": changes}],
    }


def onprem_payload(event: Event) -> dict[str, Any]:
    if event.kind == "message":
        contacts = [event.contact] if event.contact is not None else []
        return {"contacts": contacts, "messages": [event.item]}
    return {"statuses": [event.item]}


_delivery_ids = itertools.count(1)


@dataclass(slots=True)
class Delivery:
    url: str
    headers: dict[str, str]
    body: bytes
    items: int
    id: int = field(default_factory=lambda: next(_delivery_ids))
    attempts: int = 0
    state: Literal["pending", "delivered", "failed"] = "pending"
    last_status: int | None = None
    last_error: str | None = None
    created: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "state": self.state,
            "attempts": self.attempts,
            "items": self.items,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "payload": json.loads(self.body),
        }


class WebhookDispatcher:
    def __init__(self, settings: SandboxSettings, state: SandboxState) -> None:
        self.settings = settings
        self.state = state
        self.rng = random.Random(settings.seed)
        self.log: deque[Delivery] = deque(maxlen=DELIVERY_LOG_SIZE)
        self._buffer: list[tuple[WebhookTarget, Event]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._queue: asyncio.Queue[Delivery] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._retry_handles: set[asyncio.TimerHandle] = set()
        self._client: httpx.AsyncClient | None = None
        self._in_flight = 0

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(
            timeout=self.settings.webhook_timeout_s, trust_env=False, verify=_ssl_context()
        )
        self._workers = [
            asyncio.create_task(self._worker(), name=f"sandbox-webhook-{n}")
            for n in range(self.settings.webhook_concurrency)
        ]

    async def stop(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for handle in self._retry_handles:
            handle.cancel()
        self._retry_handles.clear()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        if self._client is not None:
            await self._client.aclose()

    def reset(self) -> None:
        """Forget buffered and scheduled deliveries (in-flight ones finish)."""
        self._buffer.clear()
        for handle in self._retry_handles:
            handle.cancel()
        self._retry_handles.clear()
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait()
                self._queue.task_done()
        self.log.clear()

    @property
    def idle(self) -> bool:
        return (
            not self._buffer
            and not self._retry_handles
            and self._in_flight == 0
            and (self._queue is None or self._queue.empty())
        )

    # -- emission ----------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Queue an event for the current webhook target; never blocks, never raises."""
        target = self.state.webhook
        if target is None:
            return
        self._buffer.append((target, event))
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self.settings.webhook_flush_ms / 1000, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        buffered, self._buffer = self._buffer, []
        if not buffered or self._queue is None:
            return
        if self.settings.api is Target.ONPREM:
            for target, event in buffered:
                self._enqueue(target, onprem_payload(event), 1)
            return
        knobs = self.state.knobs
        if len(buffered) > 1 and self.rng.random() < knobs.webhook_reorder_probability:
            original = list(buffered)
            self.rng.shuffle(buffered)
            if buffered == original:
                buffered.reverse()
        index = 0
        while index < len(buffered):
            size = 1
            if knobs.webhook_max_batch > 1 and self.rng.random() < knobs.webhook_batch_probability:
                size = self.rng.randint(2, knobs.webhook_max_batch)
            chunk = buffered[index : index + size]
            index += size
            # Items for different targets (webhook changed mid-flush) never share a POST.
            for _, group in itertools.groupby(chunk, key=lambda te: id(te[0])):
                pairs = list(group)
                events = [event for _, event in pairs]
                self._enqueue(pairs[0][0], cloud_payload(self.settings, events), len(events))

    def _enqueue(self, target: WebhookTarget, payload: dict[str, Any], items: int) -> None:
        assert self._queue is not None
        headers = {"Content-Type": "application/json", **target.headers}
        if self.settings.api is Target.ONPREM:
            body = json.dumps(payload, separators=(",", ":")).encode()
        else:
            body = meta_json(payload)
        if self.settings.api is Target.META:
            headers["User-Agent"] = "facebookexternalua"
            headers[SIGNATURE_HEADER] = sign(self.settings.app_secret, body)
        delivery = Delivery(target.url, headers, body, items)
        self.log.append(delivery)
        self._queue.put_nowait(delivery)

    async def verify_callback(self, url: str, verify_token: str) -> str | None:
        """Meta's subscription handshake: GET with hub.* params, expect the challenge back."""
        assert self._client is not None
        challenge = str(self.rng.randint(10**8, 10**9 - 1))
        params = {
            "hub.mode": "subscribe",
            "hub.challenge": challenge,
            "hub.verify_token": verify_token,
        }
        try:
            response = await self._client.get(url, params=params)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__} while calling the callback URL"
        if response.status_code != 200:
            return f"HTTP Status Code = {response.status_code}"
        if response.text.strip() != challenge:
            return "the response does not match the challenge"
        return None

    # -- delivery ----------------------------------------------------------------

    async def _worker(self) -> None:
        assert self._queue is not None and self._client is not None
        while True:
            delivery = await self._queue.get()
            self._in_flight += 1
            try:
                await self._attempt(delivery)
            except Exception:  # never let one delivery kill the worker
                log.exception("webhook delivery %s crashed", delivery.id)
            finally:
                self._in_flight -= 1
                self._queue.task_done()

    async def _attempt(self, delivery: Delivery) -> None:
        assert self._client is not None
        delivery.attempts += 1
        try:
            response = await self._client.post(
                delivery.url, content=delivery.body, headers=delivery.headers
            )
            delivery.last_status = response.status_code
            delivery.last_error = None
            if response.status_code == 200:  # Meta: anything but 200 is retried
                delivery.state = "delivered"
                return
        except httpx.HTTPError as exc:
            delivery.last_error = f"{type(exc).__name__}: {exc}"
        if delivery.attempts >= self.settings.webhook_max_attempts:
            delivery.state = "failed"
            log.warning(
                "webhook delivery %s gave up after %s attempts", delivery.id, delivery.attempts
            )
            return
        delay = min(
            self.settings.webhook_backoff_s * 2 ** (delivery.attempts - 1),
            self.settings.webhook_backoff_max_s,
        )
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def requeue() -> None:
            assert handle is not None and self._queue is not None
            self._retry_handles.discard(handle)
            self._queue.put_nowait(delivery)

        handle = loop.call_later(delay, requeue)
        self._retry_handles.add(handle)

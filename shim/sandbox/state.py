"""Everything a running sandbox remembers, owned by the server's event loop.

Handlers mutate it only from the loop that serves requests, so no locks are
needed; other threads reach it through the control endpoints.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from shim.sandbox.faults import FaultQueue
from shim.sandbox.media import MediaStore
from shim.sandbox.settings import PairRateLimit, RuntimeKnobs, SandboxSettings
from shim.sandbox.templates import TemplateStore, seed_templates

__all__ = ["WINDOW_SECONDS", "OutboundMessage", "SandboxState", "WebhookTarget"]

#: The customer service window: 24 h after the user's last message.
WINDOW_SECONDS = 24 * 60 * 60


@dataclass(slots=True)
class OutboundMessage:
    id: str
    to: str
    body: Any
    wa_id: str
    callback_data: str | None = None
    #: when the send was accepted (Unix time), to measure the rate a fleet achieved
    at: float = field(default_factory=time.time)

    def as_outbox(self) -> dict[str, Any]:
        return {"id": self.id, "to": self.to, "body": self.body, "at": self.at}


@dataclass(slots=True)
class WebhookTarget:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    #: Meta only: which level set it ("application" from settings, "phone_number" override).
    level: str = "application"
    verify_token: str | None = None


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class SandboxState:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.media = MediaStore(settings.media_url_ttl_s)
        self.templates = TemplateStore(seed_templates())
        self.faults = FaultQueue()
        self.knobs: RuntimeKnobs = settings.knobs.copy()
        self.outbox: deque[OutboundMessage] = deque(maxlen=settings.keep_messages)
        self.messages: OrderedDict[str, OutboundMessage] = OrderedDict()
        #: inbound message id -> sender wa_id (mark-as-read targets)
        self.inbound: dict[str, str] = {}
        self.read_marks: list[str] = []
        self.windows: dict[str, float] = {}
        self.webhook: WebhookTarget | None = self.initial_webhook()
        self.business_profile: dict[str, Any] = self._initial_profile()
        self._pair: dict[str, _Bucket] = {}
        self._throughput: _Bucket | None = None

    def initial_webhook(self) -> WebhookTarget | None:
        if not self.settings.webhook_url:
            return None
        return WebhookTarget(self.settings.webhook_url, dict(self.settings.webhook_headers))

    @staticmethod
    def _initial_profile() -> dict[str, Any]:
        return {
            "about": "Sandbox business",
            "address": "1 Loopback Way",
            "description": "A local emulator of the WhatsApp Business APIs.",
            "email": "sandbox@example.com",
            "profile_picture_url": "https://example.com/profile.png",
            "websites": ["https://example.com/"],
            "vertical": "OTHER",
        }

    def reset(self) -> None:
        """Back to the state the server started with (settings are kept)."""
        self.media.clear()
        self.templates.reset()
        self.faults.clear()
        self.knobs = self.settings.knobs.copy()
        self.outbox.clear()
        self.messages.clear()
        self.inbound.clear()
        self.read_marks.clear()
        self.windows.clear()
        self.webhook = self.initial_webhook()
        self.business_profile = self._initial_profile()
        self._pair.clear()
        self._throughput = None

    # -- customer service window -------------------------------------------------

    def open_window(self, wa_id: str, at: float | None = None) -> None:
        at = time.time() if at is None else at
        if at > self.windows.get(wa_id, 0.0):
            self.windows[wa_id] = at

    def window_open(self, wa_id: str) -> bool:
        if self.knobs.open_windows:
            return True
        opened = self.windows.get(wa_id)
        return opened is not None and time.time() - opened < WINDOW_SECONDS

    # -- pair rate ---------------------------------------------------------------

    def take_pair_slot(self, wa_id: str) -> bool:
        """Spend one message of the business<->user pair budget; False when exhausted."""
        limit: PairRateLimit | None = self.knobs.pair_rate_limit
        if limit is None:
            return True
        now = time.monotonic()
        bucket = self._pair.get(wa_id)
        if bucket is None:
            bucket = self._pair[wa_id] = _Bucket(float(limit.burst), now)
        else:
            refill = (now - bucket.updated) / limit.interval_s
            bucket.tokens = min(float(limit.burst), bucket.tokens + refill)
            bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def reset_pair_budgets(self) -> None:
        self._pair.clear()
        self._throughput = None

    # -- throughput ----------------------------------------------------------------

    def take_throughput_slot(self) -> bool:
        """Spend one send of the number's throughput; False when over ``throughput_mps``.

        A token bucket holding one second of the rate ("messages per second"):
        a sender above the rate for longer than that is refused.
        """
        mps = self.knobs.throughput_mps
        if mps is None:
            return True
        now = time.monotonic()
        burst = float(mps)
        bucket = self._throughput
        if bucket is None:
            bucket = self._throughput = _Bucket(burst, now)
        else:
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * mps)
            bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    # -- outbound ----------------------------------------------------------------

    def record(self, message: OutboundMessage, *, in_outbox: bool = True) -> None:
        self.messages[message.id] = message
        if len(self.messages) > self.settings.keep_messages:
            self.messages.popitem(last=False)
        if in_outbox:
            self.outbox.append(message)

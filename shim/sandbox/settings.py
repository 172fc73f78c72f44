"""What a sandbox instance is configured with.

Frozen settings are fixed at start; the knobs a test may flip while the server
runs (windows, pair rate, webhook shaping, health) are copied into the mutable
``RuntimeKnobs`` held by the state, so ``POST /_sandbox/reset`` can restore them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shim.mapping.hosts import Target

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_API_KEY",
    "DEFAULT_APP_SECRET",
    "DEFAULT_PHONE_NUMBER_ID",
    "DEFAULT_WABA_ID",
    "PairRateLimit",
    "RuntimeKnobs",
    "SandboxSettings",
]

DEFAULT_API_KEY = "sandbox-key"
DEFAULT_ACCESS_TOKEN = "sandbox-token"
DEFAULT_PHONE_NUMBER_ID = "1000000001"
DEFAULT_WABA_ID = "2000000002"
DEFAULT_DISPLAY_PHONE_NUMBER = "15550000001"
DEFAULT_APP_SECRET = "sandbox-app-secret"

StatusName = Literal["sent", "delivered", "read"]
HealthMode = Literal["single", "ha"]


@dataclass(frozen=True, slots=True)
class PairRateLimit:
    """Business-to-user pair rate: ``burst`` messages at once, then one per ``interval_s``.

    Meta allows about one message per 6 s per user with bursts borrowing future
    quota; going over answers 131056.
    """

    burst: int = 45
    interval_s: float = 6.0


@dataclass(slots=True)
class RuntimeKnobs:
    """Behaviour that ``POST /_sandbox/config`` may change while the server runs."""

    open_windows: bool = False
    pair_rate_limit: PairRateLimit | None = None
    #: Cloud's per-number throughput: sends beyond this rate answer 130429 (None: no limit).
    throughput_mps: int | None = None
    statuses: tuple[StatusName, ...] = ("sent", "delivered", "read")
    webhook_batch_probability: float = 0.5
    webhook_reorder_probability: float = 0.3
    webhook_max_batch: int = 4
    health: HealthMode = "single"
    can_send_message: Literal["AVAILABLE", "LIMITED", "BLOCKED"] = "AVAILABLE"

    def copy(self) -> RuntimeKnobs:
        return dataclasses.replace(self)

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["statuses"] = list(self.statuses)
        return data


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """Everything a sandbox needs to start; all fields have loopback-friendly defaults.

    ``api`` picks the surface: ``"360dialog"`` (waba-v2), ``"meta"`` (Graph) or
    ``"onprem"`` (waba.360dialog.io ``/v1``). ``accept_any_key`` makes any
    non-empty D360-API-KEY or Bearer token valid (demos with real-looking keys).
    Webhook timings are compressed (Meta retries for days; we retry for seconds).
    """

    api: Target = Target.D360
    api_key: str = DEFAULT_API_KEY
    access_token: str = DEFAULT_ACCESS_TOKEN
    accept_any_key: bool = False
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID
    waba_id: str = DEFAULT_WABA_ID
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER
    app_secret: str = DEFAULT_APP_SECRET
    webhook_url: str | None = None
    webhook_headers: Mapping[str, str] = field(default_factory=dict)
    knobs: RuntimeKnobs = field(default_factory=RuntimeKnobs)
    webhook_flush_ms: float = 5.0
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 0.1
    webhook_backoff_max_s: float = 5.0
    webhook_timeout_s: float = 5.0
    webhook_concurrency: int = 4
    media_url_ttl_s: float = 300.0
    seed: int | None = None
    #: Sent messages remembered (outbox, status lookups); the oldest are forgotten
    #: first, so a long load test runs in bounded memory.
    keep_messages: int = 100_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "api", Target(self.api))
        if self.webhook_max_attempts < 1:
            raise ValueError("webhook_max_attempts must be at least 1")
        if self.webhook_concurrency < 1:
            raise ValueError("webhook_concurrency must be at least 1")
        if self.keep_messages < 1:
            raise ValueError("keep_messages must be at least 1")

    @property
    def is_cloud(self) -> bool:
        return self.api is not Target.ONPREM

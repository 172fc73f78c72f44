"""Exceptions the client raises, and the refusals it answers in On-Prem shape.

Two families: :class:`ShimError` subclasses are raised to Python callers of the
typed helpers; refusals (:func:`refusal`) are :class:`TranslationError`
instances so :func:`shim.translate.error_response` renders them as On-Prem
error envelopes like every other error the seam answers. No message here ever
contains a secret: they name config keys and environment variables instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shim.translate import TranslationError

if TYPE_CHECKING:
    from shim.client.response import ShimResponse

__all__ = [
    "ApiError",
    "ChannelError",
    "OutcomeUnknown",
    "ShimError",
    "refusal",
]


class ShimError(Exception):
    """Base of everything the client raises on purpose."""


class ChannelError(ShimError, LookupError):
    """The call names no channel and none can be inferred (a programming error)."""


class ApiError(ShimError):
    """An On-Prem error response, raised by the typed helpers.

    ``code``/``title``/``details`` are the first entry of the On-Prem ``errors``
    list, so code written against On-Prem error codes keeps working.
    """

    def __init__(self, response: ShimResponse) -> None:
        self.response = response
        self.status_code = response.status_code
        first: dict[str, Any] = {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
            item = body["errors"][0]
            first = item if isinstance(item, dict) else {}
        self.code: int | None = first.get("code") if isinstance(first.get("code"), int) else None
        self.title: str = str(first.get("title", "Error"))
        self.details: str = str(first.get("details", ""))
        where = f" [channel {response.channel}]" if response.channel else ""
        super().__init__(
            f"HTTP {self.status_code}, On-Prem error {self.code}: {self.title}"
            + (f": {self.details}" if self.details else "")
            + where
        )


class OutcomeUnknown(ShimError):
    """The request may or may not have been processed; it was not resent.

    Happens when the connection failed after the request was written (read
    timeout, dropped connection, an ambiguous 5xx). Reconcile with status
    webhooks: Cloud echoes ``idempotency_key`` as ``biz_opaque_callback_data``.
    Resending with the same key is the caller's explicit decision.
    """

    def __init__(self, response: ShimResponse) -> None:
        self.response = response
        self.idempotency_key = response.idempotency_key
        self.channel = response.channel
        self.endpoint = response.endpoint
        reason = response.outcome_detail or "connection lost after the request was sent"
        super().__init__(
            f"outcome unknown for {self.endpoint or 'request'} on channel {self.channel}: "
            f"{reason}; idempotency key {self.idempotency_key} (not resent; reconcile "
            "with status webhooks via biz_opaque_callback_data)"
        )


def refusal(status: int, onprem_code: int, path: str, reason: str) -> TranslationError:
    """A refusal of ours with its own HTTP status and On-Prem code."""
    exc = TranslationError(path, reason)
    exc.status = status
    exc.onprem_code = onprem_code
    return exc

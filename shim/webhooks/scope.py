"""Bind a webhook endpoint to the number(s) it speaks for.

A signature or shared secret proves who sent a POST, not which number its
body is about: anyone holding one channel's secret can write another number's
``phone_number_id`` into the body. An endpoint that serves one number (or one
WABA) therefore refuses changes about any other, and logs each refusal as a
security event on the ``shim.webhooks.security`` logger.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from shim.translate.types import OnPremWebhook

__all__ = ["NumberScope", "bound"]

security_log = logging.getLogger("shim.webhooks.security")


@dataclass(frozen=True, slots=True)
class NumberScope:
    """The number an endpoint may speak for (None: not restricted)."""

    phone_number_id: str | None = None
    waba_id: str | None = None

    @property
    def restricted(self) -> bool:
        return self.phone_number_id is not None or self.waba_id is not None

    def admits(self, body: OnPremWebhook) -> bool:
        """Whether a change about ``body``'s number may be handled here.

        A change that names no number (an On-Prem body, a Cloud change without
        metadata) claims nothing and is admitted.
        """
        pnid, waba = body.phone_number_id, body.waba_id
        if self.phone_number_id is not None and pnid and pnid != self.phone_number_id:
            return False
        return self.waba_id is None or not waba or waba == self.waba_id

    def refusal(self, body: OnPremWebhook, where: str) -> str | None:
        """Why ``body`` may not be handled by ``where`` (None: it may)."""
        if self.admits(body):
            return None
        serves = ", ".join(f"{k} {v}" for k, v in (("phone_number_id", self.phone_number_id),
                                                  ("waba_id", self.waba_id)) if v)
        claimed = ", ".join(f"{k} {_show(v)}" for k, v in (
            ("phone_number_id", body.phone_number_id), ("waba_id", body.waba_id)) if v)
        return f"security: refused a change for {claimed} on {where}, which serves {serves}"


def _show(value: str) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + '..."'


def bound(bodies: Iterable[OnPremWebhook], scope: NumberScope,
          where: str = "this endpoint") -> list[OnPremWebhook]:
    """The bodies ``scope`` admits; each refused one is logged as a security event."""
    kept: list[OnPremWebhook] = []
    for body in bodies:
        reason = scope.refusal(body, where)
        if reason is None:
            kept.append(body)
        else:
            security_log.warning("security event: %s", reason)
    return kept

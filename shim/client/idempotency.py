"""Idempotency keys: one per logical send, reused across retries, echoed by Cloud.

The Cloud messages endpoint has no server-side idempotency, so the shim keeps
its own: every non-repeatable call gets a key (the caller's ``Idempotency-Key``
header or helper argument, else a fresh one) that is set once before the retry
loop. On Cloud sends the key also travels as ``biz_opaque_callback_data``, which
Meta echoes in status webhooks, so an outcome-unknown send can be reconciled
(the relay sees ``sent``/``failed`` for that key, or nothing).

Decision: when the caller already set ``biz_opaque_callback_data`` and gave no
explicit key, that value *is* the key (it is what the webhooks will carry); an
explicit key never overwrites the caller's own callback data.

Explicit keys are claimed in the state store's ledger (``shim.client.state``)
before the send: calling again with a key that succeeded replays the stored
response instead of sending twice (Stripe-style), a key whose outcome is
unknown answers 504 until a status webhook settles it (``shim.client.outcomes``)
or the caller forces a resend (``FORCE_HEADER: true`` / ``RequestOptions(force=True)``),
and a key whose call failed for sure is free again.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any, Final

from shim.mapping.limits import MAX_CALLBACK_DATA

__all__ = [
    "CALLBACK_FIELD",
    "FORCE_HEADER",
    "IDEMPOTENCY_HEADERS",
    "MAX_CALLBACK_DATA",
    "key_from",
    "new_key",
    "stamp_callback_data",
]

#: Request headers a caller may carry its own key in (first found wins).
IDEMPOTENCY_HEADERS: Final = ("Idempotency-Key", "X-Idempotency-Key")
CALLBACK_FIELD: Final = "biz_opaque_callback_data"
#: Request header that resends a key whose outcome is unknown (value ``true``).
FORCE_HEADER: Final = "X-Waba-Migrate-Force-Resend"
KEY_PREFIX: Final = "wm-"


# Keys must be unique, not secret: a PRNG seeded from the OS (and reseeded in
# forked children) is enough, and much cheaper per send than os.urandom.
_rng = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rng.seed)


def new_key() -> str:
    """A fresh key: 128 random bits, URL-safe, recognisably ours in webhook data."""
    return f"{KEY_PREFIX}{_rng.getrandbits(128):032x}"


def key_from(header: Callable[[str], str | None], body: Any) -> tuple[str | None, str]:
    """(explicit key or None, where it came from) from request headers / body.

    ``header`` looks a request header up by name, case-insensitively.
    """
    for name in IDEMPOTENCY_HEADERS:
        value = header(name)
        if value:
            return str(value), f"header {name}"
    if isinstance(body, dict):
        data = body.get(CALLBACK_FIELD)
        if isinstance(data, str) and data:
            return data, f"$.{CALLBACK_FIELD}"
    return None, ""


def stamp_callback_data(
    body: dict[str, Any], key: str, *, in_place: bool = False
) -> dict[str, Any]:
    """The Cloud send body carrying ``key`` as callback data (caller's own data kept).

    ``in_place``: ``body`` is the caller's own fresh copy (a translated body), so
    the key is added to it instead of to a copy.
    """
    if CALLBACK_FIELD in body:
        return body
    if in_place:
        body[CALLBACK_FIELD] = key
        return body
    return {**body, CALLBACK_FIELD: key}

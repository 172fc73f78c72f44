"""Closing the loop on outcome-unknown sends: status webhooks settle idempotency keys.

A Cloud send carries its idempotency key as ``biz_opaque_callback_data``, and
Cloud echoes that field in every status webhook of the message. The relay
hands each Cloud webhook to :meth:`Reconciler.observe`; a status for a key the
ledger holds as ``pending`` or ``unknown`` settles it: ``sent``, ``delivered``
or ``read`` mean the send happened (with its wamid), ``failed`` means it did
not (with Cloud's error). Keys that are not open (already answered, or not
ours) are left alone, so the ordinary stream of statuses costs one indexed
``UPDATE`` that changes nothing.

:func:`settled_answer` turns a ledger entry back into the On-Prem answer a
caller asking again with the key receives.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from shim.client.idempotency import CALLBACK_FIELD
from shim.client.state import DEFAULT_OUTCOME_TTL, Entry, StateStore
from shim.translate import OnPremResponse, translate_error

__all__ = ["HAPPENED", "Reconciler", "settled_answer", "status_items"]

log = logging.getLogger("shim.client.outcomes")

#: Statuses that prove a send went out.
HAPPENED: Final = frozenset({"sent", "delivered", "read"})
FAILED: Final = "failed"


def status_items(payload: Any) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(phone_number_id, status item) for every Cloud status carrying callback data."""
    if not isinstance(payload, Mapping):
        return
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else ():
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        for change in changes if isinstance(changes, list) else ():
            value = change.get("value") if isinstance(change, Mapping) else None
            if not isinstance(value, Mapping):
                continue
            metadata = value.get("metadata")
            pnid = metadata.get("phone_number_id") if isinstance(metadata, Mapping) else None
            statuses = value.get("statuses")
            for item in statuses if isinstance(statuses, list) else ():
                if isinstance(item, dict) and isinstance(item.get(CALLBACK_FIELD), str):
                    yield (pnid if isinstance(pnid, str) else None), item


class Reconciler:
    """Settles ledger keys from Cloud status webhooks (the relay's side of the loop)."""

    def __init__(
        self,
        state: StateStore,
        *,
        ttl: float = DEFAULT_OUTCOME_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.ttl = ttl
        self.clock = clock
        self.settled = 0

    def observe(self, channel_for: Callable[[str | None], str], payload: Any) -> int:
        """Settle every open key a status in ``payload`` names; returns how many.

        ``channel_for`` maps a status's ``phone_number_id`` to the channel its
        keys were claimed on. Never raises: a store failure is logged and the
        key stays as it was (the next status of the message tries again).
        """
        count = 0
        for pnid, item in status_items(payload):
            status = item.get("status")
            if status not in HAPPENED and status != FAILED:
                continue
            key = item[CALLBACK_FIELD]
            wamid = item.get("id") if isinstance(item.get("id"), str) else None
            detail = None if status in HAPPENED else json.dumps(
                {"errors": item.get("errors") or []}, ensure_ascii=False)[:4000]
            channel = channel_for(pnid)
            try:
                done = self.state.settle(channel, key, happened=status in HAPPENED,
                                         message_id=wamid, detail=detail, now=self.clock(),
                                         ttl=self.ttl)
            except Exception as exc:
                log.warning("could not settle idempotency key %s of channel %s: %s", key,
                            channel, exc)
                continue
            if done:
                count += 1
                log.info("channel %s: idempotency key %s settled from a %r status (%s)",
                         channel, key, status, wamid)
        self.settled += count
        return count


def settled_answer(entry: Entry, to: Any = None) -> OnPremResponse:
    """The On-Prem answer for a key a status webhook settled."""
    if entry.state == "happened":
        body: dict[str, Any] = {"messages": [{"id": entry.message_id}]}
        if isinstance(to, str):
            body = {"contacts": [{"input": to, "wa_id": to}], **body}
        return OnPremResponse(200, body)
    errors: list[Any] = []
    if entry.detail:
        try:
            found = json.loads(entry.detail).get("errors")
        except (ValueError, AttributeError):
            found = None
        errors = found if isinstance(found, list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    data = first.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    cloud = {
        "code": first.get("code", -1),
        "message": str(first.get("message") or first.get("title") or "message failed"),
        "error_data": {"details": (
            f"the message {entry.message_id} was accepted and then failed "
            f"(status webhook): {details or first.get('title') or 'no reason given'}"
        )},
    }
    return translate_error(400, {"error": cloud})

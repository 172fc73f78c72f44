"""Which app an item goes to: only a channel whose credentials authenticated the POST.

The body of a webhook says which number it is about (``metadata.phone_number_id``,
``entry[].id`` for the WABA), but anyone holding one channel's secret can write
any number there. So the body only *selects* among the channels that proved
themselves: the channel whose URL received the POST, and the ``peers`` whose
own credentials also accepted the very same request (one Meta app serving
several numbers signs every POST with the one app secret those channels share).

A channel whose config names a ``phone_number_id`` (or ``waba_id``) speaks only
for that number: a change about another number that no peer takes is refused,
kept as a ``refused`` dead letter (never delivered, never replayable) and
logged as a security event. A channel with neither is a catch-all for what
its credentials authenticate.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from shim.relay.dedupe import Item, split_bodies
from shim.relay.store import Split
from shim.translate import translate_webhook
from shim.webhooks.scope import NumberScope

__all__ = ["NumberScope", "make_split", "settling_observer"]

log = logging.getLogger(__name__)
security_log = logging.getLogger("shim.relay.security")


def make_split(
    scopes: Mapping[str, NumberScope] | None = None,
    observe: Callable[[str, tuple[str, ...], Any], object] | None = None,
) -> Split:
    """A ``Split`` that translates a raw Cloud (or On-Prem) event into deliveries.

    ``scopes``: every channel's number restrictions. A body goes to the peer
    serving its ``phone_number_id`` when there is one, else to the receiving
    channel if its scope admits it, else it is refused (see the module doc).
    ``observe`` sees every parsed event first, with the receiving channel and its
    authenticated peers (the shared state's outcome reconciler: it may settle keys
    only of those channels).
    """
    scopes = dict(scopes or {})
    by_pnid = {s.phone_number_id: name for name, s in scopes.items() if s.phone_number_id}

    def split(channel: str, raw: bytes, peers: tuple[str, ...]) -> list[Item]:
        payload = json.loads(raw)
        if observe is not None:
            observe(channel, peers, payload)
        translation = translate_webhook(payload)
        own = scopes.get(channel, NumberScope())
        items: list[Item] = []
        for body in translation.bodies:
            peer = by_pnid.get(body.phone_number_id or "")
            if peer is not None and peer != channel and peer in peers \
                    and scopes[peer].admits(body):
                items.extend(split_bodies(peer, [body]))
                continue
            reason = own.refusal(body, f"channel {channel!r}")
            if reason is None:
                items.extend(split_bodies(channel, [body]))
                continue
            reason += "; no other channel whose credentials accepted the POST serves it"
            security_log.warning("security event: %s", reason)
            items.extend(Item(i.channel, i.conv_key, None, i.phone_number_id, i.body, reason)
                         for i in split_bodies(channel, [body]))
        if translation.other:
            fields = ", ".join(sorted({o.field for o in translation.other}))
            log.info("event on %s: %d non-message change(s) not forwarded (%s)", channel,
                     len(translation.other), fields)
        return items

    return split


class _Reconciler(Protocol):
    def observe(self, channel_for: Callable[[str | None], str], payload: Any) -> int: ...


def settling_observer(
    reconciler: _Reconciler, by_pnid: Mapping[str, str]
) -> Callable[[str, tuple[str, ...], Any], int]:
    """The ``observe`` hook that lets status webhooks settle idempotency keys.

    A status may settle keys only of a channel whose credentials accepted the
    POST: its ``phone_number_id`` picks among the receiving channel and its
    peers (``by_pnid`` maps numbers to channels), never beyond them, so one
    channel's secret cannot decide the outcome of another channel's send.
    """

    def observe(channel: str, peers: tuple[str, ...], payload: Any) -> int:
        def channel_for(pnid: str | None) -> str:
            named = by_pnid.get(pnid or "")
            return named if named is not None and named in (channel, *peers) else channel

        return reconciler.observe(channel_for, payload)

    return observe

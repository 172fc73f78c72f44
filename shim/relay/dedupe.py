"""Cut translated webhook bodies into deliveries, each with its dedupe and ordering key.

Each delivery carries one item (one message with its sender's contact, one
status, or one body of out-of-band errors): legacy handlers commonly do
``[message] = body["messages"]`` and break on batches, and a per-item unit is
what can be deduplicated and ordered per conversation.

Dedupe keys: ``msg:<message id>`` and ``status:<status id>:<status>`` (after
translation, so ``sent``/``delivered``/``read`` stay distinct while a
redelivered ``read`` is dropped). Errors have no id and are never deduplicated.
The conversation key is the user's ``wa_id`` (message ``from``, status
``recipient_id``); out-of-band errors share the empty key of their channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shim.translate.types import OnPremWebhook

__all__ = ["Item", "split_bodies"]

_ITEM_KEYS = frozenset({"contacts", "messages", "statuses", "errors"})


@dataclass(frozen=True, slots=True)
class Item:
    """One On-Prem body to deliver, with where it goes and how it is keyed."""

    channel: str
    conv_key: str
    dedupe_key: str | None
    phone_number_id: str | None
    body: dict[str, Any]
    #: Why this item must not be delivered (it claims a number its channel may not
    #: speak for); it is kept as a ``refused`` dead letter that cannot be replayed.
    refused: str | None = None


def split_bodies(channel: str, bodies: Iterable[OnPremWebhook]) -> list[Item]:
    """Deliveries for ``bodies`` in order; ``channel`` is where they are routed."""
    items: list[Item] = []
    for webhook in bodies:
        items.extend(_split(channel, webhook))
    return items


def _split(channel: str, webhook: OnPremWebhook) -> list[Item]:
    body = webhook.body
    pnid = webhook.phone_number_id
    extra = {k: v for k, v in body.items() if k not in _ITEM_KEYS}
    contacts = [c for c in _list(body.get("contacts")) if isinstance(c, dict)]
    items: list[Item] = []
    messages = _list(body.get("messages"))
    for message in messages:
        sender = _sender(message)
        own = [c for c in contacts if c.get("wa_id") == sender]
        item_body: dict[str, Any] = {**extra}
        if contacts:
            item_body["contacts"] = own or contacts
        item_body["messages"] = [message]
        items.append(Item(channel, sender, _key("msg", message, "id"), pnid, item_body))
    for status in _list(body.get("statuses")):
        recipient = _text(status.get("recipient_id")) if isinstance(status, dict) else ""
        key = _key("status", status, "id", "status")
        items.append(Item(channel, recipient, key, pnid, {**extra, "statuses": [status]}))
    errors = _list(body.get("errors"))
    if errors or (not items and body):
        rest = {k: v for k, v in body.items() if k not in ("messages", "statuses")}
        if messages:
            rest.pop("contacts", None)
        items.append(Item(channel, "", None, pnid, rest))
    return items


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _sender(message: object) -> str:
    if not isinstance(message, dict):
        return ""
    for key in ("from", "from_user_id", "user_id"):
        if message.get(key):
            return _text(message[key])
    return ""


def _key(prefix: str, obj: object, *fields: str) -> str | None:
    if not isinstance(obj, dict):
        return None
    parts = [obj.get(f) for f in fields]
    if any(p is None or p == "" for p in parts):
        return None
    return ":".join([prefix, *(_text(p) for p in parts)])

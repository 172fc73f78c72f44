"""Turn what the translator produced into bytes and keys that any store can hold.

Inbound JSON may carry text no database column takes as-is: a lone UTF-16
surrogate (``"\\ud800"`` is valid JSON escaping, but not encodable as UTF-8),
a NUL (PostgreSQL text refuses it), or an id of a megabyte (too long for a
B-tree index). Bodies therefore become UTF-8 bytes with such surrogates
written back as ``\\uXXXX`` escapes (still valid JSON, nothing dropped), and
keys that are not short plain text are replaced by a hash of their exact
value (still unique, still stable across redeliveries).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

__all__ = ["MAX_KEY", "UnencodableError", "delivery_uid", "encode_body", "safe_key", "safe_text"]

#: Longest key kept verbatim (dedupe, conversation, phone number id).
MAX_KEY = 200
#: Longest error text kept with a dead letter.
MAX_ERROR = 1000

_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_PLAIN = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


class UnencodableError(ValueError):
    """A translated body cannot be written as JSON (NaN or infinite numbers)."""


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def encode_body(body: Any) -> bytes:
    """``body`` as compact UTF-8 JSON; lone surrogates escaped, never dropped."""
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:  # NaN/Infinity are not JSON: the app could not parse them
        raise UnencodableError(f"cannot encode the body as JSON: {exc}") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # only string contents can hold surrogates: escape them there
        return _SURROGATE.sub(_escape, text).encode("utf-8")


def safe_key(key: str | None) -> str | None:
    """``key`` itself when it is short plain text, else a stable hash of its exact value."""
    if key is None or (len(key) <= MAX_KEY and not _NOT_PLAIN.search(key)):
        return key
    prefix = key.split(":", 1)[0] if ":" in key[:16] else "key"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}:sha256:{digest}"


def safe_text(text: str, limit: int = MAX_ERROR) -> str:
    """An error message fit for a text column: surrogates escaped, NULs dropped, bounded."""
    text = _SURROGATE.sub(_escape, text.replace("\x00", ""))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def delivery_uid(channel: str, dedupe_key: str | None) -> str:
    """The ``X-Waba-Migrate-Delivery-Id`` of an item: stable for every attempt of it.

    Items with a dedupe key get a hash of (channel, key), so the app sees the
    same id even for a redelivery the relay no longer remembers (after its
    dedupe window, or on a new database); the rest get a random id, stored
    with the item.
    """
    if dedupe_key is None:
        return uuid.uuid4().hex
    data = f"{channel}\x00{dedupe_key}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]

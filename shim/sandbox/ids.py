"""Identifiers in the formats each API generation hands out.

Callers must not parse them, but code that assumed one format (short columns,
UUID media ids) should break here rather than in production.
"""

from __future__ import annotations

import base64
import itertools
import os
import random
import uuid

__all__ = [
    "cloud_media_id",
    "cloud_message_id",
    "fbtrace_id",
    "onprem_inbound_message_id",
    "onprem_media_id",
    "onprem_message_id",
]

_media_counter = itertools.count(1037543291543636 + int.from_bytes(os.urandom(3), "big"))


def cloud_message_id(wa_id: str) -> str:
    """``wamid.`` + base64 of a recipient-bearing blob, like Meta's ids (~60 chars).

    Ids need to be unique, not secret: ``random.randbytes`` avoids a syscall per send.
    """
    raw = b"\x15\x02\x00\x11\x18\x12" + wa_id.encode()[-15:] + random.randbytes(18)
    return "wamid." + base64.b64encode(raw).decode("ascii")


# On-Prem ids travel in paths (``PUT /v1/messages/{id}``): keep them to [A-Za-z0-9].
_PATH_SAFE = str.maketrans("+/", "Ab")


def _path_safe_token(length: int) -> str:
    return base64.b64encode(os.urandom(length)).decode("ascii").translate(_PATH_SAFE)[:length]


def onprem_message_id() -> str:
    """``gBEG…`` ids as the On-Premise API returned for outbound messages."""
    return "gBEG" + _path_safe_token(23)


def onprem_inbound_message_id() -> str:
    """``ABGG…`` ids as On-Premise webhooks carried for inbound messages."""
    return "ABGG" + _path_safe_token(24)


def cloud_media_id() -> str:
    """Cloud media ids are numeric strings."""
    return str(next(_media_counter))


def onprem_media_id() -> str:
    """On-Premise media ids are UUIDs."""
    return str(uuid.uuid4())


def fbtrace_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(9)).decode("ascii")

"""Request body limits: how much the gateway buffers before it says no.

Bodies are read into memory before they are translated, so each request gets
a ceiling that matches what its endpoint can legitimately carry: the On-Prem
media upload limit (64 MB) for ``POST /v1/media``, 1 MB for every JSON call
(a full template or interactive message is a few KB). The ceiling is checked
against ``Content-Length`` before reading, and again while reading, so a
chunked or lying body cannot get past it either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.types import Receive

from shim.mapping.endpoints import Body, match_endpoint

__all__ = [
    "DEFAULT_JSON_LIMIT",
    "DEFAULT_MEDIA_LIMIT",
    "BodyLimits",
    "BodyTooLarge",
    "ClientGone",
    "read_body",
]

MB: Final = 1024 * 1024
#: On-Prem accepted uploads up to 64 MB (Cloud's per-type limits are lower).
DEFAULT_MEDIA_LIMIT: Final = 64 * MB
DEFAULT_JSON_LIMIT: Final = 1 * MB


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Per-request body ceilings in bytes."""

    json: int = DEFAULT_JSON_LIMIT
    media: int = DEFAULT_MEDIA_LIMIT

    def __post_init__(self) -> None:
        if self.json < 1 or self.media < 1:
            raise ValueError("body limits must be positive byte counts")

    def for_request(self, method: str, path: str) -> tuple[int, str]:
        """The ceiling for one On-Prem call and what it applies to (for the message)."""
        match = match_endpoint(method, path)
        if match is not None and match.endpoint.onprem_body is Body.RAW:
            return self.media, "a media upload"
        return self.json, "a JSON request"


class ClientGone(Exception):
    """The caller disconnected before its body was complete (nothing may be sent on)."""


class BodyTooLarge(Exception):
    """The body is over its ceiling."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_body(receive: Receive, headers: list[tuple[bytes, bytes]], limit: int) -> bytes:
    """The whole body; :class:`BodyTooLarge` past ``limit``, :class:`ClientGone` if cut short.

    A truncated body is never returned: forwarding half an upload or half a
    message would be worse than forwarding nothing.

    The rest of a refused body is not read: the refusal goes out with
    ``Connection: close`` (HTTP clients read it even while still sending).
    """
    declared = declared_length(headers)
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)

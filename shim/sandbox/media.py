"""Stored media, Cloud upload limits and lookaside-style download URLs.

Limits come from the mapping table (``shim.mapping.fields.CLOUD_MEDIA_LIMITS``),
which the translators check before an upload leaves the shim too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from typing import Final

from shim.mapping.fields import CLOUD_MEDIA_LIMITS, ONPREM_MAX_UPLOAD_BYTES

__all__ = [
    "CLOUD_MEDIA_LIMITS",
    "LOOKASIDE_PATH",
    "ONPREM_MAX_UPLOAD_BYTES",
    "MediaItem",
    "MediaStore",
    "cloud_upload_problem",
    "plain_mime",
]

#: Path of download URLs (the trailing slash is Meta's; routes match without it).
LOOKASIDE_PATH: Final = "/whatsapp_business/attachments/"


def plain_mime(content_type: str) -> str:
    """``audio/ogg; codecs=opus`` -> ``audio/ogg``."""
    return content_type.split(";", 1)[0].strip().lower()


def cloud_upload_problem(mime: str, size: int) -> str | None:
    """Why Cloud would refuse this upload (131053 details), or None."""
    limit = CLOUD_MEDIA_LIMITS.get(plain_mime(mime))
    if limit is None:
        return (
            f"Param file must be a file with one of the following types: {_kinds()}. "
            f"Received file of type '{mime}'."
        )
    category, max_bytes = limit
    if size > max_bytes:
        return (
            f"File size {size} bytes exceeds the {category} limit of {max_bytes} bytes "
            f"for {plain_mime(mime)}."
        )
    if size == 0:
        return "Param file must not be empty."
    return None


def _kinds() -> str:
    return ", ".join(sorted(CLOUD_MEDIA_LIMITS))


@dataclass(slots=True)
class MediaItem:
    id: str
    data: bytes
    mime_type: str
    filename: str | None = None
    created_at: float = field(default_factory=time.time)

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode("ascii")


class MediaStore:
    """Media by id, plus signed, expiring download URLs like Meta's lookaside CDN."""

    def __init__(self, url_ttl_s: float) -> None:
        self._items: dict[str, MediaItem] = {}
        self._url_ttl_s = url_ttl_s
        self._secret = os.urandom(16)

    def clear(self) -> None:
        self._items.clear()

    def add(self, item: MediaItem) -> MediaItem:
        self._items[item.id] = item
        return item

    def get(self, media_id: str) -> MediaItem | None:
        return self._items.get(media_id)

    def delete(self, media_id: str) -> bool:
        return self._items.pop(media_id, None) is not None

    def __len__(self) -> int:
        return len(self._items)

    def _sign(self, mid: str, ext: str) -> str:
        mac = hmac.new(self._secret, f"{mid}:{ext}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:15]).decode("ascii")

    def download_url(self, origin: str, media_id: str) -> str:
        """``{origin}/whatsapp_business/attachments/?mid=…&ext=…&hash=…``, valid for the TTL."""
        ext = str(int(time.time() + self._url_ttl_s))
        return f"{origin}{LOOKASIDE_PATH}?mid={media_id}&ext={ext}&hash={self._sign(media_id, ext)}"

    def resolve_download(self, mid: str, ext: str, signature: str) -> MediaItem | None:
        """The item a download URL names, or None when unknown, tampered or expired."""
        if not (mid and ext and signature) or not ext.isdigit():
            return None
        if not hmac.compare_digest(self._sign(mid, ext), signature):
            return None
        if int(ext) < time.time():
            return None
        return self._items.get(mid)

"""Keep media ids on the backend that issued them.

Media ids are not portable: an On-Prem id (a UUID) means nothing to Cloud, a
Cloud id (a numeric string) means nothing to an On-Prem node, and a Cloud id
uploaded for one number cannot be sent from another. Sending one anyway would
fail late (an async 131052/131053 failure webhook) or, worse, silently.

Detection, before anything is sent:

1. By format (``fields.ONPREM_MEDIA_ID_PATTERN``): a UUID on a Cloud channel, or
   an all-digits id on an On-Prem channel, is refused. The translator already
   does this for ids inside Cloud send bodies; this module adds the media path
   (``GET``/``DELETE /v1/media/{id}``) and the On-Prem direction.
2. By origin: every id uploaded through the router is remembered with the
   channel that uploaded it (bounded LRU). Using it on another channel is
   refused, which also catches 360dialog <-> Meta and number <-> number moves
   where both ids look alike.

A refusal is a :class:`TranslationError` naming the field (``$.image.id``,
``media_id``), answered as On-Prem error 1009 / HTTP 400.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, Final

from shim.client.state import StateStore
from shim.mapping import fields
from shim.mapping.hosts import Target
from shim.translate import TranslationError

__all__ = ["MediaOrigins", "MediaOwners", "check_media_ids", "media_refs"]

_ONPREM_ID: Final = re.compile(fields.ONPREM_MEDIA_ID_PATTERN)
_PATH_ID_ENDPOINTS: Final = frozenset({"download_media", "delete_media"})


def media_refs(body: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """Every ``{<media type>: {"id": ...}}`` in a send body, as (JSON path, id)."""
    if isinstance(body, dict):
        for key, value in body.items():
            here = f"{path}.{key}"
            if key in fields.MEDIA_TYPES and isinstance(value, dict):
                media_id = value.get("id")
                if isinstance(media_id, str):
                    yield f"{here}.id", media_id
            if isinstance(value, dict | list):
                yield from media_refs(value, here)
    elif isinstance(body, list):
        for i, item in enumerate(body):
            if isinstance(item, dict | list):
                yield from media_refs(item, f"{path}[{i}]")


class MediaOrigins:
    """Which channel uploaded which media id (bounded, thread-safe)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._owner: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, media_id: str, channel: str) -> None:
        with self._lock:
            self._owner[media_id] = channel
            self._owner.move_to_end(media_id)
            while len(self._owner) > self.max_entries:
                self._owner.popitem(last=False)

    def owner(self, media_id: str) -> str | None:
        with self._lock:
            return self._owner.get(media_id)

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._owner)


class MediaOwners:
    """Media owners kept in a :class:`StateStore`, so every instance of a fleet agrees.

    Owners never change, so answers found in the store are cached here; an
    id not found is asked again next time (another instance may upload it).
    """

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self._known = MediaOrigins()

    def record(self, media_id: str, channel: str) -> None:
        self._known.record(media_id, channel)
        self.state.record_media(media_id, channel, time.time())

    def owner(self, media_id: str) -> str | None:
        found = self._known.owner(media_id)
        if found is None and self.state.shared:
            found = self.state.media_owner(media_id)
            if found is not None:
                self._known.record(media_id, found)
        return found

    def __bool__(self) -> bool:
        return self.state.shared or bool(self._known)


def check_media_ids(
    *,
    target: Target,
    channel: str,
    endpoint: str,
    params: Mapping[str, str],
    body: Any,
    origins: MediaOrigins | MediaOwners,
) -> None:
    """Refuse a media id that belongs to another backend or channel."""
    refs: list[tuple[str, str]] = []
    if endpoint in _PATH_ID_ENDPOINTS and "media_id" in params:
        refs.append(("media_id", params["media_id"]))
    if endpoint in ("send_message", "passthrough") and (target is Target.ONPREM or origins):
        refs.extend(media_refs(body))
    for where, media_id in refs:
        if target is Target.ONPREM:
            if media_id.isdigit():
                raise TranslationError(
                    where,
                    f"{media_id} is a Cloud media id (numeric); an On-Premise backend cannot "
                    "use it. Upload the file on this channel (POST /v1/media) and send the "
                    "new id",
                )
        elif _ONPREM_ID.match(media_id):
            raise TranslationError(
                where,
                f"{media_id} is an On-Premise media id (UUID); Cloud cannot use it. Upload "
                "the file again on this channel (POST /v1/media) and use the new id",
            )
        owner = origins.owner(media_id) if origins else None
        if owner is not None and owner != channel:
            raise TranslationError(
                where,
                f"media id {media_id} was uploaded through channel {owner!r}; media ids are "
                f"not portable between channels or backends. Upload the file on channel "
                f"{channel!r} and use the new id",
            )

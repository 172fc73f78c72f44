"""What every surface shares: accepting a message, its statuses, inbound messages.

Route modules parse and check requests, then call into :class:`SandboxCore`;
the control endpoints use it too, so an inbound message is built the same way
whichever API the sandbox speaks.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shim.mapping.errors import CLOUD_ERRORS, ONPREM_ERRORS
from shim.mapping.fields import MEDIA_TYPES
from shim.mapping.hosts import LOOKASIDE_HOST, Target
from shim.sandbox import ids
from shim.sandbox.media import MediaItem, plain_mime
from shim.sandbox.rules import wa_id_of
from shim.sandbox.settings import SandboxSettings
from shim.sandbox.state import OutboundMessage, SandboxState
from shim.sandbox.webhooks import Event, WebhookDispatcher

__all__ = ["ControlError", "SandboxCore"]

#: Inbound message types ``POST /_sandbox/inbound`` understands (Cloud names).
INBOUND_TYPES = frozenset(
    {"text", "location", "contacts", "interactive", "button", "reaction", "order", "system"}
    | MEDIA_TYPES
)

_PLACEHOLDER_MEDIA = {
    "image": ("image/jpeg", b"\xff\xd8\xff\xe0sandbox-image\xff\xd9"),
    "video": ("video/mp4", b"\x00\x00\x00\x18ftypmp42sandbox-video"),
    "audio": ("audio/ogg", b"OggSsandbox-audio"),
    "document": ("application/pdf", b"%PDF-1.4\nsandbox-document\n%%EOF"),
    "sticker": ("image/webp", b"RIFF\x00\x00\x00\x00WEBPsandbox-sticker"),
}


class ControlError(ValueError):
    """A bad control request; the message starts with the offending field."""


@dataclass(slots=True)
class SandboxCore:
    settings: SandboxSettings
    state: SandboxState
    webhooks: WebhookDispatcher

    @property
    def api(self) -> Target:
        return self.settings.api

    # -- outbound ----------------------------------------------------------------

    def accept(self, message: OutboundMessage, *, in_outbox: bool = True) -> None:
        """Record an accepted send and emit its configured statuses."""
        self.state.record(message, in_outbox=in_outbox)
        if self.state.webhook is None:
            return
        for status in self.state.knobs.statuses:
            self.emit_status(message, status)

    def emit_status(
        self,
        message: OutboundMessage,
        status: str,
        *,
        error_code: int | None = None,
        error_details: str | None = None,
    ) -> None:
        now = str(int(time.time()))
        item: dict[str, Any] = {
            "id": message.id,
            "status": status,
            "timestamp": now,
            "recipient_id": message.wa_id,
        }
        if self.settings.is_cloud:
            # Graph v24+ shape: no conversation/pricing blocks on ordinary statuses.
            if message.callback_data is not None:
                item["biz_opaque_callback_data"] = message.callback_data
            if error_code is not None:
                known = CLOUD_ERRORS.get(error_code)
                title = known.title if known else "Error"
                item["errors"] = [
                    {
                        "code": error_code,
                        "title": title,
                        "message": title,
                        "error_data": {"details": error_details or title},
                    }
                ]
        elif error_code is not None:
            known_op = ONPREM_ERRORS.get(error_code)
            error: dict[str, Any] = {
                "code": error_code,
                "title": known_op.title if known_op else "Error",
            }
            if error_details:
                error["details"] = error_details
            item["errors"] = [error]
        self.webhooks.emit(Event("status", item))

    # -- inbound -----------------------------------------------------------------

    def media_origin(self, request_origin: str) -> str:
        """Where download URLs point: Meta's CDN host (360dialog rewrites it) or us."""
        if self.api is Target.D360:
            return f"https://{LOOKASIDE_HOST}"
        return request_origin

    def inbound(self, data: Any, request_origin: str) -> dict[str, Any]:
        """A user writes in: open the window, remember the id, post the webhook."""
        if not isinstance(data, Mapping):
            raise ControlError("body: must be a JSON object")
        sender = data.get("from")
        if not isinstance(sender, str) or not wa_id_of(sender):
            raise ControlError("from: required, a phone number string")
        wa_id = wa_id_of(sender)
        kind = data.get("type")
        if kind is None:
            kind = next((t for t in ("text", *sorted(INBOUND_TYPES)) if t in data), "text")
        if not isinstance(kind, str) or kind not in INBOUND_TYPES:
            raise ControlError(f"type: must be one of {', '.join(sorted(INBOUND_TYPES))}")
        timestamp = data.get("timestamp", time.time())
        if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
            raise ControlError("timestamp: must be a number (unix seconds)")
        name = data.get("name", "Sandbox User")
        if not isinstance(name, str):
            raise ControlError("name: must be a string")

        message_id = (
            ids.cloud_message_id(wa_id)
            if self.settings.is_cloud
            else ids.onprem_inbound_message_id()
        )
        message: dict[str, Any] = {
            "from": wa_id,
            "id": message_id,
            "timestamp": str(int(timestamp)),
            "type": kind,
        }
        result: dict[str, Any] = {"id": message_id, "wa_id": wa_id}
        if kind == "text":
            text = data.get("text")
            body = text.get("body") if isinstance(text, Mapping) else text
            if not isinstance(body, str):
                raise ControlError('text: required, a string or {"body": string}')
            message["text"] = {"body": body}
        elif kind in MEDIA_TYPES:
            media = self._inbound_media(kind, data.get(kind, {}), request_origin)
            result["media_id"] = media["id"]
            if not self.settings.is_cloud and kind == "audio" and media.pop("voice", False):
                kind = message["type"] = "voice"
            message[kind] = media
        else:
            obj = data.get(kind)
            if obj is None:
                raise ControlError(f"{kind}: required for type {kind}")
            message[kind] = obj
        context = data.get("context")
        if context is not None:
            if not isinstance(context, Mapping):
                raise ControlError("context: must be an object")
            message["context"] = dict(context)

        self.state.open_window(wa_id, float(timestamp))
        self.state.inbound[message_id] = wa_id
        contact = {"profile": {"name": name}, "wa_id": wa_id}
        self.webhooks.emit(Event("message", message, contact))
        result["webhook"] = self.state.webhook is not None
        return result

    def _inbound_media(self, kind: str, spec: Any, request_origin: str) -> dict[str, Any]:
        if not isinstance(spec, Mapping):
            raise ControlError(f"{kind}: must be an object")
        default_mime, default_bytes = _PLACEHOLDER_MEDIA[kind]
        mime = spec.get("mime_type", default_mime)
        if not isinstance(mime, str):
            raise ControlError(f"{kind}.mime_type: must be a string")
        data = default_bytes
        encoded = spec.get("data_base64")
        if encoded is not None:
            if not isinstance(encoded, str):
                raise ControlError(f"{kind}.data_base64: must be a string")
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ControlError(f"{kind}.data_base64: not valid base64") from exc
        filename = spec.get("filename")
        if filename is not None and not isinstance(filename, str):
            raise ControlError(f"{kind}.filename: must be a string")
        media_id = ids.cloud_media_id() if self.settings.is_cloud else ids.onprem_media_id()
        item = self.state.media.add(MediaItem(media_id, data, plain_mime(mime), filename))
        out: dict[str, Any] = {"id": media_id, "mime_type": item.mime_type}
        if self.settings.is_cloud:
            out["sha256"] = item.sha256_b64
            out["url"] = self.state.media.download_url(self.media_origin(request_origin), media_id)
        else:
            out["sha256"] = item.sha256_hex
        caption = spec.get("caption")
        if caption is not None:
            if not isinstance(caption, str):
                raise ControlError(f"{kind}.caption: must be a string")
            out["caption"] = caption
        if filename is not None:
            out["filename"] = filename
        voice = spec.get("voice", False)
        if not isinstance(voice, bool):
            raise ControlError(f"{kind}.voice: must be true or false")
        if kind == "audio" and voice:
            out["voice"] = True
        return out

"""Typed helpers shared by the sync and async clients: build the On-Prem call,
read the On-Prem answer. Only the dispatching differs between the two clients.

The verbs match what existing On-Prem wrappers expose (caller-patterns section
6.8): ``send_text(to, body)``, ``send_template(to, name, language, components,
namespace=None)``, ``send_media(to, kind, id|link)``, ``mark_read(id)``,
``upload_media(bytes, mime)``, ``download_media(id)``, ``check_contacts``,
``health``, ``set_webhook``. Bodies are On-Prem v1 bodies, so they travel the
same translated path as any raw call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from shim.client.core import UNSET
from shim.client.response import ShimResponse
from shim.mapping import fields

__all__ = [
    "HelperCall",
    "check_contacts_call",
    "contacts_of",
    "download_media_call",
    "health_call",
    "mark_read_call",
    "media_id_of",
    "media_message",
    "message_id_of",
    "send_call",
    "set_webhook_call",
    "template_message",
    "text_message",
    "upload_media_call",
    "with_query",
]


@dataclass(frozen=True, slots=True)
class HelperCall:
    method: str
    path: str
    json: Any = UNSET
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def with_query(path: str, params: Mapping[str, Any] | None) -> str:
    if not params:
        return path
    sep = "&" if "?" in path else "?"
    return f"{path}{sep}{urlencode({k: v for k, v in params.items() if v is not None})}"


def text_message(
    to: str, body: str, *, preview_url: bool | None = None, reply_to: str | None = None
) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    }
    if preview_url is not None:
        msg["preview_url"] = preview_url
    if reply_to is not None:
        msg["context"] = {"message_id": reply_to}
    return msg


def template_message(
    to: str,
    name: str,
    language: str = "en",
    components: Sequence[Mapping[str, Any]] | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    template: dict[str, Any] = {
        "name": name,
        "language": {"policy": "deterministic", "code": language},
    }
    if namespace is not None:
        template["namespace"] = namespace
    if components:
        template["components"] = [dict(c) for c in components]
    return {"recipient_type": "individual", "to": to, "type": "template", "template": template}


def media_message(
    to: str,
    kind: str,
    *,
    media_id: str | None = None,
    link: str | None = None,
    caption: str | None = None,
    filename: str | None = None,
) -> dict[str, Any]:
    if kind not in fields.MEDIA_TYPES:
        raise ValueError(
            f"kind must be one of {', '.join(sorted(fields.MEDIA_TYPES))}, not {kind!r}"
        )
    if (media_id is None) == (link is None):
        raise ValueError("give exactly one of media_id (an uploaded id) or link")
    media: dict[str, Any] = {"id": media_id} if media_id is not None else {"link": link}
    if caption is not None:
        media["caption"] = caption
    if filename is not None:
        media["filename"] = filename
    return {"recipient_type": "individual", "to": to, "type": kind, kind: media}


def send_call(message: Mapping[str, Any], idempotency_key: str | None = None) -> HelperCall:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return HelperCall("POST", "/v1/messages", json=dict(message), headers=headers)


def mark_read_call(message_id: str) -> HelperCall:
    return HelperCall(
        "PUT", f"/v1/messages/{quote(message_id, safe='+=')}", json={"status": "read"}
    )


def upload_media_call(data: bytes, mime_type: str) -> HelperCall:
    return HelperCall("POST", "/v1/media", content=data, headers={"Content-Type": mime_type})


def download_media_call(media_id: str) -> HelperCall:
    return HelperCall("GET", f"/v1/media/{quote(media_id, safe='')}")


def check_contacts_call(contacts: Sequence[str], *, blocking: str = "wait") -> HelperCall:
    return HelperCall(
        "POST", "/v1/contacts", json={"blocking": blocking, "contacts": list(contacts)}
    )


def health_call() -> HelperCall:
    return HelperCall("GET", "/v1/health")


def set_webhook_call(url: str, headers: Mapping[str, str] | None = None) -> HelperCall:
    body: dict[str, Any] = {"url": url}
    if headers:
        body["headers"] = dict(headers)
    return HelperCall("POST", "/v1/configs/webhook", json=body)


# -- reading answers (raise ApiError / OutcomeUnknown on failure) -------------


def _first(response: ShimResponse, key: str) -> dict[str, Any]:
    response.raise_for_status()
    body = response.json()
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        from shim.client.errors import ApiError

        raise ApiError(response)
    item: dict[str, Any] = items[0]
    return item


def message_id_of(response: ShimResponse) -> str:
    return str(_first(response, "messages")["id"])


def media_id_of(response: ShimResponse) -> str:
    return str(_first(response, "media")["id"])


def contacts_of(response: ShimResponse) -> list[dict[str, Any]]:
    response.raise_for_status()
    body = response.json()
    contacts = body.get("contacts", []) if isinstance(body, dict) else []
    return [c for c in contacts if isinstance(c, dict)]

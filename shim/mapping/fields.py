"""Field-level rules: what moves, what is dropped, what is renamed, per payload kind.

Translators walk these tables; docs render them. Each rule carries the warning
code a lossy change emits, so callers can filter warnings by code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

MESSAGING_PRODUCT: Final = "whatsapp"

MEDIA_TYPES: Final = frozenset({"image", "video", "document", "audio", "sticker"})
#: ``type`` values an On-Prem send request may carry (``hsm`` is converted).
ONPREM_SEND_TYPES: Final = frozenset(
    {"text", "location", "contacts", "interactive", "template", "hsm", "reaction"} | MEDIA_TYPES
)
#: Interactive sub-types On-Prem supported; Cloud-only ones pass through untouched.
ONPREM_INTERACTIVE_TYPES: Final = frozenset({"button", "list", "product", "product_list"})


class Action(StrEnum):
    ADD = "add"
    MOVE = "move"
    DROP = "drop"
    RENAME = "rename"
    CONVERT = "convert"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One change between generations. Paths use ``*`` for "any key/index"."""

    action: Action
    onprem: str
    cloud: str | None
    warning: str | None
    why: str
    decision: str | None = None


_F = FieldRule

#: Send request rules, On-Prem -> Cloud, applied in this order.
SEND_RULES: Final = (
    _F(Action.DROP, "**=null", None, "W109",
       "On-Prem ignored optional fields set to null (wabclient sends \"caption\": null); "
       "Cloud refuses them, so they are dropped.",
       decision="Any object key whose value is null, at any depth; a required field set to "
       "null is then refused as missing, as On-Prem did."),
    _F(Action.ADD, "", "messaging_product", None,
       'Cloud requires "messaging_product": "whatsapp" on every send.'),
    _F(Action.REJECT, "recipient_type", None, None,
       'The legacy On-Prem groups API (recipient_type "group") has no Cloud equivalent; '
       "Cloud's Groups API is different.",
       decision='Only "group" is rejected; "individual" passes through.'),
    _F(Action.MOVE, "to(BSUID)", "recipient", None,
       "A user with a username may have no phone number: inbound messages then carry a "
       "business-scoped user id (BSUID, e.g. US.13491208655302741918) in from, and Cloud "
       'accepts a BSUID only in the send field "recipient"; in "to" it is refused as an '
       "invalid phone number.",
       decision="A to matching BSUID_PATTERN moves to recipient (both Cloud backends: 360dialog "
       "passes Meta's body through); phone numbers stay in to. Per Meta's BSUID send form, "
       "to wins when both are present, so to is removed. The response's contacts[].user_id "
       "also fills contacts[].wa_id (W204)."),
    _F(Action.MOVE, "preview_url", "text.preview_url", None,
       "Cloud reads preview_url inside the text object."),
    _F(Action.DROP, "ttl", None, "W101",
       "Cloud has no per-message TTL; set message_send_ttl_seconds on the template instead."),
    _F(Action.DROP, "{media}.provider", None, "W102",
       "Cloud has no media providers; it fetches link URLs without credentials."),
    _F(Action.DROP, "audio.caption", None, "W103", "Cloud audio messages have no caption."),
    _F(Action.DROP, "sticker.caption", None, "W103", "Cloud sticker messages have no caption."),
    _F(Action.CONVERT, "hsm", "template", "W104",
       "Legacy hsm is not accepted by Cloud; converted to a template (namespace dropped, "
       "localizable_params become body parameters).",
       decision="Conversion is ours, not a documented Meta mapping."),
    _F(Action.DROP, "template.namespace", None, "W105",
       "Cloud identifies templates by name + language; namespace is not used."),
    _F(Action.DROP, "template.language.policy", None, "W108",
       'Cloud only knows the "deterministic" language policy; "fallback" (deprecated since '
       "On-Prem v2.27.8) is dropped.",
       decision='"deterministic" is kept (360dialog Cloud accepts it); any other value dropped.'),
    _F(Action.DROP, "template.components.*.parameters.*.date_time.*", None, "W106",
       "Cloud date_time parameters carry only fallback_value; components and timestamp "
       "are dropped.",
       decision="UNCONFIRMED whether Cloud rejects or ignores the extra keys; dropping is safe."),
    _F(Action.RENAME, "context.id", "context.message_id", None,
       "Cloud replies reference the quoted message as context.message_id.",
       decision="The On-Prem send-side name is UNCONFIRMED; both id and message_id are accepted."),
)

#: A business-scoped user id: ISO 3166 alpha-2 country code, a dot, then up to
#: 128 alphanumerics (a parent BSUID adds a segment, e.g. ``HK.ENT.xxx``).
BSUID_PATTERN: Final = r"^[A-Z]{2}\.(?:[A-Z]{2,8}\.)?[A-Za-z0-9]{1,128}$"
#: The Cloud send field that takes a BSUID.
BSUID_SEND_FIELD: Final = "recipient"

#: The date_time parameter keys On-Prem accepted besides fallback_value (Cloud
#: takes fallback_value only).
ONPREM_DATE_TIME_KEYS: Final = (
    "day_of_week", "day_of_month", "year", "month", "hour", "minute", "calendar",
    "timestamp", "component", "unix_epoch",
)

#: Mark-read: On-Prem PUT /v1/messages/{id} {"status": "read"}.
MARK_READ_STATUS: Final = "read"


#: Webhook rules, Cloud -> On-Prem.
WEBHOOK_RULES: Final = (
    _F(Action.DROP, "entry.*.changes.*.value.messaging_product", None, None,
       "On-Prem bodies have no messaging_product."),
    _F(Action.MOVE, "entry.*.changes.*.value.metadata", None, None,
       "Not part of the On-Prem body; returned next to it for routing (phone_number_id)."),
    _F(Action.CONVERT, "messages.*(type=audio, audio.voice=true)", "messages.*.voice", None,
       'On-Prem delivered voice notes as type "voice" with a voice object.'),
    _F(Action.RENAME, "messages.*.type=unsupported", "messages.*.type=unknown", None,
       'On-Prem called unsupported inbound messages "unknown".'),
    _F(Action.CONVERT, "messages.*(type not in ONPREM_INBOUND_TYPES)", "messages.*.type=unknown",
       "W205",
       'On-Prem delivered messages it could not handle as type "unknown" with error 501; '
       "Cloud-only types (edit, revoke, interactive call_permission_reply, request_welcome, any "
       "type added later) would otherwise reach On-Prem handlers that do not know them.",
       decision='The Cloud item is kept whole under "cloud_message"; from, id, timestamp and '
       "context stay at the top. One rule: every type or interactive sub-type not in "
       "ONPREM_INBOUND_TYPES / ONPREM_INBOUND_INTERACTIVE_TYPES."),
    _F(Action.RENAME, "messages.*.system.wa_id", "messages.*.system.new_wa_id", None,
       "On-Prem named the changed number new_wa_id."),
    _F(Action.ADD, "statuses.*.recipient_id", "statuses.*.message.recipient_id", None,
       "On-Prem >= v2.45 readers use message.recipient_id."),
    _F(Action.RENAME, "statuses.*.status=played", "statuses.*.status=read", "W201",
       "On-Prem had no played status (voice message played).",
       decision='Mapped to "read" (a played voice message was read); the Cloud value is kept '
       'as cloud_status. Duplicate "read" is harmless: readers treat it as idempotent.'),
    _F(Action.ADD, "contacts.*.user_id", "contacts.*.wa_id", "W204",
       "A user with a username and no visible phone number has only a business-scoped user "
       "id (BSUID); On-Prem handlers key on wa_id / from / recipient_id.",
       decision="BSUID passthrough: a missing wa_id (contacts), from (messages) or "
       "recipient_id (statuses) is filled from user_id / from_user_id / recipient_user_id, "
       "so conversation keys stay stable (Cloud accepts BSUIDs as send targets); the "
       "BSUID fields themselves are kept."),
    _F(Action.RENAME, "*.errors.*.code", "*.errors.*.code", None,
       "Cloud codes mapped to On-Prem codes (errors.ERROR_CODE_PAIRS); the Cloud code is kept "
       "as cloud_code."),
)

#: BSUID passthrough: On-Prem key -> the Cloud BSUID field that fills it when absent.
BSUID_FILLS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "contacts": ("wa_id", "user_id"),
        "messages": ("from", "from_user_id"),
        "statuses": ("recipient_id", "recipient_user_id"),
    }
)
W_BSUID: Final = "W204"

#: Inbound message types an On-Prem handler knows. ``reaction`` is kept although
#: On-Prem support is UNCONFIRMED (the reference forwards it as-is).
ONPREM_INBOUND_TYPES: Final = frozenset(
    {
        "text", "image", "audio", "voice", "video", "document", "sticker", "location",
        "contacts", "button", "interactive", "order", "system", "reaction", "unknown",
        "ephemeral",
    }
)
#: Interactive reply sub-types an On-Prem handler knows. ``nfm_reply`` (Flows) is
#: Cloud-only but answers a message the app sent itself: passed through with W202.
ONPREM_INBOUND_INTERACTIVE_TYPES: Final = frozenset({"button_reply", "list_reply", "nfm_reply"})
UNKNOWN_MESSAGE_TYPE: Final = "unknown"
#: Where a Cloud-only message item is kept, whole, inside its ``unknown`` message.
CLOUD_ITEM_KEY: Final = "cloud_message"
#: Keys of a Cloud-only message kept at the top of its ``unknown`` message.
UNKNOWN_KEEPS: Final = ("from", "id", "timestamp", "context", "from_user_id", "username")
#: The On-Prem error an ``unknown`` message carries (code, details).
UNKNOWN_ERROR: Final = (501, "Message type is not currently supported")

#: Inbound message type renames (Cloud -> On-Prem).
INBOUND_TYPE_RENAMES: Final[Mapping[str, str]] = MappingProxyType({"unsupported": "unknown"})
#: Status renames (Cloud -> On-Prem).
STATUS_RENAMES: Final[Mapping[str, str]] = MappingProxyType({"played": "read"})
#: System message field renames (Cloud -> On-Prem).
SYSTEM_RENAMES: Final[Mapping[str, str]] = MappingProxyType({"wa_id": "new_wa_id"})
#: Keys of a Cloud change ``value`` that are not part of the On-Prem body.
WEBHOOK_VALUE_ENVELOPE_KEYS: Final = frozenset({"messaging_product", "metadata"})
#: The change field that carries messages/statuses; other fields are forwarded as-is.
WEBHOOK_MESSAGES_FIELD: Final = "messages"


#: Cloud health (can_send_message) -> On-Prem gateway_status.
#: Decision: LIMITED still sends (with a warning), BLOCKED cannot.
HEALTH_STATUS: Final[Mapping[str, str]] = MappingProxyType(
    {"AVAILABLE": "connected", "LIMITED": "connected", "BLOCKED": "disconnected"}
)
HEALTH_UNKNOWN: Final = "uninitialized"
#: ``health_shape = "ha"``: the one node of the high-availability map. Cloud has no
#: nodes; callers written for HA look for the primary master's gateway_status.
HEALTH_HA_NODE: Final = "cloud-api:waba-migrate"
HEALTH_HA_ROLE: Final = "primary_master"

#: On-Prem business profile fields (GET /v1/settings/business/profile).
BUSINESS_PROFILE_FIELDS: Final = ("address", "description", "email", "vertical", "websites")

#: ``PATCH /v1/settings/application``: the keys that carry the webhook. Only
#: these reach Cloud (through the backend's webhook configuration, like
#: ``POST /v1/configs/webhook``); ``headers`` is 360dialog's addition.
APPLICATION_WEBHOOK_KEYS: Final = ("url", "headers")

#: On-Prem application settings with no Cloud meaning, and why. A key named here
#: (or any other key, and any ``webhooks`` sub-key but url/headers) is ignored
#: with warning W304 per key; the rest of the body is still applied.
APPLICATION_SETTINGS_IGNORED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "on_call_pager": "Cloud sends no pager alerts; watch health and status webhooks.",
        "callback_persist": "Cloud keeps undelivered webhooks and retries for up to 7 days.",
        "callback_backoff_delay_ms": "Cloud's webhook retry schedule is fixed.",
        "max_callback_backoff_delay_ms": "Cloud's webhook retry schedule is fixed.",
        "pass_through": "Cloud stores no messages on a node of yours.",
        "sent_status": "Cloud always sends sent statuses.",
        "tcp_listen_address": "There is no node to listen on.",
        "heartbeat_interval": "There are no high-availability nodes on Cloud.",
        "unhealthy_interval": "There are no high-availability nodes on Cloud.",
        "media": "Cloud never auto-downloads media to a node; fetch it with GET /v1/media/{id}.",
        "webhooks.max_concurrent_requests": "Cloud decides webhook concurrency itself.",
    }
)
#: Warning codes emitted outside the rule tables.
W_CONTACTS_LOCAL: Final = "W301"  # /v1/contacts answered locally
W_HEALTH_LIMITED: Final = "W302"  # LIMITED health mapped to connected
W_WEBHOOK_HEADERS: Final = "W303"  # Meta webhook override cannot carry headers
W_SETTING_IGNORED: Final = "W304"  # an application setting with no Cloud meaning, ignored
W_NFM_REPLY: Final = "W202"  # nfm_reply has no On-Prem counterpart; passed through
W_CLOUD_ONLY_TYPE: Final = "W205"  # Cloud-only inbound type delivered as type unknown
W_OTHER_FIELD: Final = "W203"  # non-"messages" change passed through untranslated
W_PLACEHOLDER_PATH: Final = "W001"  # Meta path holds a placeholder phone-number id
W_PREVIEW_URL_NOT_TEXT: Final = "W107"  # preview_url on a non-text message, dropped
W_MEDIA_TWO_STEP: Final = "W401"  # Cloud media JSON: the bytes come from its url
W_PLAYED_STATUS: Final = "W201"  # played status sent as read

#: Cloud uploads: MIME type -> (media category, max bytes). Other types are
#: refused by Cloud (131053). Source: Meta's supported-media table (api-mapping
#: reference section 5). Stickers: 100 KB static, 500 KB animated (one limit here:
#: the bytes do not say which).
MB: Final = 1024 * 1024
_DOC: Final = ("document", 100 * MB)
CLOUD_MEDIA_LIMITS: Final[Mapping[str, tuple[str, int]]] = MappingProxyType(
    {
        "audio/aac": ("audio", 16 * MB),
        "audio/amr": ("audio", 16 * MB),
        "audio/mpeg": ("audio", 16 * MB),
        "audio/mp4": ("audio", 16 * MB),
        "audio/ogg": ("audio", 16 * MB),
        "text/plain": _DOC,
        "application/pdf": _DOC,
        "application/msword": _DOC,
        "application/vnd.ms-excel": _DOC,
        "application/vnd.ms-powerpoint": _DOC,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _DOC,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _DOC,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation": _DOC,
        "image/jpeg": ("image", 5 * MB),
        "image/png": ("image", 5 * MB),
        "image/webp": ("sticker", 500 * 1024),
        "video/mp4": ("video", 16 * MB),
        "video/3gpp": ("video", 16 * MB),
    }
)
#: 360dialog On-Prem accepted uploads up to 64 MB before per-type processing.
ONPREM_MAX_UPLOAD_BYTES: Final = 64 * MB
#: On-Prem media ids are UUIDs; Cloud media ids are numeric. An id of the other
#: generation is never valid on a backend (ids are not portable).
ONPREM_MEDIA_ID_PATTERN: Final = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)

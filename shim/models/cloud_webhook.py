"""Cloud webhook bodies: ``{"object", "entry": [{"id", "changes": [{"field", "value"}]}]}``.

Forward compatibility: Meta adds message types and statuses without notice,
and a webhook that fails validation is a lost message. So a message is ONE
model with ``type: str`` and a typed, optional sub-object per known type
(not a discriminated union):

- a known type must carry its sub-object, with the right shape (errors name
  the path, e.g. ``entry.0.changes.0.value.messages.0.image.id``);
- an unknown type parses; its payload (``"poll": {...}``) stays in the
  model's extras and survives ``dump()``, so the translator can pass it on.

The same applies to statuses (``status: str``; ``played`` and any later value
parse) and to change ``field`` (non-``messages`` changes such as template
status updates parse with their keys kept as extras). Known values are listed
in ``KNOWN_CLOUD_MESSAGE_TYPES`` / ``KNOWN_CLOUD_STATUSES`` for callers that
want to warn on novelties.

Usernames / BSUIDs (2026): ``contacts[].wa_id`` and ``messages[].from`` may be
absent; ``user_id`` / ``from_user_id`` carry the business-scoped id instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from pydantic import Field, model_validator

from shim.models.base import WaModel, missing_error, raise_errors, require_fields
from shim.models.shared import (
    ContactCard,
    Conversation,
    InboundButton,
    InboundContext,
    InboundInteractive,
    InboundLocation,
    InboundMedia,
    InboundOrder,
    InboundReaction,
    InboundReferral,
    Pricing,
    TextBody,
    WebhookProfile,
)

__all__ = [
    "KNOWN_CLOUD_MESSAGE_TYPES",
    "KNOWN_CLOUD_STATUSES",
    "CloudIdentity",
    "CloudSystem",
    "CloudUnsupported",
    "CloudWebhookBody",
    "CloudWebhookChange",
    "CloudWebhookContact",
    "CloudWebhookEntry",
    "CloudWebhookError",
    "CloudWebhookErrorData",
    "CloudWebhookMessage",
    "CloudWebhookMetadata",
    "CloudWebhookStatus",
    "CloudWebhookValue",
    "parse_cloud_webhook",
]

_PAYLOAD_TYPES: Final = frozenset(
    {
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "button",
        "interactive",
        "order",
        "system",
        "reaction",
    }
)
#: Types documented today (``unsupported`` covers everything Cloud cannot render).
KNOWN_CLOUD_MESSAGE_TYPES: Final = _PAYLOAD_TYPES | {"unsupported", "unknown", "request_welcome"}
KNOWN_CLOUD_STATUSES: Final = frozenset({"sent", "delivered", "read", "failed", "played"})


class CloudWebhookErrorData(WaModel):
    details: str | None = None


class CloudWebhookError(WaModel):
    """Error in ``value.errors``, ``messages[].errors`` or ``statuses[].errors``."""

    code: int
    title: str | None = None
    message: str | None = None
    error_data: CloudWebhookErrorData | None = None
    href: str | None = None


class CloudWebhookContact(WaModel):
    """Sender profile; ``wa_id`` is absent for phone-less username users (then ``user_id``)."""

    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    profile: WebhookProfile | None = None
    identity_key_hash: str | None = None


class CloudSystem(WaModel):
    """System event; number change is ``type: user_changed_number`` with the new ``wa_id``."""

    body: str | None = None
    type: str | None = None
    wa_id: str | None = None
    customer: str | None = None
    identity: str | None = None


class CloudUnsupported(WaModel):
    """What Cloud could not render (``type`` e.g. ``edit``, ``poll``)."""

    type: str | None = None


class CloudIdentity(WaModel):
    acknowledged: bool | None = None
    created_timestamp: int | str | None = None
    hash: str | None = None


class CloudWebhookMessage(WaModel):
    id: str
    timestamp: str
    type: str
    from_: str | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    context: InboundContext | None = None
    identity: CloudIdentity | None = None
    referral: InboundReferral | None = None
    errors: list[CloudWebhookError] | None = None
    text: TextBody | None = None
    image: InboundMedia | None = None
    audio: InboundMedia | None = None
    video: InboundMedia | None = None
    document: InboundMedia | None = None
    sticker: InboundMedia | None = None
    location: InboundLocation | None = None
    contacts: list[ContactCard] | None = None
    button: InboundButton | None = None
    interactive: InboundInteractive | None = None
    order: InboundOrder | None = None
    system: CloudSystem | None = None
    reaction: InboundReaction | None = None
    unsupported: CloudUnsupported | None = None

    @model_validator(mode="after")
    def _payload_for_type(self) -> CloudWebhookMessage:
        if self.type in _PAYLOAD_TYPES:
            require_fields(self, [self.type])
        return self


class CloudWebhookStatus(WaModel):
    id: str
    status: str
    timestamp: str
    recipient_id: str | None = None
    recipient_type: str | None = None
    biz_opaque_callback_data: str | None = None
    type: str | None = None
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: list[CloudWebhookError] | None = None


class CloudWebhookMetadata(WaModel):
    """``phone_number_id`` routes the change to its channel."""

    display_phone_number: str
    phone_number_id: str


class CloudWebhookValue(WaModel):
    """``value`` of a change. For ``field == "messages"`` metadata is required
    (checked by ``CloudWebhookChange``); other fields' values keep their keys as extras."""

    messaging_product: str | None = None
    metadata: CloudWebhookMetadata | None = None
    contacts: list[CloudWebhookContact] | None = None
    messages: list[CloudWebhookMessage] | None = None
    statuses: list[CloudWebhookStatus] | None = None
    errors: list[CloudWebhookError] | None = None


class CloudWebhookChange(WaModel):
    field: str
    value: CloudWebhookValue

    @model_validator(mode="after")
    def _messages_need_metadata(self) -> CloudWebhookChange:
        if self.field == "messages" and self.value.metadata is None:
            raise_errors(
                "CloudWebhookChange",
                [missing_error(("value", "metadata"), self.value.dump())],
            )
        return self


class CloudWebhookEntry(WaModel):
    """``id`` is the WABA id."""

    id: str
    changes: list[CloudWebhookChange]


class CloudWebhookBody(WaModel):
    object: str
    entry: list[CloudWebhookEntry]

    def message_changes(self) -> Iterator[tuple[CloudWebhookEntry, CloudWebhookChange]]:
        """Every ``field == "messages"`` change, in payload order (batches are normal)."""
        for entry in self.entry:
            for change in entry.changes:
                if change.field == "messages":
                    yield entry, change


def parse_cloud_webhook(obj: object) -> CloudWebhookBody:
    """Validate a Cloud webhook body."""
    return CloudWebhookBody.model_validate(obj)

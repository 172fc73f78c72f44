"""On-Premise API v1 webhook bodies: ``{"contacts", "messages", "statuses", "errors"}``.

This is the shape legacy webhook handlers parse, and what the webhook
translator emits. Message ``type`` and status ``status`` are open strings
(see ``KNOWN_ONPREM_MESSAGE_TYPES`` / ``KNOWN_ONPREM_STATUSES``): the translator
passes Cloud-only kinds through (reaction, order replies, future types) and the
model must not reject them. For the known types the matching sub-object is
typed and required, so ``type: "voice"`` without ``voice`` is an error at
``messages.N.voice``.
"""

from __future__ import annotations

from typing import Final

from pydantic import Field, model_validator

from shim.models.base import WaModel, require_fields
from shim.models.onprem_api import OnPremError
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
    "KNOWN_ONPREM_MESSAGE_TYPES",
    "KNOWN_ONPREM_STATUSES",
    "OnPremIdentity",
    "OnPremStatusMessage",
    "OnPremSystem",
    "OnPremWebhookBody",
    "OnPremWebhookContact",
    "OnPremWebhookMessage",
    "OnPremWebhookStatus",
    "parse_onprem_webhook",
]

#: Types with a same-named typed sub-object that must be present.
_PAYLOAD_TYPES: Final = frozenset(
    {
        "text",
        "image",
        "audio",
        "voice",
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
#: Every type an On-Prem handler may have seen (``unknown``/``ephemeral`` carry no object).
KNOWN_ONPREM_MESSAGE_TYPES: Final = _PAYLOAD_TYPES | {"unknown", "ephemeral"}
KNOWN_ONPREM_STATUSES: Final = frozenset(
    {"sent", "delivered", "read", "failed", "deleted", "warning"}
)


class OnPremWebhookContact(WaModel):
    """``wa_id`` is required for the same reason as ``OnPremWebhookMessage.from_``."""

    wa_id: str
    profile: WebhookProfile | None = None


class OnPremIdentity(WaModel):
    """Security-code change info attached to a message."""

    acknowledged: bool | None = None
    created_timestamp: int | str | None = None
    hash: str | None = None


class OnPremSystem(WaModel):
    """System event; a number change carries ``new_wa_id`` (Cloud: ``wa_id``)."""

    body: str | None = None
    type: str | None = None
    new_wa_id: str | None = None
    identity: str | None = None


class OnPremWebhookMessage(WaModel):
    """``from`` is required: legacy handlers read it unconditionally. For Cloud senders
    without a phone number (usernames / BSUID) the translator must decide what to put
    there; this model refuses to let it silently go missing."""

    id: str
    timestamp: str
    type: str
    from_: str = Field(alias="from")
    context: InboundContext | None = None
    identity: OnPremIdentity | None = None
    referral: InboundReferral | None = None
    errors: list[OnPremError] | None = None
    text: TextBody | None = None
    image: InboundMedia | None = None
    audio: InboundMedia | None = None
    voice: InboundMedia | None = None
    video: InboundMedia | None = None
    document: InboundMedia | None = None
    sticker: InboundMedia | None = None
    location: InboundLocation | None = None
    contacts: list[ContactCard] | None = None
    button: InboundButton | None = None
    interactive: InboundInteractive | None = None
    order: InboundOrder | None = None
    system: OnPremSystem | None = None
    reaction: InboundReaction | None = None

    @model_validator(mode="after")
    def _payload_for_type(self) -> OnPremWebhookMessage:
        if self.type in _PAYLOAD_TYPES:
            require_fields(self, [self.type])
        return self


class OnPremStatusMessage(WaModel):
    """``message`` object of a status (``recipient_id`` moved here in v2.45)."""

    recipient_id: str | None = None


class OnPremWebhookStatus(WaModel):
    id: str
    status: str
    timestamp: str
    recipient_id: str | None = None
    type: str | None = None
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: list[OnPremError] | None = None
    message: OnPremStatusMessage | None = None


class OnPremWebhookBody(WaModel):
    """Any subset of the four lists; one POST per batch."""

    contacts: list[OnPremWebhookContact] | None = None
    messages: list[OnPremWebhookMessage] | None = None
    statuses: list[OnPremWebhookStatus] | None = None
    errors: list[OnPremError] | None = None


def parse_onprem_webhook(obj: object) -> OnPremWebhookBody:
    """Validate an On-Prem webhook body."""
    return OnPremWebhookBody.model_validate(obj)

"""Sub-objects whose shape is the same in On-Prem v1 and Cloud.

Kept in one place so a translator can copy them across generations untouched
(the mapping reference lists no differences for these). Generation-specific
wrappers live in ``onprem_*`` / ``cloud_*``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shim.models.base import WaModel, require_fields

__all__ = [
    "ContactAddress",
    "ContactCard",
    "ContactEmail",
    "ContactName",
    "ContactOrg",
    "ContactPhone",
    "ContactUrl",
    "Conversation",
    "ConversationOrigin",
    "InboundButton",
    "InboundButtonReply",
    "InboundContext",
    "InboundInteractive",
    "InboundListReply",
    "InboundLocation",
    "InboundMedia",
    "InboundNfmReply",
    "InboundOrder",
    "InboundReaction",
    "InboundReferral",
    "InteractiveBody",
    "InteractiveFooter",
    "ListRow",
    "Location",
    "OrderItem",
    "Pricing",
    "ProductItem",
    "Reaction",
    "ReferredProduct",
    "ReplyButton",
    "ReplyButtonReply",
    "Section",
    "TemplateCurrency",
    "TextBody",
    "WebhookProfile",
]

# Latitude/longitude: numbers in webhooks, strings in the On-Prem schema and in
# many callers' code. Both are accepted and kept as given (smart union).
Coordinate = float | str


# --- contacts (vCard-like), used by send requests and inbound contacts messages


class ContactAddress(WaModel):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


class ContactEmail(WaModel):
    email: str | None = None
    type: str | None = None


class ContactName(WaModel):
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    prefix: str | None = None


class ContactOrg(WaModel):
    company: str | None = None
    department: str | None = None
    title: str | None = None


class ContactPhone(WaModel):
    phone: str | None = None
    type: str | None = None
    wa_id: str | None = None


class ContactUrl(WaModel):
    url: str | None = None
    type: str | None = None


class ContactCard(WaModel):
    """One shared contact (send ``contacts[]`` and inbound ``contacts`` messages)."""

    name: ContactName
    addresses: list[ContactAddress] | None = None
    birthday: str | None = None
    emails: list[ContactEmail] | None = None
    org: ContactOrg | None = None
    phones: list[ContactPhone] | None = None
    urls: list[ContactUrl] | None = None


# --- simple send payloads


class TextBody(WaModel):
    body: str


class Location(WaModel):
    longitude: Coordinate
    latitude: Coordinate
    name: str | None = None
    address: str | None = None


class TemplateCurrency(WaModel):
    fallback_value: str
    code: str
    amount_1000: int


# --- interactive send pieces (button / list / product / product_list)


class InteractiveBody(WaModel):
    text: str


class InteractiveFooter(WaModel):
    text: str


class ReplyButtonReply(WaModel):
    id: str
    title: str


class ReplyButton(WaModel):
    """``type`` has no default on purpose: ``dump`` leaves unset defaults out, and
    both APIs require the key."""

    type: Literal["reply"]
    reply: ReplyButtonReply


class ListRow(WaModel):
    id: str
    title: str
    description: str | None = None


class ProductItem(WaModel):
    product_retailer_id: str


class Section(WaModel):
    """A list section (``rows``) or a product_list section (``product_items``)."""

    title: str | None = None
    rows: list[ListRow] | None = None
    product_items: list[ProductItem] | None = None


# --- inbound (webhook) message sub-objects


class WebhookProfile(WaModel):
    name: str | None = None
    username: str | None = None  # Cloud, 2026 usernames


class ReferredProduct(WaModel):
    catalog_id: str | None = None
    product_retailer_id: str | None = None


class InboundContext(WaModel):
    """``context`` of an inbound message (reply-to / forwarded / product inquiry)."""

    from_: str | None = Field(default=None, alias="from")
    id: str | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None
    referred_product: ReferredProduct | None = None


class InboundMedia(WaModel):
    """Inbound image/audio/voice/video/document/sticker.

    On-Prem ids are UUIDs and carry the deprecated ``file`` path; Cloud ids are
    numeric and carry a short-lived ``url`` (lookaside). ``voice`` marks a Cloud
    voice note, ``animated`` an animated sticker.
    """

    id: str
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    file: str | None = None
    link: str | None = None
    url: str | None = None
    voice: bool | None = None
    animated: bool | None = None


class InboundLocation(WaModel):
    latitude: Coordinate
    longitude: Coordinate
    name: str | None = None
    address: str | None = None
    url: str | None = None


class InboundButton(WaModel):
    """Quick-reply button press on a template message."""

    text: str
    payload: str | None = None


class InboundButtonReply(WaModel):
    id: str
    title: str


class InboundListReply(WaModel):
    id: str
    title: str
    description: str | None = None


class InboundNfmReply(WaModel):
    """Cloud only: a Flow / address-message reply; ``response_json`` is a JSON string."""

    response_json: str
    name: str | None = None
    body: str | None = None


_INBOUND_INTERACTIVE_PAYLOAD = ("button_reply", "list_reply", "nfm_reply")


class InboundInteractive(WaModel):
    """Reply to an interactive message; ``type`` names the typed sub-object.

    ``type`` is an open string: a new reply kind parses, its object stays in
    the extras.
    """

    type: str
    button_reply: InboundButtonReply | None = None
    list_reply: InboundListReply | None = None
    nfm_reply: InboundNfmReply | None = None

    @model_validator(mode="after")
    def _payload_for_type(self) -> InboundInteractive:
        if self.type in _INBOUND_INTERACTIVE_PAYLOAD:
            require_fields(self, [self.type])
        return self


class OrderItem(WaModel):
    product_retailer_id: str
    quantity: int | str | None = None
    item_price: float | str | None = None
    currency: str | None = None


class InboundOrder(WaModel):
    catalog_id: str
    product_items: list[OrderItem]
    text: str | None = None


class InboundReaction(WaModel):
    """Reaction to a message; ``emoji`` is absent when the reaction was removed."""

    message_id: str
    emoji: str | None = None


class InboundReferral(WaModel):
    """Click-to-WhatsApp ad referral; all fields optional, kept as given."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    body: str | None = None
    headline: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None


class Reaction(WaModel):
    """Send a reaction; an empty ``emoji`` removes it."""

    message_id: str
    emoji: str


# --- status webhook pieces (same shape in both generations; Cloud adds pricing.type)


class ConversationOrigin(WaModel):
    type: str


class Conversation(WaModel):
    """Conversation window; Cloud omits it from v24.0 except for free entry points."""

    id: str | None = None
    expiration_timestamp: int | str | None = None
    origin: ConversationOrigin | None = None


class Pricing(WaModel):
    """``pricing_model`` is ``CBP`` (per conversation) or ``PMP`` (per message, Cloud 2025+);
    kept an open string so a future model still parses."""

    billable: bool | None = None
    pricing_model: str | None = None
    category: str | None = None
    type: str | None = None

"""Cloud API send requests (``POST /messages`` / ``POST /{phone-number-id}/messages``).

The top-level message ``type`` set is closed (text, media, location, contacts,
interactive, template, reaction): it is what the translator must produce, so a
leftover ``hsm`` is an error. Interactive, template component and template
parameter ``type`` are open strings because Cloud keeps adding kinds
(carousel, coupon codes, flows ...); for the kinds we know, the matching
fields are required.

On-Prem-only keys (top-level ``preview_url``/``ttl``/``hsm``, media
``provider``, template ``namespace``) are rejected with an ``onprem_only_field``
error even though unknown keys are otherwise kept: they are not unknown, they
are known not to belong here, and catching them in validation is what makes
the "translated request validates against the Cloud model" property useful.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import Field, JsonValue, PlainValidator, TypeAdapter, model_validator

from shim.mapping import fields
from shim.models.base import (
    WaModel,
    dispatch_by_type,
    forbid_keys,
    require_fields,
    require_one_of,
)
from shim.models.shared import (
    ContactCard,
    InteractiveBody,
    InteractiveFooter,
    Location,
    Reaction,
    ReplyButton,
    Section,
    TemplateCurrency,
)

__all__ = [
    "CLOUD_SEND_MODELS",
    "CloudAudioRequest",
    "CloudContactsRequest",
    "CloudDocumentRequest",
    "CloudImageRequest",
    "CloudInteractive",
    "CloudInteractiveAction",
    "CloudInteractiveHeader",
    "CloudInteractiveRequest",
    "CloudLanguage",
    "CloudLocationRequest",
    "CloudMarkReadRequest",
    "CloudMedia",
    "CloudReactionRequest",
    "CloudSendBase",
    "CloudSendContext",
    "CloudSendRequest",
    "CloudSendRequestAdapter",
    "CloudStickerRequest",
    "CloudTemplate",
    "CloudTemplateComponent",
    "CloudTemplateDateTime",
    "CloudTemplateParameter",
    "CloudTemplateRequest",
    "CloudText",
    "CloudTextRequest",
    "CloudTypingIndicator",
    "CloudUncaptionedMedia",
    "CloudVideoRequest",
    "parse_cloud_messages_body",
    "parse_cloud_send",
]

# Why each On-Prem leftover is refused: the mapping table's own reasons.
_WHY: Final = {rule.onprem: rule.why for rule in fields.SEND_RULES}
_ONPREM_ONLY_ENVELOPE: Final = {key: _WHY[key] for key in ("preview_url", "ttl", "hsm")}
_ONPREM_ONLY_MEDIA: Final = {"provider": _WHY["{media}.provider"]}
_NO_CAPTION: Final = {"caption": _WHY["audio.caption"]}
_ONPREM_ONLY_DATE_TIME: Final = {
    key: _WHY["template.components.*.parameters.*.date_time.*"]
    for key in fields.ONPREM_DATE_TIME_KEYS
}
_ONPREM_ONLY_TEMPLATE: Final = {"namespace": _WHY["template.namespace"]}


class CloudUncaptionedMedia(WaModel):
    """Audio / sticker media: same as ``CloudMedia`` but Cloud has no caption there."""

    id: str | None = None
    link: str | None = None
    voice: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> CloudUncaptionedMedia:
        require_one_of(self, ("id", "link"))
        forbid_keys(self, {**_ONPREM_ONLY_MEDIA, **_NO_CAPTION})
        return self


class CloudMedia(WaModel):
    """Media by Cloud media ``id`` or public ``link``; ``voice`` marks an audio voice note."""

    id: str | None = None
    link: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> CloudMedia:
        require_one_of(self, ("id", "link"))
        forbid_keys(self, _ONPREM_ONLY_MEDIA)
        return self


class CloudText(WaModel):
    body: str
    preview_url: bool | None = None


# --- interactive


class CloudInteractiveHeader(WaModel):
    type: Literal["text", "image", "video", "document"]
    text: str | None = None
    image: CloudMedia | None = None
    video: CloudMedia | None = None
    document: CloudMedia | None = None

    @model_validator(mode="after")
    def _payload_for_type(self) -> CloudInteractiveHeader:
        require_fields(self, [self.type])
        return self


class CloudInteractiveAction(WaModel):
    """Union of the action fields of every interactive kind (``name``/``parameters``
    for cta_url, flow and location_request_message)."""

    button: str | None = None
    buttons: list[ReplyButton] | None = None
    sections: list[Section] | None = None
    catalog_id: str | None = None
    product_retailer_id: str | None = None
    name: str | None = None
    parameters: dict[str, JsonValue] | None = None


_INTERACTIVE_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "button": ("body", "action.buttons"),
    "list": ("body", "action.button", "action.sections"),
    "product": ("action.catalog_id", "action.product_retailer_id"),
    "product_list": ("header", "body", "action.catalog_id", "action.sections"),
    "cta_url": ("body", "action.name", "action.parameters"),
    "flow": ("body", "action.name", "action.parameters"),
    "location_request_message": ("body", "action.name"),
}


class CloudInteractive(WaModel):
    type: str
    action: CloudInteractiveAction
    header: CloudInteractiveHeader | None = None
    body: InteractiveBody | None = None
    footer: InteractiveFooter | None = None

    @model_validator(mode="after")
    def _required_for_type(self) -> CloudInteractive:
        require_fields(self, _INTERACTIVE_REQUIRED.get(self.type, ()))
        return self


# --- templates


class CloudLanguage(WaModel):
    """``policy`` is optional on Cloud and only ``deterministic`` exists (fallback was retired)."""

    code: str
    policy: Literal["deterministic"] | None = None


class CloudTemplateDateTime(WaModel):
    """Cloud documents only the fallback text for date_time parameters."""

    fallback_value: str

    @model_validator(mode="after")
    def _no_components(self) -> CloudTemplateDateTime:
        forbid_keys(self, _ONPREM_ONLY_DATE_TIME)
        return self


_PARAMETER_PAYLOAD: Final = frozenset(
    {"text", "currency", "date_time", "image", "video", "document", "payload", "location"}
)


class CloudTemplateParameter(WaModel):
    """``parameter_name`` is set for templates with named parameters."""

    type: str
    parameter_name: str | None = None
    text: str | None = None
    currency: TemplateCurrency | None = None
    date_time: CloudTemplateDateTime | None = None
    image: CloudMedia | None = None
    video: CloudMedia | None = None
    document: CloudMedia | None = None
    payload: str | None = None
    location: Location | None = None

    @model_validator(mode="after")
    def _payload_for_type(self) -> CloudTemplateParameter:
        if self.type in _PARAMETER_PAYLOAD:
            require_fields(self, [self.type])
        return self


class CloudTemplateComponent(WaModel):
    type: str
    sub_type: str | None = None
    index: int | str | None = None
    parameters: list[CloudTemplateParameter] | None = None

    @model_validator(mode="after")
    def _button_fields(self) -> CloudTemplateComponent:
        if self.type == "button":
            require_fields(self, ["sub_type", "index"])
        return self


class CloudTemplate(WaModel):
    name: str
    language: CloudLanguage
    components: list[CloudTemplateComponent] | None = None

    @model_validator(mode="after")
    def _no_namespace(self) -> CloudTemplate:
        forbid_keys(self, _ONPREM_ONLY_TEMPLATE)
        return self


# --- requests


class CloudSendContext(WaModel):
    message_id: str


class CloudSendBase(WaModel):
    messaging_product: Literal["whatsapp"]
    to: str
    recipient_type: Literal["individual", "group"] | None = None
    context: CloudSendContext | None = None
    biz_opaque_callback_data: str | None = None

    @model_validator(mode="after")
    def _no_onprem_envelope(self) -> CloudSendBase:
        forbid_keys(self, _ONPREM_ONLY_ENVELOPE)
        return self


class CloudTextRequest(CloudSendBase):
    type: Literal["text"] = "text"
    text: CloudText


class CloudImageRequest(CloudSendBase):
    type: Literal["image"]
    image: CloudMedia


class CloudVideoRequest(CloudSendBase):
    type: Literal["video"]
    video: CloudMedia


class CloudDocumentRequest(CloudSendBase):
    type: Literal["document"]
    document: CloudMedia


class CloudAudioRequest(CloudSendBase):
    type: Literal["audio"]
    audio: CloudUncaptionedMedia


class CloudStickerRequest(CloudSendBase):
    type: Literal["sticker"]
    sticker: CloudUncaptionedMedia


class CloudLocationRequest(CloudSendBase):
    type: Literal["location"]
    location: Location


class CloudContactsRequest(CloudSendBase):
    type: Literal["contacts"]
    contacts: list[ContactCard] = Field(min_length=1)


class CloudInteractiveRequest(CloudSendBase):
    type: Literal["interactive"]
    interactive: CloudInteractive


class CloudTemplateRequest(CloudSendBase):
    type: Literal["template"]
    template: CloudTemplate


class CloudReactionRequest(CloudSendBase):
    type: Literal["reaction"]
    reaction: Reaction


_CloudSendUnion = (
    CloudTextRequest
    | CloudImageRequest
    | CloudVideoRequest
    | CloudDocumentRequest
    | CloudAudioRequest
    | CloudStickerRequest
    | CloudLocationRequest
    | CloudContactsRequest
    | CloudInteractiveRequest
    | CloudTemplateRequest
    | CloudReactionRequest
)

CLOUD_SEND_MODELS: Final[dict[str, type[_CloudSendUnion]]] = {
    "text": CloudTextRequest,
    "image": CloudImageRequest,
    "video": CloudVideoRequest,
    "document": CloudDocumentRequest,
    "audio": CloudAudioRequest,
    "sticker": CloudStickerRequest,
    "location": CloudLocationRequest,
    "contacts": CloudContactsRequest,
    "interactive": CloudInteractiveRequest,
    "template": CloudTemplateRequest,
    "reaction": CloudReactionRequest,
}


def parse_cloud_send(obj: Any) -> _CloudSendUnion:
    """Validate a Cloud send body (``type`` defaults to text, as on Cloud)."""
    return dispatch_by_type("CloudSendRequest", CLOUD_SEND_MODELS, obj, default="text")


CloudSendRequest = Annotated[_CloudSendUnion, PlainValidator(parse_cloud_send)]
CloudSendRequestAdapter: Final[TypeAdapter[_CloudSendUnion]] = TypeAdapter(CloudSendRequest)


class CloudTypingIndicator(WaModel):
    type: Literal["text"]


class CloudMarkReadRequest(WaModel):
    """Mark read (and optionally show typing) - same endpoint as sending."""

    messaging_product: Literal["whatsapp"]
    status: Literal["read"]
    message_id: str
    typing_indicator: CloudTypingIndicator | None = None


def parse_cloud_messages_body(obj: Any) -> _CloudSendUnion | CloudMarkReadRequest:
    """Validate anything POSTed to Cloud ``/messages``: a mark-read (has ``status``,
    no ``type``) or a send request."""
    if isinstance(obj, CloudMarkReadRequest):
        return obj
    if isinstance(obj, Mapping) and "status" in obj and "type" not in obj:
        return CloudMarkReadRequest.model_validate(obj)
    return parse_cloud_send(obj)

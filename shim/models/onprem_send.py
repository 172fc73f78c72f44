"""On-Premise API v1 send requests (``POST /v1/messages``) and mark-read.

On-Prem is frozen (last client expired 2025-10-23), so its value sets are
closed: message ``type``, interactive ``type``, template component and
parameter types are Literals and anything else is a validation error. That is
what we want on the way *in*: a caller's typo is reported, with its path,
before anything is translated.

Forms callers really use are accepted: ``type`` omitted for text, top-level
``preview_url``, media by ``id`` or ``link`` with ``provider``, ``namespace``
and ``language.policy`` on templates, the legacy ``hsm`` with
``localizable_params``, template button ``index`` as int or string, date_time
component values as int or string, an optional ``ttl`` of any JSON shape
(its On-Prem semantics are unconfirmed; the translator drops it).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import Field, JsonValue, PlainValidator, TypeAdapter, model_validator

from shim.models.base import WaModel, dispatch_by_type, require_fields, require_one_of
from shim.models.shared import (
    ContactCard,
    InteractiveBody,
    InteractiveFooter,
    Location,
    Reaction,
    ReplyButton,
    Section,
    TemplateCurrency,
    TextBody,
)

__all__ = [
    "ONPREM_SEND_MODELS",
    "OnPremAudioRequest",
    "OnPremContactsRequest",
    "OnPremDocumentRequest",
    "OnPremHsm",
    "OnPremHsmCurrency",
    "OnPremHsmDateTime",
    "OnPremHsmRequest",
    "OnPremImageRequest",
    "OnPremInteractive",
    "OnPremInteractiveAction",
    "OnPremInteractiveHeader",
    "OnPremInteractiveRequest",
    "OnPremLanguage",
    "OnPremLocalizableParam",
    "OnPremLocationRequest",
    "OnPremMarkReadRequest",
    "OnPremMedia",
    "OnPremMediaProvider",
    "OnPremReactionRequest",
    "OnPremSendBase",
    "OnPremSendContext",
    "OnPremSendRequest",
    "OnPremSendRequestAdapter",
    "OnPremStickerRequest",
    "OnPremTemplate",
    "OnPremTemplateComponent",
    "OnPremTemplateDateTime",
    "OnPremTemplateParameter",
    "OnPremTemplateRequest",
    "OnPremTextRequest",
    "OnPremVideoRequest",
    "parse_onprem_send",
]


# --- media


class OnPremMediaProvider(WaModel):
    """A media provider configured via ``/v1/settings/application/media/providers``."""

    name: str


class OnPremMedia(WaModel):
    """Media by uploaded ``id`` (UUID) or ``link``; ``provider`` has no Cloud equivalent."""

    id: str | None = None
    link: str | None = None
    caption: str | None = None
    filename: str | None = None
    provider: OnPremMediaProvider | None = None

    @model_validator(mode="after")
    def _id_or_link(self) -> OnPremMedia:
        require_one_of(self, ("id", "link"))
        return self


# --- interactive

_HEADER_TYPES = Literal["text", "image", "video", "document"]


class OnPremInteractiveHeader(WaModel):
    type: _HEADER_TYPES
    text: str | None = None
    image: OnPremMedia | None = None
    video: OnPremMedia | None = None
    document: OnPremMedia | None = None

    @model_validator(mode="after")
    def _payload_for_type(self) -> OnPremInteractiveHeader:
        require_fields(self, [self.type])
        return self


class OnPremInteractiveAction(WaModel):
    button: str | None = None
    buttons: list[ReplyButton] | None = None
    sections: list[Section] | None = None
    catalog_id: str | None = None
    product_retailer_id: str | None = None


#: What each interactive type needs (dotted paths inside ``interactive``).
_INTERACTIVE_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "button": ("body", "action.buttons"),
    "list": ("body", "action.button", "action.sections"),
    "product": ("action.catalog_id", "action.product_retailer_id"),
    "product_list": ("header", "body", "action.catalog_id", "action.sections"),
}


class OnPremInteractive(WaModel):
    type: Literal["button", "list", "product", "product_list"]
    action: OnPremInteractiveAction
    header: OnPremInteractiveHeader | None = None
    body: InteractiveBody | None = None
    footer: InteractiveFooter | None = None

    @model_validator(mode="after")
    def _required_for_type(self) -> OnPremInteractive:
        require_fields(self, _INTERACTIVE_REQUIRED[self.type])
        return self


# --- templates


class OnPremLanguage(WaModel):
    code: str
    policy: Literal["deterministic", "fallback"] | None = None


class OnPremTemplateDateTime(WaModel):
    """On-Prem accepted calendar components or a timestamp next to the fallback text."""

    fallback_value: str
    day_of_week: int | str | None = None
    day_of_month: int | str | None = None
    year: int | str | None = None
    month: int | str | None = None
    hour: int | str | None = None
    minute: int | str | None = None
    calendar: str | None = None
    timestamp: int | str | None = None


_PARAMETER_TYPES = Literal["text", "currency", "date_time", "image", "video", "document", "payload"]


class OnPremTemplateParameter(WaModel):
    type: _PARAMETER_TYPES
    text: str | None = None
    currency: TemplateCurrency | None = None
    date_time: OnPremTemplateDateTime | None = None
    image: OnPremMedia | None = None
    video: OnPremMedia | None = None
    document: OnPremMedia | None = None
    payload: str | None = None

    @model_validator(mode="after")
    def _payload_for_type(self) -> OnPremTemplateParameter:
        require_fields(self, [self.type])
        return self


class OnPremTemplateComponent(WaModel):
    type: Literal["header", "body", "button"]
    sub_type: Literal["quick_reply", "url"] | None = None
    index: int | str | None = None
    parameters: list[OnPremTemplateParameter] | None = None

    @model_validator(mode="after")
    def _button_fields(self) -> OnPremTemplateComponent:
        if self.type == "button":
            require_fields(self, ["sub_type", "index"])
        return self


class OnPremTemplate(WaModel):
    """``namespace`` is optional since On-Prem v2.41; Cloud has none."""

    name: str
    language: OnPremLanguage
    namespace: str | None = None
    components: list[OnPremTemplateComponent] | None = None


# --- legacy hsm


class OnPremHsmCurrency(WaModel):
    currency_code: str
    amount_1000: int


class OnPremHsmDateTimeComponent(WaModel):
    day_of_week: int | str | None = None
    day_of_month: int | str | None = None
    year: int | str | None = None
    month: int | str | None = None
    hour: int | str | None = None
    minute: int | str | None = None
    calendar: str | None = None


class OnPremHsmUnixEpoch(WaModel):
    timestamp: int


class OnPremHsmDateTime(WaModel):
    component: OnPremHsmDateTimeComponent | None = None
    unix_epoch: OnPremHsmUnixEpoch | None = None


class OnPremLocalizableParam(WaModel):
    """``default`` is always the rendered fallback text; currency/date_time localise it."""

    default: str
    currency: OnPremHsmCurrency | None = None
    date_time: OnPremHsmDateTime | None = None


class OnPremHsm(WaModel):
    namespace: str
    element_name: str
    language: OnPremLanguage
    localizable_params: list[OnPremLocalizableParam] | None = None


# --- requests


class OnPremSendContext(WaModel):
    """Reply context; the On-Prem key name is unconfirmed, so both spellings are typed."""

    message_id: str | None = None
    id: str | None = None


class OnPremSendBase(WaModel):
    """Envelope fields every On-Prem send request may carry."""

    to: str
    recipient_type: Literal["individual", "group"] | None = None
    ttl: JsonValue | None = None
    context: OnPremSendContext | None = None


class OnPremTextRequest(OnPremSendBase):
    type: Literal["text"] = "text"
    text: TextBody
    preview_url: bool | None = None


class OnPremImageRequest(OnPremSendBase):
    type: Literal["image"]
    image: OnPremMedia


class OnPremVideoRequest(OnPremSendBase):
    type: Literal["video"]
    video: OnPremMedia


class OnPremDocumentRequest(OnPremSendBase):
    type: Literal["document"]
    document: OnPremMedia


class OnPremAudioRequest(OnPremSendBase):
    type: Literal["audio"]
    audio: OnPremMedia


class OnPremStickerRequest(OnPremSendBase):
    type: Literal["sticker"]
    sticker: OnPremMedia


class OnPremLocationRequest(OnPremSendBase):
    type: Literal["location"]
    location: Location


class OnPremContactsRequest(OnPremSendBase):
    type: Literal["contacts"]
    contacts: list[ContactCard] = Field(min_length=1)


class OnPremInteractiveRequest(OnPremSendBase):
    type: Literal["interactive"]
    interactive: OnPremInteractive


class OnPremTemplateRequest(OnPremSendBase):
    type: Literal["template"]
    template: OnPremTemplate


class OnPremHsmRequest(OnPremSendBase):
    type: Literal["hsm"]
    hsm: OnPremHsm


class OnPremReactionRequest(OnPremSendBase):
    """Whether On-Prem v1 accepted reactions is unconfirmed; modelled so they pass through."""

    type: Literal["reaction"]
    reaction: Reaction


_OnPremSendUnion = (
    OnPremTextRequest
    | OnPremImageRequest
    | OnPremVideoRequest
    | OnPremDocumentRequest
    | OnPremAudioRequest
    | OnPremStickerRequest
    | OnPremLocationRequest
    | OnPremContactsRequest
    | OnPremInteractiveRequest
    | OnPremTemplateRequest
    | OnPremHsmRequest
    | OnPremReactionRequest
)

#: ``type`` value -> request model (the closed On-Prem set).
ONPREM_SEND_MODELS: Final[dict[str, type[_OnPremSendUnion]]] = {
    "text": OnPremTextRequest,
    "image": OnPremImageRequest,
    "video": OnPremVideoRequest,
    "document": OnPremDocumentRequest,
    "audio": OnPremAudioRequest,
    "sticker": OnPremStickerRequest,
    "location": OnPremLocationRequest,
    "contacts": OnPremContactsRequest,
    "interactive": OnPremInteractiveRequest,
    "template": OnPremTemplateRequest,
    "hsm": OnPremHsmRequest,
    "reaction": OnPremReactionRequest,
}


def parse_onprem_send(obj: Any) -> _OnPremSendUnion:
    """Validate an On-Prem ``POST /v1/messages`` body (``type`` defaults to text)."""
    return dispatch_by_type("OnPremSendRequest", ONPREM_SEND_MODELS, obj, default="text")


#: Use as a field type or with TypeAdapter; validates exactly like ``parse_onprem_send``.
OnPremSendRequest = Annotated[_OnPremSendUnion, PlainValidator(parse_onprem_send)]
OnPremSendRequestAdapter: Final[TypeAdapter[_OnPremSendUnion]] = TypeAdapter(OnPremSendRequest)


class OnPremMarkReadRequest(WaModel):
    """``PUT /v1/messages/{message-id}`` body."""

    status: Literal["read"]

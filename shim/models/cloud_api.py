"""Cloud API responses and non-message endpoints, plus 360dialog gateway shapes.

These come from upstream (Meta or 360dialog), so status-like values are open
strings: a value Meta adds next year must not turn a good response into a
validation error in the shim. Request bodies we send (profile update) use
Literals where the API's value set is closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, JsonValue, model_validator

from shim.models.base import WaModel, require_one_of

__all__ = [
    "CloudBusinessProfile",
    "CloudBusinessProfileGetResponse",
    "CloudBusinessProfileUpdateRequest",
    "CloudErrorResponse",
    "CloudHealthEntity",
    "CloudHealthError",
    "CloudHealthStatus",
    "CloudHealthStatusResponse",
    "CloudMediaGetResponse",
    "CloudMediaUploadResponse",
    "CloudPhoneWebhookOverrideRequest",
    "CloudSendResponse",
    "CloudSendResponseContact",
    "CloudSendResponseMessage",
    "CloudSuccessResponse",
    "CloudTemplateInfo",
    "CloudTemplatesListResponse",
    "CloudWabaWebhookOverrideRequest",
    "CloudWebhookConfiguration",
    "D360GatewayErrorResponse",
    "D360GatewayMeta",
    "D360TemplatesListResponse",
    "D360WabaWebhookRequest",
    "D360WebhookConfigRequest",
    "GraphError",
    "GraphErrorData",
    "parse_cloud_error",
]


# --- send / action responses


class CloudSendResponseContact(WaModel):
    """``wa_id`` may be absent for username (BSUID-only) recipients; ``user_id`` is the BSUID."""

    input: str
    wa_id: str | None = None
    user_id: str | None = None


class CloudSendResponseMessage(WaModel):
    """``message_status`` (templates): ``accepted`` or ``held_for_quality_assessment``."""

    id: str
    message_status: str | None = None


class CloudSendResponse(WaModel):
    messaging_product: str
    messages: list[CloudSendResponseMessage] = Field(min_length=1)
    contacts: list[CloudSendResponseContact] | None = None


class CloudSuccessResponse(WaModel):
    """``{"success": true}`` of mark-read, typing, media delete, profile update ..."""

    success: bool


# --- media


class CloudMediaUploadResponse(WaModel):
    id: str


class CloudMediaGetResponse(WaModel):
    """``GET /{media-id}``; 360dialog sometimes answers with ``url`` only."""

    url: str
    mime_type: str | None = None
    sha256: str | None = None
    file_size: int | str | None = None
    id: str | None = None
    messaging_product: str | None = None


# --- errors


class GraphErrorData(WaModel):
    messaging_product: str | None = None
    details: str | None = None


class GraphError(WaModel):
    """Meta advises keying on ``code`` + ``error_data.details``; ``error_subcode`` is
    deprecated from Graph v16."""

    message: str
    code: int
    type: str | None = None
    error_data: GraphErrorData | None = None
    error_subcode: int | None = None
    fbtrace_id: str | None = None
    is_transient: bool | None = None
    error_user_title: str | None = None
    error_user_msg: str | None = None


class CloudErrorResponse(WaModel):
    """Graph error envelope (Meta direct and passed through by 360dialog Cloud)."""

    error: GraphError


class D360GatewayMeta(WaModel):
    """360dialog's own errors. The gateway's key casing is unconfirmed, so both
    ``httpCode``/``developerMessage`` and ``http_code``/``developer_message`` are
    accepted and kept as sent; read them through ``http_status``/``message``."""

    httpCode: int | None = None
    http_code: int | None = None
    developerMessage: str | None = None
    developer_message: str | None = None
    success: bool | None = None

    @model_validator(mode="after")
    def _some_code(self) -> D360GatewayMeta:
        require_one_of(self, ("httpCode", "http_code"))
        return self

    @property
    def http_status(self) -> int:
        code = self.httpCode if self.httpCode is not None else self.http_code
        assert code is not None  # guaranteed by the validator
        return code

    @property
    def message(self) -> str | None:
        if self.developerMessage is not None:
            return self.developerMessage
        return self.developer_message


class D360GatewayErrorResponse(WaModel):
    meta: D360GatewayMeta


def parse_cloud_error(obj: Any) -> CloudErrorResponse | D360GatewayErrorResponse:
    """Validate a Cloud-side error body: Graph ``error`` envelope or 360dialog ``meta``."""
    if isinstance(obj, CloudErrorResponse | D360GatewayErrorResponse):
        return obj
    if isinstance(obj, Mapping) and "error" not in obj and "meta" in obj:
        return D360GatewayErrorResponse.model_validate(obj)
    return CloudErrorResponse.model_validate(obj)


# --- health


class CloudHealthError(WaModel):
    error_code: int
    error_description: str | None = None
    possible_solution: str | None = None


class CloudHealthEntity(WaModel):
    entity_type: str
    id: str
    can_send_message: str
    can_receive_call_sip: str | None = None
    additional_info: list[str] | None = None
    errors: list[CloudHealthError] | None = None


class CloudHealthStatus(WaModel):
    """``can_send_message``: ``AVAILABLE`` | ``LIMITED`` | ``BLOCKED`` (open string)."""

    can_send_message: str
    entities: list[CloudHealthEntity] | None = None


class CloudHealthStatusResponse(WaModel):
    """``GET /{id}?fields=health_status`` (Meta) or ``GET /health_status`` (360dialog)."""

    health_status: CloudHealthStatus
    id: str | None = None


# --- business profile


class CloudBusinessProfile(WaModel):
    about: str | None = None
    address: str | None = None
    description: str | None = None
    email: str | None = None
    profile_picture_url: str | None = None
    websites: list[str] | None = None
    vertical: str | None = None
    messaging_product: str | None = None


class CloudBusinessProfileGetResponse(WaModel):
    data: list[CloudBusinessProfile]


class CloudBusinessProfileUpdateRequest(WaModel):
    """``POST .../whatsapp_business_profile``; answered with ``{"success": true}``."""

    messaging_product: Literal["whatsapp"]
    about: str | None = None
    address: str | None = None
    description: str | None = None
    email: str | None = None
    profile_picture_handle: str | None = None
    vertical: str | None = None
    websites: list[str] | None = None


# --- templates


class CloudTemplateInfo(WaModel):
    """One template definition (Meta ``data[]`` and 360dialog ``waba_templates[]``)."""

    name: str
    status: str | None = None
    category: str | None = None
    language: str | None = None
    id: str | None = None
    namespace: str | None = None
    rejected_reason: str | None = None
    components: list[dict[str, JsonValue]] | None = None


class CloudTemplatesListResponse(WaModel):
    """Meta ``GET /{WABA_ID}/message_templates``."""

    data: list[CloudTemplateInfo]
    paging: dict[str, JsonValue] | None = None


class D360TemplatesListResponse(WaModel):
    """360dialog ``GET /v1/configs/templates`` (both hosts)."""

    waba_templates: list[CloudTemplateInfo]
    count: int | None = None
    total: int | None = None
    limit: int | None = None
    offset: int | None = None
    sort: JsonValue = None
    filters: JsonValue = None


# --- webhook configuration


class D360WebhookConfigRequest(WaModel):
    """360dialog ``POST /v1/configs/webhook`` (``headers`` are sent back on every delivery)."""

    url: str
    headers: dict[str, str] | None = None


class D360WabaWebhookRequest(D360WebhookConfigRequest):
    """360dialog Cloud ``POST /waba_webhook``."""

    override_all: bool | None = None


class CloudWabaWebhookOverrideRequest(WaModel):
    """Meta ``POST /{WABA_ID}/subscribed_apps`` with a callback override."""

    override_callback_uri: str
    verify_token: str


class CloudWebhookConfiguration(WaModel):
    override_callback_uri: str
    verify_token: str


class CloudPhoneWebhookOverrideRequest(WaModel):
    """Meta ``POST /{PHONE_NUMBER_ID}`` with ``webhook_configuration``."""

    webhook_configuration: CloudWebhookConfiguration

"""On-Premise API v1 responses and the non-message endpoints.

These are what the shim *produces* for legacy callers (translated from Cloud)
and what recorded On-Prem traffic contains. Value sets that On-Prem documented
as closed are Literals (contacts ``status``, ``blocking``); status strings the
shim may have to synthesise (health ``gateway_status``) stay open strings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shim.models.base import WaModel

__all__ = [
    "OnPremAboutGetResponse",
    "OnPremAboutSettings",
    "OnPremAboutText",
    "OnPremApplicationSettingsRequest",
    "OnPremApplicationWebhooks",
    "OnPremBusinessProfile",
    "OnPremBusinessProfileGetResponse",
    "OnPremBusinessSettings",
    "OnPremContactStatus",
    "OnPremContactsCheckRequest",
    "OnPremContactsCheckResponse",
    "OnPremError",
    "OnPremErrorResponse",
    "OnPremGatewayHealth",
    "OnPremHealthResponse",
    "OnPremMediaId",
    "OnPremMediaUploadResponse",
    "OnPremMeta",
    "OnPremNodeHealth",
    "OnPremProfileAboutRequest",
    "OnPremProfileSettings",
    "OnPremSendResponse",
    "OnPremSendResponseContact",
    "OnPremSendResponseMessage",
    "OnPremSettings",
]


class OnPremMeta(WaModel):
    """``meta`` object many On-Prem responses carry."""

    api_status: str | None = None
    version: str | None = None


class OnPremError(WaModel):
    """One entry of ``errors[]`` (responses, webhook statuses and top-level webhook errors)."""

    code: int
    title: str
    details: str | None = None
    href: str | None = None


class OnPremErrorResponse(WaModel):
    """Error envelope; sent with HTTP 4xx/5xx and sometimes with HTTP 200."""

    errors: list[OnPremError] = Field(min_length=1)
    meta: OnPremMeta | None = None


# --- send


class OnPremSendResponseMessage(WaModel):
    id: str


class OnPremSendResponseContact(WaModel):
    input: str
    wa_id: str


class OnPremSendResponse(WaModel):
    messages: list[OnPremSendResponseMessage] = Field(min_length=1)
    contacts: list[OnPremSendResponseContact] | None = None
    meta: OnPremMeta | None = None


# --- media


class OnPremMediaId(WaModel):
    id: str


class OnPremMediaUploadResponse(WaModel):
    """``POST /v1/media`` answer: ``{"media": [{"id": "<uuid>"}]}``."""

    media: list[OnPremMediaId] = Field(min_length=1)
    meta: OnPremMeta | None = None


# --- contacts check


class OnPremContactsCheckRequest(WaModel):
    """``POST /v1/contacts``; Cloud has no equivalent (the shim answers it locally)."""

    contacts: list[str] = Field(min_length=1)
    blocking: Literal["wait", "no_wait"] | None = None
    force_check: bool | None = None


class OnPremContactStatus(WaModel):
    input: str
    status: Literal["processing", "valid", "invalid"]
    wa_id: str | None = None


class OnPremContactsCheckResponse(WaModel):
    contacts: list[OnPremContactStatus]
    meta: OnPremMeta | None = None


# --- health


class OnPremGatewayHealth(WaModel):
    """Single-instance health: ``{"gateway_status": ...}``."""

    gateway_status: str


class OnPremNodeHealth(WaModel):
    """One node of an HA / multiconnect deployment."""

    gateway_status: str
    role: str | None = None


class OnPremHealthResponse(WaModel):
    """``GET /v1/health``: single ``{"health": {"gateway_status"}}`` or the HA map
    ``{"health": {"host:container": {"gateway_status", "role"}}}``."""

    health: OnPremGatewayHealth | dict[str, OnPremNodeHealth]
    meta: OnPremMeta | None = None

    @property
    def is_ha(self) -> bool:
        return not isinstance(self.health, OnPremGatewayHealth)


# --- profile and settings


class OnPremBusinessProfile(WaModel):
    address: str | None = None
    description: str | None = None
    email: str | None = None
    vertical: str | None = None
    websites: list[str] | None = None


class OnPremBusinessSettings(WaModel):
    profile: OnPremBusinessProfile


class OnPremSettings(WaModel):
    business: OnPremBusinessSettings


class OnPremBusinessProfileGetResponse(WaModel):
    """``GET /v1/settings/business/profile`` (POST takes the bare profile object)."""

    settings: OnPremSettings
    meta: OnPremMeta | None = None


class OnPremProfileAboutRequest(WaModel):
    """``PATCH /v1/settings/profile/about``."""

    text: str


class OnPremAboutText(WaModel):
    text: str


class OnPremAboutSettings(WaModel):
    about: OnPremAboutText


class OnPremProfileSettings(WaModel):
    profile: OnPremAboutSettings


class OnPremAboutGetResponse(WaModel):
    """``GET /v1/settings/profile/about``: ``{"settings": {"profile": {"about": {"text"}}}}``."""

    settings: OnPremProfileSettings
    meta: OnPremMeta | None = None


class OnPremApplicationWebhooks(WaModel):
    url: str | None = None
    max_concurrent_requests: int | None = None


class OnPremApplicationSettingsRequest(WaModel):
    """``PATCH /v1/settings/application`` (self-hosted On-Prem webhook config)."""

    webhooks: OnPremApplicationWebhooks | None = None

"""Pure translators between On-Premise API v1 and Cloud API payloads (no I/O).

Everything here reads the mapping table (:mod:`shim.mapping`) and raises only
:class:`TranslationError` (with the JSON path and the reason) on bad input.
"""

from shim.translate.error import error_response, translate_error
from shim.translate.local import check_contacts
from shim.translate.request import translate_request, translate_send_body
from shim.translate.response import health_as_ha, media_download_url, translate_response
from shim.translate.types import (
    CloudRequest,
    MissingFieldError,
    OnPremResponse,
    OnPremWebhook,
    OtherChange,
    TranslationError,
    TranslationWarning,
    UnknownEndpointError,
    UnsupportedEndpointError,
    WebhookTranslation,
)
from shim.translate.webhook import translate_webhook

__all__ = [
    "CloudRequest",
    "MissingFieldError",
    "OnPremResponse",
    "OnPremWebhook",
    "OtherChange",
    "TranslationError",
    "TranslationWarning",
    "UnknownEndpointError",
    "UnsupportedEndpointError",
    "WebhookTranslation",
    "check_contacts",
    "error_response",
    "health_as_ha",
    "media_download_url",
    "translate_error",
    "translate_request",
    "translate_response",
    "translate_send_body",
    "translate_webhook",
]

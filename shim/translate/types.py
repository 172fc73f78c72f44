"""What translators return and raise. Pure data, shared by every consumer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shim.mapping.endpoints import Body, Unsupported

JSON = Any
"""A decoded JSON value (dict, list, str, int, float, bool or None)."""


@dataclass(frozen=True, slots=True)
class TranslationWarning:
    """A lossy but allowed change, located by JSON path (``$.text.preview_url``)."""

    code: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class TranslationError(ValueError):
    """Input that cannot be translated; ``path`` locates it, ``reason`` says why."""

    status = 400
    onprem_code = 1009

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class MissingFieldError(TranslationError):
    onprem_code = 1008


class UnsupportedEndpointError(TranslationError):
    """An On-Prem operation with no Cloud equivalent (answered as HTTP 501)."""

    status = 501
    onprem_code = 501

    def __init__(self, path: str, unsupported: Unsupported) -> None:
        super().__init__(path, f"{unsupported.reason} Instead: {unsupported.instead}")
        self.unsupported = unsupported


class UnknownEndpointError(TranslationError):
    """A path that is not part of the On-Prem v1 API at all."""

    status = 404
    onprem_code = 1006


@dataclass(slots=True)
class CloudRequest:
    """A request ready for a Cloud backend; ``path`` is relative to its base URL."""

    endpoint: str
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: JSON = None
    body_kind: Body = Body.JSON
    #: multipart upload: (filename, bytes, mime type); the form fields are in ``body``
    file: tuple[str, bytes, str] | None = None
    warnings: list[TranslationWarning] = field(default_factory=list)

    @property
    def path_with_query(self) -> str:
        if not self.query:
            return self.path
        from urllib.parse import urlencode

        return f"{self.path}?{urlencode(self.query)}"


@dataclass(slots=True)
class OnPremResponse:
    """A response in On-Prem shape (status code and body), whatever served it."""

    status: int
    body: JSON
    warnings: list[TranslationWarning] = field(default_factory=list)


@dataclass(slots=True)
class OnPremWebhook:
    """One On-Prem webhook body and where it came from (for routing)."""

    body: dict[str, Any]
    phone_number_id: str | None
    display_phone_number: str | None = None
    waba_id: str | None = None


@dataclass(slots=True)
class OtherChange:
    """A Cloud change whose field is not ``messages`` (template status, account...)."""

    field: str
    value: JSON
    waba_id: str | None = None


@dataclass(slots=True)
class WebhookTranslation:
    bodies: list[OnPremWebhook] = field(default_factory=list)
    other: list[OtherChange] = field(default_factory=list)
    warnings: list[TranslationWarning] = field(default_factory=list)

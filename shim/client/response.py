"""The On-Prem-shaped response every backend's answer is turned into.

It mirrors the parts of ``requests.Response``/``httpx.Response`` that existing
On-Prem callers read (``status_code``, ``json()``, ``content``, ``text``,
``headers``, ``ok``, ``raise_for_status()``), plus what the shim knows about
the exchange (channel, backend, idempotency key, translation warnings, whether
the outcome is unknown). The JSON body is serialized lazily: in-process callers
that only call ``json()`` never pay for encoding.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import httpx

from shim.translate import TranslationWarning

__all__ = ["Outcome", "ShimResponse"]

_UNSET: Any = object()
JSON_CONTENT_TYPE = "application/json"


class Outcome(StrEnum):
    OK = "ok"  # 2xx
    ERROR = "error"  # an error response (the call was refused or failed)
    UNKNOWN = "unknown"  # the request was sent and its fate is unknown; never resent


class ShimResponse:
    """An On-Prem v1 response, whichever backend served it."""

    __slots__ = (
        "_body",
        "_content",
        "_headers",
        "_raw_headers",
        "attempts",
        "backend",
        "channel",
        "elapsed",
        "endpoint",
        "idempotency_key",
        "outcome",
        "outcome_detail",
        "replayed",
        "status_code",
        "warnings",
    )

    def __init__(
        self,
        status_code: int,
        *,
        body: Any = _UNSET,
        content: bytes | None = None,
        headers: Mapping[str, str] | httpx.Headers | None = None,
        channel: str | None = None,
        backend: str | None = None,
        endpoint: str | None = None,
        idempotency_key: str | None = None,
        outcome: Outcome | None = None,
        outcome_detail: str | None = None,
        warnings: list[TranslationWarning] | None = None,
        attempts: int = 0,
        replayed: bool = False,
    ) -> None:
        if body is _UNSET and content is None:
            content = b""
        self.status_code = status_code
        self._body = body
        self._content = content
        # Built on first access: most in-process callers never look at headers.
        self._headers: httpx.Headers | None = None
        self._raw_headers = headers
        self.channel = channel
        self.backend = backend
        self.endpoint = endpoint
        self.idempotency_key = idempotency_key
        if outcome is None:
            outcome = Outcome.OK if 200 <= status_code < 300 else Outcome.ERROR
        self.outcome = outcome
        self.outcome_detail = outcome_detail
        self.warnings = warnings or []
        self.attempts = attempts
        self.replayed = replayed
        #: seconds spent in HTTP exchanges (set by the dispatcher; pacing waits excluded)
        self.elapsed = 0.0

    # -- requests/httpx-compatible surface --------------------------------

    @property
    def headers(self) -> httpx.Headers:
        if self._headers is None:
            headers = httpx.Headers(self._raw_headers)
            if self._body is not _UNSET and "content-type" not in headers:
                headers["Content-Type"] = JSON_CONTENT_TYPE
            self._headers = headers
        return self._headers

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = jsonlib.dumps(
                self._body, separators=(",", ":"), ensure_ascii=False
            ).encode()
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """The decoded JSON body; ValueError when the body is not JSON (e.g. media bytes)."""
        if self._body is not _UNSET and not kwargs:
            return self._body
        return jsonlib.loads(self.content, **kwargs)

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_error(self) -> bool:
        return self.status_code >= 400

    @property
    def outcome_unknown(self) -> bool:
        return self.outcome is Outcome.UNKNOWN

    @property
    def reason_phrase(self) -> str:
        from http import HTTPStatus

        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""

    def raise_for_status(self) -> ShimResponse:
        """Raise :class:`OutcomeUnknown` or :class:`ApiError` for a non-2xx response."""
        from shim.client.errors import ApiError, OutcomeUnknown

        if self.outcome is Outcome.UNKNOWN:
            raise OutcomeUnknown(self)
        if self.status_code >= 400:
            raise ApiError(self)
        return self

    def __repr__(self) -> str:
        via = f" via {self.channel}/{self.backend}" if self.channel else ""
        return f"<ShimResponse [{self.status_code}]{via}>"

"""Cloud and 360dialog error envelopes -> the On-Prem ``errors`` envelope.

The original code and message always survive: in ``details`` (readable) and in
``meta.cloud_error`` (the untouched original), so nothing is lost for callers
that log the error.
"""

from __future__ import annotations

import json
from typing import Any

from shim.mapping.errors import (
    D360_GATEWAY_HTTP_TO_ONPREM,
    D360_GATEWAY_MESSAGE_TO_ONPREM,
    ONPREM_ERRORS,
    ONPREM_FALLBACK_CODE,
    ONPREM_HTTP_STATUS_OVERRIDES,
    cloud_to_onprem_code,
    onprem_title,
)
from shim.translate.types import JSON, OnPremResponse, TranslationError

#: Marks translated envelopes (On-Prem clients read ``meta.api_status``).
META_INFO = {"api_status": "stable", "version": "cloud-api"}


def onprem_envelope(code: int, details: str, *, extra_meta: dict[str, Any] | None = None,
                    title: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = dict(META_INFO)
    if extra_meta:
        meta.update(extra_meta)
    return {
        "errors": [{"code": code, "title": title or onprem_title(code), "details": details}],
        "meta": meta,
    }


def _status_for(code: int, fallback: int) -> int:
    known = ONPREM_ERRORS.get(code)
    return known.http_status if known else fallback


def _kept_status(onprem_code: int, backend_status: int) -> int:
    """The backend's error status, unless the mapping table overrides it for the code."""
    override = ONPREM_HTTP_STATUS_OVERRIDES.get(onprem_code)
    if override is not None:
        return override
    if backend_status >= 400:
        return backend_status
    # An error body under a 2xx/3xx status: the On-Prem code's own status.
    return _status_for(onprem_code, 400)


def as_text(value: object) -> str:
    """Readable, JSON-clean text for ``details`` (never a Python repr)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return json.dumps(str(value))


def is_error_body(status: int, body: JSON) -> bool:
    if status >= 400:
        return True
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict) or body.get("errors"):
            return True
        meta = body.get("meta")
        if isinstance(meta, dict) and meta.get("success") is False:
            return True
    return False


def translate_error(status: int, body: JSON) -> OnPremResponse:
    """Any error body a Cloud backend or 360dialog's gateway returns, in On-Prem shape."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return _graph_error(status, error, body)
        meta = body.get("meta")
        if isinstance(meta, dict) and ("httpCode" in meta or "http_code" in meta
                                       or meta.get("success") is False):
            return _gateway_error(status, meta, body)
        if isinstance(body.get("errors"), list):
            return OnPremResponse(status, body)  # already On-Prem shaped
    code = D360_GATEWAY_HTTP_TO_ONPREM.get(status, ONPREM_FALLBACK_CODE)
    details = f"unexpected response from the backend (HTTP {status}): {as_text(body)[:200]}"
    envelope = onprem_envelope(code, details, extra_meta={"cloud_body": body})
    return OnPremResponse(_kept_status(code, status), envelope)


def _graph_error(status: int, error: dict[str, Any], body: dict[str, Any]) -> OnPremResponse:
    raw_code = error.get("code")
    has_code = isinstance(raw_code, int) and not isinstance(raw_code, bool)
    cloud_code: int = raw_code if isinstance(raw_code, int) and has_code else -1
    message = as_text(error.get("message", ""))
    data = error.get("error_data")
    detail = as_text(data.get("details")) if isinstance(data, dict) and data.get("details") else ""
    code = cloud_to_onprem_code(cloud_code)
    label = f"Cloud error {cloud_code}" if has_code else "Cloud error without a code"
    text = f"{detail or message} ({label}: {message})"
    envelope = onprem_envelope(code, text, extra_meta={"cloud_error": error, "cloud_body": body})
    return OnPremResponse(_kept_status(code, status), envelope)


def _gateway_error(status: int, meta: dict[str, Any], body: dict[str, Any]) -> OnPremResponse:
    http_code = meta.get("httpCode", meta.get("http_code", status))
    if not isinstance(http_code, int):
        http_code = status
    message = as_text(meta.get("developerMessage", meta.get("developer_message", "")))
    lowered = message.lower()
    code = next((c for phrase, c in D360_GATEWAY_MESSAGE_TO_ONPREM if phrase in lowered),
                D360_GATEWAY_HTTP_TO_ONPREM.get(http_code, ONPREM_FALLBACK_CODE))
    text = f"{message} (360dialog gateway, HTTP {http_code})"
    envelope = onprem_envelope(code, text, extra_meta={"gateway_error": meta, "cloud_body": body})
    # The gateway's own status is kept where it is meaningful; its 400 for rate
    # limits and 404 for bad keys are replaced by the On-Prem code's status.
    keep = http_code in (401, 403, 429, 500, 502, 503, 504)
    return OnPremResponse(http_code if keep else _status_for(code, status), envelope)


def error_response(exc: TranslationError) -> OnPremResponse:
    """Our own refusal (bad input, unsupported endpoint) as an On-Prem error."""
    return OnPremResponse(exc.status, onprem_envelope(exc.onprem_code, str(exc)))

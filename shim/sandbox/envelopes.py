"""Response bodies: success JSON and the three error envelopes.

Codes, titles and HTTP statuses come from :mod:`shim.mapping.errors`; this
module only decides which envelope a surface speaks. Bodies are serialized
here once, as bytes, to keep the send path cheap.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from shim.mapping.errors import CLOUD_ERRORS, ONPREM_ERRORS
from shim.mapping.fields import MESSAGING_PRODUCT
from shim.sandbox.ids import fbtrace_id

__all__ = [
    "ApiError",
    "d360_gateway_error",
    "graph_error",
    "json_response",
    "onprem_error",
]

#: Decision: error envelopes carry a ``meta`` block like the On-Prem container
#: did; success bodies follow the published examples, which have none.
ONPREM_META = {"api_status": "stable", "version": "2.53.1"}

_JSON = "application/json"


def json_response(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type=_JSON)


class ApiError(Exception):
    """Raised inside a handler; the surface's error handler renders it.

    ``code`` is a Cloud code on Cloud surfaces and an On-Prem code on the
    On-Prem surface; ``http_status`` overrides the table (faults use this).
    """

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        http_status: int | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(details or str(code))
        self.code = code
        self.details = details
        self.http_status = http_status
        self.message = message


def graph_error(
    code: int,
    details: str | None = None,
    *,
    http_status: int | None = None,
    message: str | None = None,
) -> Response:
    """Graph's ``{"error": {...}}`` envelope (Meta and 360dialog Cloud pass-through)."""
    known = CLOUD_ERRORS[code]
    error: dict[str, Any] = {
        "message": message or f"(#{code}) {known.title}",
        "type": "OAuthException",
        "code": code,
    }
    if details is not None:
        error["error_data"] = {"messaging_product": MESSAGING_PRODUCT, "details": details}
    error["fbtrace_id"] = fbtrace_id()
    return json_response({"error": error}, http_status or known.http_status)


def onprem_error(
    code: int, details: str | None = None, *, http_status: int | None = None
) -> Response:
    """The On-Premise ``{"errors": [...], "meta": {...}}`` envelope."""
    known = ONPREM_ERRORS[code]
    item: dict[str, Any] = {"code": code, "title": known.title}
    if details is not None:
        item["details"] = details
    return json_response({"errors": [item], "meta": ONPREM_META}, http_status or known.http_status)


def d360_gateway_error(http_status: int, developer_message: str) -> Response:
    """360dialog's own gateway envelope (bad key, blocked path): not a WhatsApp code."""
    payload = {
        "meta": {"httpCode": http_status, "developerMessage": developer_message, "success": False}
    }
    return json_response(payload, http_status)


def render_cloud(exc: ApiError) -> Response:
    return graph_error(exc.code, exc.details, http_status=exc.http_status, message=exc.message)


def render_onprem(exc: ApiError) -> Response:
    return onprem_error(exc.code, exc.details, http_status=exc.http_status)

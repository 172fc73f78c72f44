"""360dialog's own configuration endpoints, identical on both of its hosts.

``/v1/configs/webhook`` is answered by 360dialog's gateway, so errors use its
``{"meta": {...}}`` envelope rather than a WhatsApp one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from shim.sandbox.bodies import BadBody, read_json
from shim.sandbox.envelopes import d360_gateway_error, json_response
from shim.sandbox.state import SandboxState, WebhookTarget

__all__ = ["webhook_config"]


async def webhook_config(state: SandboxState, request: Request) -> Response:
    """``GET`` -> ``{"url"}``; ``POST {"url", "headers"?}`` sets where webhooks go."""
    if request.method == "GET":
        target = state.webhook
        return json_response({"url": target.url if target else None})
    try:
        body = await read_json(request)
    except BadBody as exc:
        return d360_gateway_error(400, str(exc))
    if not isinstance(body, dict):
        return d360_gateway_error(400, "body: must be a JSON object")
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return d360_gateway_error(400, "url: required, an absolute http(s) URL")
    headers = body.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        return d360_gateway_error(400, "headers: must be an object of string values")
    state.webhook = WebhookTarget(url, dict(headers))
    return json_response({"url": url})

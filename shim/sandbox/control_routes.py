"""``/_sandbox/*``: the control endpoints tests and demos drive the sandbox with.

Pinned by the issue: ``POST /_sandbox/inbound``, ``GET /_sandbox/outbox``
(``[{"id", "to", "body"}]``), ``POST /_sandbox/faults`` and
``POST /_sandbox/reset``. The rest are additions: ``GET|DELETE /_sandbox/faults``,
``GET|POST /_sandbox/config`` (runtime knobs), ``POST /_sandbox/status`` (emit a
status, e.g. ``failed``), ``GET /_sandbox/webhooks`` (delivery log) and
``GET /_sandbox/info``. They need no credentials and are never faulted.
Bad control input answers 400 ``{"error": {"message": "<field>: <why>"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, get_args

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shim.mapping.errors import CLOUD_ERRORS, ONPREM_ERRORS
from shim.sandbox.bodies import BadBody, read_json
from shim.sandbox.cloud_messages import request_origin
from shim.sandbox.core import ControlError, SandboxCore
from shim.sandbox.envelopes import json_response
from shim.sandbox.faults import parse_fault
from shim.sandbox.settings import PairRateLimit, StatusName
from shim.sandbox.state import WebhookTarget

__all__ = ["control_routes"]

_STATUS_NAMES: Final = frozenset(get_args(StatusName))
_EMIT_STATUSES: Final = frozenset({*_STATUS_NAMES, "failed"})


def _error(message: str, status: int = 400) -> Response:
    return json_response({"error": {"message": message}}, status)


def _probability(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ControlError(f"{name}: must be a number between 0 and 1")
    return float(value)


def _pair_rate(value: Any) -> PairRateLimit | None:
    if value is None or value is False:
        return None
    if value is True:
        return PairRateLimit()
    if not isinstance(value, Mapping):
        raise ControlError('pair_rate_limit: must be null, true or {"burst", "interval_s"}')
    default = PairRateLimit()
    burst = value.get("burst", default.burst)
    interval = value.get("interval_s", default.interval_s)
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise ControlError("pair_rate_limit.burst: must be an integer >= 1")
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        raise ControlError("pair_rate_limit.interval_s: must be a number > 0")
    return PairRateLimit(burst, float(interval))


def apply_config(core: SandboxCore, body: Any) -> None:
    """Validate everything first, then apply, so a bad request changes nothing."""
    if not isinstance(body, Mapping):
        raise ControlError("body: must be a JSON object")
    knobs = core.state.knobs.copy()
    webhook_given = "webhook_url" in body
    webhook: WebhookTarget | None = None
    for key, value in body.items():
        if key == "open_windows":
            if not isinstance(value, bool):
                raise ControlError("open_windows: must be true or false")
            knobs.open_windows = value
        elif key == "pair_rate_limit":
            knobs.pair_rate_limit = _pair_rate(value)
        elif key == "throughput_mps":
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000
            ):
                raise ControlError("throughput_mps: must be null or an integer from 1 to 100000")
            knobs.throughput_mps = value
        elif key == "statuses":
            if not isinstance(value, list) or not set(value) <= _STATUS_NAMES:
                raise ControlError(f"statuses: must be a list of {sorted(_STATUS_NAMES)}")
            knobs.statuses = tuple(value)
        elif key == "webhook_batch_probability":
            knobs.webhook_batch_probability = _probability(value, key)
        elif key == "webhook_reorder_probability":
            knobs.webhook_reorder_probability = _probability(value, key)
        elif key == "webhook_max_batch":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ControlError("webhook_max_batch: must be an integer >= 1")
            knobs.webhook_max_batch = value
        elif key == "health":
            if value not in ("single", "ha"):
                raise ControlError("health: must be 'single' or 'ha'")
            knobs.health = value
        elif key == "can_send_message":
            if value not in ("AVAILABLE", "LIMITED", "BLOCKED"):
                raise ControlError("can_send_message: must be AVAILABLE, LIMITED or BLOCKED")
            knobs.can_send_message = value
        elif key == "webhook_url":
            if value is None:
                pass
            elif isinstance(value, str) and value.startswith(("http://", "https://")):
                headers = body.get("webhook_headers", {})
                if not isinstance(headers, Mapping) or not all(
                    isinstance(v, str) for v in headers.values()
                ):
                    raise ControlError("webhook_headers: must be an object of strings")
                webhook = WebhookTarget(value, dict(headers))
            else:
                raise ControlError("webhook_url: must be null or an http(s) URL")
        elif key == "webhook_headers":
            if "webhook_url" not in body:
                raise ControlError("webhook_headers: only together with webhook_url")
        else:
            raise ControlError(f"{key}: unknown setting")
    core.state.knobs = knobs
    if "pair_rate_limit" in body or "throughput_mps" in body:
        core.state.reset_pair_budgets()
    if webhook_given:
        core.state.webhook = webhook


def control_routes(core: SandboxCore) -> list[BaseRoute]:
    state = core.state

    async def body_of(request: Request) -> Any:
        return await read_json(request, empty_ok=True)

    async def inbound(request: Request) -> Response:
        try:
            result = core.inbound(await read_json(request), request_origin(request))
        except (BadBody, ControlError) as exc:
            return _error(str(exc))
        return json_response(result)

    async def outbox(request: Request) -> Response:
        to = request.query_params.get("to")
        items = [m.as_outbox() for m in state.outbox if to is None or m.to == to]
        return json_response(items)

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                state.faults.add(parse_fault(await read_json(request)))
            except (BadBody, ValueError) as exc:
                return _error(str(exc))
        elif request.method == "DELETE":
            state.faults.clear()
        return json_response({"faults": [f.as_json() for f in state.faults.pending()]})

    async def reset(request: Request) -> Response:
        state.reset()
        core.webhooks.reset()
        return json_response({"reset": True})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            try:
                apply_config(core, await body_of(request))
            except (BadBody, ControlError) as exc:
                return _error(str(exc))
        data = state.knobs.as_json()
        data["webhook_url"] = state.webhook.url if state.webhook else None
        return json_response(data)

    async def status(request: Request) -> Response:
        try:
            body = await read_json(request)
        except BadBody as exc:
            return _error(str(exc))
        if not isinstance(body, Mapping):
            return _error("body: must be a JSON object")
        message_id = body.get("id")
        message = state.messages.get(message_id) if isinstance(message_id, str) else None
        if message is None:
            return _error("id: not a message this sandbox accepted", 404)
        name = body.get("status")
        if name not in _EMIT_STATUSES:
            return _error(f"status: must be one of {sorted(_EMIT_STATUSES)}")
        code = body.get("error_code")
        table: Mapping[int, Any] = CLOUD_ERRORS if core.settings.is_cloud else ONPREM_ERRORS
        if name == "failed" and code is None:
            code = 131026 if core.settings.is_cloud else 1026
        if code is not None and code not in table:
            return _error("error_code: not a code of this API in shim.mapping.errors")
        details = body.get("details")
        if details is not None and not isinstance(details, str):
            return _error("details: must be a string")
        core.emit_status(message, str(name), error_code=code, error_details=details)
        return json_response({"emitted": True, "webhook": state.webhook is not None})

    async def webhooks(request: Request) -> Response:
        return json_response(
            {
                "idle": core.webhooks.idle,
                "deliveries": [d.as_json() for d in core.webhooks.log],
            }
        )

    async def info(request: Request) -> Response:
        settings = core.settings
        return json_response(
            {
                "api": settings.api.value,
                "phone_number_id": settings.phone_number_id,
                "waba_id": settings.waba_id,
                "display_phone_number": settings.display_phone_number,
                "webhook_url": state.webhook.url if state.webhook else None,
                "accept_any_key": settings.accept_any_key,
            }
        )

    return [
        Route("/inbound", inbound, methods=["POST"]),
        Route("/outbox", outbox, methods=["GET"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/config", config, methods=["GET", "POST"]),
        Route("/status", status, methods=["POST"]),
        Route("/webhooks", webhooks, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
    ]

"""The On-Premise API v1 surface as 360dialog hosted it (waba.360dialog.io).

On-Prem reported re-engagement (470) and template problems (2000/2001)
asynchronously: the send is accepted with an id, then a ``failed`` status
arrives on the webhook (see the ``onprem-webhook-status-failed-470`` example).
Decision: such messages are not put in the outbox, since they never reach the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shim.mapping.fields import BUSINESS_PROFILE_FIELDS, MEDIA_TYPES
from shim.sandbox import ids
from shim.sandbox.bodies import BadBody, read_json
from shim.sandbox.core import SandboxCore
from shim.sandbox.d360_config import webhook_config
from shim.sandbox.envelopes import ApiError, json_response
from shim.sandbox.media import CLOUD_MEDIA_LIMITS, ONPREM_MAX_UPLOAD_BYTES, MediaItem, plain_mime
from shim.sandbox.profile import apply_profile_update
from shim.sandbox.rules import check_onprem_send, wa_id_of
from shim.sandbox.state import OutboundMessage
from shim.sandbox.templates import (
    count_placeholders,
    param_count_problem,
    parse_template_request,
)

__all__ = ["onprem_routes"]


async def _json(request: Request, *, empty_ok: bool = False) -> Any:
    try:
        return await read_json(request, empty_ok=empty_ok)
    except BadBody as exc:
        raise ApiError(1009, str(exc)) from exc


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ApiError(1009, "body: must be a JSON object")
    return body


class OnPremApi:
    def __init__(self, core: SandboxCore) -> None:
        self.core = core
        self.state = core.state

    # -- messages ----------------------------------------------------------------

    async def send(self, request: Request) -> Response:
        body = await _json(request)
        kind, wa_id = check_onprem_send(body)
        state = self.state
        if kind in MEDIA_TYPES:
            media_id = body[kind].get("id")
            if media_id is not None and state.media.get(media_id) is None:
                raise ApiError(1009, f"{kind}.id: unknown media id {media_id}")
        message = OutboundMessage(ids.onprem_message_id(), body["to"], body, wa_id)
        failure: tuple[int, str | None] | None = None
        if kind in ("template", "hsm"):
            failure = self._template_failure(kind, body[kind])
        elif not state.window_open(wa_id):
            failure = (470, None)
        if failure is None:
            self.core.accept(message)
        else:
            state.record(message, in_outbox=False)
            self.core.emit_status(
                message, "failed", error_code=failure[0], error_details=failure[1]
            )
        return json_response({"messages": [{"id": message.id}]})

    def _template_failure(self, kind: str, obj: Mapping[str, Any]) -> tuple[int, str | None] | None:
        name = obj["element_name"] if kind == "hsm" else obj["name"]
        code = obj["language"]["code"]
        tpl = self.state.templates.get(name, code)
        if tpl is None or tpl.status != "APPROVED":
            return 2001, f"template {name} ({code}) not found or not approved"
        if kind == "hsm":
            expected = sum(
                count_placeholders(str(c.get("text", "")))
                for c in tpl.components
                if str(c.get("type", "")).upper() == "BODY"
            )
            got = len(obj.get("localizable_params", []))
            if got != expected:
                return 2000, f"body: expected {expected} parameters, received {got}"
            return None
        problem = param_count_problem(tpl, obj.get("components"))
        return None if problem is None else (2000, problem)

    async def mark_read(self, request: Request) -> Response:
        message_id = request.path_params["message_id"]
        body = _object(await _json(request))
        status = body.get("status")
        if status is None:
            raise ApiError(1008, "status: required parameter is missing")
        if status != "read":
            raise ApiError(1009, "status: must be 'read'")
        if message_id not in self.state.inbound:
            raise ApiError(1006, f"message {message_id}: not found")
        self.state.read_marks.append(message_id)
        return json_response({})

    # -- media -------------------------------------------------------------------

    async def upload_media(self, request: Request) -> Response:
        mime = plain_mime(request.headers.get("content-type", ""))
        if not mime:
            raise ApiError(1008, "Content-Type: required, the media MIME type")
        if mime not in CLOUD_MEDIA_LIMITS:
            raise ApiError(1009, f"Content-Type: unsupported media type {mime}")
        data = await request.body()
        if not data:
            raise ApiError(1008, "body: the media bytes are missing")
        if len(data) > ONPREM_MAX_UPLOAD_BYTES:
            raise ApiError(1009, f"body: larger than {ONPREM_MAX_UPLOAD_BYTES} bytes")
        item = self.state.media.add(MediaItem(ids.onprem_media_id(), data, mime))
        return json_response({"media": [{"id": item.id}]})

    def _media(self, media_id: str) -> MediaItem:
        item = self.state.media.get(media_id)
        if item is None:
            raise ApiError(1006, f"media {media_id}: not found")
        return item

    async def media(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        if request.method == "DELETE":
            self._media(media_id)
            self.state.media.delete(media_id)
            return json_response({})
        item = self._media(media_id)
        return Response(item.data, media_type=item.mime_type)

    # -- contacts, health, settings ----------------------------------------------------

    async def contacts(self, request: Request) -> Response:
        body = _object(await _json(request))
        inputs = body.get("contacts")
        if inputs is None:
            raise ApiError(1008, "contacts: required parameter is missing")
        if not isinstance(inputs, list) or not all(isinstance(c, str) for c in inputs):
            raise ApiError(1009, "contacts: must be an array of phone number strings")
        blocking = body.get("blocking", "no_wait")
        if blocking not in ("wait", "no_wait"):
            raise ApiError(1009, "blocking: must be 'wait' or 'no_wait'")
        results: list[dict[str, str]] = []
        for raw in inputs:
            wa_id = wa_id_of(raw)
            if 6 <= len(wa_id) <= 15:
                results.append({"input": raw, "status": "valid", "wa_id": wa_id})
            else:
                results.append({"input": raw, "status": "invalid"})
        return json_response({"contacts": results})

    async def health(self, request: Request) -> Response:
        status = "connected" if self.state.knobs.can_send_message != "BLOCKED" else "disconnected"
        if self.state.knobs.health == "ha":
            return json_response(
                {
                    "health": {
                        "sandbox-1:coreapp-1": {"gateway_status": status, "role": "primary_master"},
                        "sandbox-2:coreapp-2": {
                            "gateway_status": "disconnected",
                            "role": "secondary_master",
                        },
                    }
                }
            )
        return json_response({"health": {"gateway_status": status}})

    async def webhook(self, request: Request) -> Response:
        return await webhook_config(self.state, request)

    async def templates(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                tpl = parse_template_request(await _json(request))
            except ValueError as exc:
                raise ApiError(1009, str(exc)) from exc
            if self.state.templates.get(tpl.name, tpl.language) is not None:
                raise ApiError(1004, f"template {tpl.name} ({tpl.language}) already exists")
            self.state.templates.add(tpl)
            return json_response(tpl.as_d360(), 201)
        items = self.state.templates.all()
        return json_response(
            {
                "count": len(items),
                "filters": {},
                "limit": 1000,
                "offset": 0,
                "sort": ["id"],
                "total": len(items),
                "waba_templates": [t.as_d360() for t in items],
            }
        )

    async def delete_template(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not self.state.templates.delete(name):
            raise ApiError(1006, f"template {name}: not found")
        return json_response({})

    async def phone_number(self, request: Request) -> Response:
        return json_response({"phone_number": self.core.settings.display_phone_number})

    async def about(self, request: Request) -> Response:
        profile = self.state.business_profile
        if request.method == "GET":
            return json_response({"settings": {"profile": {"about": {"text": profile["about"]}}}})
        body = _object(await _json(request))
        text = body.get("text")
        if text is None:
            raise ApiError(1008, "text: required parameter is missing")
        try:
            apply_profile_update(profile, {"about": text})
        except ValueError as exc:
            raise ApiError(1009, str(exc).replace("about", "text", 1)) from exc
        return json_response({})

    async def business_profile(self, request: Request) -> Response:
        profile = self.state.business_profile
        if request.method == "GET":
            fields = {k: profile[k] for k in BUSINESS_PROFILE_FIELDS if k in profile}
            return json_response({"settings": {"business": {"profile": fields}}})
        body = _object(await _json(request))
        unknown = sorted(set(body) - set(BUSINESS_PROFILE_FIELDS))
        if unknown:
            raise ApiError(1010, f"{unknown[0]}: not a business profile field")
        try:
            apply_profile_update(profile, body)
        except ValueError as exc:
            raise ApiError(1009, str(exc)) from exc
        return json_response({})


def onprem_routes(core: SandboxCore) -> list[BaseRoute]:
    api = OnPremApi(core)
    return [
        Route("/v1/messages", api.send, methods=["POST"]),
        Route("/v1/messages/{message_id}", api.mark_read, methods=["PUT"]),
        Route("/v1/media", api.upload_media, methods=["POST"]),
        Route("/v1/media/{media_id}", api.media, methods=["GET", "DELETE"]),
        Route("/v1/contacts", api.contacts, methods=["POST"]),
        Route("/v1/health", api.health, methods=["GET"]),
        Route("/v1/configs/webhook", api.webhook, methods=["GET", "POST"]),
        Route("/v1/configs/templates", api.templates, methods=["GET", "POST"]),
        Route("/v1/configs/templates/{name}", api.delete_template, methods=["DELETE"]),
        Route("/v1/configs/phone_number", api.phone_number, methods=["GET"]),
        Route("/v1/settings/profile/about", api.about, methods=["GET", "PATCH"]),
        Route("/v1/settings/business/profile", api.business_profile, methods=["GET", "POST"]),
    ]

"""Route tables of the two Cloud surfaces and their management endpoints.

360dialog (waba-v2): messaging without a phone-number prefix, plus 360dialog's
``/v1/configs/*`` management paths. Meta (Graph): everything under
``/vNN.N/{node}``, where the node is the phone number, the WABA or a media id.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shim.mapping.fields import MESSAGING_PRODUCT
from shim.sandbox.bodies import BadBody, read_json
from shim.sandbox.cloud_messages import CloudMessages, unknown_object
from shim.sandbox.core import SandboxCore
from shim.sandbox.d360_config import webhook_config
from shim.sandbox.envelopes import ApiError, json_response
from shim.sandbox.media import LOOKASIDE_PATH
from shim.sandbox.profile import apply_profile_update
from shim.sandbox.state import WebhookTarget
from shim.sandbox.templates import DEFAULT_NAMESPACE, Template, parse_template_request

__all__ = ["d360_routes", "health_status", "meta_routes"]

_VERSION: Final = re.compile(r"v\d+\.\d+")
_PROFILE_FIELDS: Final = (
    "about",
    "address",
    "description",
    "email",
    "profile_picture_url",
    "websites",
    "vertical",
)

Handler = Callable[[Request], Awaitable[Response]]


def health_status(core: SandboxCore, node_id: str) -> dict[str, Any]:
    """Cloud ``health_status`` (api-mapping section 9); one knob sets every entity."""
    settings, level = core.settings, core.state.knobs.can_send_message
    entities = [
        ("PHONE_NUMBER", settings.phone_number_id),
        ("WABA", settings.waba_id),
        ("BUSINESS", "3000000003"),
        ("APP", "4000000004"),
    ]
    return {
        "health_status": {
            "can_send_message": level,
            "entities": [
                {"entity_type": kind, "id": ident, "can_send_message": level}
                for kind, ident in entities
            ],
        },
        "id": node_id,
    }


def _fields(request: Request) -> list[str]:
    raw = request.query_params.get("fields", "")
    return [f.strip() for f in raw.split(",") if f.strip()]


class CloudAdmin:
    """Profile, templates and webhook configuration, in Cloud shapes."""

    def __init__(self, core: SandboxCore) -> None:
        self.core = core
        self.state = core.state

    async def _json(self, request: Request) -> Any:
        try:
            return await read_json(request)
        except BadBody as exc:
            raise ApiError(100, str(exc)) from exc

    # -- business profile ----------------------------------------------------------

    def profile_get(self, request: Request) -> Response:
        wanted = _fields(request) or list(_PROFILE_FIELDS)
        unknown = [f for f in wanted if f not in _PROFILE_FIELDS]
        if unknown:
            raise ApiError(
                100,
                f"Tried accessing nonexisting field ({unknown[0]}) on node type "
                "(WhatsAppBusinessProfile)",
            )
        profile = self.state.business_profile
        data = {f: profile[f] for f in wanted if f in profile}
        data["messaging_product"] = MESSAGING_PRODUCT
        return json_response({"data": [data]})

    async def profile_post(self, request: Request) -> Response:
        body = await self._json(request)
        if not isinstance(body, dict):
            raise ApiError(100, "Request body must be a JSON object.")
        if body.get("messaging_product") is None:
            raise ApiError(100, "The parameter messaging_product is required.")
        if body["messaging_product"] != MESSAGING_PRODUCT:
            raise ApiError(100, f"Param messaging_product must be '{MESSAGING_PRODUCT}'.")
        try:
            apply_profile_update(
                self.state.business_profile, body, ignore=frozenset({"messaging_product"})
            )
        except ValueError as exc:
            raise ApiError(100, f"Param {exc}") from exc
        return json_response({"success": True})

    # -- templates -----------------------------------------------------------------

    async def _create_template(self, request: Request) -> Template:
        body = await self._json(request)
        try:
            tpl = parse_template_request(body)
        except ValueError as exc:
            raise ApiError(100, f"Param {exc}") from exc
        if self.state.templates.get(tpl.name, tpl.language) is not None:
            raise ApiError(
                100, f"Content in this language already exists: {tpl.name} ({tpl.language})"
            )
        return self.state.templates.add(tpl)

    @staticmethod
    def _page(request: Request) -> tuple[int, int]:
        try:
            limit = int(request.query_params.get("limit", "1000"))
            offset = int(request.query_params.get("offset", "0"))
        except ValueError as exc:
            raise ApiError(100, "Param limit and offset must be integers.") from exc
        if limit < 0 or offset < 0:
            raise ApiError(100, "Param limit and offset must not be negative.")
        return limit, offset

    def d360_templates(self, request: Request) -> Response:
        items = self.state.templates.all()
        limit, offset = self._page(request)
        page = items[offset : offset + limit]
        return json_response(
            {
                "count": len(page),
                "filters": {},
                "limit": limit,
                "offset": offset,
                "sort": ["id"],
                "total": len(items),
                "waba_templates": [t.as_d360() for t in page],
            }
        )

    async def d360_create_template(self, request: Request) -> Response:
        tpl = await self._create_template(request)
        return json_response(tpl.as_d360(), 201)

    def delete_template(self, name: str) -> Response:
        if not self.state.templates.delete(name):
            raise ApiError(100, f"Template name {name} does not exist.")
        return json_response({"success": True})

    def graph_templates(self, request: Request) -> Response:
        items = self.state.templates.all()
        name = request.query_params.get("name")
        status = request.query_params.get("status")
        items = [
            t
            for t in items
            if (name is None or t.name == name) and (status is None or t.status == status)
        ]
        limit, offset = self._page(request)
        page = items[offset : offset + limit]
        return json_response(
            {
                "data": [t.as_graph() for t in page],
                "paging": {"cursors": {"before": str(offset), "after": str(offset + len(page))}},
            }
        )

    async def graph_create_template(self, request: Request) -> Response:
        tpl = await self._create_template(request)
        return json_response({"id": tpl.id, "status": tpl.status, "category": tpl.category})

    # -- Meta phone-number and WABA nodes ----------------------------------------------

    def phone_number_node(self, request: Request) -> Response:
        settings = self.core.settings
        defaults: dict[str, Any] = {
            "verified_name": "Sandbox Business",
            "code_verification_status": "VERIFIED",
            "display_phone_number": settings.display_phone_number,
            "quality_rating": "GREEN",
            "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD"},
            "name_status": "APPROVED",
        }
        out: dict[str, Any] = {}
        for name in _fields(request) or list(defaults):
            if name == "health_status":
                out.update(health_status(self.core, settings.phone_number_id))
            elif name == "webhook_configuration":
                out["webhook_configuration"] = self._webhook_configuration()
            elif name in defaults:
                out[name] = defaults[name]
            else:
                raise ApiError(
                    100,
                    f"Tried accessing nonexisting field ({name}) on node type "
                    "(WhatsAppBusinessPhoneNumber)",
                )
        out["id"] = settings.phone_number_id
        return json_response(out)

    def _webhook_configuration(self) -> dict[str, str]:
        target, settings = self.state.webhook, self.core.settings
        config: dict[str, str] = {}
        if settings.webhook_url:
            config["application"] = settings.webhook_url
        if target is not None and target.level == "phone_number":
            config["phone_number"] = target.url
        return config

    def waba_node(self, request: Request) -> Response:
        settings = self.core.settings
        out: dict[str, Any] = {}
        defaults: dict[str, Any] = {
            "name": "Sandbox WABA",
            "message_template_namespace": DEFAULT_NAMESPACE,
            "currency": "USD",
            "timezone_id": "1",
        }
        for name in _fields(request) or list(defaults):
            if name == "health_status":
                out.update(health_status(self.core, settings.waba_id))
            elif name in defaults:
                out[name] = defaults[name]
            else:
                raise ApiError(
                    100,
                    f"Tried accessing nonexisting field ({name}) on node type "
                    "(WhatsAppBusinessAccount)",
                )
        out["id"] = settings.waba_id
        return json_response(out)

    async def phone_number_update(self, request: Request) -> Response:
        body = await self._json(request)
        if not isinstance(body, dict) or "webhook_configuration" not in body:
            raise ApiError(100, "The parameter webhook_configuration is required.")
        config = body["webhook_configuration"]
        if not isinstance(config, dict):
            raise ApiError(100, "Param webhook_configuration must be a JSON object.")
        uri = config.get("override_callback_uri")
        if not isinstance(uri, str):
            raise ApiError(
                100, "The parameter webhook_configuration['override_callback_uri'] is required."
            )
        if uri == "":
            self.state.webhook = self.state.initial_webhook()
            return json_response({"success": True})
        token = config.get("verify_token")
        if not isinstance(token, str) or not token:
            raise ApiError(100, "The parameter webhook_configuration['verify_token'] is required.")
        if not uri.startswith(("http://", "https://")):
            raise ApiError(
                100, "Param webhook_configuration['override_callback_uri'] must be a URL."
            )
        problem = await self.core.webhooks.verify_callback(uri, token)
        if problem is not None:
            raise ApiError(100, f"Callback verification failed: {problem}")
        self.state.webhook = WebhookTarget(uri, {}, "phone_number", token)
        return json_response({"success": True})


def d360_routes(core: SandboxCore) -> list[BaseRoute]:
    msgs, admin = CloudMessages(core), CloudAdmin(core)

    async def media_node(request: Request) -> Response:
        media_id = request.path_params["media_id"]
        if request.method == "DELETE":
            return msgs.delete_media(media_id)
        return msgs.media_info(request, media_id)

    async def health(request: Request) -> Response:
        return json_response(health_status(core, core.settings.phone_number_id))

    async def profile(request: Request) -> Response:
        if request.method == "POST":
            return await admin.profile_post(request)
        return admin.profile_get(request)

    async def webhook(request: Request) -> Response:
        return await webhook_config(core.state, request)

    async def templates(request: Request) -> Response:
        if request.method == "POST":
            return await admin.d360_create_template(request)
        return admin.d360_templates(request)

    async def template_delete(request: Request) -> Response:
        return admin.delete_template(request.path_params["name"])

    return [
        Route("/messages", msgs.messages, methods=["POST"]),
        Route("/media", msgs.upload_media, methods=["POST"]),
        Route("/health_status", health, methods=["GET"]),
        Route("/whatsapp_business_profile", profile, methods=["GET", "POST"]),
        Route("/v1/configs/webhook", webhook, methods=["GET", "POST"]),
        Route("/v1/configs/templates", templates, methods=["GET", "POST"]),
        Route("/v1/configs/templates/{name}", template_delete, methods=["DELETE"]),
        Route(LOOKASIDE_PATH.rstrip("/"), msgs.download, methods=["GET"]),
        Route("/{media_id}", media_node, methods=["GET", "DELETE"]),
    ]


def meta_routes(core: SandboxCore) -> list[BaseRoute]:
    msgs, admin = CloudMessages(core), CloudAdmin(core)
    settings = core.settings

    def node_of(request: Request, expected: str) -> None:
        version, node = request.path_params["version"], request.path_params["node"]
        if not _VERSION.fullmatch(version):
            raise ApiError(
                100, f"Unknown path components: /{version}", message="Unknown path components"
            )
        if node != expected:
            raise unknown_object(node, request.method.lower())

    async def messages(request: Request) -> Response:
        node_of(request, settings.phone_number_id)
        return await msgs.messages(request)

    async def media(request: Request) -> Response:
        node_of(request, settings.phone_number_id)
        return await msgs.upload_media(request)

    async def profile(request: Request) -> Response:
        node_of(request, settings.phone_number_id)
        if request.method == "POST":
            return await admin.profile_post(request)
        return admin.profile_get(request)

    async def templates(request: Request) -> Response:
        node_of(request, settings.waba_id)
        if request.method == "POST":
            return await admin.graph_create_template(request)
        if request.method == "DELETE":
            name = request.query_params.get("name")
            if not name:
                raise ApiError(100, "The parameter name is required.")
            return admin.delete_template(name)
        return admin.graph_templates(request)

    async def node(request: Request) -> Response:
        version, node_id = request.path_params["version"], request.path_params["node"]
        if not _VERSION.fullmatch(version):
            raise ApiError(
                100, f"Unknown path components: /{version}", message="Unknown path components"
            )
        method = request.method
        if node_id == settings.phone_number_id:
            if method == "GET":
                return admin.phone_number_node(request)
            if method == "POST":
                return await admin.phone_number_update(request)
        elif node_id == settings.waba_id:
            if method == "GET":
                return admin.waba_node(request)
        elif core.state.media.get(node_id) is not None:
            if method == "GET":
                return msgs.media_info(request, node_id)
            if method == "DELETE":
                return msgs.delete_media(node_id)
        raise unknown_object(node_id, method.lower())

    return [
        Route(LOOKASIDE_PATH.rstrip("/"), msgs.download, methods=["GET"]),
        Route("/{version}/{node}/messages", messages, methods=["POST"]),
        Route("/{version}/{node}/media", media, methods=["POST"]),
        Route("/{version}/{node}/whatsapp_business_profile", profile, methods=["GET", "POST"]),
        Route("/{version}/{node}/message_templates", templates, methods=["GET", "POST", "DELETE"]),
        Route("/{version}/{node}", node, methods=["GET", "POST", "DELETE"]),
    ]

"""Cloud messaging and media handlers shared by the 360dialog and Meta surfaces.

The two surfaces differ only in routing (no prefix vs ``/vNN.N/{id}/…``), auth
(handled by the auth layer) and where media download URLs point; the rules are
the same Cloud rules (api-mapping sections 2-5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from shim.mapping.fields import MEDIA_TYPES, MESSAGING_PRODUCT
from shim.sandbox import ids
from shim.sandbox.bodies import BadBody, read_json
from shim.sandbox.core import SandboxCore
from shim.sandbox.envelopes import ApiError, graph_error, json_response
from shim.sandbox.media import MediaItem, cloud_upload_problem, plain_mime
from shim.sandbox.rules import check_cloud_envelope, check_cloud_send
from shim.sandbox.state import OutboundMessage
from shim.sandbox.templates import param_count_problem

__all__ = ["CloudMessages", "request_origin"]

WINDOW_CLOSED: Final = (
    "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number."
)
PAIR_LIMITED: Final = (
    "Message failed to send because there were too many messages sent from this phone "
    "number to the same phone number in a short period of time."
)
THROUGHPUT_LIMITED: Final = (
    "(#130429) Rate limit hit: this phone number sent more messages per second than its "
    "throughput allows."
)
#: Generous cap for multipart fields other than the file (Starlette's default is 1 MB).
_MAX_FORM_FIELD = 1024 * 1024
_SUCCESS: Final = b'{"success":true}'


def request_origin(request: Request) -> str:
    """``scheme://host[:port]`` the client used to reach us."""
    url = request.url
    return f"{url.scheme}://{url.netloc}"


def unknown_object(node: str, method: str = "get") -> ApiError:
    return ApiError(
        100,
        f"Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, "
        "or does not support this operation.",
        message=f"Unsupported {method} request. Object with ID '{node}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
    )


def _success() -> Response:
    return Response(_SUCCESS, media_type="application/json")


class CloudMessages:
    def __init__(self, core: SandboxCore) -> None:
        self.core = core
        self.state = core.state

    # -- POST /messages ------------------------------------------------------------

    async def messages(self, request: Request) -> Response:
        try:
            body = await read_json(request)
        except BadBody as exc:
            raise ApiError(100, str(exc)) from exc
        check_cloud_envelope(body)
        if "status" in body:
            return self._mark_read(body)
        kind, wa_id = check_cloud_send(body)
        state = self.state
        if kind == "template":
            self._check_template(body["template"])
        elif kind in MEDIA_TYPES:
            media_id = body[kind].get("id")
            if media_id is not None and state.media.get(media_id) is None:
                raise ApiError(100, f"Param {kind}['id'] is not a valid media id: {media_id}.")
        if kind != "template" and not state.window_open(wa_id):
            raise ApiError(131047, WINDOW_CLOSED)
        if not state.take_throughput_slot():
            raise ApiError(130429, THROUGHPUT_LIMITED)
        if not state.take_pair_slot(wa_id):
            raise ApiError(131056, PAIR_LIMITED)
        to = body.get("to")
        contact = {"input": to, "wa_id": wa_id}
        if to is None:  # sent to a BSUID: Cloud answers user_id instead of wa_id
            to = body["recipient"]
            contact = {"input": to, "user_id": to}
        message_id = ids.cloud_message_id(wa_id)
        self.core.accept(
            OutboundMessage(message_id, to, body, wa_id, body.get("biz_opaque_callback_data"))
        )
        sent: dict[str, Any] = {"id": message_id}
        if kind == "template":
            sent["message_status"] = "accepted"
        return json_response(
            {
                "messaging_product": MESSAGING_PRODUCT,
                "contacts": [contact],
                "messages": [sent],
            }
        )

    def _check_template(self, template: Mapping[str, Any]) -> None:
        name, code = template["name"], template["language"]["code"]
        tpl = self.state.templates.get(name, code)
        if tpl is None:
            raise ApiError(132001, f"template name ({name}) does not exist in {code}")
        if tpl.status == "PAUSED":
            raise ApiError(132015, f"template {name} ({code}) is paused")
        if tpl.status == "DISABLED":
            raise ApiError(132016, f"template {name} ({code}) is disabled")
        if tpl.status != "APPROVED":
            raise ApiError(
                132001, f"template name ({name}) does not exist in {code} (status {tpl.status})"
            )
        problem = param_count_problem(tpl, template.get("components"))
        if problem is not None:
            raise ApiError(132000, problem)

    def _mark_read(self, body: Mapping[str, Any]) -> Response:
        if body.get("status") != "read":
            raise ApiError(100, "Param status must be 'read'.")
        message_id = body.get("message_id")
        if message_id is None:
            raise ApiError(100, "The parameter message_id is required.")
        if not isinstance(message_id, str):
            raise ApiError(100, "Param message_id must be a string.")
        indicator = body.get("typing_indicator")
        if indicator is not None and (
            not isinstance(indicator, Mapping) or indicator.get("type") != "text"
        ):
            raise ApiError(100, 'Param typing_indicator must be {"type": "text"}.')
        if message_id not in self.state.inbound:
            raise ApiError(131009, f"Param message_id is not a valid message id: {message_id}.")
        self.state.read_marks.append(message_id)
        return _success()

    # -- media -------------------------------------------------------------------

    async def upload_media(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise ApiError(
                100,
                "Request must be multipart/form-data with the fields messaging_product, "
                "file and type.",
            )
        try:
            form = await request.form(max_files=1, max_fields=16, max_part_size=_MAX_FORM_FIELD)
        except HTTPException as exc:
            raise ApiError(100, f"file: malformed multipart body ({exc.detail})") from exc
        except ValueError as exc:  # python-multipart parse errors
            raise ApiError(100, f"file: malformed multipart body ({exc})") from exc
        try:
            product = form.get("messaging_product")
            if product is None:
                raise ApiError(100, "The parameter messaging_product is required.")
            if product != MESSAGING_PRODUCT:
                raise ApiError(100, f"Param messaging_product must be '{MESSAGING_PRODUCT}'.")
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(100, "The parameter file is required.")
            declared = form.get("type")
            mime = declared if isinstance(declared, str) and declared else upload.content_type
            if not mime:
                raise ApiError(100, "The parameter type is required.")
            data = await upload.read()
        finally:
            await form.close()
        problem = cloud_upload_problem(mime, len(data))
        if problem is not None:
            raise ApiError(131053, problem)
        item = MediaItem(ids.cloud_media_id(), data, plain_mime(mime), upload.filename)
        self.state.media.add(item)
        return json_response({"id": item.id})

    def media_info(self, request: Request, media_id: str) -> Response:
        item = self.state.media.get(media_id)
        if item is None:
            raise unknown_object(media_id)
        origin = self.core.media_origin(request_origin(request))
        return json_response(
            {
                "messaging_product": MESSAGING_PRODUCT,
                "url": self.state.media.download_url(origin, media_id),
                "mime_type": item.mime_type,
                "sha256": item.sha256_hex,
                "file_size": len(item.data),
                "id": media_id,
            }
        )

    def delete_media(self, media_id: str) -> Response:
        if not self.state.media.delete(media_id):
            raise unknown_object(media_id, "delete")
        return _success()

    async def download(self, request: Request) -> Response:
        query = request.query_params
        item = self.state.media.resolve_download(
            query.get("mid", ""), query.get("ext", ""), query.get("hash", "")
        )
        if item is None:
            return graph_error(100, "Media URL is invalid or has expired.", http_status=404)
        headers = {}
        if item.filename:
            headers["Content-Disposition"] = f'attachment; filename="{item.filename}"'
        return Response(item.data, media_type=item.mime_type, headers=headers)

"""Cloud responses -> On-Prem responses, per On-Prem operation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shim.mapping import fields
from shim.mapping.endpoints import EndpointMatch, match_endpoint
from shim.mapping.hosts import Target, rewrite_lookaside_url
from shim.translate._util import expect_object, expect_str, require
from shim.translate.error import META_INFO, is_error_body, translate_error
from shim.translate.types import (
    JSON,
    OnPremResponse,
    TranslationError,
    TranslationWarning,
    UnsupportedEndpointError,
)


def translate_response(
    method: str,
    onprem_path: str,
    status: int,
    body: JSON,
    *,
    target: Target | str,
    match: EndpointMatch | None = None,
) -> OnPremResponse:
    """The On-Prem response an On-Prem caller of ``method onprem_path`` expects.

    ``match``: ``match_endpoint(method, onprem_path)`` when the caller already
    has it (the router matches once per call); looked up here otherwise.
    """
    if not isinstance(target, Target):
        target = Target(target)
    if is_error_body(status, body):
        return translate_error(status, body)
    if match is None:
        match = match_endpoint(method, onprem_path)
    if target is Target.ONPREM or match is None:
        return OnPremResponse(status, body)
    if match.endpoint.requires is not None:  # never an answer in a shape not asked for
        path, _, query = onprem_path.partition("?")
        refused = match.endpoint.refusal(query)
        if refused is not None:
            raise UnsupportedEndpointError(path, refused)
    handler = _HANDLERS.get(match.endpoint.name, _passthrough)
    return handler(status, body, target)


def _passthrough(status: int, body: JSON, target: Target) -> OnPremResponse:
    return OnPremResponse(status, body)


def _empty(status: int, body: JSON, target: Target) -> OnPremResponse:
    # Cloud action endpoints answer {"success": true}; On-Prem answered {}.
    # Anything richer (360dialog echoes the webhook config) passes through.
    if isinstance(body, dict) and set(body) <= {"success"}:
        if body.get("success") is False:
            return translate_error(status, body)
        return OnPremResponse(status, {})
    return OnPremResponse(status, body)


def _sent(status: int, body: JSON, target: Target) -> OnPremResponse:
    src = expect_object(body, "$")
    messages = require(src, "messages", "$")
    out: dict[str, Any] = dict(src)
    out.pop("messaging_product", None)
    out["messages"] = messages
    warnings = []
    contacts = out.get("contacts")
    if isinstance(contacts, list):
        key, source = fields.BSUID_FILLS["contacts"]
        filled = []
        for i, contact in enumerate(contacts):
            if isinstance(contact, dict) and key not in contact and contact.get(source):
                contact = {**contact, key: contact[source]}
                warnings.append(TranslationWarning(
                    fields.W_BSUID, f"$.contacts[{i}].{key}",
                    f"sent to a BSUID; {key} set to the BSUID from {source}"))
            filled.append(contact)
        out["contacts"] = filled
    return OnPremResponse(status, out, warnings)


def _uploaded(status: int, body: JSON, target: Target) -> OnPremResponse:
    src = expect_object(body, "$")
    media_id = expect_str(require(src, "id", "$"), "$.id")
    return OnPremResponse(status, {"media": [{"id": media_id}]})


def _media_info(status: int, body: JSON, target: Target) -> OnPremResponse:
    # Step one of the two-step download; the caller fetches the bytes from url.
    warning = TranslationWarning(
        fields.W_MEDIA_TWO_STEP, "$.url",
        "On-Prem answered with the bytes; fetch them from url (see media_download_url)")
    return OnPremResponse(status, body, [warning])


def _health(status: int, body: JSON, target: Target) -> OnPremResponse:
    src = expect_object(body, "$")
    health = expect_object(require(src, "health_status", "$"), "$.health_status")
    can_send = health.get("can_send_message")
    gateway = fields.HEALTH_STATUS.get(str(can_send), fields.HEALTH_UNKNOWN)
    warnings = []
    if can_send == "LIMITED":
        entities = health.get("entities")
        reasons = [info for e in (entities if isinstance(entities, list) else [])
                   if isinstance(e, dict) and isinstance(e.get("additional_info"), list)
                   for info in e["additional_info"] if isinstance(info, str)]
        warnings.append(TranslationWarning(
            fields.W_HEALTH_LIMITED, "$.health_status.can_send_message",
            "LIMITED on Cloud, reported as connected" + (f": {reasons[0]}" if reasons else "")))
    # On-Prem sent its meta object with the health answer, and callers read it (RapidPro's
    # update_api_version stores meta.version): without it they fail on the missing key
    return OnPremResponse(
        status, {"health": {"gateway_status": gateway, "can_send_message": can_send},
                 "meta": dict(META_INFO)}, warnings
    )


def health_as_ha(body: JSON) -> JSON:
    """A single-instance health answer as the high-availability map with one node."""
    if not isinstance(body, dict) or not isinstance(body.get("health"), dict):
        return body
    node = {**body["health"], "role": fields.HEALTH_HA_ROLE}
    return {**body, "health": {fields.HEALTH_HA_NODE: node}}


def _webhook(status: int, body: JSON, target: Target) -> OnPremResponse:
    src = expect_object(body, "$")
    if target is Target.D360:
        return OnPremResponse(status, src)
    config = src.get("webhook_configuration", {})
    config = expect_object(config, "$.webhook_configuration")
    url = config.get("phone_number") or config.get("whatsapp_business_account") or config.get(
        "application")
    return OnPremResponse(status, {"url": url} if url else {})


def _settings_saved(status: int, body: JSON, target: Target) -> OnPremResponse:
    if isinstance(body, dict) and body.get("success") is False:
        return translate_error(status, body)
    return OnPremResponse(status, {"meta": dict(META_INFO)})


def _application_settings(status: int, body: JSON, target: Target) -> OnPremResponse:
    url = _webhook(status, body, target).body.get("url")
    webhooks = {"url": url} if isinstance(url, str) and url else {}
    return OnPremResponse(status, {"settings": {"application": {"webhooks": webhooks}},
                                   "meta": dict(META_INFO)})


def _templates(status: int, body: JSON, target: Target) -> OnPremResponse:
    src = expect_object(body, "$")
    if target is Target.D360 or "waba_templates" in src:
        return OnPremResponse(status, src)
    data = src.get("data", [])
    if not isinstance(data, list):
        raise TranslationError("$.data", "expected a JSON array")
    return OnPremResponse(status, {
        "count": len(data), "filters": {}, "limit": len(data), "offset": 0, "sort": [],
        "total": len(data), "waba_templates": data,
    })


def _profile_item(body: JSON) -> dict[str, Any]:
    src = expect_object(body, "$")
    data = src.get("data")
    if isinstance(data, list) and data:
        return expect_object(data[0], "$.data[0]")
    return src


def _about(status: int, body: JSON, target: Target) -> OnPremResponse:
    about = _profile_item(body).get("about", "")
    return OnPremResponse(status, {"settings": {"profile": {"about": {"text": about}}}})


def _business_profile(status: int, body: JSON, target: Target) -> OnPremResponse:
    item = _profile_item(body)
    profile = {k: item[k] for k in fields.BUSINESS_PROFILE_FIELDS if k in item}
    return OnPremResponse(status, {"settings": {"business": {"profile": profile}}})


def _photo(status: int, body: JSON, target: Target) -> OnPremResponse:
    link = _profile_item(body).get("profile_picture_url")
    return OnPremResponse(status, {"settings": {"profile": {"photo": {"link": link}}}})


_HANDLERS: Mapping[str, Callable[[int, JSON, Target], OnPremResponse]] = {
    "send_message": _sent,
    "mark_read": _empty,
    "upload_media": _uploaded,
    "download_media": _media_info,
    "delete_media": _empty,
    "health": _health,
    "get_webhook": _webhook,
    "set_webhook": _empty,
    "list_templates": _templates,
    "delete_template": _empty,
    "get_about": _about,
    "set_about": _empty,
    "get_business_profile": _business_profile,
    "set_business_profile": _empty,
    "get_profile_photo": _photo,
    "set_application_webhook": _settings_saved,
    "get_application_settings": _application_settings,
}


def media_download_url(media: JSON, target: Target | str, base_url: str) -> str:
    """Where to GET the bytes of a Cloud media object (step two of a download)."""
    target = Target(target)
    src = expect_object(media, "$")
    url = expect_str(require(src, "url", "$"), "$.url")
    if target is Target.D360:
        return rewrite_lookaside_url(url, base_url)
    return url

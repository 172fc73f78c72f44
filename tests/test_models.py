"""The payload models against the bundled examples, bad input and generated input."""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel, ValidationError

import shim.models as M
from shim.mapping import fields as mapping_fields

try:  # tests/ may or may not become a package; support both import styles
    from tests.strategies import (
        CLOUD_WEBHOOK_MESSAGE_STRATEGIES,
        ONPREM_SEND_STRATEGIES,
        cloud_webhook_bodies,
        onprem_send_requests,
    )
except ImportError:  # pragma: no cover - depends on how pytest set sys.path
    from strategies import (  # type: ignore[no-redef]
        CLOUD_WEBHOOK_MESSAGE_STRATEGIES,
        ONPREM_SEND_STRATEGIES,
        cloud_webhook_bodies,
        onprem_send_requests,
    )

EXAMPLES = Path(__file__).parent / "examples"

Parser = Callable[[Any], BaseModel]

# --- every example file -> the model it must validate as (and the parser to use)

_OP, _CL = M.parse_onprem_send, M.parse_cloud_send
_OPW, _CLW = M.parse_onprem_webhook, M.parse_cloud_webhook

EXAMPLE_MODELS: dict[str, tuple[Parser, type[BaseModel]]] = {
    # On-Prem send requests
    "onprem-send-text": (_OP, M.OnPremTextRequest),
    "onprem-send-image-link": (_OP, M.OnPremImageRequest),
    "onprem-send-image-provider": (_OP, M.OnPremImageRequest),
    "onprem-send-video-id": (_OP, M.OnPremVideoRequest),
    "onprem-send-document-link": (_OP, M.OnPremDocumentRequest),
    "onprem-send-audio-link": (_OP, M.OnPremAudioRequest),
    "onprem-send-location": (_OP, M.OnPremLocationRequest),
    "onprem-send-contacts": (_OP, M.OnPremContactsRequest),
    "onprem-send-interactive-button": (_OP, M.OnPremInteractiveRequest),
    "onprem-send-interactive-list": (_OP, M.OnPremInteractiveRequest),
    "onprem-send-template": (_OP, M.OnPremTemplateRequest),
    "onprem-send-template-currency-url-button": (_OP, M.OnPremTemplateRequest),
    "onprem-send-hsm-legacy": (_OP, M.OnPremHsmRequest),
    # On-Prem API
    "onprem-mark-read": (M.OnPremMarkReadRequest.model_validate, M.OnPremMarkReadRequest),
    "onprem-send-response": (M.OnPremSendResponse.model_validate, M.OnPremSendResponse),
    "onprem-send-response-with-contacts": (
        M.OnPremSendResponse.model_validate,
        M.OnPremSendResponse,
    ),
    "onprem-error-envelope": (M.OnPremErrorResponse.model_validate, M.OnPremErrorResponse),
    "onprem-error-1005-access-denied": (
        M.OnPremErrorResponse.model_validate,
        M.OnPremErrorResponse,
    ),
    "onprem-error-1006-unknown-contact": (
        M.OnPremErrorResponse.model_validate,
        M.OnPremErrorResponse,
    ),
    "onprem-contacts-check-request": (
        M.OnPremContactsCheckRequest.model_validate,
        M.OnPremContactsCheckRequest,
    ),
    "onprem-contacts-check-response": (
        M.OnPremContactsCheckResponse.model_validate,
        M.OnPremContactsCheckResponse,
    ),
    "onprem-media-upload-response": (
        M.OnPremMediaUploadResponse.model_validate,
        M.OnPremMediaUploadResponse,
    ),
    "onprem-health-single": (M.OnPremHealthResponse.model_validate, M.OnPremHealthResponse),
    "onprem-health-ha": (M.OnPremHealthResponse.model_validate, M.OnPremHealthResponse),
    "onprem-settings-application-webhook": (
        M.OnPremApplicationSettingsRequest.model_validate,
        M.OnPremApplicationSettingsRequest,
    ),
    "onprem-business-profile-get-response": (
        M.OnPremBusinessProfileGetResponse.model_validate,
        M.OnPremBusinessProfileGetResponse,
    ),
    "onprem-profile-about-request": (
        M.OnPremProfileAboutRequest.model_validate,
        M.OnPremProfileAboutRequest,
    ),
    # On-Prem webhooks
    "onprem-webhook-inbound-text": (_OPW, M.OnPremWebhookBody),
    "onprem-webhook-inbound-image": (_OPW, M.OnPremWebhookBody),
    "onprem-webhook-inbound-voice": (_OPW, M.OnPremWebhookBody),
    "onprem-webhook-inbound-document": (_OPW, M.OnPremWebhookBody),
    "onprem-webhook-inbound-location": (_OPW, M.OnPremWebhookBody),
    "onprem-webhook-inbound-button": (_OPW, M.OnPremWebhookBody),
    "onprem-webhook-inbound-interactive-button-reply": (_OPW, M.OnPremWebhookBody),
    "onprem-webhook-inbound-interactive-list-reply": (_OPW, M.OnPremWebhookBody),
    "onprem-webhook-status-sent": (_OPW, M.OnPremWebhookBody),
    "onprem-webhook-status-failed-470": (_OPW, M.OnPremWebhookBody),
    "onprem-webhook-status-deleted": (_OPW, M.OnPremWebhookBody),
    # Cloud send requests
    "cloud-send-text": (_CL, M.CloudTextRequest),
    "cloud-send-reply-context": (_CL, M.CloudTextRequest),
    "cloud-send-image-id": (_CL, M.CloudImageRequest),
    "cloud-send-audio-voice": (_CL, M.CloudAudioRequest),
    "cloud-send-document": (_CL, M.CloudDocumentRequest),
    "cloud-send-video": (_CL, M.CloudVideoRequest),
    "cloud-send-sticker": (_CL, M.CloudStickerRequest),
    "cloud-send-location": (_CL, M.CloudLocationRequest),
    "cloud-send-contacts": (_CL, M.CloudContactsRequest),
    "cloud-send-reaction": (_CL, M.CloudReactionRequest),
    "cloud-send-interactive-button": (_CL, M.CloudInteractiveRequest),
    "cloud-send-interactive-list": (_CL, M.CloudInteractiveRequest),
    "cloud-send-interactive-cta-url": (_CL, M.CloudInteractiveRequest),
    "cloud-send-interactive-flow": (_CL, M.CloudInteractiveRequest),
    "cloud-send-interactive-location-request": (_CL, M.CloudInteractiveRequest),
    "cloud-send-interactive-product": (_CL, M.CloudInteractiveRequest),
    "cloud-send-interactive-product-list": (_CL, M.CloudInteractiveRequest),
    "cloud-send-template-named-params": (_CL, M.CloudTemplateRequest),
    "cloud-send-template-currency-datetime-buttons": (_CL, M.CloudTemplateRequest),
    # Cloud API
    "cloud-mark-read": (M.parse_cloud_messages_body, M.CloudMarkReadRequest),
    "cloud-typing-indicator": (M.parse_cloud_messages_body, M.CloudMarkReadRequest),
    "cloud-send-response": (M.CloudSendResponse.model_validate, M.CloudSendResponse),
    "cloud-success-response": (M.CloudSuccessResponse.model_validate, M.CloudSuccessResponse),
    "cloud-media-upload-response": (
        M.CloudMediaUploadResponse.model_validate,
        M.CloudMediaUploadResponse,
    ),
    "cloud-media-get-url-response": (
        M.CloudMediaGetResponse.model_validate,
        M.CloudMediaGetResponse,
    ),
    "d360-cloud-media-get-response": (
        M.CloudMediaGetResponse.model_validate,
        M.CloudMediaGetResponse,
    ),
    "cloud-error-100-invalid-parameter": (M.parse_cloud_error, M.CloudErrorResponse),
    "cloud-error-130429": (M.parse_cloud_error, M.CloudErrorResponse),
    "cloud-error-131026": (M.parse_cloud_error, M.CloudErrorResponse),
    "cloud-error-131047": (M.parse_cloud_error, M.CloudErrorResponse),
    "cloud-error-190-token-expired": (M.parse_cloud_error, M.CloudErrorResponse),
    "d360-error-invalid-api-key": (M.parse_cloud_error, M.D360GatewayErrorResponse),
    "d360-error-path-blocked": (M.parse_cloud_error, M.D360GatewayErrorResponse),
    "d360-error-rate-limited": (M.parse_cloud_error, M.D360GatewayErrorResponse),
    "cloud-health-status-response": (
        M.CloudHealthStatusResponse.model_validate,
        M.CloudHealthStatusResponse,
    ),
    "cloud-business-profile-get-response": (
        M.CloudBusinessProfileGetResponse.model_validate,
        M.CloudBusinessProfileGetResponse,
    ),
    "cloud-business-profile-update-request": (
        M.CloudBusinessProfileUpdateRequest.model_validate,
        M.CloudBusinessProfileUpdateRequest,
    ),
    "cloud-templates-list-response": (
        M.CloudTemplatesListResponse.model_validate,
        M.CloudTemplatesListResponse,
    ),
    "cloud-waba-webhook-override-request": (
        M.CloudWabaWebhookOverrideRequest.model_validate,
        M.CloudWabaWebhookOverrideRequest,
    ),
    "cloud-phone-webhook-override-request": (
        M.CloudPhoneWebhookOverrideRequest.model_validate,
        M.CloudPhoneWebhookOverrideRequest,
    ),
    "d360-webhook-config-request": (
        M.D360WebhookConfigRequest.model_validate,
        M.D360WebhookConfigRequest,
    ),
    "d360-waba-webhook-request": (
        M.D360WabaWebhookRequest.model_validate,
        M.D360WabaWebhookRequest,
    ),
    # Cloud webhooks
    **{
        f"cloud-webhook-{name}": (_CLW, M.CloudWebhookBody)
        for name in (
            "inbound-text",
            "inbound-text-referral",
            "inbound-text-product-inquiry",
            "inbound-image",
            "inbound-audio-voice",
            "inbound-video",
            "inbound-document",
            "inbound-sticker",
            "inbound-location",
            "inbound-contacts",
            "inbound-button",
            "inbound-interactive-list-reply",
            "inbound-interactive-button-reply",
            "inbound-interactive-nfm-reply",
            "inbound-order",
            "inbound-system",
            "inbound-reaction",
            "inbound-unsupported",
            "errors-130429",
            "status-sent",
            "status-sent-v24",
            "status-delivered",
            "status-failed-131049",
            "status-failed-131014",
        )
    },
}


def _load(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def test_every_example_file_is_in_the_table() -> None:
    on_disk = {p.stem for p in EXAMPLES.glob("*.json")}
    assert on_disk, "no examples found"
    assert sorted(on_disk - EXAMPLE_MODELS.keys()) == [], "example files without a model"
    assert sorted(EXAMPLE_MODELS.keys() - on_disk) == [], "table rows without a file"


@pytest.mark.parametrize("name", sorted(EXAMPLE_MODELS))
def test_example_validates_and_round_trips(name: str) -> None:
    parse, expected = EXAMPLE_MODELS[name]
    data = _load(name)
    model = parse(data)
    assert type(model) is expected
    assert M.dump(model) == data


# --- unknown fields are kept


def _with_extras(name: str, spots: list[tuple[Any, ...]]) -> tuple[Any, Any]:
    data = _load(name)
    expected = copy.deepcopy(data)
    for n, path in enumerate(spots):
        for target in (data, expected):
            node = target
            for key in path:
                node = node[key]
            node[f"x_future_{n}"] = {"nested": [n, "kept"]}
    return data, expected


@pytest.mark.parametrize(
    ("name", "spots"),
    [
        (
            "onprem-send-template",
            [(), ("template",), ("template", "components", 1, "parameters", 1)],
        ),
        ("onprem-send-hsm-legacy", [("hsm",), ("hsm", "localizable_params", 0)]),
        ("onprem-send-interactive-list", [("interactive", "action", "sections", 0, "rows", 2)]),
        ("cloud-send-interactive-flow", [("interactive", "action")]),
        ("cloud-webhook-inbound-image", [(), ("entry", 0), ("entry", 0, "changes", 0, "value")]),
        (
            "cloud-webhook-inbound-image",
            [("entry", 0, "changes", 0, "value", "messages", 0, "image")],
        ),
        (
            "cloud-webhook-status-sent",
            [("entry", 0, "changes", 0, "value", "statuses", 0, "pricing")],
        ),
        ("onprem-webhook-status-failed-470", [("statuses", 0, "errors", 0)]),
        ("cloud-error-130429", [("error",), ("error", "error_data")]),
        ("onprem-health-ha", [("health", "your-hostname1:your-container-id1")]),
    ],
)
def test_unknown_fields_survive_a_round_trip(name: str, spots: list[tuple[Any, ...]]) -> None:
    parse, _ = EXAMPLE_MODELS[name]
    data, expected = _with_extras(name, spots)
    assert M.dump(parse(data)) == expected


# --- wrong types and missing fields: errors name the JSON path


def _mutate(name: str, path: tuple[Any, ...], value: Any) -> Any:
    data = _load(name)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("name", "path", "value", "loc"),
    [
        ("onprem-send-text", ("text", "body"), 42, ("text", "body")),
        ("onprem-send-text", ("to",), 4915112345678, ("to",)),
        ("onprem-send-text", ("preview_url",), "maybe", ("preview_url",)),
        ("onprem-send-text", ("type",), "txt", ("type",)),
        ("onprem-send-image-link", ("image",), _DELETE, ("image",)),
        ("onprem-send-image-link", ("image", "link"), _DELETE, ("image",)),
        ("onprem-send-image-provider", ("image", "provider"), "name", ("image", "provider")),
        (
            "onprem-send-interactive-button",
            ("interactive", "type"),
            "carousel",
            ("interactive", "type"),
        ),
        (
            "onprem-send-interactive-list",
            ("interactive", "action", "sections", 0, "rows", 1, "title"),
            None,
            ("interactive", "action", "sections", 0, "rows", 1, "title"),
        ),
        (
            "onprem-send-template",
            ("template", "components", 1, "parameters", 1, "date_time"),
            _DELETE,
            ("template", "components", 1, "parameters", 1, "date_time"),
        ),
        (
            "onprem-send-template",
            ("template", "language", "policy"),
            "best-effort",
            ("template", "language", "policy"),
        ),
        (
            "onprem-send-hsm-legacy",
            ("hsm", "localizable_params", 0, "default"),
            12,
            ("hsm", "localizable_params", 0, "default"),
        ),
        ("onprem-send-contacts", ("contacts",), [], ("contacts",)),
        ("onprem-error-envelope", ("errors", 0, "code"), "big", ("errors", 0, "code")),
        (
            "onprem-contacts-check-response",
            ("contacts", 0, "status"),
            "ok",
            ("contacts", 0, "status"),
        ),
        (
            "onprem-webhook-inbound-voice",
            ("messages", 0, "voice"),
            _DELETE,
            ("messages", 0, "voice"),
        ),
        ("onprem-webhook-inbound-text", ("messages", 0, "from"), _DELETE, ("messages", 0, "from")),
        (
            "onprem-webhook-inbound-text",
            ("contacts", 0, "wa_id"),
            _DELETE,
            ("contacts", 0, "wa_id"),
        ),
        (
            "onprem-webhook-status-sent",
            ("statuses", 0, "timestamp"),
            _DELETE,
            ("statuses", 0, "timestamp"),
        ),
        ("cloud-send-text", ("messaging_product",), "instagram", ("messaging_product",)),
        ("cloud-send-text", ("messaging_product",), _DELETE, ("messaging_product",)),
        ("cloud-send-text", ("type",), "hsm", ("type",)),
        (
            "cloud-send-interactive-cta-url",
            ("interactive", "action", "parameters"),
            _DELETE,
            ("interactive", "action", "parameters"),
        ),
        ("cloud-error-130429", ("error", "code"), "throttled", ("error", "code")),
        ("d360-error-rate-limited", ("meta", "httpCode"), _DELETE, ("meta",)),
        (
            "cloud-webhook-inbound-image",
            ("entry", 0, "changes", 0, "value", "messages", 0, "image", "id"),
            123,
            ("entry", 0, "changes", 0, "value", "messages", 0, "image", "id"),
        ),
        (
            "cloud-webhook-inbound-text",
            ("entry", 0, "changes", 0, "value", "messages", 0, "text"),
            _DELETE,
            ("entry", 0, "changes", 0, "value", "messages", 0, "text"),
        ),
        (
            "cloud-webhook-inbound-text",
            ("entry", 0, "changes", 0, "value", "metadata"),
            _DELETE,
            ("entry", 0, "changes", 0, "value", "metadata"),
        ),
        (
            "cloud-webhook-status-failed-131049",
            ("entry", 0, "changes", 0, "value", "statuses", 0, "errors", 0, "code"),
            "x",
            ("entry", 0, "changes", 0, "value", "statuses", 0, "errors", 0, "code"),
        ),
    ],
)
def test_bad_input_error_names_the_field(
    name: str, path: tuple[Any, ...], value: Any, loc: tuple[Any, ...]
) -> None:
    parse, _ = EXAMPLE_MODELS[name]
    with pytest.raises(ValidationError) as info:
        parse(_mutate(name, path, value))
    assert loc in [tuple(err["loc"]) for err in info.value.errors()], info.value.errors()


def test_non_object_input_is_a_validation_error() -> None:
    for parse in (M.parse_onprem_send, M.parse_cloud_send, M.parse_cloud_webhook):
        for bad in ([], "text", 3, None):
            with pytest.raises(ValidationError):
                parse(bad)


def test_adapter_and_field_use_give_plain_json_paths() -> None:
    bad = {"to": "1", "type": "image", "image": {"caption": "no source"}}
    with pytest.raises(ValidationError) as info:
        M.OnPremSendRequestAdapter.validate_python(bad)
    assert [e["loc"] for e in info.value.errors()] == [("image",)]
    assert "one of 'id' or 'link' is required" in info.value.errors()[0]["msg"]

    class Envelope(BaseModel):
        body: M.OnPremSendRequest

    with pytest.raises(ValidationError) as info:
        Envelope.model_validate({"body": {"to": "1", "text": {"body": 5}}})
    assert [e["loc"] for e in info.value.errors()] == [("body", "text", "body")]
    assert isinstance(
        Envelope.model_validate({"body": {"to": "1", "text": {"body": "hi"}}}).body,
        M.OnPremTextRequest,
    )


def test_onprem_text_type_defaults_but_stays_absent_in_dump() -> None:
    data = {"to": "49151", "text": {"body": "hi"}, "preview_url": False}
    model = M.parse_onprem_send(data)
    assert isinstance(model, M.OnPremTextRequest)
    assert model.type == "text"
    assert M.dump(model) == data


# --- Cloud models reject On-Prem leftovers (so translator slips are caught)


@pytest.mark.parametrize(
    ("name", "path", "value", "loc"),
    [
        ("cloud-send-text", ("preview_url",), True, ("preview_url",)),
        ("cloud-send-text", ("ttl",), 3600, ("ttl",)),
        ("cloud-send-image-id", ("image", "provider"), {"name": "cdn"}, ("image", "provider")),
        ("cloud-send-audio-voice", ("audio", "caption"), "hi", ("audio", "caption")),
        ("cloud-send-sticker", ("sticker", "caption"), "hi", ("sticker", "caption")),
        (
            "cloud-send-template-named-params",
            ("template", "namespace"),
            "ns",
            ("template", "namespace"),
        ),
        (
            "cloud-send-template-currency-datetime-buttons",
            ("template", "components", 1, "parameters", 2, "date_time", "year"),
            1977,
            ("template", "components", 1, "parameters", 2, "date_time", "year"),
        ),
        (
            "cloud-send-template-currency-datetime-buttons",
            ("template", "language", "policy"),
            "fallback",
            ("template", "language", "policy"),
        ),
    ],
)
def test_cloud_rejects_onprem_only_fields(
    name: str, path: tuple[Any, ...], value: Any, loc: tuple[Any, ...]
) -> None:
    with pytest.raises(ValidationError) as info:
        M.parse_cloud_send(_mutate(name, path, value))
    assert loc in [tuple(err["loc"]) for err in info.value.errors()], info.value.errors()


def test_cloud_accepts_unknown_interactive_and_template_kinds() -> None:
    body = _load("cloud-send-interactive-flow")
    body["interactive"]["type"] = "carousel_v9"
    body["interactive"]["cards"] = [{"card_index": 0}]
    assert M.dump(M.parse_cloud_send(body)) == body
    tpl = _load("cloud-send-template-named-params")
    tpl["template"]["components"].append(
        {
            "type": "limited_time_offer",
            "parameters": [
                {"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": 1}}
            ],
        }
    )
    assert M.dump(M.parse_cloud_send(tpl)) == tpl


def test_parse_cloud_messages_body_picks_mark_read_or_send() -> None:
    assert isinstance(M.parse_cloud_messages_body(_load("cloud-mark-read")), M.CloudMarkReadRequest)
    assert isinstance(M.parse_cloud_messages_body(_load("cloud-send-text")), M.CloudTextRequest)


# --- forward compatibility of webhooks


def _cloud_message(message: dict[str, Any]) -> dict[str, Any]:
    body = _load("cloud-webhook-inbound-text")
    body["entry"][0]["changes"][0]["value"]["messages"] = [message]
    return body


def test_unknown_cloud_message_type_parses_and_keeps_its_payload() -> None:
    message = {
        "from": "16505551234",
        "id": "wamid.X",
        "timestamp": "1750000000",
        "type": "poll",
        "poll": {"question": "Lunch?", "options": ["yes", "no"]},
    }
    body = _cloud_message(message)
    parsed = M.parse_cloud_webhook(body)
    msg = parsed.entry[0].changes[0].value.messages[0]  # type: ignore[index]
    assert msg.type == "poll" and msg.type not in M.KNOWN_CLOUD_MESSAGE_TYPES
    assert msg.model_extra == {"poll": message["poll"]}
    assert M.dump(parsed) == body


def test_bsuid_only_sender_and_contact_parse() -> None:
    body = _cloud_message(
        {
            "from_user_id": "US.123",
            "id": "wamid.Y",
            "timestamp": "1750000000",
            "type": "text",
            "text": {"body": "hi"},
        }
    )
    body["entry"][0]["changes"][0]["value"]["contacts"] = [
        {"user_id": "US.123", "profile": {"username": "kim"}}
    ]
    parsed = M.parse_cloud_webhook(body)
    value = parsed.entry[0].changes[0].value
    assert value.messages is not None and value.messages[0].from_ is None
    assert value.contacts is not None and value.contacts[0].wa_id is None
    assert value.contacts[0].user_id == "US.123"
    assert M.dump(parsed) == body


def test_new_status_value_and_other_change_fields_parse() -> None:
    body = _load("cloud-webhook-status-sent")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "played"
    body["entry"][0]["changes"].append(
        {
            "field": "message_template_status_update",
            "value": {"event": "APPROVED", "message_template_id": 1},
        }
    )
    parsed = M.parse_cloud_webhook(body)
    assert [c.field for _, c in parsed.message_changes()] == ["messages"]
    assert M.dump(parsed) == body


def test_onprem_webhook_accepts_passthrough_types_and_statuses() -> None:
    body = {
        "messages": [
            {
                "from": "1",
                "id": "a",
                "timestamp": "1",
                "type": "unknown",
                "errors": [{"code": 501, "title": "Unsupported"}],
            },
            {"from": "1", "id": "b", "timestamp": "1", "type": "ephemeral"},
            {
                "from": "1",
                "id": "c",
                "timestamp": "1",
                "type": "reaction",
                "reaction": {"message_id": "x", "emoji": "+"},
            },
        ],
        "statuses": [
            {"id": "s", "status": "warning", "timestamp": "1", "message": {"recipient_id": "1"}}
        ],
    }
    assert M.dump(M.parse_onprem_webhook(body)) == body


# --- smaller shapes


def test_health_single_versus_ha() -> None:
    single = M.OnPremHealthResponse.model_validate(_load("onprem-health-single"))
    ha = M.OnPremHealthResponse.model_validate(_load("onprem-health-ha"))
    assert not single.is_ha and isinstance(single.health, M.OnPremGatewayHealth)
    assert ha.is_ha and isinstance(ha.health, dict)
    assert ha.health["your-hostname2:your-container-id2"].role == "secondary_master"


def test_d360_gateway_meta_accepts_both_casings() -> None:
    camel = M.parse_cloud_error(_load("d360-error-invalid-api-key"))
    snake_body = {
        "meta": {"http_code": 401, "developer_message": "Invalid api_key", "success": False}
    }
    snake = M.parse_cloud_error(snake_body)
    assert isinstance(camel, M.D360GatewayErrorResponse) and isinstance(
        snake, M.D360GatewayErrorResponse
    )
    assert (camel.meta.http_status, camel.meta.message) == (404, "Invalid api_key or token expired")
    assert (snake.meta.http_status, snake.meta.message) == (401, "Invalid api_key")
    assert M.dump(snake) == snake_body


# --- drift against the mapping table and the export list


def test_send_types_match_the_mapping_table() -> None:
    assert set(M.ONPREM_SEND_MODELS) == set(mapping_fields.ONPREM_SEND_TYPES)
    interactive = typing.get_args(M.OnPremInteractive.model_fields["type"].annotation)
    assert set(interactive) == set(mapping_fields.ONPREM_INTERACTIVE_TYPES)


def test_all_exports_resolve_and_cover_submodules() -> None:
    import importlib

    for name in M.__all__:
        assert hasattr(M, name), name
    for sub in (
        "shared",
        "onprem_send",
        "onprem_api",
        "onprem_webhook",
        "cloud_send",
        "cloud_api",
        "cloud_webhook",
    ):
        module = importlib.import_module(f"shim.models.{sub}")
        assert set(module.__all__) <= set(M.__all__), sub


# --- generated input (the strategies the translator property tests use)


def test_strategies_cover_every_send_type() -> None:
    assert set(ONPREM_SEND_STRATEGIES) == set(M.ONPREM_SEND_MODELS)
    assert set(CLOUD_WEBHOOK_MESSAGE_STRATEGIES) >= {
        t for t in M.KNOWN_CLOUD_MESSAGE_TYPES if t not in ("unknown", "request_welcome")
    }


_FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(onprem_send_requests())
def test_generated_onprem_requests_validate_and_round_trip(data: dict[str, Any]) -> None:
    model = M.parse_onprem_send(data)
    assert model.type == data.get("type", "text")
    assert M.dump(model) == data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(onprem_send_requests(media_ids="cloud"), onprem_send_requests(media_ids="link"))
def test_media_id_modes_stay_valid(cloud_ids: dict[str, Any], links: dict[str, Any]) -> None:
    for data in (cloud_ids, links):
        assert M.dump(M.parse_onprem_send(data)) == data
    assert "-" not in json.dumps(_media_ids(cloud_ids))
    assert _media_ids(links) == []


def _media_ids(node: Any) -> list[str]:
    """Every id of a media object (a dict that also may carry link/caption/provider)."""
    if isinstance(node, list):
        return [i for item in node for i in _media_ids(item)]
    if not isinstance(node, dict):
        return []
    found = [i for value in node.values() for i in _media_ids(value)]
    media = {"image", "video", "document", "audio", "sticker"}
    for key in media & node.keys():
        if isinstance(node[key], dict) and "id" in node[key]:
            found.append(node[key]["id"])
    return found


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cloud_webhook_bodies(other_fields=True))
def test_generated_cloud_webhooks_validate_and_round_trip(data: dict[str, Any]) -> None:
    assert M.dump(M.parse_cloud_webhook(data)) == data


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cloud_webhook_bodies(phoneless=False))
def test_phoneless_off_gives_every_sender_and_contact_a_phone(data: dict[str, Any]) -> None:
    body = M.parse_cloud_webhook(data)
    for _, change in body.message_changes():
        assert all(m.from_ for m in change.value.messages or [])
        assert all(c.wa_id for c in change.value.contacts or [])

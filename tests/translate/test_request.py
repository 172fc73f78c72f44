"""On-Prem -> Cloud request translation: every rule, every example."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shim.mapping import fields
from shim.mapping.endpoints import ENDPOINTS, UNSUPPORTED, fill
from shim.translate import (
    CloudRequest,
    MissingFieldError,
    OnPremResponse,
    TranslationError,
    UnknownEndpointError,
    UnsupportedEndpointError,
    translate_request,
    translate_send_body,
)
from tests.conftest import example_names, load_example

SEND_EXAMPLES = [n for n in example_names("onprem-send-") if "response" not in n]


def send(body: Any, target: str = "360dialog", **kw: Any) -> CloudRequest:
    result = translate_request("POST", "/v1/messages", body, target=target, **kw)
    assert isinstance(result, CloudRequest)
    return result


def codes(req: CloudRequest) -> list[str]:
    return [w.code for w in req.warnings]


@pytest.mark.parametrize("name", SEND_EXAMPLES)
def test_every_onprem_send_example_translates_or_is_refused_by_name(name: str) -> None:
    body = load_example(name)
    original = copy.deepcopy(body)
    if name == "onprem-send-video-id":
        # An On-Prem media id (UUID) is never valid on Cloud: refused, naming the field.
        with pytest.raises(TranslationError) as info:
            send(body)
        assert info.value.path == "$.video.id"
        assert "re-upload" in info.value.reason.replace("Upload the file again", "re-upload")
        return
    out = send(body).body
    assert out["messaging_product"] == "whatsapp"
    assert out["type"] != "hsm"
    assert "preview_url" not in out and "ttl" not in out
    assert body == original, "translator must not mutate its input"


def test_text_preview_url_moves_into_text_and_shape_matches_cloud_example() -> None:
    out = send(
        {"to": "4915", "type": "text", "preview_url": True, "text": {"body": "see https://x.y"}}
    )
    cloud = load_example("cloud-send-text")
    assert out.body["text"] == {"body": "see https://x.y", "preview_url": True}
    assert set(cloud) <= set(out.body)
    assert set(cloud["text"]) == set(out.body["text"])
    assert out.path == "/messages" and out.method == "POST"


def test_text_type_defaults_when_missing() -> None:
    assert send({"to": "1", "text": {"body": "x"}}).body["type"] == "text"


def test_meta_target_puts_phone_number_id_in_path() -> None:
    out = send({"to": "1", "text": {"body": "x"}}, target="meta", phone_number_id="987")
    assert out.path == "/987/messages"


def test_meta_target_without_phone_number_id_is_an_error() -> None:
    with pytest.raises(MissingFieldError) as info:
        send({"to": "1", "text": {"body": "x"}}, target="meta")
    assert info.value.path == "phone_number_id"


def test_hsm_becomes_template_with_localizable_params() -> None:
    body = {
        "to": "1",
        "type": "hsm",
        "hsm": {
            "namespace": "ns",
            "element_name": "order_ready",
            "language": {"policy": "deterministic", "code": "de"},
            "localizable_params": [
                {"default": "Anna"},
                {"default": "$10.00", "currency": {"currency_code": "USD", "amount_1000": 10000}},
                {"default": "May 1", "date_time": {"component": {"month": 5}}},
            ],
        },
    }
    out = send(body)
    template = out.body["template"]
    assert out.body["type"] == "template" and "hsm" not in out.body
    assert template["name"] == "order_ready"
    assert template["language"]["code"] == "de"
    assert "namespace" not in template
    assert template["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Anna"},
                {
                    "type": "currency",
                    "currency": {"fallback_value": "$10.00", "code": "USD", "amount_1000": 10000},
                },
                {"type": "date_time", "date_time": {"fallback_value": "May 1"}},
            ],
        }
    ]
    assert "W104" in codes(out)


def test_legacy_hsm_example_matches_cloud_template_shape() -> None:
    out = send(load_example("onprem-send-hsm-legacy")).body
    assert out["template"] == {
        "name": "hello_world",
        "language": {"policy": "deterministic", "code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "1234"}]}],
    }


def test_template_namespace_dropped_language_kept_date_time_reduced() -> None:
    out = send(load_example("onprem-send-template"))
    tpl = out.body["template"]
    assert "namespace" not in tpl and tpl["language"]["code"]
    for comp in tpl.get("components", []):
        for param in comp.get("parameters", []):
            if param["type"] == "date_time":
                assert set(param["date_time"]) == {"fallback_value"}
    assert {"W105", "W106"} <= set(codes(out))


def test_template_button_index_becomes_string() -> None:
    body = {
        "to": "1",
        "type": "template",
        "template": {
            "name": "t",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": 0,
                    "parameters": [{"type": "text", "text": "abc"}],
                }
            ],
        },
    }
    assert send(body).body["template"]["components"][0]["index"] == "0"


def test_media_provider_and_ttl_dropped_with_warnings() -> None:
    body = load_example("onprem-send-image-provider")
    body["ttl"] = {"promotional": 3600}
    out = send(body)
    assert "provider" not in out.body["image"]
    assert "ttl" not in out.body
    assert {"W101", "W102"} <= set(codes(out))
    assert {w.path for w in out.warnings} >= {"$.ttl", "$.image.provider"}


@pytest.mark.parametrize("kind", ["audio", "sticker"])
def test_caption_dropped_where_cloud_has_none(kind: str) -> None:
    out = send({"to": "1", "type": kind, kind: {"link": "https://x/y", "caption": "c"}})
    assert "caption" not in out.body[kind]
    assert "W103" in codes(out)


def test_media_needs_id_or_link() -> None:
    with pytest.raises(MissingFieldError) as info:
        send({"to": "1", "type": "image", "image": {"caption": "c"}})
    assert info.value.path == "$.image"


def test_onprem_uuid_in_template_header_media_is_refused() -> None:
    body = {
        "to": "1",
        "type": "template",
        "template": {
            "name": "t",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "header",
                    "parameters": [
                        {"type": "image", "image": {"id": "36c484d1-1283-4b94-988d-7276bdec4de2"}}
                    ],
                }
            ],
        },
    }
    with pytest.raises(TranslationError) as info:
        send(body)
    assert info.value.path == "$.template.components[0].parameters[0].image.id"


def test_context_id_becomes_message_id() -> None:
    out = send({"to": "1", "text": {"body": "x"}, "context": {"id": "gBEG123"}})
    assert out.body["context"] == {"message_id": "gBEG123"}


def test_group_recipient_rejected_with_reason() -> None:
    with pytest.raises(TranslationError) as info:
        send({"to": "group-id", "recipient_type": "group", "text": {"body": "x"}})
    assert info.value.path == "$.recipient_type"
    assert "group" in info.value.reason


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"type": "text", "text": {"body": "x"}}, "$.to"),
        ({"to": 4915, "text": {"body": "x"}}, "$.to"),
        ({"to": "1", "type": "fax", "fax": {}}, "$.type"),
        ({"to": "1", "type": 7}, "$.type"),
        ({"to": "1", "type": "image"}, "$.image"),
        ({"to": "1", "type": "image", "image": "https://x"}, "$.image"),
        ({"to": "1", "preview_url": "yes", "text": {"body": "x"}}, "$.preview_url"),
        ({"to": "1", "type": "hsm", "hsm": {"language": {"code": "en"}}}, "$.hsm.element_name"),
        (
            {
                "to": "1",
                "type": "hsm",
                "hsm": {
                    "element_name": "x",
                    "language": {"code": "en"},
                    "localizable_params": [{"default": 5}],
                },
            },
            "$.hsm.localizable_params[0].default",
        ),
        ({"to": "1", "type": "template", "template": {"name": "t"}}, "$.template.language"),
        ({"to": "1", "type": "contacts", "contacts": {"name": "x"}}, "$.contacts"),
        ([1, 2], "$"),
        ("text", "$"),
    ],
)
def test_bad_input_names_the_field(body: Any, path: str) -> None:
    with pytest.raises(TranslationError) as info:
        send(body)
    assert info.value.path == path
    assert info.value.reason


def test_cloud_shaped_body_is_unchanged_by_a_second_pass() -> None:
    once = send(load_example("onprem-send-template-currency-url-button")).body
    twice = translate_send_body(once)
    assert twice == once


def test_mark_read_becomes_post_with_message_id() -> None:
    for target, path in (("360dialog", "/messages"), ("meta", "/55/messages")):
        out = translate_request(
            "PUT",
            "/v1/messages/gBEGabc",
            load_example("onprem-mark-read"),
            target=target,
            phone_number_id="55",
        )
        assert isinstance(out, CloudRequest)
        assert (out.method, out.path) == ("POST", path)
        assert out.body == {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "gBEGabc",
        }
        assert set(out.body) == set(load_example("cloud-mark-read"))


def test_mark_read_other_status_refused() -> None:
    with pytest.raises(TranslationError) as info:
        translate_request("PUT", "/v1/messages/x", {"status": "delivered"}, target="360dialog")
    assert info.value.path == "$.status"


def test_contacts_check_answered_locally_with_warning() -> None:
    out = translate_request(
        "POST",
        "/v1/contacts",
        {"blocking": "wait", "contacts": ["+49 151 2345", "nope"]},
        target="meta",
    )
    assert isinstance(out, OnPremResponse)
    assert out.body == {
        "contacts": [
            {"input": "+49 151 2345", "status": "valid", "wa_id": "491512345"},
            {"input": "nope", "status": "invalid"},
        ]
    }
    assert [w.code for w in out.warnings] == [fields.W_CONTACTS_LOCAL]
    expected = load_example("onprem-contacts-check-response")
    assert set(expected["contacts"][0]) <= set(out.body["contacts"][0])


def test_media_upload_becomes_multipart_within_limits() -> None:
    out = translate_request(
        "POST", "/v1/media", target="360dialog", content=b"\xff\xd8jpeg", content_type="image/jpeg"
    )
    assert isinstance(out, CloudRequest)
    assert out.path == "/media" and out.body == {
        "messaging_product": "whatsapp",
        "type": "image/jpeg",
    }
    assert out.file == ("upload.jpeg", b"\xff\xd8jpeg", "image/jpeg")


def test_oversized_media_refused() -> None:
    with pytest.raises(TranslationError) as info:
        translate_request(
            "POST",
            "/v1/media",
            target="meta",
            phone_number_id="1",
            content=b"x" * (5 * 1024 * 1024 + 1),
            content_type="image/png",
        )
    assert info.value.status == 413 and "exceed" in info.value.reason


def test_media_upload_needs_content_type() -> None:
    with pytest.raises(MissingFieldError):
        translate_request("POST", "/v1/media", target="360dialog", content=b"x")


def test_media_download_and_delete_paths() -> None:
    get = translate_request("GET", "/v1/media/123", target="360dialog")
    delete = translate_request("DELETE", "/v1/media/123", target="meta", phone_number_id="9")
    assert isinstance(get, CloudRequest) and isinstance(delete, CloudRequest)
    assert (get.method, get.path) == ("GET", "/123")
    assert (delete.method, delete.path_with_query) == ("DELETE", "/123?phone_number_id=9")


def test_health_paths() -> None:
    d360 = translate_request("GET", "/v1/health", target="360dialog")
    meta = translate_request("GET", "/v1/health", target="meta", phone_number_id="9")
    assert isinstance(d360, CloudRequest) and isinstance(meta, CloudRequest)
    assert d360.path == "/health_status"
    assert meta.path_with_query == "/9?fields=health_status"


def test_webhook_config_per_target() -> None:
    body = load_example("d360-webhook-config-request")
    d360 = translate_request("POST", "/v1/configs/webhook", body, target="360dialog")
    assert isinstance(d360, CloudRequest) and d360.body == body
    meta = translate_request(
        "POST",
        "/v1/configs/webhook",
        {"url": "https://h/x", "headers": {"a": "b"}},
        target="meta",
        phone_number_id="9",
        verify_token="tok",
    )
    assert isinstance(meta, CloudRequest) and meta.path == "/9"
    assert meta.body == {
        "webhook_configuration": {"override_callback_uri": "https://h/x", "verify_token": "tok"}
    }
    assert [w.code for w in meta.warnings] == [fields.W_WEBHOOK_HEADERS]
    with pytest.raises(MissingFieldError):
        translate_request(
            "POST", "/v1/configs/webhook", {"url": "u"}, target="meta", phone_number_id="9"
        )


def test_settings_application_webhook_applies_and_every_other_key_warns() -> None:
    body = load_example("onprem-settings-application-webhook")
    out = translate_request("PATCH", "/v1/settings/application", body, target="360dialog")
    assert isinstance(out, CloudRequest) and out.path == "/v1/configs/webhook"
    assert out.body == {"url": body["webhooks"]["url"]}
    assert [w.path for w in out.warnings] == ["$.webhooks.max_concurrent_requests"]
    # What wabclient's set_settings sends: the webhook plus every callback default.
    wab = {
        "on_call_pager": "+27000000000", "webhooks": {"url": "https://h/x", "headers": {"A": "b"}},
        "callback_persist": True, "callback_backoff_delay_ms": "3000",
        "max_callback_backoff_delay_ms": "900000", "pass_through": False, "sent_status": False,
        "tcp_listen_address": "any", "heartbeat_interval": 5, "unhealthy_interval": 30,
        "brand_new_setting": 1,
    }
    d360 = translate_request("PATCH", "/v1/settings/application", wab, target="360dialog")
    assert isinstance(d360, CloudRequest)
    assert d360.body == {"url": "https://h/x", "headers": {"A": "b"}}
    ignored = sorted(set(wab) - {"webhooks"})
    assert sorted(w.path for w in d360.warnings) == [f"$.{k}" for k in ignored]
    assert {w.code for w in d360.warnings} == {fields.W_SETTING_IGNORED}
    meta = translate_request("PATCH", "/v1/settings/application", wab, target="meta",
                             phone_number_id="9", verify_token="tok")
    assert isinstance(meta, CloudRequest) and meta.path == "/9"
    assert meta.body["webhook_configuration"]["override_callback_uri"] == "https://h/x"
    assert fields.W_WEBHOOK_HEADERS in codes(meta)


def test_settings_without_a_webhook_are_answered_locally_in_onprem_shape() -> None:
    out = translate_request("PATCH", "/v1/settings/application",
                            {"sent_status": True, "webhooks": {"max_concurrent_requests": 4}},
                            target="meta", phone_number_id="9")
    assert isinstance(out, OnPremResponse) and out.status == 200
    assert set(out.body) == {"meta"}
    assert [w.path for w in out.warnings] == ["$.sent_status", "$.webhooks.max_concurrent_requests"]


@pytest.mark.parametrize("body", [[], {"webhooks": "x"}, {"webhooks": {"url": 5}},
                                  {"webhooks": {"url": "u", "headers": []}}])
def test_settings_of_the_wrong_type_are_located_errors(body: Any) -> None:
    with pytest.raises(TranslationError) as err:
        translate_request("PATCH", "/v1/settings/application", body, target="360dialog")
    assert err.value.path.startswith("$")


def test_profile_about_and_business_profile() -> None:
    about = translate_request(
        "PATCH",
        "/v1/settings/profile/about",
        load_example("onprem-profile-about-request"),
        target="360dialog",
    )
    assert isinstance(about, CloudRequest) and about.path == "/whatsapp_business_profile"
    assert about.body["messaging_product"] == "whatsapp" and "about" in about.body
    prof = translate_request(
        "POST",
        "/v1/settings/business/profile",
        {"address": "a", "websites": ["https://x"]},
        target="meta",
        phone_number_id="9",
    )
    assert isinstance(prof, CloudRequest) and prof.path == "/9/whatsapp_business_profile"
    with pytest.raises(TranslationError) as info:
        translate_request(
            "POST",
            "/v1/settings/business/profile",
            {"colour": "red"},
            target="meta",
            phone_number_id="9",
        )
    assert info.value.path == "$.colour"


def test_templates_meta_needs_waba_id() -> None:
    out = translate_request("DELETE", "/v1/configs/templates/promo", target="meta", waba_id="7")
    assert isinstance(out, CloudRequest)
    assert out.path_with_query == "/7/message_templates?name=promo"
    with pytest.raises(MissingFieldError):
        translate_request("GET", "/v1/configs/templates", target="meta")


@pytest.mark.parametrize("row", UNSUPPORTED, ids=lambda r: r.onprem_path)
def test_every_unsupported_endpoint_answers_501_with_instead(row: Any) -> None:
    path = row.onprem_path.replace("{rest:path}", "/x").replace("{wa_id}", "4915")
    method = sorted(row.methods)[0]
    with pytest.raises(UnsupportedEndpointError) as info:
        translate_request(method, path, {}, target="360dialog")
    assert info.value.status == 501
    assert row.instead in info.value.reason


def test_unknown_path_is_404() -> None:
    with pytest.raises(UnknownEndpointError) as info:
        translate_request("GET", "/v2/whatever", target="360dialog")
    assert info.value.status == 404


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_row_is_reachable_for_both_targets(endpoint: Any) -> None:
    path = fill(endpoint.onprem_path, {"message_id": "wamid.HB/g+=", "media_id": "42",
                                       "name": "tpl"})
    if endpoint.requires is not None:  # the row serves only calls carrying its query
        path += f"?{endpoint.requires.name}={endpoint.requires.value}"
    bodies = {
        "send_message": {"to": "1", "text": {"body": "x"}},
        "mark_read": {"status": "read"},
        "check_contacts": {"contacts": ["1"]},
        "set_webhook": {"url": "https://x"},
        "set_application_webhook": {"webhooks": {"url": "https://x"}},
        "set_about": {"text": "hi"},
        "set_business_profile": {"email": "a@b.c"},
        "create_template": {"name": "t", "category": "UTILITY", "language": "en"},
    }
    if endpoint.in_process_only:  # the in-process router answers it; a translator refuses
        for target in ("360dialog", "meta"):
            with pytest.raises(UnsupportedEndpointError) as info:
                translate_request(endpoint.method, path, None, target=target)
            assert info.value.status == 501
        return
    for target in ("360dialog", "meta"):
        result = translate_request(
            endpoint.method,
            path,
            bodies.get(endpoint.name),
            target=target,
            phone_number_id="9",
            waba_id="7",
            phone_number="+4915",
            verify_token="v",
            content=b"x",
            content_type="image/png",
        )
        if isinstance(result, CloudRequest):
            assert result.endpoint == endpoint.name
            assert "{" not in result.path
        else:
            assert result.status == 200


def test_onprem_target_passes_everything_through() -> None:
    body = load_example("onprem-send-hsm-legacy")
    out = translate_request("POST", "/v1/messages", body, target="onprem")
    assert isinstance(out, CloudRequest) and out.body is body and out.path == "/v1/messages"
    login = translate_request("POST", "/v1/users/login", None, target="onprem")
    assert isinstance(login, CloudRequest) and login.path == "/v1/users/login"


def test_provider_dropped_in_template_and_interactive_headers() -> None:
    tpl = send({"to": "1", "type": "template", "template": {
        "name": "t", "language": {"code": "en"}, "components": [{"type": "header", "parameters": [
            {"type": "image", "image": {"link": "https://x/y.png", "provider": {"name": "p"}}}]}]}})
    param = tpl.body["template"]["components"][0]["parameters"][0]
    assert param["image"] == {"link": "https://x/y.png"}
    assert ("W102", "$.template.components[0].parameters[0].image.provider") in [
        (w.code, w.path) for w in tpl.warnings]
    inter = send({"to": "1", "type": "interactive", "interactive": {
        "type": "button", "header": {"type": "video", "video": {"link": "https://v",
                                                                "provider": {"name": "p"}}},
        "body": {"text": "b"}, "action": {"buttons": []}}})
    assert inter.body["interactive"]["header"]["video"] == {"link": "https://v"}
    assert [w.path for w in inter.warnings] == ["$.interactive.header.video.provider"]


def test_media_upload_of_a_type_cloud_refuses() -> None:
    with pytest.raises(TranslationError) as info:
        translate_request("POST", "/v1/media", target="360dialog", content=b"GIF89a",
                          content_type="image/gif")
    assert info.value.status == 415 and "image/gif" in info.value.reason


def test_null_optional_fields_are_dropped_with_a_warning_each() -> None:
    # What wabclient sends for an image without caption, plus a null at depth.
    body = {"recipient_type": "individual", "to": "4915", "type": "image", "preview_url": None,
            "image": {"id": "1234567890", "caption": None}, "context": None}
    out = send(body)
    assert out.body["image"] == {"id": "1234567890"}
    assert "context" not in out.body and "preview_url" not in out.body
    assert sorted(w.path for w in out.warnings if w.code == "W109") == [
        "$.context", "$.image.caption", "$.preview_url"]
    assert body["image"]["caption"] is None  # the caller's body is not modified


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"to": "4915", "type": "text", "text": {}}, "$.text.body"),
        ({"to": "4915", "type": "text", "text": {"body": None}}, "$.text.body"),
        ({"to": "4915", "text": {"preview_url": True}}, "$.text.body"),
        ({"to": "4915", "type": "image", "image": {"caption": "x"}}, "$.image"),
        ({"to": "4915", "type": "document", "document": {"id": None}}, "$.document"),
        ({"to": "4915", "type": "template", "template": {"language": {"code": "en"}}},
         "$.template.name"),
        ({"to": None, "type": "text", "text": {"body": "x"}}, "$.to"),
    ],
)
def test_requests_on_prem_refused_are_refused_naming_the_field(body: Any, path: str) -> None:
    with pytest.raises(MissingFieldError) as err:
        send(body)
    assert err.value.path == path


@pytest.mark.parametrize("bsuid", ["US.13491208655302741918", "HK.ENT.abc123XYZ"])
def test_a_bsuid_to_is_sent_in_recipient(bsuid: str) -> None:
    for target in ("360dialog", "meta"):
        out = send({"to": bsuid, "text": {"body": "hi"}}, target, phone_number_id="9")
        assert "to" not in out.body and out.body["recipient"] == bsuid


@pytest.mark.parametrize("to", ["+49 151 2345678", "4915112345678", "US", "us.123"])
def test_phone_numbers_and_lookalikes_stay_in_to(to: str) -> None:
    out = send({"to": to, "text": {"body": "hi"}})
    assert out.body["to"] == to and "recipient" not in out.body


@pytest.mark.parametrize("depth", [65, 5_000])
def test_nesting_past_the_reader_limit_is_a_translation_error(depth: int) -> None:
    deep: Any = "x"
    for _ in range(depth):
        deep = {"a": [deep]}
    for body, where in (({"to": "1", "type": "video", "video": deep}, "$.video"),
                        ({"to": "1", "text": {"body": "hi"}, "recipient_type": deep, "x": None},
                         "$.recipient_type")):
        with pytest.raises(TranslationError) as exc:
            translate_request("POST", "/v1/messages", body, target="meta", phone_number_id="1")
        assert "nested deeper than 64" in exc.value.reason
        # The refusal names the first container past the limit (64 deep counting the body).
        assert exc.value.path == where + ".a[0]" * 31 + ".a"

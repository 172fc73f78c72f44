"""On-Prem requests -> Cloud requests: exact refusals of the send envelope, null
dropping at every depth up to the reader's nesting limit, and bodies of the
other endpoints, each checked against the mapping table."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from shim.json_input import MAX_DEPTH, JSONTooDeep, check_depth
from shim.mapping import fields
from shim.mapping.endpoints import Body, match_unsupported
from shim.translate.request import translate_request
from shim.translate.types import (
    JSON,
    CloudRequest,
    MissingFieldError,
    TranslationError,
    UnsupportedEndpointError,
)

TEXT: dict[str, Any] = {"to": "4915", "type": "text", "text": {"body": "hi"}}
NULL_RULE = fields.SEND_RULES[0]


def refusal(method: str, path: str, body: JSON, **kw: Any) -> tuple[int, str, str]:
    with pytest.raises(TranslationError) as info:
        translate_request(method, path, body, target="meta", phone_number_id="7", **kw)
    return info.value.status, info.value.path, str(info.value)


def request(method: str, path: str, body: JSON = None, target: str = "meta") -> CloudRequest:
    result = translate_request(method, path, body, target=target, phone_number_id="7",
                               waba_id="8", verify_token="vt")
    assert isinstance(result, CloudRequest)
    return result


def sent(body: JSON) -> CloudRequest:
    return request("POST", "/v1/messages", body)


# --- the send envelope --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ({**TEXT, "messaging_product": "sms"}, "$.messaging_product", 'must be "whatsapp"'),
        ({"type": "text", "text": {"body": "hi"}}, "$.to", "required field is missing"),
        ({"to": "4915", "image": {"link": "https://h/i.png"}}, "$.type",
         "required unless the message is text"),
        ({**TEXT, "type": 5}, "$.type", "expected a string, got integer"),
        ({**TEXT, "type": ["text"]}, "$.type", "expected a string, got array"),
        ({**TEXT, "text": {"body": 42}}, "$.text.body", "expected a string, got integer"),
        ({**TEXT, "text": {"body": {"value": "hi"}}}, "$.text.body",
         "expected a string, got object"),
    ],
)
def test_a_bad_send_envelope_is_refused_naming_the_field(
    body: dict[str, Any], where: str, message: str,
) -> None:
    assert refusal("POST", "/v1/messages", body) == (400, where, f"{where}: {message}")


def test_a_missing_recipient_or_type_is_on_prems_missing_field_error() -> None:
    for body in ({"type": "text", "text": {"body": "hi"}}, {"to": "4915"}):
        with pytest.raises(MissingFieldError) as info:
            sent(body)
        assert info.value.onprem_code == 1008


def test_an_unknown_message_type_lists_every_type_on_prem_could_send() -> None:
    listed = ", ".join(sorted(fields.ONPREM_SEND_TYPES))
    assert "hsm" in listed and "text" in listed
    assert refusal("POST", "/v1/messages", {**TEXT, "type": "carousel"}) == (
        400, "$.type", f"$.type: unknown message type 'carousel'; expected one of: {listed}")


# --- nulls and nesting ------------------------------------------------------------------


def nested(levels: int, leaf: Any) -> Any:
    """``leaf`` inside ``levels`` alternating objects and arrays."""
    value = leaf
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


def body_of_depth(depth: int, leaf: Any, with_null: str) -> dict[str, Any]:
    """A send body whose deepest container sits exactly ``depth`` levels down, with a
    null key before it, after it or none."""
    body: dict[str, Any] = {"ttl": None} if with_null == "first" else {}
    body.update({**TEXT, "x": nested(depth - 1, leaf)})
    if with_null == "last":
        body["ttl"] = None
    return body


@pytest.mark.parametrize("with_null", ["none", "first", "last"])
@pytest.mark.parametrize("leaf", ["s", None, {"n": None}])
def test_nesting_up_to_the_reader_limit_is_accepted_and_one_more_is_refused(
    with_null: str, leaf: Any,
) -> None:
    extra = 1 if isinstance(leaf, dict) else 0
    fits = body_of_depth(MAX_DEPTH - extra, leaf, with_null)
    check_depth(fits)  # the JSON reader accepts it, so the translator must too
    sent(fits)
    too_deep = body_of_depth(MAX_DEPTH + 1 - extra, leaf, with_null)
    with pytest.raises(JSONTooDeep) as deepest:
        check_depth(too_deep)
    where = deepest.value.where  # the translator names the same container as the reader
    assert where.startswith("$.x") and where != "$.x"
    assert refusal("POST", "/v1/messages", too_deep) == (
        400, where, f"{where}: nested deeper than {MAX_DEPTH} arrays/objects")


def test_null_keys_inside_arrays_are_dropped_with_their_array_path() -> None:
    body = {
        **TEXT,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Pick"},
            "action": {"button": "Menu", "sections": [
                {"title": "A", "rows": [{"id": "a1", "title": "One", "description": None}]},
                {"title": None, "rows": [{"id": "b1", "title": "Two"}, None]},
            ]},
        },
        "ttl": None,
    }
    out = sent(body)
    assert out.body["interactive"]["action"]["sections"] == [
        {"title": "A", "rows": [{"id": "a1", "title": "One"}]},
        {"rows": [{"id": "b1", "title": "Two"}, None]},
    ]
    assert [(w.code, w.path, w.message) for w in out.warnings] == [
        (NULL_RULE.warning, "$.interactive.action.sections[0].rows[0].description",
         NULL_RULE.why),
        (NULL_RULE.warning, "$.interactive.action.sections[1].title", NULL_RULE.why),
        (NULL_RULE.warning, "$.ttl", NULL_RULE.why),
    ]


def test_a_null_array_item_does_not_hide_a_null_key_after_it() -> None:
    body = {**TEXT, "type": "contacts", "contacts": [None, {"name": {"formatted_name": "A",
                                                                     "suffix": None}}]}
    out = sent(body)
    assert out.body["contacts"] == [None, {"name": {"formatted_name": "A"}}]
    assert [w.path for w in out.warnings] == ["$.contacts[1].name.suffix"]


def test_an_array_of_only_nulls_is_left_to_cloud() -> None:
    out = sent({**TEXT, "x": [None, None]})
    assert out.body["x"] == [None, None] and out.warnings == []


def test_a_dict_subclass_body_gets_its_null_keys_dropped_too() -> None:
    body = OrderedDict([("to", "4915"), ("type", "text"), ("text", {"body": "hi"}),
                        ("context", None)])
    out = sent(body)
    assert "context" not in out.body
    assert [w.path for w in out.warnings] == ["$.context"]


def test_a_null_key_only_inside_a_nested_dict_subclass_is_dropped() -> None:
    text = OrderedDict([("body", "hi"), ("preview_url", None)])
    out = sent({"to": "4915", "type": "text", "text": text})
    assert out.body["text"] == {"body": "hi"}
    assert [w.path for w in out.warnings] == ["$.text.preview_url"]


# --- the other endpoints ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/messages/wamid.1"),
        ("POST", "/v1/configs/webhook"),
        ("POST", "/v1/configs/templates"),
    ],
)
def test_a_body_that_is_not_an_object_is_refused_at_the_root(method: str, path: str) -> None:
    assert refusal(method, path, ["read"], waba_id="8") == (
        400, "$", "$: expected a JSON object, got array")


def test_a_new_template_is_posted_to_the_account_as_sent() -> None:
    template = {"name": "order_update", "language": "en_US", "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Order {{1}} shipped"}]}
    out = request("POST", "/v1/configs/templates", template)
    assert (out.method, out.path, out.body, out.body_kind, out.file) == (
        "POST", "/8/message_templates", template, Body.JSON, None)


@pytest.mark.parametrize("target", ["meta", "360dialog"])
def test_a_stray_body_on_a_read_is_not_forwarded(target: str) -> None:
    out = request("GET", "/v1/health", {"unexpected": True}, target=target)
    assert out.method == "GET" and out.body is None and out.body_kind is Body.NONE


def test_a_bad_path_parameter_is_refused_naming_it() -> None:
    status, where, message = refusal("GET", "/v1/media/not%20an%20id", None)
    assert (status, where) == (400, "media_id")
    assert message.startswith("media_id: not a valid media_id for the meta backend")


@pytest.mark.parametrize("key", ["phone_number_id", "waba_id"])
def test_a_missing_channel_id_is_named_with_the_operation_that_needs_it(key: str) -> None:
    ids = {"phone_number_id": "7", "waba_id": "8"}
    del ids[key]
    path = "/v1/messages" if key == "phone_number_id" else "/v1/configs/templates"
    method = "POST" if key == "phone_number_id" else "GET"
    with pytest.raises(MissingFieldError) as info:
        translate_request(method, path, TEXT, target="meta", **ids)
    assert str(info.value) == f"{key}: the meta target needs {key} for {method} {path}"


def test_an_unknown_target_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'sms-gateway'"):
        translate_request("POST", "/v1/messages", TEXT, target="sms-gateway")


@pytest.mark.parametrize("kind", ["audio", "sticker"])
def test_a_dropped_caption_warning_points_at_the_caption(kind: str) -> None:
    rule = next(r for r in fields.SEND_RULES if r.onprem == f"{kind}.caption")
    out = sent({"to": "4915", "type": kind, kind: {"id": "1234567890", "caption": "c"}})
    assert out.body[kind] == {"id": "1234567890"}
    assert [(w.code, w.path, w.message) for w in out.warnings] == [
        (rule.warning, f"$.{kind}.caption", rule.why)]


def test_a_template_media_parameter_that_is_not_an_object_is_left_to_cloud() -> None:
    params = [{"type": "image", "image": "https://h/i.png"}, {"type": 3, "text": "x"}]
    out = sent({"to": "4915", "type": "template", "template": {
        "name": "t", "language": {"code": "en"},
        "components": [{"type": "header", "parameters": params}]}})
    assert out.body["template"]["components"][0]["parameters"] == params
    assert out.warnings == []


def test_a_text_header_is_not_treated_as_media() -> None:
    header = {"type": "text", "text": {"provider": {"name": "p"}}}
    out = sent({"to": "4915", "type": "interactive", "interactive": {
        "type": "button", "header": header, "body": {"text": "b"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "Yes"}}]}}})
    assert out.body["interactive"]["header"] == header and out.warnings == []


# --- path parameters ----------------------------------------------------------------------


def test_an_onprem_backend_takes_an_onprem_media_id() -> None:
    uuid = "3f2c9a6e-1b7d-4c3e-9a51-0d2b8e7f6a10"
    out = request("GET", f"/v1/media/{uuid}", target="onprem")
    assert (out.endpoint, out.path) == ("download_media", f"/v1/media/{uuid}")


@pytest.mark.parametrize("raw", ["wamid.HBg+/Q==", "wamid.HBg%2B%2FQ%3D%3D"])
def test_a_base64_message_id_keeps_plus_and_equals_but_not_a_bare_slash(raw: str) -> None:
    out = request("PUT", f"/v1/messages/{raw}", {"status": "read"}, target="onprem")
    assert out.path == "/v1/messages/wamid.HBg+%2FQ=="


@pytest.mark.parametrize("target", ["onprem", "meta", "360dialog"])
@pytest.mark.parametrize("raw", ["wamid.A%2F..%2FB", "wamid.A%2F.", "..%2Fwamid.B"])
def test_a_message_id_hiding_a_dot_segment_is_refused_naming_it(target: str, raw: str) -> None:
    with pytest.raises(TranslationError) as info:
        translate_request("PUT", f"/v1/messages/{raw}", {"status": "read"}, target=target,
                          phone_number_id="7")
    assert info.value.path == "message_id"
    assert str(info.value).startswith(f"message_id: not a valid message_id for the {target}")


def test_an_hsm_goes_through_the_template_rules_after_it_becomes_a_template() -> None:
    hsm_rule, policy_rule = (next(r for r in fields.SEND_RULES if r.onprem == key)
                             for key in ("hsm", "template.language.policy"))
    out = sent({"to": "4915", "type": "hsm", "hsm": {
        "namespace": "ns", "element_name": "order_ready",
        "language": {"policy": "fallback", "code": "en"},
        "localizable_params": [{"default": "A-17"}]}})
    assert out.body["template"] == {
        "name": "order_ready", "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-17"}]}]}
    assert [(w.code, w.path) for w in out.warnings] == [
        (hsm_rule.warning, "$.hsm"), (policy_rule.warning, "$.template.language.policy")]


@pytest.mark.parametrize("target", ["meta", "360dialog"])
def test_a_login_reaching_a_translator_is_refused_at_its_path(target: str) -> None:
    with pytest.raises(UnsupportedEndpointError) as info:
        translate_request("POST", "/v1/users/login", {}, target=target, phone_number_id="7")
    assert (info.value.status, info.value.path) == (501, "/v1/users/login")
    assert info.value.unsupported is match_unsupported("POST", "/v1/users/login")

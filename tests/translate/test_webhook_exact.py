"""Cloud -> On-Prem webhooks, field by field: whole translated bodies, where each
warning points, and where a malformed item is reported.

The expected bodies are written out by hand from the mapping table
(``shim.mapping.fields`` renames, ``shim.mapping.errors`` code cross-walk) and
each is validated against the On-Prem webhook model a legacy handler parses.
"""

from __future__ import annotations

from typing import Any

import pytest

from shim.mapping.errors import cloud_to_onprem_code, onprem_title
from shim.models.onprem_webhook import parse_onprem_webhook
from shim.translate import TranslationError, translate_webhook
from shim.translate.types import TranslationWarning

VALUE = "$.entry[0].changes[0].value"


def cloud(value: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """One Cloud ``messages`` change for phone-number id 7001 of WABA 9001."""
    meta = {"display_phone_number": "+1 555 0100", "phone_number_id": "7001"}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "9001", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": meta if metadata is None else metadata,
            **value,
        }}]}],
    }


def located(warnings: list[TranslationWarning]) -> list[tuple[str, str]]:
    return [(w.code, w.path) for w in warnings]


def error_path(body: Any) -> str:
    with pytest.raises(TranslationError) as info:
        translate_webhook(body)
    return info.value.path


# --- where the body came from -------------------------------------------------------


def test_the_number_and_account_a_body_came_from_are_kept_for_routing() -> None:
    result = translate_webhook(cloud({"statuses": []}))
    (hook,) = result.bodies
    assert (hook.phone_number_id, hook.display_phone_number, hook.waba_id) == (
        "7001", "+1 555 0100", "9001")
    assert hook.body == {"statuses": []}


def test_without_metadata_or_account_id_the_routing_fields_stay_unset() -> None:
    body = cloud({"statuses": []}, metadata={})
    del body["entry"][0]["id"]
    (hook,) = translate_webhook(body).bodies
    assert (hook.phone_number_id, hook.display_phone_number, hook.waba_id) == (None, None, None)


def test_numeric_ids_in_the_metadata_are_routed_as_strings() -> None:
    (hook,) = translate_webhook(
        cloud({"statuses": []},
              metadata={"phone_number_id": 7001, "display_phone_number": 15550100})
    ).bodies
    assert (hook.phone_number_id, hook.display_phone_number) == ("7001", "15550100")


def test_an_entry_without_changes_yields_nothing() -> None:
    result = translate_webhook({"object": "whatsapp_business_account", "entry": [{"id": "9001"}]})
    assert (result.bodies, result.other, result.warnings) == ([], [], [])


def test_other_change_fields_come_back_whole_with_a_located_warning() -> None:
    value = {"event": "APPROVED", "message_template_id": 42}
    body = {"object": "whatsapp_business_account", "entry": [
        {"changes": [{"field": "message_template_status_update", "value": value}]}]}
    result = translate_webhook(body)
    (other,) = result.other
    assert (other.field, other.value, other.waba_id) == (
        "message_template_status_update", value, None)
    assert located(result.warnings) == [("W203", "$.entry[0].changes[0].field")]
    assert "'message_template_status_update'" in result.warnings[0].message
    assert "passed through" in result.warnings[0].message
    assert result.bodies == []


def test_value_keys_onprem_lacks_pass_through_unchanged() -> None:
    extra = {"kind": "experimental", "items": [1, 2]}
    (hook,) = translate_webhook(cloud({"statuses": [], "experimental_block": extra})).bodies
    assert hook.body == {"statuses": [], "experimental_block": extra}


# --- bodies that are not webhooks -----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"object": "whatsapp_business_account", "messages": []},
        {"object": "whatsapp_business_account"},
        {"unrelated": True},
    ],
)
def test_a_body_that_is_neither_shape_is_refused_saying_what_was_expected(
    body: dict[str, Any],
) -> None:
    with pytest.raises(TranslationError) as info:
        translate_webhook(body)
    assert info.value.path == "$"
    reason = info.value.reason
    assert reason.startswith("not a webhook body")
    assert 'Cloud "entry"' in reason
    assert 'On-Prem "messages"/"statuses"/"contacts"/"errors"' in reason


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"messages": {}}, f"{VALUE}.messages"),
        ({"messages": [[]]}, f"{VALUE}.messages[0]"),
        ({"statuses": "sent"}, f"{VALUE}.statuses"),
        ({"statuses": [{"id": "a", "status": "sent", "timestamp": "1"}, 3]},
         f"{VALUE}.statuses[1]"),
        ({"contacts": {"wa_id": "1"}}, f"{VALUE}.contacts"),
        ({"errors": {"code": 1}}, f"{VALUE}.errors"),
        ({"errors": [{"code": 130429}, "late"]}, f"{VALUE}.errors[1]"),
        ({"messages": [{"id": "a", "from": "1", "timestamp": "1", "type": "text",
                        "text": {"body": "x"}, "errors": {}}]},
         f"{VALUE}.messages[0].errors"),
        ({"statuses": [{"id": "a", "status": "failed", "timestamp": "1",
                        "errors": [{"code": 131047}, None]}]},
         f"{VALUE}.statuses[0].errors[1]"),
        ({"metadata": ["7001"]}, f"{VALUE}.metadata"),
    ],
)
def test_a_malformed_item_is_reported_at_its_own_path(value: dict[str, Any], path: str) -> None:
    assert error_path(cloud(value)) == path


# --- messages ---------------------------------------------------------------------------


def test_a_button_reply_arrives_unchanged_and_without_warnings() -> None:
    message = {"from": "4915", "id": "wamid.1", "timestamp": "1700000000", "type": "interactive",
               "interactive": {"type": "button_reply",
                               "button_reply": {"id": "yes", "title": "Yes"}}}
    result = translate_webhook(cloud({"messages": [message]}))
    assert result.bodies[0].body == {"messages": [message]}
    assert result.warnings == []
    parse_onprem_webhook(result.bodies[0].body)


def test_an_nfm_reply_warning_points_at_the_interactive_object() -> None:
    message = {"from": "4915", "id": "wamid.1", "timestamp": "1", "type": "interactive",
               "interactive": {"type": "nfm_reply", "nfm_reply": {
                   "name": "flow", "body": "Sent", "response_json": "{}"}}}
    result = translate_webhook(cloud({"messages": [{"from": "1", "id": "w0", "timestamp": "1",
                                                    "type": "text", "text": {"body": "x"}},
                                                   message]}))
    assert result.bodies[0].body["messages"][1] == message
    assert located(result.warnings) == [("W202", f"{VALUE}.messages[1].interactive")]
    text = result.warnings[0].message
    assert text.startswith("nfm_reply") and "no On-Prem counterpart" in text


def test_a_cloud_only_type_warning_points_at_the_type() -> None:
    message = {"from": "4915", "id": "wamid.2", "timestamp": "1", "type": "request_welcome"}
    result = translate_webhook(cloud({"messages": [message]}))
    assert located(result.warnings) == [("W205", f"{VALUE}.messages[0].type")]
    text = result.warnings[0].message
    assert "'request_welcome'" in text and "unknown" in text and "cloud_message" in text
    out = result.bodies[0].body["messages"][0]
    assert out == {
        "from": "4915", "id": "wamid.2", "timestamp": "1", "type": "unknown",
        "errors": [{"code": 501, "title": onprem_title(501),
                    "details": 'Message type is not currently supported (Cloud type '
                               '"request_welcome"; the Cloud item is in cloud_message)'}],
        "cloud_message": message,
    }
    parse_onprem_webhook(result.bodies[0].body)


def test_a_number_change_keeps_every_system_field_and_renames_only_wa_id() -> None:
    message = {"from": "4915", "id": "wamid.6", "timestamp": "1", "type": "system",
               "system": {"body": "User A changed from 4915 to 4916", "wa_id": "4916",
                          "type": "user_changed_number", "customer": "4915"}}
    body = translate_webhook(cloud({"messages": [message]})).bodies[0].body
    assert body == {"messages": [{**message, "system": {
        "body": "User A changed from 4915 to 4916", "new_wa_id": "4916",
        "type": "user_changed_number", "customer": "4915"}}]}
    messages = parse_onprem_webhook(body).messages
    assert messages is not None and messages[0].system is not None
    assert messages[0].system.new_wa_id == "4916"


def test_a_system_message_with_a_malformed_system_object_passes_through() -> None:
    message = {"from": "4915", "id": "wamid.3", "timestamp": "1", "type": "system",
               "system": "customer changed number"}
    result = translate_webhook(cloud({"messages": [message]}))
    assert result.bodies[0].body == {"messages": [message]}


def test_a_system_object_on_another_message_type_is_left_alone() -> None:
    message = {"from": "4915", "id": "wamid.4", "timestamp": "1", "type": "text",
               "text": {"body": "hi"}, "system": {"wa_id": "4916"}}
    result = translate_webhook(cloud({"messages": [message]}))
    assert result.bodies[0].body == {"messages": [message]}


def test_an_error_on_an_inbound_message_is_mapped_like_a_status_error() -> None:
    message = {"from": "4915", "id": "wamid.5", "timestamp": "1", "type": "unsupported",
               "errors": [{"code": 131051, "title": "Message type unknown",
                           "message": "Message type unknown",
                           "error_data": {"details": "Message type is not currently supported"}}]}
    out = translate_webhook(cloud({"messages": [message]})).bodies[0].body["messages"][0]
    assert out == {
        "from": "4915", "id": "wamid.5", "timestamp": "1", "type": "unknown",
        "errors": [{"code": 501, "title": onprem_title(501), "cloud_code": 131051,
                    "cloud_title": "Message type unknown", "message": "Message type unknown",
                    "error_data": {"details": "Message type is not currently supported"},
                    "details": "Message type is not currently supported"}],
    }


# --- phone-less (username) users ------------------------------------------------------


def test_bsuid_fill_warnings_point_at_the_key_that_was_filled() -> None:
    result = translate_webhook(cloud({
        "contacts": [{"profile": {"name": "A"}, "wa_id": "49"},
                     {"profile": {"name": "B"}, "user_id": "US.2"}],
        "messages": [{"from": "49", "id": "w1", "timestamp": "1", "type": "text",
                      "text": {"body": "a"}},
                     {"from_user_id": "US.2", "id": "w2", "timestamp": "1", "type": "text",
                      "text": {"body": "b"}}],
        "statuses": [{"id": "w3", "status": "sent", "timestamp": "1",
                      "recipient_user_id": "US.2"}],
    }))
    assert located(result.warnings) == [
        ("W204", f"{VALUE}.contacts[1].wa_id"),
        ("W204", f"{VALUE}.messages[1].from"),
        ("W204", f"{VALUE}.statuses[0].recipient_id"),
    ]
    assert [w.message for w in result.warnings] == [
        "no phone number (username user); wa_id set to the BSUID from user_id",
        "no phone number (username user); from set to the BSUID from from_user_id",
        "no phone number (username user); recipient_id set to the BSUID from recipient_user_id",
    ]
    parse_onprem_webhook(result.bodies[0].body)


# --- statuses ---------------------------------------------------------------------------


def test_a_played_status_warning_points_at_the_status_and_names_both_values() -> None:
    result = translate_webhook(cloud({"statuses": [
        {"id": "w0", "status": "sent", "timestamp": "1", "recipient_id": "49"},
        {"id": "w1", "status": "played", "timestamp": "2", "recipient_id": "49"},
    ]}))
    assert located(result.warnings) == [("W201", f"{VALUE}.statuses[1].status")]
    assert result.warnings[0].message == (
        "status 'played' has no On-Prem counterpart; sent as 'read'")


def test_a_status_without_a_recipient_gets_no_message_object() -> None:
    status = {"id": "w1", "status": "deleted", "timestamp": "1"}
    body = translate_webhook(cloud({"statuses": [status]})).bodies[0].body
    assert body == {"statuses": [status]}
    parse_onprem_webhook(body)


def test_a_status_that_already_has_a_message_object_keeps_it() -> None:
    status = {"id": "w1", "status": "read", "timestamp": "1", "recipient_id": "49",
              "message": {"recipient_id": "US.9"}}
    body = translate_webhook(cloud({"statuses": [status]})).bodies[0].body
    assert body == {"statuses": [status]}


# --- errors -------------------------------------------------------------------------------


def onprem_error(error: dict[str, Any]) -> dict[str, Any]:
    body = translate_webhook(cloud({"statuses": [
        {"id": "w", "status": "failed", "timestamp": "1", "recipient_id": "49",
         "errors": [error]}]})).bodies[0].body
    parse_onprem_webhook(body)
    (out,) = body["statuses"][0]["errors"]
    assert isinstance(out, dict)
    return out


def test_a_status_error_keeps_the_cloud_code_and_title_beside_the_onprem_ones() -> None:
    out = onprem_error({"code": 131026, "title": "Message undeliverable",
                        "message": "Message undeliverable",
                        "error_data": {"details": "Receiver is incapable"}})
    assert out == {
        "code": cloud_to_onprem_code(131026), "title": onprem_title(cloud_to_onprem_code(131026)),
        "cloud_code": 131026, "cloud_title": "Message undeliverable",
        "message": "Message undeliverable", "error_data": {"details": "Receiver is incapable"},
        "details": "Receiver is incapable",
    }


@pytest.mark.parametrize(
    ("error", "details"),
    [
        ({"code": 131026, "message": "Message undeliverable"}, "Message undeliverable"),
        ({"code": 131026, "title": "Message undeliverable"}, "Message undeliverable"),
        ({"code": 131026, "message": "from message", "title": "from title"}, "from message"),
        ({"code": 131026, "error_data": "not an object", "title": "T"}, "T"),
        ({"code": 131026}, ""),
        ({"code": 131026, "details": "kept as sent", "error_data": {"details": "other"}},
         "kept as sent"),
        ({"code": 131026, "details": {"reason": "blocked"}, "message": "m"},
         '{"reason": "blocked"}'),
        ({"code": 131026, "details": None, "message": "m"}, "m"),
    ],
)
def test_error_details_fall_back_to_the_cloud_text_in_order(
    error: dict[str, Any], details: str,
) -> None:
    out = onprem_error(error)
    assert out["details"] == details
    assert out["code"] == cloud_to_onprem_code(131026) and out["cloud_code"] == 131026
    assert ("cloud_title" in out) == ("title" in error)
    if "title" in error:
        assert out["cloud_title"] == error["title"]


@pytest.mark.parametrize("code", ["131026", True, None, 1.5])
def test_an_error_without_an_integer_code_is_passed_on_as_sent(code: object) -> None:
    error = {"code": code, "title": "T", "details": "d"}
    body = translate_webhook(cloud({"errors": [error]})).bodies[0].body
    assert body == {"errors": [error]}

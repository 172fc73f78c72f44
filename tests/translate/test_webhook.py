"""Cloud -> On-Prem webhooks: every entry, change and item; every type rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shim.translate import TranslationError, translate_webhook
from tests.conftest import example_names, load_example

CLOUD_WEBHOOKS = example_names("cloud-webhook-")


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """All key paths of a JSON value, list items collapsed to ``[]``."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(f"{prefix}.{key}")
            out |= key_paths(item, f"{prefix}.{key}")
    elif isinstance(value, list):
        for item in value:
            out |= key_paths(item, f"{prefix}[]")
    return out


def wrap(value: dict[str, Any], pnid: str = "111", field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "W1",
                "changes": [
                    {
                        "field": field,
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550001",
                                "phone_number_id": pnid,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize("name", CLOUD_WEBHOOKS)
def test_every_cloud_example_translates_without_losing_items(name: str) -> None:
    cloud = load_example(name)
    original = copy.deepcopy(cloud)
    result = translate_webhook(cloud)
    values = [c["value"] for e in cloud["entry"] for c in e["changes"]]
    assert len(result.bodies) == len(values)
    for body, value in zip(result.bodies, values, strict=True):
        assert body.phone_number_id == value["metadata"]["phone_number_id"]
        assert "messaging_product" not in body.body and "metadata" not in body.body
        for key in ("messages", "statuses", "contacts", "errors"):
            assert len(body.body.get(key, [])) == len(value.get(key, []))
    assert cloud == original, "translator must not mutate its input"


@pytest.mark.parametrize(
    ("cloud", "onprem"),
    [
        ("cloud-webhook-inbound-text", "onprem-webhook-inbound-text"),
        ("cloud-webhook-inbound-image", "onprem-webhook-inbound-image"),
        ("cloud-webhook-inbound-document", "onprem-webhook-inbound-document"),
        ("cloud-webhook-inbound-location", "onprem-webhook-inbound-location"),
        ("cloud-webhook-inbound-button", "onprem-webhook-inbound-button"),
        (
            "cloud-webhook-inbound-interactive-button-reply",
            "onprem-webhook-inbound-interactive-button-reply",
        ),
        (
            "cloud-webhook-inbound-interactive-list-reply",
            "onprem-webhook-inbound-interactive-list-reply",
        ),
        ("cloud-webhook-inbound-audio-voice", "onprem-webhook-inbound-voice"),
        ("cloud-webhook-status-sent", "onprem-webhook-status-sent"),
    ],
)
def test_translated_body_has_the_onprem_example_shape(cloud: str, onprem: str) -> None:
    body = translate_webhook(load_example(cloud)).bodies[0].body
    expected = key_paths(load_example(onprem))
    # On-Prem-only legacy fields that Cloud never sends (deprecated "file", On-Prem
    # "link", "identity" blocks) are not invented.
    legacy = {p for p in expected if p.rsplit(".", 1)[-1] in {"file", "link", "identity"}}
    got = key_paths(body)
    assert {p for p in expected - legacy if not p.startswith(".contacts")} <= got
    assert body["messages" if "messages" in body else "statuses"][0]


def test_voice_note_becomes_voice_type() -> None:
    msg = (
        translate_webhook(load_example("cloud-webhook-inbound-audio-voice"))
        .bodies[0]
        .body["messages"][0]
    )
    assert msg["type"] == "voice" and "audio" not in msg and "voice" not in msg["voice"]


def test_plain_audio_stays_audio() -> None:
    cloud = wrap(
        {
            "messages": [
                {
                    "from": "1",
                    "id": "w",
                    "timestamp": "1",
                    "type": "audio",
                    "audio": {"id": "9", "mime_type": "audio/mpeg"},
                }
            ]
        }
    )
    assert translate_webhook(cloud).bodies[0].body["messages"][0]["type"] == "audio"


def test_unsupported_becomes_unknown_with_mapped_error() -> None:
    msg = (
        translate_webhook(load_example("cloud-webhook-inbound-unsupported"))
        .bodies[0]
        .body["messages"][0]
    )
    assert msg["type"] == "unknown"
    assert msg["errors"][0]["code"] == 501 and msg["errors"][0]["cloud_code"] == 131051


def test_system_wa_id_becomes_new_wa_id() -> None:
    msg = (
        translate_webhook(load_example("cloud-webhook-inbound-system"))
        .bodies[0]
        .body["messages"][0]
    )
    assert msg["system"]["new_wa_id"] == "12195555358" and "wa_id" not in msg["system"]


def test_status_recipient_copied_and_played_mapped() -> None:
    cloud = wrap(
        {
            "statuses": [
                {"id": "w1", "status": "played", "timestamp": "2", "recipient_id": "49"},
                {"id": "w2", "status": "delivered", "timestamp": "1", "recipient_id": "50"},
            ]
        }
    )
    result = translate_webhook(cloud)
    first, second = result.bodies[0].body["statuses"]
    assert first["status"] == "read" and first["cloud_status"] == "played"
    assert first["message"] == {"recipient_id": "49"}
    assert second["status"] == "delivered" and second["message"] == {"recipient_id": "50"}
    assert [w.code for w in result.warnings] == ["W201"]


def test_status_error_codes_mapped_keeping_cloud_code() -> None:
    cloud = wrap(
        {
            "statuses": [
                {
                    "id": "w",
                    "status": "failed",
                    "timestamp": "1",
                    "recipient_id": "1",
                    "errors": [
                        {
                            "code": 131047,
                            "title": "Re-engagement message",
                            "message": "Re-engagement message",
                            "error_data": {"details": "more than 24 hours"},
                        }
                    ],
                }
            ]
        }
    )
    err = translate_webhook(cloud).bodies[0].body["statuses"][0]["errors"][0]
    assert (err["code"], err["cloud_code"], err["details"]) == (470, 131047, "more than 24 hours")
    expected = load_example("onprem-webhook-status-failed-470")["statuses"][0]["errors"][0]
    assert set(expected) <= set(err)


def test_out_of_band_errors_mapped() -> None:
    body = translate_webhook(load_example("cloud-webhook-errors-130429")).bodies[0].body
    assert body["errors"][0]["code"] == 429


def test_batched_post_yields_every_body_in_order() -> None:
    def value(pnid: str, mid: str) -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp",
            "metadata": {"phone_number_id": pnid},
            "messages": [
                {"from": "1", "id": mid, "timestamp": "1", "type": "text", "text": {"body": mid}}
            ],
        }

    cloud = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "A",
                "changes": [
                    {"field": "messages", "value": value("p1", "m1")},
                    {"field": "messages", "value": value("p2", "m2")},
                ],
            },
            {
                "id": "B",
                "changes": [
                    {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
                    {"field": "messages", "value": value("p3", "m3")},
                ],
            },
        ],
    }
    result = translate_webhook(cloud)
    assert [(b.phone_number_id, b.body["messages"][0]["id"], b.waba_id) for b in result.bodies] == [
        ("p1", "m1", "A"),
        ("p2", "m2", "A"),
        ("p3", "m3", "B"),
    ]
    assert [(o.field, o.waba_id) for o in result.other] == [("message_template_status_update", "B")]
    assert [w.code for w in result.warnings] == ["W203"]


def test_cloud_only_fields_pass_through() -> None:
    cloud = wrap(
        {
            "contacts": [{"profile": {"name": "x", "username": "@x"}, "user_id": "US.1"}],
            "messages": [
                {
                    "from": "US.1",
                    "id": "w",
                    "timestamp": "1",
                    "type": "reaction",
                    "reaction": {"message_id": "w0", "emoji": "👍"},
                }
            ],
        }
    )
    body = translate_webhook(cloud).bodies[0].body
    assert body["contacts"][0]["user_id"] == "US.1"
    assert body["messages"][0]["reaction"]["emoji"] == "👍"


def test_nfm_reply_passes_through_with_warning() -> None:
    result = translate_webhook(load_example("cloud-webhook-inbound-interactive-nfm-reply"))
    assert result.bodies[0].body["messages"][0]["interactive"]["type"] == "nfm_reply"
    assert [w.code for w in result.warnings] == ["W202"]


def test_onprem_body_passes_through_unchanged() -> None:
    body = load_example("onprem-webhook-inbound-text")
    result = translate_webhook(body)
    assert [b.body for b in result.bodies] == [body]
    assert result.bodies[0].phone_number_id is None


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([], "$"),
        ({"object": "whatsapp_business_account"}, "$"),
        ({"hello": 1}, "$"),
        ({"entry": {}}, "$.entry"),
        ({"entry": [5]}, "$.entry[0]"),
        ({"entry": [{"changes": "x"}]}, "$.entry[0].changes"),
        (
            {"entry": [{"changes": [{"field": "messages", "value": []}]}]},
            "$.entry[0].changes[0].value",
        ),
        (
            {"entry": [{"changes": [{"field": "messages", "value": {"messages": [7]}}]}]},
            "$.entry[0].changes[0].value.messages[0]",
        ),
        (
            {"entry": [{"changes": [{"field": "messages", "value": {"statuses": {}}}]}]},
            "$.entry[0].changes[0].value.statuses",
        ),
    ],
)
def test_malformed_webhooks_name_the_path(body: Any, path: str) -> None:
    with pytest.raises(TranslationError) as info:
        translate_webhook(body)
    assert info.value.path == path


def test_phoneless_username_users_get_their_bsuid_as_onprem_keys() -> None:
    cloud = wrap({
        "contacts": [{"profile": {"name": "x", "username": "@x"}, "user_id": "US.1"}],
        "messages": [{"from_user_id": "US.1", "id": "w", "timestamp": "1", "type": "text",
                      "text": {"body": "hi"}}],
        "statuses": [{"id": "w0", "status": "read", "timestamp": "1",
                      "recipient_user_id": "US.1"}],
    })
    result = translate_webhook(cloud)
    body = result.bodies[0].body
    assert body["contacts"][0]["wa_id"] == "US.1" and body["contacts"][0]["user_id"] == "US.1"
    assert body["messages"][0]["from"] == "US.1"
    assert body["statuses"][0]["recipient_id"] == "US.1"
    assert body["statuses"][0]["message"] == {"recipient_id": "US.1"}
    assert [w.code for w in result.warnings] == ["W204"] * 3


def test_phone_numbers_win_over_bsuid() -> None:
    cloud = wrap({"contacts": [{"wa_id": "49", "user_id": "US.1"}],
                  "messages": [{"from": "49", "from_user_id": "US.1", "id": "w",
                                "timestamp": "1", "type": "text", "text": {"body": "x"}}]})
    body = translate_webhook(cloud).bodies[0].body
    assert body["contacts"][0]["wa_id"] == "49" and body["messages"][0]["from"] == "49"


@pytest.mark.parametrize(
    ("item", "cloud_type"),
    [
        ({"type": "edit", "edit": {"original_message_id": "wamid.A", "text": {"body": "fixed"}}},
         "edit"),
        ({"type": "revoke", "revoke": {"original_message_id": "wamid.A"}}, "revoke"),
        ({"type": "interactive", "interactive": {
            "type": "call_permission_reply",
            "call_permission_reply": {"response": "accept", "is_permanent": False}}},
         "interactive.call_permission_reply"),
        ({"type": "request_welcome"}, "request_welcome"),
        ({"type": "hologram_2031", "hologram_2031": {"x": 1}}, "hologram_2031"),
    ],
)
def test_cloud_only_types_arrive_as_unknown_with_the_cloud_item_kept(
    item: dict[str, Any], cloud_type: str
) -> None:
    message = {"from": "4915", "id": "wamid.B", "timestamp": "1700000000", **item}
    result = translate_webhook(wrap({"messages": [message]}))
    out = result.bodies[0].body["messages"][0]
    assert out["type"] == "unknown"
    assert (out["from"], out["id"], out["timestamp"]) == ("4915", "wamid.B", "1700000000")
    assert out["cloud_message"] == message
    assert out["errors"][0]["code"] == 501 and cloud_type in out["errors"][0]["details"]
    assert item["type"] not in out or (item["type"] == "interactive" and "interactive" not in out)
    assert [w.code for w in result.warnings] == ["W205"]


def test_known_types_and_nfm_reply_are_not_turned_into_unknown() -> None:
    for name in CLOUD_WEBHOOKS:
        result = translate_webhook(load_example(name))
        assert "W205" not in [w.code for w in result.warnings], name

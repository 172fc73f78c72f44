"""onprem_view / onprem_bodies: every item of every entry and change survives, in order."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from shim.translate import TranslationError
from shim.webhooks import WebhookPayloadError, merge_bodies, onprem_bodies, onprem_view
from tests.conftest import example_names, load_example

CLOUD = example_names("cloud-webhook-")
ONPREM = example_names("onprem-webhook-")


def cloud_items(body: dict[str, Any], key: str) -> list[str]:
    return [item["id"] for entry in body["entry"] for change in entry["changes"]
            if change["field"] == "messages" for item in change["value"].get(key, [])]


def batched() -> dict[str, Any]:
    """Every Cloud example in one POST: several entries, several changes each (pywa #229)."""
    entries: list[dict[str, Any]] = []
    for n, name in enumerate(CLOUD):
        entry = copy.deepcopy(load_example(name)["entry"][0])
        for change in entry["changes"]:
            change["value"]["metadata"]["phone_number_id"] = f"10000000{n % 3}"
        if entries and n % 2:
            entries[-1]["changes"] += entry["changes"]  # two changes in one entry
        else:
            entries.append(entry)
    template = copy.deepcopy(load_example("cloud-webhook-status-delivered")["entry"][0])
    template["changes"][0]["field"] = "message_template_status_update"
    template["changes"][0]["value"] = {"event": "APPROVED", "message_template_id": 1}
    entries.append(template)
    return {"object": "whatsapp_business_account", "entry": entries}


@pytest.mark.parametrize("name", CLOUD)
def test_each_cloud_example_keeps_every_item(name: str) -> None:
    body = load_example(name)
    view = onprem_view(body)
    assert "entry" not in view and "metadata" not in view and "messaging_product" not in view
    assert [m["id"] for m in view.get("messages", [])] == cloud_items(body, "messages")
    assert [s["id"] for s in view.get("statuses", [])] == cloud_items(body, "statuses")
    (item,) = onprem_bodies(body)
    assert item.phone_number_id == body["entry"][0]["changes"][0]["value"]["metadata"][
        "phone_number_id"]
    assert item.waba_id == body["entry"][0]["id"]


@pytest.mark.parametrize("name", ONPREM)
def test_onprem_bodies_pass_through_unchanged(name: str) -> None:
    body = load_example(name)
    assert onprem_view(body) == body
    (item,) = onprem_bodies(json.dumps(body))
    assert item.body == body and item.phone_number_id is None


def test_a_batched_post_is_merged_without_dropping_anything() -> None:
    body = batched()
    bodies = onprem_bodies(body)
    assert len(bodies) == len(CLOUD)  # one per messages change; the template change is not one
    assert [b.phone_number_id for b in bodies] == [f"10000000{n % 3}" for n in range(len(CLOUD))]
    view = onprem_view(body)
    assert [m["id"] for m in view["messages"]] == cloud_items(body, "messages")
    assert [s["id"] for s in view["statuses"]] == cloud_items(body, "statuses")
    contacts = [c for b in bodies for c in b.body.get("contacts", [])]
    assert view["contacts"] == contacts and len(contacts) >= 10
    assert len(view["errors"]) == sum(len(b.body.get("errors", [])) for b in bodies) > 0
    # the On-Prem idioms keep working on the merged body
    assert "messages" in view and view["messages"][0]["from"]
    voice = [m for m in view["messages"] if m["type"] == "voice"]
    assert voice and "voice" in voice[0] and "audio" not in voice[0]


def test_merge_keeps_the_first_value_of_other_keys_and_omits_absent_lists() -> None:
    from shim.translate.types import OnPremWebhook

    merged = merge_bodies([OnPremWebhook({"statuses": [1], "x": "first"}, "1"),
                           OnPremWebhook({"statuses": [2], "x": "second"}, "2")])
    assert merged == {"statuses": [1, 2], "x": "first"}
    only_template = batched()
    only_template["entry"] = only_template["entry"][-1:]
    assert onprem_view(only_template) == {}


class FlaskLike:
    """What Flask/sanic hand a handler: ``request.json`` and ``request.get_json()``."""

    def __init__(self, raw: bytes) -> None:
        self.json = json.loads(raw)

    def get_json(self) -> Any:
        return self.json


class DjangoLike:
    def __init__(self, raw: bytes) -> None:
        self.body = raw


class DRFLike:
    def __init__(self, raw: bytes) -> None:
        self.data = json.loads(raw)


class Envelope(BaseModel):  # a FastAPI body model
    model_config = ConfigDict(extra="allow")
    object: str


@pytest.mark.parametrize("style", [
    "request.json", "request.get_json()", "json.loads(request.body)", "request.body",
    "request.data", "request", "body text", "pydantic model",
])
def test_every_handler_style_gives_the_same_view(style: str) -> None:
    raw = json.dumps(batched()).encode()
    payload = {
        "request.json": FlaskLike(raw).json,
        "request.get_json()": FlaskLike(raw).get_json(),
        "json.loads(request.body)": json.loads(DjangoLike(raw).body),
        "request.body": DjangoLike(raw).body,
        "request.data": DRFLike(raw).data,
        "request": FlaskLike(raw),
        "body text": raw.decode(),
        "pydantic model": Envelope.model_validate_json(raw),
    }[style]
    assert onprem_view(payload) == onprem_view(json.loads(raw))


@pytest.mark.parametrize(("payload", "message"), [
    (b'{"entry": [', "not valid JSON (line 1, column 12)"),
    (b"\xff\xfe{}", "not valid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    (None, "no webhook payload"),
    (42, "cannot read a webhook body from a int"),
    ({"entry": "nope"}, "$.entry"),
    ({"object": "whatsapp_business_account"}, "not a webhook body"),
])
def test_bad_payloads_raise_with_a_location(payload: object, message: str) -> None:
    with pytest.raises(TranslationError, match=re.escape(message)) as err:
        onprem_view(payload)
    assert err.value.path.startswith("$")


def test_deep_nesting_is_a_payload_error_naming_where() -> None:
    deep = b'{"entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(WebhookPayloadError, match="nested deeper than 64"):
        onprem_bodies(deep)

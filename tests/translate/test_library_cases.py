"""Cloud payloads as public Cloud client libraries test with them: 0 crashes, nothing silently lost.

The cases (``fixtures/cloud_library_cases.json``) are modelled on those libraries'
test data and rewritten with our own values. Every message item must arrive
either translated to a type an On-Prem handler knows, or as ``unknown`` with a
warning; every response must come back in On-Prem shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shim.mapping import fields
from shim.translate import translate_response, translate_webhook

CASES = json.loads((Path(__file__).parent / "fixtures" / "cloud_library_cases.json").read_text())
KNOWN = fields.ONPREM_INBOUND_TYPES - {"unknown"}


def envelope(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "2002", "changes": [{
        "field": field,
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "4930123456", "phone_number_id": "1001"},
                  **value},
    }]}]}


@pytest.mark.parametrize("case", CASES["webhooks"], ids=lambda c: c["name"])
def test_webhook_case_translates(case: dict[str, Any]) -> None:
    result = translate_webhook(envelope(case["value"]))
    [body] = result.bodies
    assert body.phone_number_id == "1001"
    sent = case["value"].get("messages", [])
    got = body.body.get("messages", [])
    assert len(got) == len(sent)
    codes = [w.code for w in result.warnings]
    for out in got:
        if out["type"] == "unknown":
            # Cloud's own "unsupported" keeps its errors; Cloud-only types say W205.
            assert out.get("errors"), out
            assert fields.W_CLOUD_ONLY_TYPE in codes or out.get("errors")[0]["code"] == 501
        else:
            assert out["type"] in KNOWN, out
    for status in body.body.get("statuses", []):
        assert status["status"] in {"sent", "delivered", "read", "failed"}
        assert "recipient_id" in status
    json.dumps(body.body)  # JSON-clean


@pytest.mark.parametrize("case", CASES["other_fields"], ids=lambda c: c["name"])
def test_other_change_fields_pass_through_with_a_warning(case: dict[str, Any]) -> None:
    result = translate_webhook(envelope({}, case["field"]) | {
        "entry": [{"id": "2002", "changes": [{"field": case["field"], "value": case["value"]}]}]})
    assert result.bodies == [] and [c.field for c in result.other] == [case["field"]]
    assert [w.code for w in result.warnings] == [fields.W_OTHER_FIELD]


@pytest.mark.parametrize("case", CASES["responses"], ids=lambda c: c["name"])
def test_response_case_comes_back_in_onprem_shape(case: dict[str, Any]) -> None:
    for target in ("360dialog", "meta"):
        out = translate_response(case["method"], case["path"], case["status"], case["body"],
                                 target=target)
        json.dumps(out.body)
        if case["status"] >= 400 or case["name"].startswith("error"):
            assert out.status == case["status"] or out.status == 429
            error = out.body["errors"][0]
            assert isinstance(error["code"], int) and isinstance(error["details"], str)
            assert out.body["meta"]["cloud_body"] == case["body"]
        else:
            assert out.status == case["status"]
            assert "error" not in out.body


def test_counts() -> None:
    """The totals reported for the issue: every message item accounted for."""
    items = translated = unknown = 0
    for case in CASES["webhooks"]:
        result = translate_webhook(envelope(case["value"]))
        for body in result.bodies:
            for message in body.body.get("messages", []):
                items += 1
                if message["type"] == "unknown":
                    unknown += 1
                else:
                    translated += 1
    assert items == translated + unknown
    assert (len(CASES["webhooks"]), len(CASES["other_fields"]), len(CASES["responses"])) == (
        49, 5, 20)
    assert (items, translated, unknown) == (39, 32, 7)

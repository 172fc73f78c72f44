"""Template and hsm sends: every refusal names its field, every kept parameter is exact."""

from __future__ import annotations

from typing import Any

import pytest

from shim.translate.request import translate_request
from shim.translate.types import JSON, CloudRequest, TranslationError

H = {"namespace": "ns", "element_name": "n", "language": {"code": "en", "policy": "deterministic"}}
T = {"name": "n", "language": {"code": "en"}}


def hsm(**kw: Any) -> dict[str, Any]:
    return {"to": "49", "type": "hsm", "hsm": {**H, **kw}}


def hsm_without(k: str) -> dict[str, Any]:
    return {"to": "49", "type": "hsm", "hsm": {x: v for x, v in H.items() if x != k}}


def tpl(**kw: Any) -> dict[str, Any]:
    return {"to": "49", "type": "template", "template": {**T, **kw}}


def tpl_without(k: str) -> dict[str, Any]:
    return {"to": "49", "type": "template", "template": {x: v for x, v in T.items() if x != k}}


def body_params(*params: Any) -> dict[str, Any]:
    return tpl(components=[{"type": "body", "parameters": list(params)}])


REFUSED: list[tuple[JSON, str, str]] = [
    (tpl(name=1.5), "$.template.name", "expected a string, got number"),
    (hsm_without("element_name"), "$.hsm.element_name", "required field is missing"),
    (hsm(element_name=3), "$.hsm.element_name", "expected a string, got integer"),
    (hsm_without("language"), "$.hsm.language", "required field is missing"),
    (hsm(language="en"), "$.hsm.language", "expected a JSON object, got string"),
    (hsm(localizable_params={}), "$.hsm.localizable_params", "expected a JSON array, got object"),
    (
        hsm(localizable_params=[3]),
        "$.hsm.localizable_params[0]",
        "expected a JSON object, got integer",
    ),
    (
        hsm(localizable_params=[{}]),
        "$.hsm.localizable_params[0].default",
        "required field is missing",
    ),
    (
        hsm(localizable_params=[{"default": 3}]),
        "$.hsm.localizable_params[0].default",
        "expected a string, got integer",
    ),
    (
        hsm(localizable_params=[{"default": "d", "currency": 3}]),
        "$.hsm.localizable_params[0].currency",
        "expected a JSON object, got integer",
    ),
    (
        hsm(localizable_params=[{"default": "d", "currency": {"amount_1000": 1}}]),
        "$.hsm.localizable_params[0].currency.currency_code",
        "required field is missing",
    ),
    (
        hsm(
            localizable_params=[
                {"default": "d", "currency": {"currency_code": 3, "amount_1000": 1}}
            ]
        ),
        "$.hsm.localizable_params[0].currency.currency_code",
        "expected a string, got integer",
    ),
    (
        hsm(localizable_params=[{"default": "d", "currency": {"currency_code": "EUR"}}]),
        "$.hsm.localizable_params[0].currency.amount_1000",
        "required field is missing",
    ),
    (
        hsm(
            localizable_params=[
                {"default": "d", "currency": {"currency_code": "EUR", "amount_1000": "1"}}
            ]
        ),
        "$.hsm.localizable_params[0].currency.amount_1000",
        "expected an integer, got string",
    ),
    (
        hsm(
            localizable_params=[
                {"default": "d", "currency": {"currency_code": "EUR", "amount_1000": True}}
            ]
        ),
        "$.hsm.localizable_params[0].currency.amount_1000",
        "expected an integer, got boolean",
    ),
    (
        hsm(localizable_params=[{"default": "d", "date_time": 3}]),
        "$.hsm.localizable_params[0].date_time",
        "expected a JSON object, got integer",
    ),
    (hsm(extra=1, zeta=2), "$.hsm.extra", "unknown hsm field; cannot be carried into a template"),
    (tpl_without("name"), "$.template.name", "required field is missing"),
    (tpl(name=3), "$.template.name", "expected a string, got integer"),
    (tpl_without("language"), "$.template.language", "required field is missing"),
    (tpl(language="en"), "$.template.language", "expected a JSON object, got string"),
    (tpl(language={}), "$.template.language.code", "required field is missing"),
    (tpl(language={"code": 1}), "$.template.language.code", "expected a string, got integer"),
    (tpl(components={}), "$.template.components", "expected a JSON array, got object"),
    (tpl(components=[3]), "$.template.components[0]", "expected a JSON object, got integer"),
    (
        tpl(components=[{"type": "body", "parameters": {}}]),
        "$.template.components[0].parameters",
        "expected a JSON array, got object",
    ),
    (
        body_params(3),
        "$.template.components[0].parameters[0]",
        "expected a JSON object, got integer",
    ),
    (
        body_params({"type": "date_time"}),
        "$.template.components[0].parameters[0].date_time",
        "required field is missing",
    ),
    (
        body_params({"type": "date_time", "date_time": 3}),
        "$.template.components[0].parameters[0].date_time",
        "expected a JSON object, got integer",
    ),
    (
        body_params({"type": "image", "image": {"id": 5}}),
        "$.template.components[0].parameters[0].image.id",
        "expected a string media id, got integer",
    ),
]

KEPT: list[tuple[JSON, JSON, list[tuple[str, str]]]] = [
    (
        hsm(
            localizable_params=[
                {"default": "d"},
                {"default": "$1", "currency": {"currency_code": "EUR", "amount_1000": 1500}},
                {"default": "Mon", "date_time": {"day_of_week": 1}},
            ]
        ),
        {
            "messaging_product": "whatsapp",
            "to": "49",
            "type": "template",
            "recipient_type": "individual",
            "template": {
                "name": "n",
                "language": {"code": "en", "policy": "deterministic"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "d"},
                            {
                                "type": "currency",
                                "currency": {
                                    "fallback_value": "$1",
                                    "code": "EUR",
                                    "amount_1000": 1500,
                                },
                            },
                            {"type": "date_time", "date_time": {"fallback_value": "Mon"}},
                        ],
                    }
                ],
            },
        },
        [("W104", "$.hsm")],
    ),
    (
        tpl(
            namespace="ns",
            components=[
                {
                    "type": "button",
                    "index": 0,
                    "sub_type": "url",
                    "parameters": [{"type": "text", "text": "x"}],
                },
                {
                    "type": "body",
                    "parameters": [
                        {
                            "type": "date_time",
                            "date_time": {"fallback_value": "Mon", "day_of_week": 1},
                        },
                        {"type": "date_time", "date_time": {"day_of_week": 1}},
                        {"type": "date_time", "date_time": {"fallback_value": "Tue"}},
                        {"type": "image", "image": {"id": "123", "provider": {"name": "p"}}},
                    ],
                },
            ],
        ),
        {
            "messaging_product": "whatsapp",
            "to": "49",
            "type": "template",
            "template": {
                "name": "n",
                "language": {"code": "en"},
                "components": [
                    {
                        "type": "button",
                        "index": "0",
                        "sub_type": "url",
                        "parameters": [{"type": "text", "text": "x"}],
                    },
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "date_time", "date_time": {"fallback_value": "Mon"}},
                            {"type": "date_time", "date_time": {"fallback_value": ""}},
                            {"type": "date_time", "date_time": {"fallback_value": "Tue"}},
                            {"type": "image", "image": {"id": "123"}},
                        ],
                    },
                ],
            },
            "recipient_type": "individual",
        },
        [
            ("W105", "$.template.namespace"),
            ("W106", "$.template.components[1].parameters[0].date_time"),
            ("W106", "$.template.components[1].parameters[1].date_time"),
            ("W102", "$.template.components[1].parameters[3].image.provider"),
        ],
    ),
    (
        tpl(language={"code": "en", "policy": "fallback"}),
        {
            "messaging_product": "whatsapp",
            "to": "49",
            "type": "template",
            "template": {"name": "n", "language": {"code": "en"}},
            "recipient_type": "individual",
        },
        [("W108", "$.template.language.policy")],
    ),
]


@pytest.mark.parametrize(("body", "path", "message"), REFUSED)
def test_a_bad_template_or_hsm_names_the_field(body: JSON, path: str, message: str) -> None:
    with pytest.raises(TranslationError) as info:
        translate_request("POST", "/v1/messages", body, target="360dialog")
    assert (info.value.path, str(info.value)) == (path, f"{path}: {message}")


@pytest.mark.parametrize(("body", "expected", "warnings"), KEPT)
def test_template_parameters_are_carried_exactly(
    body: JSON, expected: JSON, warnings: list[tuple[str, str]]
) -> None:
    result = translate_request("POST", "/v1/messages", body, target="360dialog")
    assert isinstance(result, CloudRequest)
    assert result.body == expected
    assert [(w.code, w.path) for w in result.warnings] == warnings

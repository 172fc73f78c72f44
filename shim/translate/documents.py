"""The document shapes of ``waba-migrate translate``: one call per document.

Kept out of the CLI so other tools (benchmarks, the demo) translate documents
the same way the command does.
"""

from __future__ import annotations

from typing import Any, Literal

from shim.mapping import fields
from shim.mapping.endpoints import ENDPOINTS, match_endpoint
from shim.mapping.hosts import Target
from shim.translate._util import expect_object, expect_str, fail, require
from shim.translate.request import translate_request
from shim.translate.response import translate_response
from shim.translate.types import JSON, OnPremResponse, TranslationWarning
from shim.translate.webhook import translate_webhook

Kind = Literal["request", "response", "webhook"]
KINDS: tuple[Kind, ...] = ("request", "response", "webhook")
#: Stands in for the phone-number id in Meta paths when none was given.
PHONE_NUMBER_ID_PLACEHOLDER = "{phone-number-id}"


def translate_document(
    kind: Kind, doc: JSON, *, target: Target | str, phone_number_id: str | None = None
) -> tuple[JSON, list[TranslationWarning]]:
    """Translate one input document of the given kind; returns (output, warnings)."""
    target = Target(target)
    if kind == "webhook":
        result = translate_webhook(doc)
        return [item.body for item in result.bodies], result.warnings
    src = expect_object(doc, "$")
    if kind == "request":
        return _request(src, target, phone_number_id)
    return _response(src, target)


def _request(
    src: dict[str, Any], target: Target, phone_number_id: str | None
) -> tuple[JSON, list[TranslationWarning]]:
    method = expect_str(src.get("method", "POST"), "$.method")
    path = expect_str(require(src, "path", "$"), "$.path")
    warnings: list[TranslationWarning] = []
    if target is Target.META and phone_number_id is None:
        phone_number_id = PHONE_NUMBER_ID_PLACEHOLDER
        warnings.append(TranslationWarning(
            fields.W_PLACEHOLDER_PATH, "$.path",
            "no phone-number id given; the Meta path holds a placeholder"))
    result = translate_request(method, path, src.get("body"), target=target,
                               phone_number_id=phone_number_id,
                               waba_id=src.get("waba_id"))
    warnings.extend(result.warnings)
    if isinstance(result, OnPremResponse):
        return {"local": True, "status": result.status, "body": result.body}, warnings
    return {"method": result.method, "path": result.path_with_query,
            "body": result.body}, warnings


def _response(src: dict[str, Any], target: Target) -> tuple[JSON, list[TranslationWarning]]:
    path = expect_str(require(src, "path", "$"), "$.path")
    status = require(src, "status", "$")
    if not isinstance(status, int) or isinstance(status, bool):
        fail("$.status", "expected an integer HTTP status")
    method = src.get("method")
    if method is None:
        method = _default_method(path)
    method = expect_str(method, "$.method")
    result = translate_response(method, path, status, src.get("body"), target=target)
    return {"status": result.status, "body": result.body}, result.warnings


def _default_method(path: str) -> str:
    for endpoint in ENDPOINTS:
        if match_endpoint(endpoint.method, path) is not None:
            return endpoint.method
    return "GET"

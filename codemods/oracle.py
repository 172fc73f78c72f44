"""The pure translator as the authority on payload semantics.

A fully constant payload literal is translated by ``shim.translate`` itself
and, where the in-place field-rule edits would give a different body, the
translator's body is what gets written. Value-level decisions that the table
states only in prose (which language policy survives, which date_time keys
Cloud keeps, which recipient_type is refused) are asked of the translator too,
so the codemods never restate them.
"""

from __future__ import annotations

import ast
import json
from functools import cache
from typing import Any

import libcst as cst

from shim.translate import TranslationError, TranslationWarning, translate_send_body

_PROBE_BASE: dict[str, Any] = {"to": "15550000000", "type": "template"}


class NotConstant(Exception):
    """The literal has a part whose value is only known at run time."""


def evaluate(node: cst.BaseExpression, code: str) -> Any:
    """The value of a fully constant literal (``code`` is its source)."""
    del node
    try:
        return ast.literal_eval(code.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise NotConstant from None


def translate_constant(
    value: Any,
) -> tuple[dict[str, Any] | None, list[TranslationWarning], str | None]:
    """(Cloud body, warnings, None) or (None, [], "path: reason")."""
    warnings: list[TranslationWarning] = []
    try:
        out = translate_send_body(value, warnings)
    except TranslationError as exc:
        return None, [], f"{exc.path}: {exc.reason}"
    return out, warnings, None


def same_body(cst_result: Any, translated: dict[str, Any], original: Any) -> bool:
    """Equal, ignoring the translator's default ``recipient_type`` (Cloud's default too)."""
    expected = dict(translated)
    if (
        isinstance(original, dict)
        and "recipient_type" not in original
        and expected.get("recipient_type") == "individual"
    ):
        expected.pop("recipient_type")
    return bool(cst_result == expected)


@cache
def keeps_policy(policy: str) -> bool:
    body = {**_PROBE_BASE, "template": {"name": "n", "language": {"code": "en",
                                                               "policy": policy}}}
    try:
        out = translate_send_body(body)
    except TranslationError:
        return True
    return "policy" in out["template"]["language"]


@cache
def date_time_keeps(keys: frozenset[str]) -> frozenset[str]:
    dt = {k: "1" for k in keys}
    body = {**_PROBE_BASE, "template": {"name": "n", "language": {"code": "en"}, "components": [
        {"type": "body", "parameters": [{"type": "date_time", "date_time": dt}]}]}}
    try:
        out = translate_send_body(body)
    except TranslationError:
        return keys
    kept = out["template"]["components"][0]["parameters"][0]["date_time"]
    return frozenset(k for k in kept if k in keys)


@cache
def recipient_type_refusal(value: str) -> str | None:
    body = {"to": "15550000000", "type": "text", "text": {"body": "x"},
            "recipient_type": value}
    try:
        translate_send_body(body)
    except TranslationError as exc:
        if exc.path == "$.recipient_type":
            return exc.reason
    return None


def render(
    value: Any, quote: str = '"', indent: str | None = None, level: int = 0, base: str = ""
) -> str:
    """Python source for a JSON-like value; one item per line when ``indent`` is given.

    ``base`` is the indentation of the line the value starts on.
    """
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{_str(k, quote)}: {render(v, quote, indent, level + 1, base)}"
                 for k, v in value.items()]
        return _join(items, "{", "}", indent, level, base)
    if isinstance(value, list):
        if not value:
            return "[]"
        return _join([render(v, quote, indent, level + 1, base) for v in value], "[", "]",
                     indent, level, base)
    if isinstance(value, str):
        return _str(value, quote)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    raise NotConstant


def _join(
    items: list[str], open_: str, close: str, indent: str | None, level: int, base: str
) -> str:
    if indent is None:
        return open_ + ", ".join(items) + close
    inner = base + indent * (level + 1)
    return (open_ + "\n" + "".join(f"{inner}{it},\n" for it in items)
            + base + indent * level + close)


def _str(value: str, quote: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if quote == "'" and "'" not in value:
        return "'" + text[1:-1].replace('\\"', '"') + "'"
    return text

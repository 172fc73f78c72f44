"""Reading and re-writing Python string literals without disturbing their style.

A rewritten literal keeps its prefix and quote character; a value that needs
a Meta setting becomes an f-string (``f"https://graph.facebook.com/{GRAPH_API_VERSION}/..."``).
"""

from __future__ import annotations

import ast
from typing import Final

import libcst as cst

from codemods.urls import MARK_RE

SETTING_NAMES: Final = frozenset({"GRAPH_API_VERSION", "WHATSAPP_PHONE_NUMBER_ID",
                                  "WHATSAPP_BUSINESS_ACCOUNT_ID"})


def string_value(node: cst.CSTNode) -> str | None:
    """The value of a non-bytes string literal (implicit concatenation included)."""
    if isinstance(node, cst.SimpleString):
        raw = node.value
        if raw[0] in "\"'" and "\\" not in raw and "\r" not in raw:
            # no prefix, no escape: the text between the quotes (hot: every literal is read)
            q = 3 if len(raw) >= 6 and raw[:3] in ('"""', "'''") else 1
            return raw[q:-q]
        if "b" in node.prefix.lower():
            return None
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(node, cst.ConcatenatedString):
        left, right = string_value(node.left), string_value(node.right)
        if left is None or right is None:
            return None
        return left + right
    return None


def fstring_text_value(part: cst.FormattedStringText, fstring: cst.FormattedString) -> str | None:
    """The value of the literal text of an f-string part (escapes and ``{{`` resolved)."""
    if "\\" not in part.value and "\r" not in part.value and "b" not in fstring.prefix.lower():
        return part.value.replace("{{", "{").replace("}}", "}")
    prefix = fstring.prefix.lower().replace("f", "")
    quote = fstring.start[len(fstring.prefix):]
    try:
        value = ast.literal_eval(f"{prefix}{quote}{part.value}{quote}")
    except (SyntaxError, ValueError):
        return None
    if not isinstance(value, str):
        return None
    return value.replace("{{", "{").replace("}}", "}")


def _escape(value: str, quote: str, raw: bool) -> str | None:
    if raw:
        if quote in value or value.endswith("\\") or (len(quote) == 1 and "\n" in value):
            return None
        return value
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote[0]:
            out.append("\\" + ch)
        elif ch == "\n" and len(quote) == 1:
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def render_simple(node: cst.SimpleString, value: str) -> cst.BaseExpression:
    """``node`` holding ``value``; an f-string when ``value`` carries setting marks."""
    quote = node.quote
    prefix = node.prefix
    raw = "r" in prefix.lower()
    if MARK_RE.search(value):
        parts = fstring_parts(value, quote, raw)
        fprefix = "f" + ("r" if raw else "")
        return cst.FormattedString(parts=parts, start=fprefix + quote, end=quote)
    body = _escape(value, quote, raw)
    if body is None:
        prefix = prefix.replace("r", "").replace("R", "")
        body = _escape(value, quote, False)
        assert body is not None
    return node.with_changes(value=f"{prefix}{quote}{body}{quote}")


def fstring_parts(value: str, quote: str, raw: bool) -> list[cst.BaseFormattedStringContent]:
    """f-string parts for ``value``: literal text plus ``{SETTING}`` for each mark."""
    parts: list[cst.BaseFormattedStringContent] = []
    pos = 0
    for m in MARK_RE.finditer(value):
        if m.start() > pos:
            parts.append(cst.FormattedStringText(_fstring_text(value[pos:m.start()], quote, raw)))
        parts.append(cst.FormattedStringExpression(expression=cst.Name(m.group(1))))
        pos = m.end()
    if pos < len(value):
        parts.append(cst.FormattedStringText(_fstring_text(value[pos:], quote, raw)))
    return parts


def _fstring_text(text: str, quote: str, raw: bool) -> str:
    body = _escape(text, quote, raw)
    if body is None:
        body = _escape(text, quote, False)
        assert body is not None
    return body.replace("{", "{{").replace("}", "}}")


def used_settings(value: str) -> set[str]:
    return {m.group(1) for m in MARK_RE.finditer(value)}


def quote_of(node: cst.CSTNode | None, default: str = '"') -> str:
    """The quote character a dict's keys use, so new keys match their neighbours."""
    if isinstance(node, cst.SimpleString) and len(node.quote) == 1:
        return node.quote
    return default


def str_literal(value: str, quote: str = '"') -> cst.SimpleString:
    body = _escape(value, quote, False)
    assert body is not None
    return cst.SimpleString(f"{quote}{body}{quote}")

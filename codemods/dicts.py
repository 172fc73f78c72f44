"""Editing dict literals in place: keys added, removed, renamed, with the layout kept.

New elements copy the separators of their neighbours, so a one-line dict
stays on one line and a one-key-per-line dict gets one more line.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Callable

import libcst as cst

from codemods.literals import quote_of, str_literal, string_value


def keys_of(d: cst.Dict) -> dict[str, int]:
    """Constant string keys -> element index."""
    out: dict[str, int] = {}
    for i, el in enumerate(d.elements):
        if isinstance(el, cst.DictElement):
            key = string_value(el.key)
            if key is not None:
                out.setdefault(key, i)
    return out


def dynamic_keys(d: cst.Dict) -> list[cst.CSTNode]:
    """Elements whose key the codemod cannot read (a variable key or ``**splat``)."""
    out: list[cst.CSTNode] = []
    for el in d.elements:
        if isinstance(el, cst.DictElement):
            if string_value(el.key) is None:
                out.append(el.key)
        else:
            out.append(el)
    return out


def element(d: cst.Dict, key: str) -> cst.DictElement | None:
    i = keys_of(d).get(key)
    if i is None:
        return None
    el = d.elements[i]
    assert isinstance(el, cst.DictElement)
    return el


def value_of(d: cst.Dict, key: str) -> cst.BaseExpression | None:
    el = element(d, key)
    return el.value if el is not None else None


def key_quote(d: cst.Dict) -> str:
    for el in d.elements:
        if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
            return quote_of(el.key)
    return '"'


def _separator(d: cst.Dict) -> cst.Comma:
    """The comma-and-whitespace that goes between two elements of ``d``."""
    elements = d.elements
    if len(elements) >= 2 and isinstance(elements[0].comma, cst.Comma):
        return elements[0].comma
    after_brace = d.lbrace.whitespace_after
    if isinstance(after_brace, cst.ParenthesizedWhitespace):
        return cst.Comma(whitespace_after=after_brace)
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


Column = Callable[[], int | None]


def _line_break_before_first(d: cst.Dict, column: Column | None) -> cst.Comma | None:
    """The separator that keeps a visually aligned multi-line dict aligned after an insert.

    In ``{"to": to, "image": {"link": link,\n                   "caption": c}}``
    the second line lines up with a bracket opened on the brace line (right of
    the first element, not a hanging indent); a key put
    in front on that line would push the bracket right and leave the line
    behind. So then the new key gets the brace line to itself and the old first
    element moves to a new line at its old column: no other line moves.
    ``column`` gives the first element's column past the block's indentation
    (asked only when needed: positions cost a metadata pass).
    """
    if (column is None or not d.elements
            or isinstance(d.lbrace.whitespace_after, cst.ParenthesizedWhitespace)):
        return None
    code = cst.Module([]).code_for_node(d)
    if not _bracket_open_at_first_line_end(code):
        return None
    at = column()
    second = code.split("\n", 2)[1]
    if at is None or len(second) - len(second.lstrip(" ")) <= at:  # aligned with the dict
        return None
    return cst.Comma(whitespace_after=cst.ParenthesizedWhitespace(
        indent=True, last_line=cst.SimpleWhitespace(" " * at)))


def _bracket_open_at_first_line_end(code: str) -> bool:
    """Does a bracket opened inside the outer one stay open past the first line?"""
    depth = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth -= 1
            elif tok.type == tokenize.NL or tok.start[0] > 1:
                return depth > 1
    except (tokenize.TokenError, SyntaxError):
        return False
    return False


def insert_key(d: cst.Dict, key: str, value: cst.BaseExpression, index: int = 0,
               column: Column | None = None) -> cst.Dict:
    """``d`` with ``key: value`` inserted before element ``index`` (or appended).

    ``column``: where the first element starts, past the statement's indentation
    (see ``_line_break_before_first``).
    """
    elements = list(d.elements)
    template = next((e for e in elements if isinstance(e, cst.DictElement)), None)
    before_colon = template.whitespace_before_colon if template else cst.SimpleWhitespace("")
    after_colon = template.whitespace_after_colon if template else cst.SimpleWhitespace(" ")
    new = cst.DictElement(
        key=str_literal(key, key_quote(d)),
        value=value,
        whitespace_before_colon=before_colon,
        whitespace_after_colon=after_colon,
    )
    sep = (_line_break_before_first(d, column) if index == 0 else None) or _separator(d)
    if index >= len(elements):
        if elements:
            # the old last element's ending (trailing comma or none) moves to the new one
            new = new.with_changes(comma=elements[-1].comma)
            elements[-1] = elements[-1].with_changes(comma=sep)
        elements.append(new)
    else:
        elements.insert(index, new.with_changes(comma=sep))
    return d.with_changes(elements=elements)


def remove_key(d: cst.Dict, key: str) -> cst.Dict:
    i = keys_of(d).get(key)
    if i is None:
        return d
    elements = list(d.elements)
    removed = elements.pop(i)
    if i == len(elements) and i > 0:
        elements[i - 1] = elements[i - 1].with_changes(comma=removed.comma)
    return d.with_changes(elements=elements)


def rename_key(d: cst.Dict, old: str, new: str) -> cst.Dict:
    i = keys_of(d).get(old)
    if i is None:
        return d
    el = d.elements[i]
    assert isinstance(el, cst.DictElement)
    key = el.key
    quote = quote_of(key)
    elements = list(d.elements)
    elements[i] = el.with_changes(key=str_literal(new, quote))
    return d.with_changes(elements=elements)


def replace_value(d: cst.Dict, key: str, value: cst.BaseExpression) -> cst.Dict:
    i = keys_of(d).get(key)
    if i is None:
        return d
    el = d.elements[i]
    assert isinstance(el, cst.DictElement)
    elements = list(d.elements)
    elements[i] = el.with_changes(value=value)
    return d.with_changes(elements=elements)


def replace_element(
    d: cst.Dict, key: str, new_key: str, value: cst.BaseExpression
) -> cst.Dict:
    """Swap one element for ``new_key: value`` at the same place."""
    return replace_value(rename_key(d, key, new_key), new_key, value)

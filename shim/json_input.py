"""Reading untrusted JSON: one reader, with size and depth limits, for every entry point.

The relay, the gateway, the sandbox, the client's router and the CLI all parse
JSON they did not write. Python's parser has no size limit and answers deep
nesting with ``RecursionError``, and it accepts lone surrogates (``"\\ud800"``)
that later fail to encode. This module turns each of those into one typed
error, :class:`JSONInputError`, that names where the problem is and carries
the HTTP status a server should answer (413 for size, 400 for the rest).

Limits, and why these values:

* ``MAX_DEPTH = 64`` nested arrays/objects. WhatsApp payloads are shallow: the
  deepest documented shape (a Cloud webhook carrying an interactive reply with
  a template component) nests about 10 levels. 64 leaves room for anything
  legitimate and stays far below the interpreter's recursion limit.
* Size: each caller passes its own ceiling (the gateway 1 MB for JSON calls,
  the relay 3 MB like Cloud, the sandbox 1 MB); ``None`` means the caller
  already bounded the bytes (e.g. a server read the body with a ceiling).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

__all__ = [
    "MAX_DEPTH",
    "JSONInputError",
    "JSONTooDeep",
    "JSONTooLarge",
    "check_depth",
    "find_surrogate",
    "read_json",
]

#: Deepest nesting of arrays/objects accepted (WhatsApp payloads use about 10).
MAX_DEPTH: Final = 64


class JSONInputError(ValueError):
    """Input that is not acceptable JSON; ``where`` says where, ``status`` what to answer."""

    status: int = 400

    def __init__(self, where: str, reason: str, line: int | None = None) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason
        #: the line of a syntax error (1-based), for callers that number lines themselves
        self.line = line


class JSONTooLarge(JSONInputError):
    status = 413


class JSONTooDeep(JSONInputError):
    status = 400


def read_json(
    data: bytes | bytearray | str,
    *,
    max_bytes: int | None = None,
    max_depth: int = MAX_DEPTH,
    surrogates: bool = True,
) -> Any:
    """Parse ``data`` as one JSON document, within the limits.

    ``surrogates=False`` also refuses strings holding a lone surrogate (they
    cannot be encoded as UTF-8, so nothing downstream can send or store them).
    """
    size = len(data)
    if max_bytes is not None and size > max_bytes:
        raise JSONTooLarge("$", f"the JSON document is {size} bytes; the limit is {max_bytes}")
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8-sig" if data[:3] == b"\xef\xbb\xbf" else "utf-8")
        except UnicodeDecodeError as exc:
            raise JSONInputError(
                f"byte {exc.start}", "the document is not UTF-8 encoded text"
            ) from None
    else:
        text = data
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONInputError(
            f"line {exc.lineno}, column {exc.colno}", f"malformed JSON: {exc.msg}", exc.lineno
        ) from None
    except RecursionError:
        raise JSONTooDeep("$", f"nested deeper than {max_depth} arrays/objects") from None
    # Fewer brackets than the limit cannot nest past it: skip the walk.
    if text.count("{") + text.count("[") > max_depth:
        check_depth(value, max_depth)
    if not surrogates and "\\" in text:
        where = find_surrogate(value)
        if where is not None:
            raise JSONInputError(
                where, "the string holds a lone surrogate (\\ud800-\\udfff), not valid Unicode"
            )
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`JSONTooDeep` (naming the path) if ``value`` nests past ``max_depth``."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "$")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, dict):
            children: Iterator[tuple[str, Any]] = (
                (f"{where}.{_safe(k)}", v) for k, v in item.items() if isinstance(v, dict | list)
            )
        elif isinstance(item, list):
            children = (
                (f"{where}[{i}]", v) for i, v in enumerate(item) if isinstance(v, dict | list)
            )
        else:
            continue
        for path, child in children:
            if depth + 1 > max_depth:
                raise JSONTooDeep(path, f"nested deeper than {max_depth} arrays/objects")
            stack.append((child, depth + 1, path))


def find_surrogate(value: Any) -> str | None:
    """The JSON path of the first string (or key) holding a lone surrogate, if any."""
    stack: list[tuple[Any, str]] = [(value, "$")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                path = f"{where}.{_safe(key)}"
                if isinstance(key, str) and _has_surrogate(key):
                    return path
                stack.append((child, path))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _safe(key: object) -> str:
    """A key as it can appear in an error message (lone surrogates escaped)."""
    text = key if isinstance(key, str) else repr(key)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")

"""Strict On-Prem paths: what a caller's path may carry into a backend path.

A path parameter (``/v1/media/{media_id}``) arrives percent-decoded, so
``..%2F{waba-id}%2Fmessage_templates%3Fname%3Dx`` would otherwise become a
new backend route carrying the channel's credentials. Here, once for every
entry point (the router used by the client, drop-ins and gateway; the
``translate`` command):

* :func:`clean_path` refuses control characters and ``.``/``..`` segments
  anywhere in the path (raw or percent-encoded) and collapses repeated
  slashes, like On-Prem's web server did;
* :func:`checked_params` checks each parameter against the shape the target
  backend uses (``PATH_PARAMS`` in the mapping table);
* :func:`build_path` percent-encodes each value into the route template.

A refusal is a :class:`TranslationError` naming the parameter (HTTP 400,
On-Prem 1009).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote, unquote

from shim.mapping.endpoints import PATH_PARAMS, EndpointMatch, collapse_slashes
from shim.mapping.hosts import Target
from shim.translate.types import TranslationError

__all__ = ["build_path", "check_decoded", "checked_params", "clean_path"]

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_DOTS: Final = frozenset({".", ".."})
#: Characters a value keeps unencoded in a path segment (RFC 3986 sub-delims in ids).
_SAFE: Final = "+=:"


def clean_path(path: str) -> str:
    """``path`` (with its query) with slashes collapsed; refuses traversal and control bytes.

    Percent-encoded characters are left to :func:`checked_params` (which names
    the parameter) or, for paths no endpoint matches, :func:`check_decoded`.
    """
    path_only, sep, query = path.partition("?")
    path_only = collapse_slashes(path_only)
    if _CONTROL.search(path):
        raise TranslationError("path", "control characters are not allowed in a path")
    if "#" in path:
        raise TranslationError("path", '"#" is not allowed in a path (a fragment is never sent)')
    if "/." in path_only and any(seg in _DOTS for seg in path_only.split("/")):
        raise TranslationError("path", '"." and ".." segments are not allowed in a path')
    return f"{path_only}{sep}{query}"


def check_decoded(path_only: str) -> None:
    """Refuse a path whose percent-decoded form holds control characters or dot segments."""
    if "%" not in path_only:
        return
    decoded = unquote(path_only, errors="replace")
    if _CONTROL.search(decoded):
        raise TranslationError("path", "control characters are not allowed in a path")
    if any(seg in _DOTS for seg in decoded.split("/")):
        raise TranslationError("path", '"." and ".." segments are not allowed in a path')


def checked_params(match: EndpointMatch, target: Target) -> Mapping[str, str]:
    """The match's parameters, each checked against its shape on ``target``."""
    for name, value in match.params.items():
        shape = PATH_PARAMS.get(name)
        if shape is None:
            continue
        if not shape.pattern(target).fullmatch(value) or any(
            seg in _DOTS for seg in value.split("/")
        ):
            raise TranslationError(
                name,
                f"not a valid {name} for the {target.value} backend ({shape.shape}; "
                "no ?, #, .. or control characters)",
            )
    return match.params


_PARAM: Final = re.compile(r"\{(\w+)(?::path)?\}")


def build_path(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by its percent-encoded value."""
    if "{" not in template:
        return template
    return _PARAM.sub(lambda m: quote(values[m.group(1)], safe=_SAFE), template)

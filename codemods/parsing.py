"""Parsing source with libcst without re-validating every node it builds.

libcst checks each node in ``__post_init__`` as it is constructed. That guards
trees built by hand; for a tree the parser builds from text, the grammar has
already decided, and the checks are about 40 % of the parse (libcst's own
source notes that validation could skip parsed trees). So while
``parse_module`` runs, the check is switched off; nodes the rewrite builds
afterwards are checked as usual. Worker processes are single-threaded, and in
any other thread a node built during the window is merely not checked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

import libcst as cst

_CHECK: Final[Callable[[Any], None]] = cst.CSTNode.__post_init__
_lock = threading.Lock()


def _skip(self: Any) -> None:
    """Nothing: the parser only builds nodes the grammar allows."""


def parse_module(source: bytes | str) -> cst.Module:
    """``libcst.parse_module`` without the per-node checks (same tree, same errors)."""
    with _lock:
        cst.CSTNode.__post_init__ = _skip  # type: ignore[method-assign]
        try:
            return cst.parse_module(source)
        finally:
            cst.CSTNode.__post_init__ = _CHECK  # type: ignore[method-assign,assignment]

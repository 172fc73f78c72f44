"""Where the shim strategy's aiohttp swap does not reach: the uses it must mark.

``import aiohttp`` -> ``from shim.compat import aiohttp`` routes every On-Prem
call made through ``aiohttp.ClientSession`` and ``aiohttp.request``. It cannot
route (so a swap alone would leave them half-migrated without a word):

* a call that passes its own ``middlewares=`` (aiohttp lets them replace the
  session's, the shim's included);
* sessions made by other libraries built on aiohttp (``aiohttp_client_cache``,
  ``aiohttp_retry`` ...): they subclass or wrap the real ``ClientSession``;
* ``import aiohttp.<sub>`` (it binds ``aiohttp`` to the real package again) and
  ``from aiohttp import *``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import libcst as cst

from codemods.facts import Facts, dotted

__all__ = ["Uncovered", "rebinds_aiohttp", "uncovered_calls"]


@dataclass(frozen=True)
class Uncovered:
    node: cst.CSTNode
    message: str
    todo: str


def rebinds_aiohttp(imp: cst.Import | cst.ImportFrom) -> tuple[str, str] | None:
    """Why this import statement defeats the swap, and what to do (None when it does not)."""
    if isinstance(imp, cst.Import):
        for alias in imp.names:
            name = dotted(alias.name)
            if name.startswith("aiohttp.") and alias.asname is None:
                package, _, sub = name.rpartition(".")
                todo = f"write `from {package} import {sub}` instead, then rerun"
                return (f"import {name} binds the name aiohttp to the real package, so the "
                        f"shim's drop-in cannot replace it: {todo}", todo)
    elif imp.module is not None and dotted(imp.module) == "aiohttp" and isinstance(
        imp.names, cst.ImportStar
    ):
        todo = "import the aiohttp names you use instead of *, then rerun"
        return f"from aiohttp import * cannot be pointed at the shim's drop-in: {todo}", todo
    return None


def uncovered_calls(facts: Facts, onprem_calls: Iterable[cst.Call]) -> list[Uncovered]:
    """On-Prem calls (and calls opting out of the session's middlewares) left unrouted."""
    out: list[Uncovered] = []
    for call in facts.calls:
        if any(arg.keyword is not None and arg.keyword.value == "middlewares"
               for arg in call.args) and not _is_session_constructor(call):
            out.append(Uncovered(
                call, "this call passes its own middlewares=, which replace the session's, "
                "the shim's included, so it still goes to the On-Prem host: drop the argument "
                "or pass the middlewares to the ClientSession",
                "pass middlewares= to the ClientSession, not to this call"))
    foreign = _foreign_sessions(facts)
    if not foreign:
        return out
    for call in onprem_calls:
        used = sorted(foreign & _reach(facts, call))
        if used:
            names = ", ".join(f"{name} ({foreign_from})" for name, foreign_from in
                              ((n, _origin(facts, n)) for n in used))
            out.append(Uncovered(
                call, f"this On-Prem call may go through {names}, a session class that is "
                "not shim.compat.aiohttp.ClientSession, so the shim does not route it: send "
                "On-Prem calls through shim.compat.aiohttp.ClientSession",
                "send this On-Prem call through shim.compat.aiohttp.ClientSession"))
    return out


def _is_session_constructor(call: cst.Call) -> bool:
    func = call.func
    name = func.attr.value if isinstance(func, cst.Attribute) else (
        func.value if isinstance(func, cst.Name) else "")
    return name == "ClientSession"


def _foreign_sessions(facts: Facts) -> set[str]:
    """Local names bound by imports from aiohttp_* packages (their sessions are not ours)."""
    names = {local for local, origin in facts.from_imports.items()
             if origin.split(".")[0].startswith("aiohttp_")}
    names |= {local for local, module in facts.module_aliases.items()
              if module.split(".")[0].startswith("aiohttp_")}
    return names


def _origin(facts: Facts, local: str) -> str:
    origin = facts.from_imports.get(local) or facts.module_aliases.get(local, local)
    return origin.split(".")[0]


def _reach(facts: Facts, call: cst.Call) -> set[str]:
    """Names the call's function sees: its own, its class's, and one level of the
    module functions it calls (where a session is typically made)."""
    func = _enclosing(facts, call, cst.FunctionDef)
    if func is None:
        return _names(facts.module)
    seen = _names(_enclosing(facts, func, cst.ClassDef) or func)
    for node in facts.module.body:
        if isinstance(node, cst.FunctionDef) and node.name.value in seen:
            seen |= _names(node)
    return seen


def _enclosing(facts: Facts, node: cst.CSTNode, kind: type[cst.CSTNode]) -> cst.CSTNode | None:
    parent = facts.parents.get(node)
    while parent is not None and not isinstance(parent, kind):
        parent = facts.parents.get(parent)
    return parent


def _names(node: cst.CSTNode) -> set[str]:
    collector = _Names()
    node.visit(collector)
    return collector.names


class _Names(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

"""Header dicts a helper returns, and the HTTP calls that send them.

``headers=self._build_headers()`` hands a call the dict ``_build_headers``
returns. Without this link such a dict has no known call, and a file that also
talks to the On-Prem API would have it rewritten as if it were an On-Prem
request's headers, even when only another provider's call (an e-mail API, an
LLM) sends it. A ``self.name()`` call is matched to the method of its own class
first; a plain ``name()`` call to the functions of that name.
"""

from __future__ import annotations

import libcst as cst

from codemods.facts import Facts, Scope, dotted, enclosing


def _class_of(facts: Facts, fn: cst.FunctionDef) -> cst.ClassDef | None:
    cur = facts.parents.get(fn)
    while cur is not None and not isinstance(cur, cst.ClassDef | cst.FunctionDef):
        cur = facts.parents.get(cur)
    return cur if isinstance(cur, cst.ClassDef) else None


def _builders(facts: Facts) -> dict[str, list[tuple[cst.FunctionDef, cst.Dict]]]:
    """Function name -> (function, dict literal it returns)."""
    out: dict[str, list[tuple[cst.FunctionDef, cst.Dict]]] = {}
    for d in facts.dicts:
        if not isinstance(facts.parents.get(d), cst.Return):
            continue
        fn = enclosing(facts, d, cst.FunctionDef)
        if fn is not None:
            out.setdefault(fn.name.value, []).append((fn, d))
    return out


def _built_dicts(facts: Facts, value: cst.BaseExpression, scope: Scope,
                 builders: dict[str, list[tuple[cst.FunctionDef, cst.Dict]]]) -> list[cst.Dict]:
    if isinstance(value, cst.Name):
        found = facts.resolve(value, scope)
        if found is None or not isinstance(found[0], cst.Call):
            return []
        value, scope = found
    if not isinstance(value, cst.Call):
        return []
    name = dotted(value.func).rsplit(".", 1)[-1]
    cands = builders.get(name, [])
    fn = scope.function()
    if (isinstance(value.func, cst.Attribute) and isinstance(value.func.value, cst.Name)
            and fn is not None and value.func.value.value == fn.self_name
            and isinstance(fn.node, cst.FunctionDef)):
        own = _class_of(facts, fn.node)
        mine = [c for c in cands if _class_of(facts, c[0]) is own]
        cands = mine or cands
    return [d for _, d in cands]


def returned_header_calls(facts: Facts) -> dict[cst.Dict, list[cst.Call]]:
    """Dicts a helper returns -> the HTTP calls whose ``headers=`` is that helper's result."""
    builders = _builders(facts)
    out: dict[cst.Dict, list[cst.Call]] = {}
    if not builders:
        return out
    for hc in facts.http_calls:
        for arg in hc.call.args:
            if arg.keyword is not None and arg.keyword.value == "headers":
                for d in _built_dicts(facts, arg.value, hc.scope, builders):
                    out.setdefault(d, []).append(hc.call)
    return out

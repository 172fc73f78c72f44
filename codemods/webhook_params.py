"""Webhook bodies that arrive as a parameter: report their reads, wrap nothing.

``def reply(data): text = data["messages"][0]["text"]["body"]`` reads the flat
On-Prem webhook body, but the object comes from a caller this module may not
show (a view in another file). Wrapping the parameter would hand the function a
new object its caller never sees, and the caller may pass something else too;
so such a function is reported (WM402) with what to do where the body is
received. Functions a handler of this module hands its body to are judged there
(``codemods.webhooks``), not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import libcst as cst

from codemods.facts import descendants
from codemods.webhooks import (
    VIEW_NAME,
    _classify,
    _index_key,
    _name_refs,
    _rebinds,
    _Use,
)

if TYPE_CHECKING:
    from codemods.analyze import Analysis
    from codemods.facts import Facts

#: Keys of the flat On-Prem body whose first item a reader takes (``data["messages"][0]``)
_LISTS: Final = frozenset({"messages", "statuses", "contacts"})


def report_parameters(facts: Facts, a: Analysis, judged: set[int]) -> None:
    """Mark functions that read a parameter as an On-Prem webhook body.

    ``judged`` holds the ids of functions a handler here already hands its body to.
    """
    for fn in descendants(facts.module):
        if not isinstance(fn, cst.FunctionDef):
            continue
        if id(fn) in judged:
            continue
        for param in (*fn.params.posonly_params, *fn.params.params,
                      *fn.params.kwonly_params):
            name = param.name.value
            if name in ("self", "cls"):
                continue
            refs = _name_refs(fn.body, name)
            if not refs or any(_rebinds(facts, r) for r in refs):
                continue
            items = [r for r in refs if _first_item(facts, r)]
            if not items:
                continue
            first = min(items, key=facts.pos)  # the marker goes above the first read
            use = _Use()
            for ref in refs:
                _classify(facts, ref, use)
            if not use.reads or use.foreign is not None:
                continue  # another object that happens to have a "messages" list
            where = facts.code(facts.statement_of(first), 40)
            a.add("WM402", "manual", f"`{name}` is read as a flat On-Prem webhook body "
                  f"(`{where}`) but comes from the caller: Cloud nests events in "
                  f"entry[].changes[].value; where the webhook handler receives the body, "
                  f"wrap it with {VIEW_NAME}(...) (shim.webhooks) before it is passed here",
                  first, todo=f"`{name}` is read as an On-Prem webhook body: wrap the body "
                  f"with {VIEW_NAME}(...) where the handler receives it, before it is passed "
                  "here")


def _first_item(facts: Facts, ref: cst.Name) -> bool:
    """``ref["messages"][0]``: the first item of an On-Prem body's list."""
    sub = facts.parents.get(ref)
    if not (isinstance(sub, cst.Subscript) and sub.value is ref and _index_key(sub) in _LISTS):
        return False
    outer = facts.parents.get(sub)
    return (isinstance(outer, cst.Subscript) and outer.value is sub and len(outer.slice) == 1
            and isinstance(outer.slice[0].slice, cst.Index)
            and isinstance(outer.slice[0].slice.value, cst.Integer))

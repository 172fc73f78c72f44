"""Requests whose URL a subclass picks with a class attribute: marked where they are made.

A client library often keeps the On-Prem base in a base class and lets each
subclass name its endpoint::

    class Request:
        base_url = "https://host/v1/"
        endpoint = None
        def _post(self, data): return requests.post(f"{self.base_url}{self.endpoint}", ...)

    class Contacts(Request):
        endpoint = "contacts"
        def check(self, n): return self._post({"blocking": "wait", "contacts": [n]})

The HTTP call in ``Request._post`` has no single URL, so the URL rules cannot
see that ``Contacts.check`` is ``POST /v1/contacts``. Here each call of an
inherited requesting method from a subclass that sets the endpoint attribute
is an On-Prem request to ``base + endpoint``: it is never rewritten (the URL
is shared through the base class), and its call site gets a marker with what
the mapping table says about that endpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

import libcst as cst

from codemods.facts import Facts, iter_parents
from codemods.http_names import HTTP_MODULES
from codemods.literals import string_value
from codemods.urls import Lit, plan_url
from shim.mapping.hosts import Target

_BASE: Final = re.compile(r"^https?://[^/\s]+(?:/[^\s]*)?/v1/?$")
_SEGMENT: Final = re.compile(r"^[a-z][a-z_]*(?:/[a-z_]+)*$")
#: How many self-calls deep a method is followed to find its request.
_DEPTH: Final = 3


@dataclass
class _Class:
    node: cst.ClassDef
    bases: list[str]
    #: class attribute -> its string value (None for ``= None``), with the literal node
    attrs: dict[str, tuple[str | None, cst.SimpleString | None]] = field(default_factory=dict)
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)


@dataclass(frozen=True)
class InheritedRequest:
    """A ``self.method(...)`` call of a subclass that sends an On-Prem request."""

    call: cst.Call
    code: str
    message: str
    todo: str


def _classes(module: cst.Module) -> dict[str, _Class]:
    out: dict[str, _Class] = {}
    for st in module.body:
        if not isinstance(st, cst.ClassDef):
            continue
        c = _Class(st, [a.value.value for a in st.bases if isinstance(a.value, cst.Name)])
        body = st.body.body if isinstance(st.body, cst.IndentedBlock) else ()
        for item in body:
            if isinstance(item, cst.FunctionDef):
                c.methods[item.name.value] = item
            elif isinstance(item, cst.SimpleStatementLine):
                for small in item.body:
                    if (isinstance(small, cst.Assign) and len(small.targets) == 1
                            and isinstance(small.targets[0].target, cst.Name)):
                        name = small.targets[0].target.value
                        v = small.value
                        if isinstance(v, cst.SimpleString) and string_value(v) is not None:
                            c.attrs[name] = (string_value(v), v)
                        elif isinstance(v, cst.Name) and v.value == "None":
                            c.attrs[name] = (None, None)
        out[st.name.value] = c
    return out


def _ancestors(classes: dict[str, _Class], name: str) -> list[_Class]:
    out: list[_Class] = []
    todo = list(classes[name].bases)
    while todo and len(out) < 10:
        b = todo.pop(0)
        if b in classes and classes[b] not in out:
            out.append(classes[b])
            todo.extend(classes[b].bases)
    return out


def _self_calls(fn: cst.FunctionDef) -> list[cst.Call]:
    out: list[cst.Call] = []

    class V(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            f = node.func
            if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) \
                    and f.value.value == "self":
                out.append(node)

    fn.visit(V())
    return out


def _method_kw(call: cst.Call, callee: cst.FunctionDef | None = None) -> str | None:
    """The literal ``method=`` a self-call passes (by keyword, or first when the callee's
    first parameter after ``self`` is ``method``)."""
    for a in call.args:
        if a.keyword is not None and a.keyword.value == "method":
            v = string_value(a.value)
            return v.upper() if v else None
    params = [p.name.value for p in callee.params.params[1:]] if callee is not None else []
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if params[:1] == ["method"] and positional:
        v = string_value(positional[0].value)
        return v.upper() if v else None
    return None


def _http_method(facts: Facts, fn: cst.FunctionDef, methods: dict[str, cst.FunctionDef],
                 depth: int = 0) -> tuple[bool, str | None]:
    """Does ``fn`` send a request (itself or through self-calls), and with which method?"""
    if depth > _DEPTH:
        return False, None
    for hc in facts.http_calls:
        if any(p is fn for p in iter_parents(facts, hc.call)) and (
                hc.via.split(".")[0] in HTTP_MODULES
                or hc.via.rsplit(".", 1)[-1].lower().endswith(("session", "client"))):
            return True, hc.method
    for call in _self_calls(fn):
        assert isinstance(call.func, cst.Attribute)
        callee = methods.get(call.func.attr.value)
        if callee is None or callee is fn:
            continue
        sends, method = _http_method(facts, callee, methods, depth + 1)
        if sends:
            return True, _method_kw(call, callee) or method
    return False, None


def inherited_requests(facts: Facts, target: Target, declared: frozenset[str]
                       ) -> list[InheritedRequest]:
    classes = _classes(facts.module)
    out: list[InheritedRequest] = []
    for name, c in classes.items():
        chain = _ancestors(classes, name)
        if not chain:
            continue
        inherited: dict[str, cst.FunctionDef] = {}
        for anc in reversed(chain):
            inherited.update(anc.methods)
        everything = {**inherited, **c.methods}
        base = next(((v, a) for anc in chain for a, (v, _) in anc.attrs.items()
                     if v is not None and _BASE.match(v)), None)
        if base is None:
            continue
        segs = [(a, v, node) for a, (v, node) in c.attrs.items()
                if v is not None and node is not None and _SEGMENT.match(v)
                and any(a in anc.attrs for anc in chain)]
        if len(segs) != 1:
            continue
        seg_attr, seg, _ = segs[0]
        base_text, base_attr = base
        url = base_text.rstrip("/") + "/" + seg
        for fn in c.methods.values():
            for call in _self_calls(fn):
                assert isinstance(call.func, cst.Attribute)
                callee_name = call.func.attr.value
                if callee_name in c.methods or callee_name not in inherited:
                    continue
                sends, method = _http_method(facts, inherited[callee_name], everything)
                if not sends:
                    continue
                method = _method_kw(call, inherited[callee_name]) or method
                atoms = [Lit(-1, 0, base_text.rstrip("/")), Lit(-1, 0, "/" + seg)]
                plan = plan_url(atoms, method, target, context=True, declared=declared)
                how = (f"this is a {method + ' ' if method else ''}request to {url} (or a path "
                       "under it) "
                       f"(`{base_attr}` + {name}.{seg_attr} = {seg!r}) through the inherited "
                       f"`{callee_name}`")
                if plan is not None and plan.kind == "manual" and plan.code:
                    out.append(InheritedRequest(call, plan.code, f"{how}: {plan.message}",
                                                plan.todo or plan.message))
                else:
                    out.append(InheritedRequest(
                        call, "WM908", f"{how}; the codemod does not rewrite a URL a subclass "
                        "attribute picks: migrate the request (URL, auth, body and the reads "
                        "of its answer) by hand",
                        f"an On-Prem request ({method + ' ' if method else ''}{url}, through "
                        f"`{callee_name}`): "
                        "migrate it by hand"))
    return out

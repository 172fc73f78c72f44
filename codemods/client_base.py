"""Relative request paths on an httpx client built with an On-Prem ``base_url``.

``httpx.AsyncClient(base_url="https://host/v1")`` followed by
``client.post("messages", ...)`` sends ``POST https://host/v1/messages``: httpx
appends the request path (with or without a leading ``/``) to the base's path.
Read alone, ``"messages"`` names no endpoint, so such a file's sends, uploads
and Turn calls would go unseen. Here the call's URL template gets the base in
front, so the URL rules see the whole request.

Only when it is unambiguous: the file builds httpx clients with ``base_url=``
and every one of them has the same literal base, ending in ``/v1``; the call is
made on an object (not on the ``httpx`` or ``requests`` module) with a literal
relative path. Anything else is left as it was.
"""

from __future__ import annotations

from typing import Final

import libcst as cst

from codemods.facts import Facts, HttpCall, dotted, iter_parents
from codemods.http_names import HTTP_MODULES
from codemods.urls import Atom, Lit, Syn

#: The httpx constructors that take ``base_url=``.
_CLIENTS: Final = frozenset({"httpx.Client", "httpx.AsyncClient", "Client", "AsyncClient"})


def _constructor(facts: Facts, call: cst.Call) -> bool:
    name = dotted(call.func)
    if name not in _CLIENTS:
        return False
    if "." in name:
        return facts.module_aliases.get(name.split(".")[0], name.split(".")[0]) == "httpx"
    return facts.from_imports.get(name, "").startswith("httpx.")


def file_base(facts: Facts) -> list[Atom] | None:
    """The one literal ``/v1`` base every httpx client of the file is built with, else None."""
    bases: list[list[Atom]] = []
    for call in facts.calls:
        if not _constructor(facts, call):
            continue
        kw = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
        if "base_url" not in kw:
            continue
        atoms = facts.flatten(kw["base_url"], facts.scope_of.get(call, facts.module_scope))
        if not atoms or not all(isinstance(a, Lit) for a in atoms):
            return None
        bases.append(atoms)
    if not bases:
        return None
    texts = {"".join(a.text for a in b if isinstance(a, Lit)) for b in bases}
    if len(texts) != 1 or len(bases) != 1:
        return None  # several clients, or several bases: which one a call uses is unknown
    text = texts.pop()
    if not (text.startswith(("http://", "https://")) and text.rstrip("/").endswith("/v1")):
        return None
    return bases[0]


def _is_client(facts: Facts, hc: HttpCall) -> bool:
    """Is the receiver an httpx client: a parameter typed as one, or a name bound to one?

    (``config.get("key")`` looks like an HTTP call too; only a client's calls take a path.)
    """
    fn = next((p for p in iter_parents(facts, hc.call) if isinstance(p, cst.FunctionDef)), None)
    if fn is None:
        return False
    name = hc.via
    for param in (*fn.params.params, *fn.params.kwonly_params, *fn.params.posonly_params):
        if param.name.value == name and param.annotation is not None and dotted(
                param.annotation.annotation) in _CLIENTS:
            return True
    for node in _walk_names(fn, name):
        if isinstance(node, cst.Call) and (_constructor(facts, node)
                                           or dotted(node.func).lower().endswith("get_client")):
            return True
    return False


def _walk_names(fn: cst.FunctionDef, name: str) -> list[cst.BaseExpression]:
    """Values bound to ``name`` in ``fn``: ``name = v``, ``name = await v``, ``with v as name``."""
    out: list[cst.BaseExpression] = []

    class V(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if any(dotted(t.target) == name for t in node.targets):
                out.append(_unawait(node.value))

        def visit_WithItem(self, node: cst.WithItem) -> None:
            if node.asname is not None and dotted(node.asname.name) == name:
                out.append(_unawait(node.item))

    fn.visit(V())
    return out


def _unawait(node: cst.BaseExpression) -> cst.BaseExpression:
    return node.expression if isinstance(node, cst.Await) else node


def with_base(facts: Facts, hc: HttpCall, atoms: list[Atom], base: list[Atom] | None
              ) -> list[Atom]:
    """``atoms`` of a relative path on a client of the file, with the client's base in front."""
    if base is None or not atoms or not isinstance(atoms[0], Lit):
        return atoms
    if hc.via.split(".")[0] in HTTP_MODULES or not _is_client(facts, hc):
        return atoms  # a module-level call takes an absolute URL; a dict's .get no URL at all
    first = atoms[0]
    if "://" in first.text or first.text.startswith(("{", "?", "#")) or not first.text.strip("/"):
        return atoms
    # httpx keeps the base's path and appends the request's, one "/" between them
    if first.text.startswith("/"):
        first = Lit(first.owner, first.start + 1, first.text[1:])
    head = list(base)
    last = head[-1]
    assert isinstance(last, Lit)
    if last.text.endswith("/"):
        return [*head, first, *atoms[1:]]
    return [*head, Syn("/"), first, *atoms[1:]]

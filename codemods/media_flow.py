"""A send carrying the media id of a held-back upload is held back with it.

A media id belongs to the server that stored the file: the id an On-Prem
upload answers means nothing to Cloud. When the upload stays (its body changes
shape, its host is not proven), a rewritten send that carries its id would be
refused by Cloud, and a ``raise_for_status()`` after it would raise, until the
upload is migrated by hand. So the send is held too, with a marker that says
why; the two then move together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from codemods.dicts import value_of
from codemods.facts import Facts, Scope, dotted, enclosing
from shim.mapping.fields import MEDIA_TYPES

if TYPE_CHECKING:
    from codemods.analyze import Analysis, _UrlResult

_BODY_KEYWORDS = ("json", "data")


def _held(urls: _UrlResult, call: cst.Call) -> bool:
    ex = urls.ex.by_call.get(call)
    plan = urls.plans.get(call)
    return bool(ex is not None and ex.blockers) or (plan is not None and plan.kind == "manual")


def _calls_in(facts: Facts, node: cst.BaseExpression, scope: Scope, depth: int = 0
              ) -> list[cst.Call]:
    """Calls the value is computed from (``x = resp.json()[...]``, ``self._upload(png)``)."""
    if isinstance(node, cst.Name) and depth < 3:
        found = facts.resolve(node, scope)
        return _calls_in(facts, found[0], found[1], depth + 1) if found else []
    out: list[cst.Call] = []
    todo: list[cst.CSTNode] = [node]
    while todo:
        cur = todo.pop()
        if isinstance(cur, cst.Call):
            out.append(cur)
        if isinstance(cur, cst.Name) and cur is not node and depth < 3:
            out.extend(_calls_in(facts, cur, scope, depth + 1))
            continue
        todo.extend(cur.children)
    return out


def _upload_of(facts: Facts, value: cst.BaseExpression, scope: Scope,
               uploads: set[cst.Call], makers: dict[str, cst.Call]) -> cst.Call | None:
    for call in _calls_in(facts, value, scope):
        if call in uploads:
            return call
        name = dotted(call.func).rsplit(".", 1)[-1]
        if name in makers:
            return makers[name]
    return None


def hold_sends_of_held_uploads(facts: Facts, a: Analysis, urls: _UrlResult) -> None:
    """Block each send whose media id comes from an upload that stays On-Prem."""
    uploads = {call for call, plan in urls.plans.items() if plan.endpoint is not None
               and plan.endpoint.name == "upload_media" and _held(urls, call)}
    if not uploads:
        return
    makers = {fn.name.value: call for call in uploads
              if (fn := enclosing(facts, call, cst.FunctionDef)) is not None}
    for hc in facts.http_calls:
        plan = urls.plans.get(hc.call)
        if plan is None or plan.endpoint is None or plan.endpoint.name != "send_message":
            continue
        for arg in hc.call.args:
            if arg.keyword is None or arg.keyword.value not in _BODY_KEYWORDS:
                continue
            for d in facts.dict_values(arg.value, hc.scope):
                upload = _media_upload(facts, d, hc.scope, uploads, makers)
                if upload is None:
                    continue
                item = a.add("WM906", "manual", "this send carries a media id from "
                             f"`{facts.code(upload, 40)}`, an upload that stays as it is: a "
                             "Cloud send cannot use an On-Prem media id; migrate the upload "
                             "and this send together", hc.call,
                             todo="sends a media id from an upload that is held back: "
                             "migrate both together")
                urls.ex.block(hc.call, item)
                break


def _media_upload(facts: Facts, d: cst.Dict, scope: Scope, uploads: set[cst.Call],
                  makers: dict[str, cst.Call]) -> cst.Call | None:
    for kind in MEDIA_TYPES:
        media = value_of(d, kind)
        media_id = value_of(media, "id") if isinstance(media, cst.Dict) else None
        if media_id is not None:
            found = _upload_of(facts, media_id, scope, uploads, makers)
            if found is not None:
                return found
    return None

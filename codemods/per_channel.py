"""Native strategy: requests of one of several channels go through the channel's config.

Code that serves several numbers builds its On-Prem URL from per-channel data
(``channel.config[BASE_URL] + "/v1/..."``, an org's stored host, an instance
attribute) and sends that channel's key. One global Cloud URL or phone-number id
would be wrong for all but one channel, so such a request is rewritten to take
its URL and auth header from :func:`shim.channels.cloud_request`, which finds the
config channel by the key the call already sends (as the gateway routes), else
by the legacy host, else the only channel. The call keeps building its legacy
headers and URL: they are how the channel is found.

Only whole exchanges are claimed: the call's own ``headers=`` carries the key,
the endpoint has a Cloud route with the same method and no path parameter, and
nothing holds the exchange (a body whose shape changes, an On-Prem response
read). Anything else keeps its marker. Payload edits of the exchange still apply
(and are checked through the translators as before).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import libcst as cst

from codemods.exchange import _terminal
from codemods.facts import Facts, Scope, enclosing, iter_parents
from codemods.http_names import HTTP_VERBS
from shim.mapping.hosts import Target

if TYPE_CHECKING:
    from codemods.analyze import Analysis, _UrlResult
    from codemods.urls import UrlPlan

HELPER: Final = "cloud_request"
IMPORT_LINE: Final = f"from shim.channels import {HELPER}"
ANSWER: Final = "onprem_answer"
ANSWER_IMPORT: Final = f"from shim.answers import {ANSWER}"
#: Endpoints whose Cloud answer differs only in shape, translated back by shim.answers:
#: the request moves to Cloud and the caller (here or in another module) keeps reading
#: the On-Prem answer, so the shape note no longer holds it.
ANSWERED: Final = frozenset({"health"})
#: Items a claimed request no longer needs: its URL edits, base notes and auth rewrites.
_ABSORBED_PREFIXES: Final = ("WM1", "WM2")
_ABSORBED: Final = frozenset({"WM905", "WM916"})


def inside_helper(facts: Facts, node: cst.CSTNode) -> bool:
    """Is ``node`` an argument of a ``cloud_request(...)`` call (a handled legacy value)?"""
    for parent in iter_parents(facts, node):
        if isinstance(parent, cst.Call) and _is_helper(parent):
            return True
    return False


def legacy_urls(facts: Facts) -> list[tuple[cst.BaseExpression, Scope]]:
    """The legacy URLs handed to ``cloud_request``: their strings are handled, not requests."""
    return [(call.args[3].value, facts.scope_of[call]) for call in facts.calls
            if _is_helper(call) and len(call.args) > 3 and call in facts.scope_of]


def _is_helper(call: cst.Call) -> bool:
    func = call.func
    name = func.value if isinstance(func, cst.Name) else (
        func.attr.value if isinstance(func, cst.Attribute) else "")
    return name == HELPER


def claim(facts: Facts, a: Analysis, urls: _UrlResult, target: Target,
          per_channel: Callable[[cst.Call], bool]) -> set[cst.Call]:
    """Rewrite the per-channel exchanges it can prove whole; return their calls."""
    by_call = {hc.call: hc for hc in facts.http_calls}
    #: a URL string that cannot be edited for Cloud: no matter, a claimed call drops it
    string_blockers = list(urls.owner_blockers.values())
    claimed: dict[cst.Call, str] = {}
    #: claimed calls whose answer is translated back: (On-Prem method, On-Prem path)
    onprem: dict[cst.Call, tuple[str, str]] = {}
    proven = any(_differs(plan, target) for call, plan in urls.plans.items() if urls.live(call))
    for call, plan in urls.plans.items():
        hc = by_call.get(call)
        ex = urls.ex.by_call.get(call)
        if hc is None or ex is None or not urls.live(call) or plan.endpoint is None:
            continue
        # a URL whose text cannot be edited into the Cloud URL is fine: it is not edited
        # (nor is a run-time host between a literal scheme and port: the config gives the URL)
        unspellable = plan.kind == "manual" and (plan.code == "WM908" or plan.wrapped_host)
        if plan.kind not in ("rewrite", "same") and not unspellable:
            continue
        answered = plan.endpoint.name in ANSWERED
        notes = {" ".join(msg.split()) for code, msg, _ in plan.notes if code == "WM906"}
        own = " ".join(plan.message.split())
        if any(not ((b.code == "WM908" and b in string_blockers)
                    or (unspellable and b.code == plan.code and b.message == own))
               and not (answered and b.code == "WM906" and b.message in notes)
               for b in ex.blockers):
            continue
        route = plan.endpoint.route(target)
        if route is None or route.method != hc.method or route.query or "{" in route.path.replace(
                "{phone_number_id}", ""):
            continue
        if not (isinstance(call.func, cst.Attribute) and call.func.attr.value in HTTP_VERBS):
            continue  # .request("POST", url): the method argument stays positional
        positional = [arg for arg in call.args if arg.keyword is None]
        if (any(arg.star for arg in call.args) or len(positional) > 1
                or not any(_kw(arg) == "headers" for arg in call.args)):
            continue
        if not per_channel(call):
            continue
        if not proven:
            continue  # every request is the same on the target's Cloud: only the host can differ
        claimed[call] = route.path
        if answered:
            onprem[call] = (plan.endpoint.method, plan.endpoint.onprem_path)
    if not claimed:
        return set()
    _absorb(facts, urls, set(claimed))
    for call, path in claimed.items():
        answer = onprem.get(call)
        item = a.add("WM103", "safe", f"per-channel request -> {target.value} Cloud "
                     f"{path}: URL and auth header now come from the config channel whose "
                     "legacy_api_key is the key this call sends (shim.channels.cloud_request)"
                     + (f"; the answer is translated back to the On-Prem {answer[0]} "
                        f"{answer[1]} shape its readers expect (shim.answers.onprem_answer)"
                        if answer else ""), call)
        item.imports = frozenset({IMPORT_LINE, ANSWER_IMPORT} if answer else {IMPORT_LINE})
        url_arg = next(arg for arg in call.args if arg.keyword is None or _kw(arg) == "url")
        edit = _edit(target.value, path, facts.pos(url_arg)[1] - 1)
        a.edit(call, item, _answered(edit, target.value, answer, facts.pos(call)[1] - 1)
               if answer else edit)
        urls.ex.part(call, item)
    return set(claimed)


def _differs(plan: UrlPlan, target: Target) -> bool:
    """Does this request exist only on On-Prem (its target route is another method or path)?

    360dialog Cloud serves ``/v1/configs/webhook`` and ``/v1/configs/templates`` with the
    same key header: a file whose per-channel requests are all of that kind may already
    talk to Cloud (its base URL is data), so nothing in it proves an On-Prem channel.
    """
    ep = plan.endpoint
    if ep is None:
        return True
    route = ep.route(target)
    return route is None or route.method != ep.method or route.path != ep.onprem_path


def _answered(edit: Callable[[cst.CSTNode, frozenset[int]], cst.CSTNode], target: str,
              answer: tuple[str, str], column: int
              ) -> Callable[[cst.CSTNode, frozenset[int]], cst.CSTNode]:
    """The rewritten call, wrapped: ``onprem_answer(<call>, "GET", "/v1/health", target)``.

    ``column`` (0-based) is where the call starts: the On-Prem method, path and target
    go on their own line, under the wrapped call.
    """
    def fn(node: cst.CSTNode, enabled: frozenset[int]) -> cst.CSTNode:
        inner = edit(node, enabled)
        assert isinstance(inner, cst.BaseExpression)
        space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        down = cst.Comma(whitespace_after=cst.ParenthesizedWhitespace(
            indent=False, last_line=cst.SimpleWhitespace(" " * (column + len(ANSWER) + 1))))
        return cst.Call(func=cst.Name(ANSWER), args=[
            cst.Arg(inner, comma=down), cst.Arg(cst.SimpleString(f'"{answer[0]}"'), comma=space),
            cst.Arg(cst.SimpleString(f'"{answer[1]}"'), comma=space),
            cst.Arg(cst.SimpleString(f'"{target}"'))])
    return fn


def _kw(arg: cst.Arg) -> str | None:
    return arg.keyword.value if arg.keyword is not None else None


def _mates(facts: Facts, urls: _UrlResult, node: cst.CSTNode) -> set[cst.Call]:
    """The requests a floating item joins (as codemods.exchange groups them)."""
    live = [c for c in urls.ex.by_call if not _terminal(urls.ex.by_call[c])]
    cls = enclosing(facts, node, cst.ClassDef)
    same = {c for c in live if cls is not None and enclosing(facts, c, cst.ClassDef) is cls}
    return same or set(live)


def _absorb(facts: Facts, urls: _UrlResult, calls: set[cst.Call]) -> None:
    """Detach URL/auth items from claimed requests (replaced there); silence them if unused."""
    members: dict[int, set[cst.Call]] = {}
    for call, ex in urls.ex.by_call.items():
        for it in (*ex.parts, *ex.blockers):
            members.setdefault(it.id, set()).add(call)
    floating = {it.id for it in (*urls.ex.floating, *urls.ex.floating_blockers)}
    for it in urls.ex.floating:  # a header builder only claimed requests can use
        if it.code.startswith("WM2") and _mates(
                facts, urls, it.node) <= calls:
            it.fix = "manual"
            it.silent = True
    for call in calls:
        ex = urls.ex.by_call[call]
        for it in ex.blockers:  # only an unspellable URL (see claim)
            if it.id not in floating and members[it.id] <= calls:
                it.silent = True
        ex.blockers = []
        ex.ignores = (*_ABSORBED_PREFIXES, *_ABSORBED)
        keep = []
        for it in ex.parts:
            if not (it.code.startswith(_ABSORBED_PREFIXES) or it.code in _ABSORBED):
                keep.append(it)
            elif it.id not in floating and members[it.id] <= calls:
                it.fix = "manual"
                it.silent = True
        ex.parts = keep


def _edit(target: str, path: str, column: int
          ) -> Callable[[cst.CSTNode, frozenset[int]], cst.CSTNode]:
    """``post(url, headers=h, ...)`` -> ``post(**cloud_request(target, path, h, url), ...)``.

    ``column`` (0-based) is where the URL argument starts: a long helper call breaks
    before the legacy URL, aligned under its first argument.
    """
    def fn(node: cst.CSTNode, _enabled: frozenset[int]) -> cst.CSTNode:
        assert isinstance(node, cst.Call)
        args = list(node.args)
        url_i = next(i for i, arg in enumerate(args) if arg.keyword is None or _kw(arg) == "url")
        head_i = next(i for i, arg in enumerate(args) if _kw(arg) == "headers")
        url, headers = args[url_i], args[head_i]
        space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        first = [cst.Arg(cst.SimpleString(f'"{target}"'), comma=space),
                 cst.Arg(cst.SimpleString(f'"{path}"'), comma=space),
                 cst.Arg(headers.value, comma=space)]
        helper = cst.Call(func=cst.Name(HELPER), args=[*first, cst.Arg(url.value)])
        inner = column + len(f"**{HELPER}(")
        if inner + len(cst.Module([]).code_for_node(helper)) > 96:
            first[-1] = first[-1].with_changes(comma=cst.Comma(
                whitespace_after=cst.ParenthesizedWhitespace(
                    indent=False, last_line=cst.SimpleWhitespace(" " * inner))))
            helper = helper.with_changes(args=[*first, cst.Arg(url.value)])
        args[url_i] = url.with_changes(value=helper, star="**", keyword=None,
                                       equal=cst.MaybeSentinel.DEFAULT)
        if head_i > 0:  # the line break after the removed argument stays
            args[head_i - 1] = args[head_i - 1].with_changes(comma=headers.comma)
        del args[head_i]
        return node.with_changes(args=args)
    return fn

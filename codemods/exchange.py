"""One record per On-Prem HTTP exchange, and the all-or-nothing decision over it.

An exchange is a call plus everything that makes it an On-Prem request: the
strings its URL is built from, its auth header, its payload dicts and the reads
of its response. The rules propose items (edits, or manual notes) and say which
exchange each belongs to; :func:`decide` then makes sure no exchange is left
half-migrated. Parts nobody can tie to one call (a header constant, a payload
builder, a path class attribute) float: they join every exchange of their class,
else of their file, because they may feed any of them.

- A *blocker* (a manual item such as a body whose shape changes on Cloud) holds
  every edit of its group: nothing changes, and each call of the group carries a
  marker saying why.
- A *held URL* (a base URL from a setting, variable or parameter that the codemod
  cannot point at Cloud: a WM905 note) holds the group like a blocker: a Cloud
  path, auth header or body sent to a base that may still be On-Prem is a
  half-migrated request. The note then lists every change the request needs.
- An *unsafe* edit makes the whole group unsafe: without ``--unsafe`` nothing of
  it is applied and each call gets a marker saying ``--unsafe`` would apply it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from codemods.facts import Facts, enclosing, iter_parents

if TYPE_CHECKING:
    from codemods.analyze import Analysis, Item


@dataclass(eq=False)
class Exchange:
    call: cst.Call
    parts: list[Item] = field(default_factory=list)
    blockers: list[Item] = field(default_factory=list)
    #: codes (prefixes) of floating items this call does not use (see codemods.per_channel)
    ignores: tuple[str, ...] = ()


@dataclass(eq=False)
class Exchanges:
    by_call: dict[cst.Call, Exchange] = field(default_factory=dict)
    floating: list[Item] = field(default_factory=list)
    floating_blockers: list[Item] = field(default_factory=list)

    def of(self, call: cst.Call) -> Exchange:
        ex = self.by_call.get(call)
        if ex is None:
            ex = self.by_call[call] = Exchange(call)
        return ex

    def part(self, call: cst.Call | None, item: Item) -> None:
        if call is None:
            self.floating.append(item)
        else:
            self.of(call).parts.append(item)

    def block(self, call: cst.Call | None, item: Item) -> None:
        if call is None:
            self.floating_blockers.append(item)
        else:
            self.of(call).blockers.append(item)

    def parts_to(self, calls: Iterable[cst.Call], item: Item) -> None:
        calls = list(calls)
        if not calls:
            self.floating.append(item)
        for call in calls:
            self.of(call).parts.append(item)


class _Union:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


@dataclass(eq=False)
class _Group:
    calls: list[Exchange] = field(default_factory=list)
    parts: list[Item] = field(default_factory=list)
    blockers: list[Item] = field(default_factory=list)


def _function(facts: Facts, node: cst.CSTNode) -> cst.CSTNode | None:
    for parent in iter_parents(facts, node):
        if isinstance(parent, cst.FunctionDef):
            return parent
    return None


def _groups(facts: Facts, ex: Exchanges) -> list[_Group]:
    uf = _Union()
    exchanges = list(ex.by_call.values())
    # keys: exchanges are 2*i, items are 2*id+1 (item ids are small and unique)
    for i, e in enumerate(exchanges):
        uf.find(2 * i)
        if _terminal(e):
            continue  # a call to remove holds nothing it shares with live calls
        for it in (*e.parts, *e.blockers):
            uf.union(2 * i, 2 * it.id + 1)
    floating = [*ex.floating, *ex.floating_blockers]
    by_class: dict[cst.ClassDef | None, list[int]] = {}
    for i, e in enumerate(exchanges):
        if _terminal(e):
            continue
        by_class.setdefault(enclosing(facts, e.call, cst.ClassDef), []).append(i)
    first_floating: int | None = None
    for it in floating:
        key = 2 * it.id + 1
        uf.find(key)
        cls = enclosing(facts, it.node, cst.ClassDef)
        mates = by_class.get(cls) if cls is not None else None
        if not mates:
            mates = [i for i, e in enumerate(exchanges) if not _terminal(e)]
        mates = [i for i in mates if not it.code.startswith(exchanges[i].ignores or ("\0",))]
        for i in mates:
            uf.union(2 * i, key)
        if first_floating is None:
            first_floating = key
        elif not mates:
            uf.union(first_floating, key)
    groups: dict[int, _Group] = {}
    for i, e in enumerate(exchanges):
        g = groups.setdefault(uf.find(2 * i), _Group())
        g.calls.append(e)
        if not _terminal(e):
            _extend_unique(g.parts, e.parts)
        _extend_unique(g.blockers, e.blockers)
    for it in ex.floating:
        _extend_unique(groups.setdefault(uf.find(2 * it.id + 1), _Group()).parts, [it])
    for it in ex.floating_blockers:
        _extend_unique(groups.setdefault(uf.find(2 * it.id + 1), _Group()).blockers, [it])
    return list(groups.values())


#: Why requests that share a base URL or headers with a call to Turn's own API are held.
KEEPS_WHY = ("it shares its base URL or headers with a call to Turn's own API, which stays on "
             "Turn: give the requests that move to Cloud their own base URL and key, then run "
             "again")

#: Blockers that mean "remove or replace this call": it has nothing to migrate.
TERMINAL = frozenset({"WM901", "WM902"})


def _terminal(e: Exchange) -> bool:
    return bool(e.blockers) and all(b.code in TERMINAL and not b.keeps for b in e.blockers)


def _extend_unique(out: list[Item], items: Iterable[Item]) -> None:
    for it in items:
        if all(o is not it for o in out):
            out.append(it)


def decide(a: Analysis, ex: Exchanges) -> None:
    """Hold or couple the items of each group so that it is applied whole or not at all."""
    for g in _groups(a.facts, ex):
        edits = [it for it in g.parts if it.fix != "manual" and not it.held]
        if not edits:
            continue
        if g.blockers:
            _hold(a, g, edits)
        elif bases := _held_urls(g):
            _hold_for_url(a, g, edits, bases)
        elif any(it.fix == "unsafe" for it in edits):
            _couple_unsafe(a, g, edits)


def _anchors(facts: Facts, g: _Group, edits: list[Item]) -> list[cst.CSTNode]:
    """Where the markers of a held group go: its calls, else each statement it edits."""
    with_edits = [e.call for e in g.calls if any(
        p is it for p in e.parts for it in edits) or (not _terminal(e) and any(
            p.code in FOLLOW_UPS for p in e.parts))]  # a call waiting for a base change
    if with_edits:
        return list(with_edits)
    if g.calls:
        return [e.call for e in g.calls]
    out: list[cst.CSTNode] = []
    seen: set[int] = set()
    for it in edits:
        stmt = facts.statement_of(it.node)
        if id(stmt) not in seen:
            seen.add(id(stmt))
            out.append(it.node)
    return out


def _hold(a: Analysis, g: _Group, edits: list[Item]) -> None:
    first = next((b for b in g.blockers if not b.keeps), g.blockers[0])
    why = first.todo or first.message
    if first.keeps:
        why = KEEPS_WHY
    own = {id(e.call): e.blockers[0] for e in g.calls if e.blockers}
    for it in edits:
        fn = _function(a.facts, it.node)
        near = next((b for b in g.blockers if _function(a.facts, b.node) is fn), first)
        near_why = KEEPS_WHY if near.keeps else near.todo or near.message
        it.held = f"held with its request: {near_why}"
        it.fix = "manual"
        it.message = (f"{it.message} (not applied: the request also needs `{near.code}`: "
                      f"{near_why})")
    for it in g.parts:
        if (it.fix == "manual" and not it.held and it.code in FOLLOW_UPS
                and all(it is not b for b in g.blockers)):
            it.silent = True  # a note about a rewrite that is not made
    for anchor in _anchors(a.facts, g, edits):
        if any(_function(a.facts, b.node) is _function(a.facts, anchor) for b in g.blockers
               if not b.keeps):
            continue  # the blocker's own marker is in this function, next to it
        mine = own.get(id(anchor), None if g.calls else first)
        if mine is not None and mine.keeps:
            continue  # a Turn call: its own marker says it stays
        if mine is not None:
            text = mine.todo or mine.message
            a.add(mine.code, "manual", f"left unchanged: {text}", anchor,
                  todo=f"not rewritten until this is done: {text}")
            continue
        where = a.facts.code(a.facts.statement_of(first.node), 40)
        if first.keeps:
            a.add(first.code, "manual", f"left unchanged: {why} (`{where}`)", anchor,
                  todo=f"shares its base URL or headers with a Turn API call that stays "
                  f"(`{where}`): give this request its own, then run again")
            continue
        a.add(first.code, "manual", f"left unchanged with a request it shares a URL, header or "
              f"payload with (`{where}`): {why}", anchor,
              todo=f"shares its URL, header or payload with a held-back request (`{where}`: "
              f"{first.code}); migrate them together")


#: Notes on a base URL the codemod cannot rewrite (a setting, variable or parameter).
HELD_URL = frozenset({"WM905"})


def _held_urls(g: _Group) -> list[Item]:
    return [it for it in g.parts if it.code in HELD_URL and it.fix == "manual"
            and not it.silent and not it.held]


def _hold_for_url(a: Analysis, g: _Group, edits: list[Item], bases: list[Item]) -> None:
    """Nothing of the request changes while its base URL stays; its note says it all."""
    notes = [it for it in g.parts if it.fix == "manual" and not it.held and not it.silent
             and it.code in FOLLOW_UPS and it.code not in HELD_URL]
    for base in bases:
        calls = [e for e in g.calls if any(p is base for p in e.parts)]
        # its calls' parts, and the floating ones (a payload built elsewhere may be theirs)
        tied = {id(p) for e in g.calls for p in e.parts}
        mine = [it for it in (*edits, *notes) if id(it) not in tied
                or not calls or any(p is it for e in calls for p in e.parts)] or edits
        ids = {it.id for it in mine}
        # the comments an edit writes only when applied (which value a header must hold)
        tied_notes = [n for n in a.items if n.hidden and n.todo and n.when_applied & ids]
        steps = list(dict.fromkeys(_step(it) for it in (*mine, *tied_notes)))
        held = "held: a Cloud path, header or body sent to an On-Prem base fails"
        base.todo = f"{base.todo}, and in the same change: {'; '.join(steps)} ({held})"
        base.message = f"{base.message}, and in the same change: {'; '.join(steps)} ({held})"
    for e in g.calls:  # a call on a held base: its marker repeats what the base needs
        own = [b for b in bases if any(p is b for p in e.parts)]
        if own and not e.blockers:
            e.blockers = own[:1]
    g.blockers = list(bases)
    _hold(a, g, edits)


def _step(it: Item) -> str:
    """What a held item asks the user to do, in a few words (its message up to the reason)."""
    text = it.todo if it.fix == "manual" and it.todo else it.message
    for cut in (" (unsafe with its request", " (held with its request", "; unsafe:"):
        text = text.split(cut, 1)[0]
    arrow = text.find(" -> '")
    end = text.find("': ", arrow + 5) if arrow >= 0 else -1
    if end >= 0:  # 'old' -> 'new': why (the quoted code may hold quotes and colons)
        return _unsafe(it, text[:end + 1])
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch == '"':
            quote = ch
        elif text.startswith(": ", i) and text[i + 2:i + 3] != '"':
            text = text[:i]
            break
    return _unsafe(it, text)


def _unsafe(it: Item, text: str) -> str:
    """An unsafe step says why: the user makes it by hand, so checks it then."""
    if it.fix == "unsafe" and it.reason:
        text += f" (check it: {it.reason})"
    return text


def _couple_unsafe(a: Analysis, g: _Group, edits: list[Item]) -> None:
    unsafe = [it for it in edits if it.fix == "unsafe"]
    reasons = sorted({it.reason or it.code for it in unsafe})
    for it in edits:
        if it.fix == "safe":
            it.fix = "unsafe"
            # the request's call carries the `unsafe[0].code` marker: name it, so a reader
            # (and a checker) can find the marker that covers this part
            it.message = (f"{it.message} (unsafe with its request, marked `{unsafe[0].code}`: "
                          f"{'; '.join(reasons)})")
    for it in unsafe[1:]:
        if it.code != unsafe[0].code and "marked `" not in it.message:
            it.message = f"{it.message} (held with its request, marked `{unsafe[0].code}`)"
    ids = frozenset(it.id for it in edits)
    for it in g.parts:
        if it.fix == "manual" and it.code in FOLLOW_UPS:
            it.when_applied = ids  # a note about a rewrite only --unsafe makes
            if "marked `" not in it.message:
                it.message = (f"{it.message} (once `--unsafe` rewrites its request, marked "
                              f"`{unsafe[0].code}` until then)")
    for anchor in _anchors(a.facts, g, edits):
        marker = a.add(unsafe[0].code, "manual", "held back", anchor,
                       todo=f"held back ({'; '.join(reasons)}): `--unsafe` would rewrite "
                       "this request; or migrate it by hand")
        marker.when_held = ids


#: Manual notes that only make sense when the rewrite they follow is applied.
FOLLOW_UPS = frozenset({"WM905", "WM904", "WM911", "WM201", "WM202"})

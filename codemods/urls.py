"""Where an On-Prem URL sits in code, and what it becomes on a Cloud target.

A URL in source is rarely one literal: it is a base constant plus a path, an
f-string, ``"%s/v1/..." % base``, ``urljoin(base, "v1/...")``. The collector
flattens such an expression into *atoms*: literal text owned by one editable
string (:class:`Lit`), text implied by the construct (:class:`Syn`, e.g. the
``/`` urljoin inserts) and opaque expressions (:class:`Dyn`). This module
matches the flattened template against the mapping table
(``shim.mapping.endpoints``), builds the Cloud template for the target and
hands back, per owning string, the edit that turns the old URL into the new
one. It knows nothing about libcst, so it is tested on plain atoms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import urlsplit

from shim.mapping import hosts
from shim.mapping.endpoints import (
    APPLICATION_SETTINGS,
    ENDPOINTS,
    Endpoint,
    Kind,
    Unsupported,
    fill,
    match_endpoint,
    match_unsupported,
)
from shim.mapping.hosts import Target

#: Stand-ins for the Meta settings a rewritten URL reads (see codemods.settings).
VERSION_MARK: Final = "\x01GRAPH_API_VERSION\x01"
PHONE_ID_MARK: Final = "\x01WHATSAPP_PHONE_NUMBER_ID\x01"
WABA_ID_MARK: Final = "\x01WHATSAPP_BUSINESS_ACCOUNT_ID\x01"
MARK_RE: Final = re.compile("\x01([A-Z_]+)\x01")

#: Endpoints whose request body the payload rules translate in code.
PAYLOAD_ENDPOINTS: Final = frozenset({"send_message"})
#: Handled by a call-level rewrite (PUT .../{id} -> POST /messages + body).
MARK_READ: Final = "mark_read"
#: PATCH /v1/settings/application: settings with no Cloud meaning, never moved elsewhere
SETTINGS_APPLICATION: Final = "set_application_webhook"

METHODS: Final = ("POST", "GET", "PUT", "PATCH", "DELETE")

_SANDBOX_HOST: Final = urlsplit(hosts.ONPREM_SANDBOX_BASE_URL).hostname or ""
_CLOUD_HOSTS: Final = frozenset(hosts.D360_CLOUD_HOSTS) | frozenset(hosts.META_GRAPH_HOSTS)
_HOST_RE: Final = re.compile(r"https?://[^/\x00?#\s]+")
_PATH_START: Final = re.compile(r"/v1(?=/|\?|#|\x00|$)")
#: the On-Prem API's own families below /v1 (another API on the same base has others)
_ONPREM_FAMILY: Final = re.compile(
    r"/v1/(?:messages|media|contacts|settings|configs|account|users|health|stats|metrics"
    r"|support|certificates|groups|services)(?=/)")
#: Turn.io's hosts serve their own API below the same families (claims, ...): not judged here
_TURN_HOST: Final = re.compile(r"(?i)turn\.io")
#: ``/v1/<parameter>``: a helper that builds every endpoint's URL
_DYNAMIC_ENDPOINT: Final = re.compile("/v1/\x00\\d+\x00$")


@dataclass(frozen=True, slots=True)
class Lit:
    """Literal text at ``start`` in the value of the string ``owner``."""

    owner: int
    start: int
    text: str


@dataclass(frozen=True, slots=True)
class Syn:
    """Text the construct adds (urljoin's ``/``); it cannot be edited."""

    text: str


@dataclass(frozen=True, slots=True)
class Dyn:
    """An expression whose value is unknown (a parameter, a setting)."""

    key: int


Atom = Lit | Syn | Dyn
HostKind = Literal["onprem", "sandbox", "foreign", "dynamic", "none"]


@dataclass(frozen=True, slots=True)
class Edit:
    owner: int
    start: int
    end: int
    text: str


@dataclass(slots=True)
class UrlPlan:
    """The outcome for one URL use.

    ``kind``: ``rewrite`` (``edits`` turn it into the Cloud URL), ``same`` (the
    path is already right for the target), ``manual`` (``code``/``message`` say
    why), ``mark_read`` (needs the call-level rewrite; ``message_id`` is the
    index of the Dyn holding the id), ``base`` (a host-only base literal).
    """

    kind: Literal["rewrite", "same", "manual", "mark_read", "base"]
    endpoint: Endpoint | None = None
    edits: list[Edit] = field(default_factory=list)
    unsafe_reasons: list[str] = field(default_factory=list)
    #: (code, message, todo) of manual follow-ups (WM906)
    notes: list[tuple[str, str, str]] = field(default_factory=list)
    code: str = ""
    message: str = ""
    todo: str = ""
    host: HostKind = "none"
    old_url: str = ""
    new_url: str = ""
    message_id: int | None = None
    dynamic_host: int | None = None
    #: the run-time host sits after a literal ``https://`` (it holds a host name, not a URL)
    host_name_only: bool = False
    #: manual: a run-time host between a literal scheme and port (no value of it is Cloud)
    wrapped_host: bool = False
    uses_settings: bool = False
    #: the shim refuses this method on this path (an unsupported row, no served endpoint)
    refused: bool = False


@dataclass(frozen=True, slots=True)
class _Char:
    ch: str
    owner: int | None  # None: synthetic
    offset: int


class _Template:
    """The flattened URL: text with one sentinel per Dyn, and who owns each char."""

    def __init__(self, atoms: Sequence[Atom]) -> None:
        self.text_parts: list[str] = []
        self.chars: list[_Char | int] = []  # int: index of a Dyn
        self.dyns: list[int] = []
        for atom in atoms:
            if isinstance(atom, Lit):
                for i, ch in enumerate(atom.text):
                    self.chars.append(_Char(ch, atom.owner, atom.start + i))
            elif isinstance(atom, Syn):
                for ch in atom.text:
                    self.chars.append(_Char(ch, None, 0))
            else:
                self.chars.append(len(self.dyns))
                self.dyns.append(atom.key)
        self.text = "".join(
            c.ch if isinstance(c, _Char) else _sentinel(c) for c in self.chars
        )
        # position in ``text`` of every element of ``chars``
        self.pos: list[int] = []
        p = 0
        for c in self.chars:
            self.pos.append(p)
            p += 1 if isinstance(c, _Char) else len(_sentinel(c))

    def index_at(self, text_pos: int) -> int:
        """Index into ``chars`` of the element starting at ``text_pos``."""
        return self.pos.index(text_pos)


def _sentinel(i: int) -> str:
    return f"\x00{i}\x00"


_SENTINEL_RE: Final = re.compile("\x00(\\d+)\x00")


def interesting(text: str) -> bool:
    """Could this literal be part of an On-Prem URL?"""
    if "/v1" in text or text.startswith("v1/") or text == "v1":
        return True
    return any(h in text for h in hosts.ONPREM_HOSTS)


def host_kind(host_url: str, declared: frozenset[str] = frozenset()) -> HostKind:
    name = (urlsplit(host_url).hostname or "").lower()
    if name in _CLOUD_HOSTS:
        return "none"
    if name == _SANDBOX_HOST:
        return "sandbox"
    if name in hosts.ONPREM_HOSTS or name in declared:
        return "onprem"
    return "foreign"


def is_cloud_url(text: str) -> bool:
    m = _HOST_RE.match(text)
    return m is not None and (urlsplit(m.group(0)).hostname or "").lower() in _CLOUD_HOSTS


def target_base(target: Target) -> str:
    return hosts.D360_CLOUD_BASE_URL if target is Target.D360 else hosts.META_GRAPH_BASE_URL


def _path_prefix(target: Target) -> str:
    return "/" + VERSION_MARK if target is Target.META else ""


def plan_url(
    atoms: Sequence[Atom], method: str | None, target: Target, *, context: bool,
    declared: frozenset[str] = frozenset(),
) -> UrlPlan | None:
    """What to do with one URL use, or None when it is not an On-Prem URL.

    ``method`` is the HTTP method when the use is the URL of a recognised call.
    ``context`` says whether the file shows it talks to WhatsApp at all; without
    it a bare ``/v1/...`` path on an unknown host is someone else's API.
    """
    tpl = _Template(atoms)
    text = tpl.text
    if not text or is_cloud_url(text):
        return None
    host_m = _HOST_RE.match(text)
    start = _find_path_start(text, host_m.end() if host_m else None)
    host_text = text[: start] if start is not None else text
    kind = _classify_host(host_text, tpl, declared)
    if kind == "none" and host_m is not None:
        return None  # a Cloud host, or not a URL we know
    if start is None:
        return _plan_base(tpl, host_m, kind, target, context)
    if kind == "foreign" and not context:
        return None
    if kind in ("none", "dynamic") and not context:
        return None
    path_end = _path_end(text, start)
    path = text[start:path_end]
    rest = text[path_end:]
    outcomes = _match(path, method)
    if not outcomes:
        if path in ("/v1", "/v1/") and not rest:
            return _plan_base(tpl, host_m, kind, target, context)
        if _DYNAMIC_ENDPOINT.match(path):
            return UrlPlan("manual", code="WM907", host=kind, old_url=_display(text), message=(
                f"{_display(text)} builds On-Prem URLs /v1/<endpoint> from a parameter; Cloud "
                "paths have no /v1 on 360dialog and are /{version}/{phone_number_id}/... on "
                "Meta: rewrite this URL helper by hand"),
                todo="rewrite this URL helper for Cloud paths (no /v1)")
        if _ONPREM_FAMILY.match(path) and not _TURN_HOST.search(text[:start]):
            # an On-Prem API family the table has no row for (compliance_info, a POST to a
            # message id): not left silently on a host that is going away
            call = f"{method.upper()} " if method else ""
            return UrlPlan("manual", code="WM902", host=kind, old_url=_display(text), message=(
                f"{call}{_display(path)}: not an On-Premise endpoint the mapping table knows "
                "(the shim refuses it). Instead: check what it does and port it to the Cloud "
                "API by hand, or remove it"),
                todo=f"{call}{_display(path)} is not an On-Prem endpoint the mapping table "
                "knows: port it to the Cloud API by hand, or remove it")
        return None
    # the in-process shim answers a login only where the config names the channel by host
    host_name = (urlsplit(host_m.group(0)).hostname or "").lower() if host_m else ""
    public = host_name in hosts.ONPREM_HOSTS and host_name not in declared
    plans = [_outcome_plan(o, tpl, start, path_end, path, rest, kind, target, public=public)
             for o in outcomes]
    plan = _merge(plans, method)
    plan.host = kind
    plan.old_url = _display(text)
    if kind == "dynamic":
        plan.dynamic_host = _first_dyn(tpl, 0, start)
        wrapped = _wrapped_host(tpl, host_text, plan, target)
        if wrapped is not None:
            return wrapped
    if kind == "sandbox" and plan.kind == "rewrite":
        plan.unsafe_reasons.append(
            "the mapping table has no Cloud sandbox host; the sandbox URL is pointed at the "
            "production Cloud base, with its own key"
        )
    if kind == "foreign" and plan.kind == "rewrite":
        plan.unsafe_reasons.append(
            "the host is not a known On-Prem host (self-hosted node or another provider)"
        )
    return plan


#: a run-time host with a literal port before the path (``f"https://{ip}:9090/v1/..."``)
_DYN_PORT: Final = re.compile("\x00\\d+\x00:\\d+$")


def _wrapped_host(tpl: _Template, host_text: str, plan: UrlPlan, target: Target
                  ) -> UrlPlan | None:
    """A run-time host between literal URL parts (``f"https://{ip}:9090/v1/..."``).

    Pointing the variable at the Cloud base cannot work there: a literal port (or a
    plain ``http://``) stays in the URL, so the request is held with what to write
    instead. After a literal ``https://`` the variable holds a host name: the note
    asks for the Cloud host name, not a URL.
    """
    if plan.kind not in ("rewrite", "same", "mark_read"):
        return None
    first = _SENTINEL_RE.search(host_text)
    last = list(_SENTINEL_RE.finditer(host_text))[-1] if first else None
    if first is None or last is None:
        return None
    before, after = host_text[: first.start()], host_text[last.end():]
    if after or before.lower().startswith("http://"):
        anchor = tpl.dyns[int(first.group(1))]
        base = target_base(target)
        shown = _display(host_text)
        return UrlPlan("manual", plan.endpoint, code="WM905", host="dynamic",
                       old_url=plan.old_url, dynamic_host=anchor, wrapped_host=True, message=(
                           f"the URL's host is built as `{shown}` (a literal scheme or port "
                           f"around a run-time value): no value of it gives the Cloud base; "
                           f"write {base} in place of `{shown}` and migrate the request with it"),
                       todo=f"replace `{shown}` with {base} (a Cloud base has no port), then "
                       "run again")
    plan.host_name_only = before.lower().startswith("https://")
    return None


def _find_path_start(text: str, host_end: int | None) -> int | None:
    for m in _PATH_START.finditer(text):
        i = m.start()
        if i == 0 or i == host_end or text[i - 1] == "\x00" or _DYN_PORT.search(text, 0, i):
            return i
    return None


def _path_end(text: str, start: int) -> int:
    for i in range(start, len(text)):
        if text[i] in "?#":
            return i
    return len(text)


def _classify_host(host_text: str, tpl: _Template, declared: frozenset[str]) -> HostKind:
    if not host_text:
        return "none"
    if "\x00" in host_text:
        return "dynamic"
    m = _HOST_RE.fullmatch(host_text)
    if m is None:
        return "none"
    return host_kind(host_text, declared)


def _first_dyn(tpl: _Template, lo: int, hi: int) -> int | None:
    m = _SENTINEL_RE.search(tpl.text, lo, hi)
    return tpl.dyns[int(m.group(1))] if m else None


@dataclass(frozen=True, slots=True)
class _Outcome:
    method: str
    endpoint: Endpoint | None
    params: dict[str, str]
    code: str = ""
    message: str = ""
    todo: str = ""
    unsupported: Unsupported | None = None


def _match(path: str, method: str | None) -> list[_Outcome]:
    out: list[_Outcome] = []
    for m in (method.upper(),) if method else METHODS:
        hit = match_endpoint(m, path)
        if hit is not None and hit.endpoint.name == MARK_READ and match_unsupported(m, path):
            hit = None  # a vendor extension below /v1/messages/{id}/..., not a read receipt
        unsupported = match_unsupported(m, path)
        if hit is not None and hit.endpoint.in_process_only and unsupported is not None:
            # the in-process shim answers it (no marker there), the native code must drop it:
            # the outcome keeps its endpoint, which is how the shim strategy tells them apart
            out.append(_Outcome(m, hit.endpoint, {}, "WM902", f"{m} {_display(path)}: "
                                f"{unsupported.reason} Instead: {{instead}}", "{instead}",
                                unsupported))
            continue
        if hit is not None:
            out.append(_Outcome(m, hit.endpoint, dict(hit.params)))
            continue
        if unsupported is not None:
            out.append(_Outcome(m, None, {}, "WM902", f"{m} {_display(path)}: "
                                f"{unsupported.reason} Instead: {{instead}}", "{instead}",
                                unsupported))
    return out


def _outcome_plan(
    o: _Outcome,
    tpl: _Template,
    start: int,
    path_end: int,
    path: str,
    rest: str,
    kind: HostKind,
    target: Target,
    *,
    public: bool = False,
) -> UrlPlan:
    ep = o.endpoint
    if ep is not None and ep.in_process_only and o.unsupported is not None:
        # A kept endpoint tells the shim strategy the drop-in answers it: only on a host a
        # channel declares (legacy_base_url), never on 360dialog's public On-Prem host.
        advice = o.unsupported.advice(target)
        return UrlPlan("manual", None if public else ep, code=o.code,
                       message=o.message.replace("{instead}", advice),
                       todo=o.todo.replace("{instead}", advice))
    if ep is None and o.unsupported is not None and (
        o.unsupported.onprem_path == APPLICATION_SETTINGS.onprem_path
    ):
        ep = next(e for e in ENDPOINTS if e.name == SETTINGS_APPLICATION)
    if ep is None:
        advice = o.unsupported.advice(target) if o.unsupported is not None else ""
        return UrlPlan("manual", code=o.code, message=o.message.replace("{instead}", advice),
                       todo=o.todo.replace("{instead}", advice),
                       refused=o.unsupported is not None)
    if ep.name == SETTINGS_APPLICATION:
        # never re-pointed: only a body holding nothing but webhooks.url has a Cloud meaning
        gone = APPLICATION_SETTINGS
        advice = gone.advice(target)
        if o.endpoint is None and o.unsupported is not None:
            # DELETE/POST/PUT: the shim refuses them (501); only GET and PATCH are served
            advice = o.unsupported.advice(target)
            return UrlPlan("manual", ep, code="WM902", message=o.message.replace(
                "{instead}", advice), todo=f"{o.method} {ep.onprem_path} has no Cloud "
                f"equivalent (the shim refuses it): {advice}", refused=True)
        return UrlPlan("manual", ep, code="WM902", message=(
            f"{ep.method} {ep.onprem_path}: {gone.reason} Instead: {advice}"), todo=advice)
    refusal = ep.refusal(rest[1:] if rest.startswith("?") else "")
    if refusal is not None and "\x00" not in rest and o.method == ep.method:
        # the row serves only calls with a query this URL lacks (the shim answers 501)
        advice = refusal.advice(target)
        return UrlPlan("manual", code="WM902", message=(
            f"{o.method} {_display(path)}: {refusal.reason} Instead: {advice}"),
            todo=f"{o.method} {_display(path)} without the query is refused by the shim "
            f"(501): {advice}", refused=True)
    if ep.kind is Kind.LOCAL:
        return UrlPlan("manual", ep, code="WM901", message=(
            f"{ep.method} {ep.onprem_path} ({ep.name}): {ep.note or 'no Cloud endpoint'}"),
            todo=f"{ep.method} {ep.onprem_path} has no Cloud endpoint: remove the call")
    route = ep.route(target)
    assert route is not None
    values = dict(o.params)
    values["phone_number_id"] = PHONE_ID_MARK
    values["waba_id"] = WABA_ID_MARK
    new_path = _path_prefix(target) + fill(route.path, values)
    query = "&".join(f"{k}={fill(v, values)}" for k, v in route.query.items())
    if ep.name == MARK_READ:
        mid = o.params.get("message_id", "")
        m = _SENTINEL_RE.fullmatch(mid)
        plan = UrlPlan("mark_read", ep, message_id=tpl.dyns[int(m.group(1))] if m else None)
        # the URL without the id, as POST /messages wants it
        cut = text_index = tpl.text.rfind(mid, start, path_end)
        if m is None or text_index < 0 or tpl.text[cut + len(mid):] != "":
            return UrlPlan("manual", ep, code="WM308", message=(
                "read receipt: the message id is not the last part of the URL; send POST "
                '/messages with {"messaging_product": "whatsapp", "status": "read", '
                '"message_id": ...} instead'),
                todo="send POST /messages with status read and message_id")
        sub = _rewrite(tpl, start, cut, tpl.text[start:cut], new_path, "", kind, target,
                       until=cut)
        plan.edits, plan.unsafe_reasons = sub.edits, sub.unsafe_reasons
        plan.new_url, plan.uses_settings = sub.new_url, sub.uses_settings
        if sub.kind == "manual":
            return sub
        return plan
    if query:
        if rest:
            return UrlPlan("manual", ep, code="WM908", message=(
                f"{ep.method} {ep.onprem_path}: the Cloud route needs the query "
                f"?{_display(query)} but the URL already has one; merge them by hand"),
                todo=f"add ?{_display(query)} to this URL's query by hand")
        rest = "?" + query
    plan = _rewrite(tpl, start, path_end, path, new_path, rest, kind, target)
    plan.endpoint = ep
    if plan.kind != "manual" and not _mechanical(ep, target):
        note = ep.target_note(target) or "request or response body differs"
        plan.notes.append(("WM906", f"{ep.method} {ep.onprem_path} ({ep.name}) changes shape "
                           f"on Cloud: {note}", f"adapt this {ep.name} call: "
                           + _first_sentence(note)))
    return plan


def _mechanical(ep: Endpoint, target: Target) -> bool:
    """Does a new URL alone keep the call working (body and response unchanged)?"""
    route = ep.route(target)
    if route is None:
        return False
    if ep.name in PAYLOAD_ENDPOINTS:
        return True
    return (
        route.method == ep.method
        and route.body is ep.onprem_body
        and not route.query
        and route.path == ep.onprem_path
    )


def _rewrite(
    tpl: _Template,
    start: int,
    path_end: int,
    old_path: str,
    new_path: str,
    rest: str,
    kind: HostKind,
    target: Target,
    *,
    until: int | None = None,
) -> UrlPlan:
    old_host = tpl.text[:start]
    new_host = target_base(target) if kind in ("onprem", "sandbox", "foreign") else old_host
    new_text = new_host + new_path + rest
    units_old = _units(tpl, 0, start) + _units(tpl, start, until if until is not None
                                                else len(tpl.text))
    old_full = tpl.text[: until if until is not None else len(tpl.text)]
    # The host and the path are diffed separately so each edit stays inside one string.
    new_units = _split_units(new_host) + _split_units(new_path + rest)
    if _sentinels(old_full) != _sentinels(new_text):
        return UrlPlan("manual", code="WM908", message=(
            f"{_display(old_full)} -> {_display(new_text)}: the parts of this URL move "
            "around on Cloud; rebuild it by hand"), todo=f"rebuild as {_display(new_text)}")
    if len(units_old) != len(new_units):
        return UrlPlan("manual", code="WM908", message=(
            f"{_display(old_full)}: cannot line up the URL parts; rebuild it by hand"),
            todo=f"rebuild as {_display(new_text)}")
    edits: list[Edit] = []
    unsafe: list[str] = []
    for old_unit, new_unit in zip(units_old, new_units, strict=True):
        res = _diff_unit(old_unit, new_unit)
        if res is None:
            return UrlPlan("manual", code="WM908", message=(
                f"{_display(old_full)}: the change falls on text the code does not spell "
                "out (e.g. the '/' urljoin adds); rebuild the URL by hand"),
                todo=f"rebuild as {_display(new_text)}")
        unit_edits, multi = res
        edits.extend(unit_edits)
        if multi:
            unsafe.append("the change spans several strings")
    if not edits:
        return UrlPlan("same", new_url=_display(new_text))
    return UrlPlan("rewrite", edits=edits, unsafe_reasons=unsafe, new_url=_display(new_text),
                   uses_settings=bool(MARK_RE.search(new_text)))


def _sentinels(text: str) -> list[str]:
    return _SENTINEL_RE.findall(text)


_Unit = list[_Char]


def _units(tpl: _Template, lo: int, hi: int) -> list[_Unit]:
    """The runs of characters between Dyns in text positions [lo, hi)."""
    units: list[_Unit] = [[]]
    for c, p in zip(tpl.chars, tpl.pos, strict=True):
        if p < lo or p >= hi:
            continue
        if isinstance(c, _Char):
            units[-1].append(c)
        else:
            units.append([])
    return units


def _split_units(text: str) -> list[str]:
    return _SENTINEL_RE.split(text)[::2]


def _diff_unit(old: _Unit, new: str) -> tuple[list[Edit], bool] | None:
    old_text = "".join(c.ch for c in old)
    if old_text == new:
        return [], False
    best: tuple[list[Edit], bool] | None = None
    for prefix_first in (False, True):
        cand = _diff_candidate(old, old_text, new, prefix_first)
        if cand is not None and (best is None or (best[1] and not cand[1])):
            best = cand
    return best


def _diff_candidate(
    old: _Unit, old_text: str, new: str, prefix_first: bool
) -> tuple[list[Edit], bool] | None:
    if prefix_first:
        p = _common_prefix(old_text, new)
        s = _common_suffix(old_text[p:], new[p:])
    else:
        s = _common_suffix(old_text, new)
        p = _common_prefix(old_text[: len(old_text) - s], new[: len(new) - s])
    mid_old = old[p: len(old) - s]
    mid_new = new[p: len(new) - s]
    if not mid_old:
        # pure insertion: attach to the char before, else the char after
        if p > 0:
            c = old[p - 1]
            if c.owner is not None:
                return [Edit(c.owner, c.offset + 1, c.offset + 1, mid_new)], False
        if p < len(old):
            c = old[p]
            if c.owner is not None:
                return [Edit(c.owner, c.offset, c.offset, mid_new)], False
        return None
    if any(c.owner is None for c in mid_old):
        return None
    groups: list[list[_Char]] = []
    for c in mid_old:
        if groups and groups[-1][-1].owner == c.owner and groups[-1][-1].offset + 1 == c.offset:
            groups[-1].append(c)
        else:
            groups.append([c])
    edits = []
    for i, g in enumerate(groups):
        owner = g[0].owner
        assert owner is not None
        edits.append(Edit(owner, g[0].offset, g[-1].offset + 1, mid_new if i == 0 else ""))
    return edits, len(groups) > 1


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _common_suffix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(reversed(a), reversed(b), strict=False):
        if x != y:
            break
        n += 1
    return n


def _merge(plans: list[UrlPlan], method: str | None) -> UrlPlan:
    """One plan for a use: methods that disagree make it manual."""
    if len(plans) == 1:
        return plans[0]
    # a method the shim refuses says nothing about a use whose method is unknown: last
    manual = sorted((p for p in plans if p.kind == "manual"), key=lambda p: p.refused)
    others = [p for p in plans if p.kind != "manual"]
    if manual and not others:
        return manual[0]
    if manual:
        return UrlPlan("manual", code=manual[0].code, message=manual[0].message,
                       todo=manual[0].todo)
    first = others[0]
    for p in others[1:]:
        if (p.kind, sorted((e.owner, e.start, e.end, e.text) for e in p.edits)) != (
            first.kind, sorted((e.owner, e.start, e.end, e.text) for e in first.edits)
        ):
            names = ", ".join(sorted({f"{q.endpoint.method} {q.endpoint.name}"
                                      for q in others if q.endpoint}))
            return UrlPlan("manual", code="WM908", message=(
                f"the Cloud URL depends on the HTTP method ({names}) and this URL is not "
                "used in a call the codemod can see; split it per call"),
                todo="give each HTTP method its own Cloud URL")
    return first


def _plan_base(
    tpl: _Template, host_m: re.Match[str] | None, kind: HostKind, target: Target, context: bool
) -> UrlPlan | None:
    """A base URL literal without an endpoint path: ``https://waba.360dialog.io[/v1][/]``."""
    if host_m is None or kind not in ("onprem", "sandbox"):
        return None
    text = tpl.text
    tail = text[host_m.end():]
    if tail not in ("", "/", "/v1", "/v1/"):
        return None
    new_base = target_base(target)
    unsafe: list[str] = []
    if tail.startswith("/v1"):
        if target is Target.META:
            new_base += "/" + VERSION_MARK + "/" + PHONE_ID_MARK
            unsafe.append("a base ending in /v1 serves every endpoint; on Meta only the "
                          "phone-number endpoints live under /{version}/{phone_number_id}")
        else:
            unsafe.append("a base ending in /v1 loses /v1, but 360dialog keeps "
                          "/v1/configs/... paths")
        new_base += tail[3:]
    else:
        new_base += tail
    if kind == "sandbox":
        unsafe.append("the mapping table has no Cloud sandbox host; the sandbox base is "
                      "pointed at the production Cloud base")
    units = _units(tpl, 0, len(text))
    if len(units) != 1:
        return None
    res = _diff_unit(units[0], new_base)
    if res is None:
        return None
    edits, multi = res
    if multi:
        unsafe.append("the change spans several strings")
    return UrlPlan("base", edits=edits, unsafe_reasons=unsafe, host=kind,
                   old_url=_display(text), new_url=_display(new_base),
                   uses_settings=bool(MARK_RE.search(new_base)))


def _display(text: str) -> str:
    """A template for messages: Dyns as ``{...}``, settings by name."""
    text = _SENTINEL_RE.sub("{...}", text)
    return MARK_RE.sub(lambda m: "{" + m.group(1) + "}", text)


def _first_sentence(text: str, limit: int = 90) -> str:
    cut = text.split(". ")[0].rstrip(".")
    cut = cut.split(" (")[0] if len(cut) > limit else cut
    return cut if len(cut) <= limit else cut[: limit - 3] + "..."


def apply_edits(value: str, edits: Iterable[Edit]) -> str:
    """The owner's new value; edits must not overlap."""
    out = value
    for e in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        out = out[: e.start] + e.text + out[e.end:]
    return out

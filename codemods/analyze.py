"""From one parsed file to findings and the edits that fix them.

Pure: a parsed module in, an :class:`Analysis` out (items with rule code,
applicability, message and anchor node; edits keyed by the node they replace).
Nothing is printed or written here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Final, Literal
from urllib.parse import urlsplit

import libcst as cst

from codemods import (
    aiohttp_swap,
    doubles,
    evidence,
    inherited,
    media_flow,
    per_channel,
    refusals,
    webhooks,
)
from codemods.client_base import file_base, with_base
from codemods.dicts import dynamic_keys, keys_of, value_of
from codemods.exchange import TERMINAL, Exchanges, decide
from codemods.facts import (
    Facts,
    HttpCall,
    Owner,
    Scope,
    collect,
    descendants,
    dotted,
    iter_parents,
)
from codemods.header_builders import returned_header_calls
from codemods.http_names import BODY_KEYWORDS, HTTP_MODULES
from codemods.layout import shift_aligned_args
from codemods.literals import (
    fstring_parts,
    render_simple,
    str_literal,
    string_value,
    used_settings,
)
from codemods.payloads import PayloadPlan, plan_payload
from codemods.urls import (
    Atom,
    Dyn,
    Lit,
    Syn,
    UrlPlan,
    apply_edits,
    interesting,
    plan_url,
    target_base,
)
from shim.mapping import fields
from shim.mapping.fields import Action
from shim.mapping.hosts import D360_API_KEY_HEADER, Target

Fix = Literal["safe", "unsafe", "manual"]
Strategy = Literal["native", "shim"]
NodeEdit = Callable[[cst.CSTNode, frozenset[int]], cst.CSTNode | cst.FlattenSentinel[cst.CSTNode]
                    | cst.RemovalSentinel]

#: Words that say a file may talk to WhatsApp: a reason to report an unproven call
#: (WM917), never a reason to edit one.
CONTEXT_RE: Final = re.compile(
    r"(?i)whatsapp|waba|wa_id|360dialog|d360|localizable_params|\bwa[_-]|recipient_type|"
    r"[\"']hsm[\"']|turn\.io"
)
_CLOUD_HOST: Final = re.compile(r"waba-v2\.360dialog\.io|graph\.facebook\.com")
_CLOUD_MARKERS: Final = re.compile(r"waba-v2\.360dialog\.io|graph\.facebook\.com|"
                                   r"[\"']messaging_product[\"']")
_ONPREM_AUTH_HEADER: Final = D360_API_KEY_HEADER.lower()
#: Hosts that serve their customers the On-Prem API (Turn.io). Not known On-Prem hosts (Turn
#: also serves its own API there), but a /v1 path on one is never another vendor's API.
_HOSTED_ONPREM: Final = frozenset({"whatsapp.turn.io"})
#: Item id of an edit that decides by itself which of its items are enabled.
ALWAYS: Final = -1


@dataclass(eq=False)
class Item:
    id: int
    code: str
    fix: Fix
    message: str
    node: cst.CSTNode
    settings: frozenset[str] = frozenset()
    needs_view_import: bool = False
    #: the short "what to do" a manual item's comment carries
    todo: str = ""
    #: why an unsafe edit is unsafe (for the held-back marker)
    reason: str = ""
    #: set when the item's request is left unchanged as a whole (see codemods.exchange)
    held: str = ""
    #: a manual note that writes no comment (its rewrite is not made)
    silent: bool = False
    #: a marker written only while these edits are not applied (held-back unsafe fixes)
    when_held: frozenset[int] = frozenset()
    #: a note written only when these edits are applied (it follows from them)
    when_applied: frozenset[int] = frozenset()
    #: a comment only: not a finding of its own
    hidden: bool = False
    #: a blocker whose call stays as it is and must keep working (a Turn.io extension)
    keeps: bool = False
    #: import lines the applied edit needs (added once at the top of the module)
    imports: frozenset[str] = frozenset()


@dataclass(eq=False)
class Analysis:
    facts: Facts
    items: list[Item] = field(default_factory=list)
    node_edits: dict[cst.CSTNode, list[tuple[int, NodeEdit]]] = field(default_factory=dict)
    _next: int = 0

    def add(self, code: str, fix: Fix, message: str, node: cst.CSTNode, *,
            settings: Iterable[str] = (), view_import: bool = False, todo: str = "",
            reason: str = "") -> Item:
        item = Item(self._next, code, fix, " ".join(message.split()), node,
                    frozenset(settings), view_import, " ".join(todo.split()), reason)
        self._next += 1
        self.items.append(item)
        return item

    def edit(self, node: cst.CSTNode, item: Item | int, fn: NodeEdit) -> None:
        iid = item.id if isinstance(item, Item) else item
        self.node_edits.setdefault(node, []).append((iid, fn))


@dataclass(eq=False)
class _Use:
    node: cst.CSTNode  # the call (call uses) or the root expression
    atoms: list[Atom]
    plan: UrlPlan
    call: HttpCall | None
    owners: set[int]


@dataclass(eq=False)
class _UrlResult:
    onprem: bool = False
    send_calls: list[HttpCall] = field(default_factory=list)
    edited_owners: set[int] = field(default_factory=set)
    first_use: cst.CSTNode | None = None
    #: the On-Prem exchanges of the file (native strategy)
    ex: Exchanges = field(default_factory=Exchanges)
    #: every On-Prem call with its URL plan
    plans: dict[cst.Call, UrlPlan] = field(default_factory=dict)
    #: owner string -> the edit item that rewrites it, or the manual item that blocks it
    owner_items: dict[int, Item] = field(default_factory=dict)
    owner_blockers: dict[int, Item] = field(default_factory=dict)
    #: calls to Turn's own API: they stay, so nothing they share may change
    kept: set[cst.Call] = field(default_factory=set)

    def live(self, call: cst.Call) -> bool:
        """An On-Prem call to migrate (not one the user must remove or keep as it is)."""
        plan = self.plans.get(call)
        return plan is not None and not (plan.kind == "manual" and plan.code in TERMINAL)


def analyze(module: cst.Module, target: Target, strategy: Strategy, text: str,
            source: bytes | None = None, *, onprem_hosts: frozenset[str] = frozenset()
            ) -> Analysis:
    """``text`` is the module's source (for the cheap word tests), ``source`` its bytes.

    ``onprem_hosts`` are hosts the user declared On-Prem (besides the mapping table's).
    """
    facts = collect(module, source)
    a = Analysis(facts)
    context = evidence.file_evidence(facts, text, onprem_hosts)
    urls = _urls(facts, a, target, context, native=strategy == "native",
                 declared=onprem_hosts, text=text)
    has_d360 = any(
        isinstance(el, cst.DictElement) and (string_value(el.key) or "").lower()
        == _ONPREM_AUTH_HEADER for d in facts.dicts for el in d.elements
    ) or any(key.lower() == _ONPREM_AUTH_HEADER for _, _, key, _ in facts.subscript_assigns)
    cloud = bool(_CLOUD_MARKERS.search(text))
    sends_onprem = urls.onprem or (has_d360 and not cloud and context)
    if strategy == "native":
        if context:
            _dynamic_urls(facts, a, target, cloud, cloud_host=bool(_CLOUD_HOST.search(text)))
        if sends_onprem:
            _headers(facts, a, target, has_d360, urls, login="users/login" in text)
        if sends_onprem or context:
            _payloads(facts, a, urls)
        if context:
            _version_constants(facts, a, urls)
        _response_reads(facts, a, urls)
        _unsent_payloads(facts, a, urls)
        media_flow.hold_sends_of_held_uploads(facts, a, urls)
        claimed = per_channel.claim(facts, a, urls, target, lambda call: _varies_per_channel(
            facts, urls, call, target))
        if target is Target.META:
            _per_channel(facts, a, urls, text, claimed)
        decide(a, urls.ex)
        if context:
            _inherited(facts, a, target, onprem_hosts)
    else:
        # the drop-in routes only the hosts it is configured for: a file proven On-Prem by
        # its values gets the swap even where its URL is not resolved here
        # ... and so does a D360-API-KEY file whose URLs all come from settings (hybrid code)
        if sends_onprem or (context and not cloud) or (has_d360 and not _CLOUD_HOST.search(text)):
            _shim_imports(facts, a, urls)
            _shim_refusals(facts, a)
    if context or CONTEXT_RE.search(text):
        for double in doubles.test_doubles(facts, target, shim=strategy == "shim"):
            a.add("WM918", "manual", double.message, double.node, todo=double.todo)
    webhooks.analyze_webhooks(facts, a, text, target, onprem=context or urls.onprem)
    _dedupe(a)
    return a


# --- response reads and channels -----------------------------------------------


def _inherited(facts: Facts, a: Analysis, target: Target, declared: frozenset[str]) -> None:
    """Requests a subclass makes through an inherited method: marked at the call (never
    edited), unless the statement carries a marker already."""
    marked = {id(facts.statement_of(it.node)) for it in a.items if it.fix == "manual"}
    for r in inherited.inherited_requests(facts, target, declared):
        if id(facts.statement_of(r.call)) not in marked:
            a.add(r.code, "manual", r.message, r.call, todo=r.todo)


def _function_of(facts: Facts, node: cst.CSTNode) -> cst.CSTNode | None:
    for parent in iter_parents(facts, node):
        if isinstance(parent, cst.FunctionDef | cst.Lambda):
            return parent
    return None


def _response_reads(facts: Facts, a: Analysis, urls: _UrlResult) -> None:
    """On-Prem-only response fields read next to a request: the request waits for them."""
    live = [c for c in urls.ex.by_call if urls.live(c)]
    if not live:
        return
    by_fn: dict[int, list[cst.Call]] = {}
    for call in live:
        by_fn.setdefault(id(_function_of(facts, call)), []).append(call)
    http_fns = {id(_function_of(facts, hc.call)) for hc in facts.http_calls}
    for read in evidence.response_reads(facts):
        fn = id(_function_of(facts, read.node))
        calls = by_fn.get(fn)
        if read.field == "errors[0].code" and not (
            _compared_to_int(facts, read.node)
            or (calls is not None and _from_json_response(
                facts, read.node, facts.scope_of.get(read.node, read.scope)))
        ):
            continue  # Cloud webhook statuses carry errors[].code too; only On-Prem codes tell
        if calls is None and fn not in http_fns:
            continue  # not a response this file receives (a webhook body, a parsed file)
        item = a.add("WM915", "manual", f"`{facts.code(read.node, 40)}` reads {read.field}, "
                     f"which only On-Prem responses carry: {read.instead}", read.node,
                     todo=read.instead)
        if calls is None and read.field == "users[0].token":
            continue  # the login's own answer: the login is marked for removal already
        for target_call in _or_floating(calls):
            urls.ex.block(target_call, item)


def _from_json_response(facts: Facts, node: cst.CSTNode, scope: Scope) -> bool:
    """Is the object a read starts from the ``.json()`` of a response (``out = r.json()``)?"""
    cur = node
    while isinstance(cur, cst.Subscript | cst.Call):
        if isinstance(cur, cst.Subscript):
            cur = cur.value
        elif isinstance(cur.func, cst.Attribute) and cur.func.attr.value == "get":
            cur = cur.func.value
        else:
            break
    if isinstance(cur, cst.Name):
        hit = facts.resolve(cur, scope)
        if hit is None:
            return False
        cur = hit[0]
    return (isinstance(cur, cst.Call) and isinstance(cur.func, cst.Attribute)
            and cur.func.attr.value == "json")


def _sends(hc: HttpCall) -> bool:
    """A call that sends a body (``.get("x")`` on a dict also looks like an HTTP call)."""
    return hc.via.split(".")[0] in HTTP_MODULES or any(
        arg.keyword is not None and arg.keyword.value in BODY_KEYWORDS for arg in hc.call.args)


def _unsent_payloads(facts: Facts, a: Analysis, urls: _UrlResult) -> None:
    """Payloads built here for calls whose URL the codemod does not recognise: hold them.

    A builder module with no HTTP of its own is migrated (its sender is elsewhere); but
    when this file sends and none of its sends is a recognised On-Prem request, a
    Cloud body would go to an unchanged On-Prem URL.
    """
    if not any(urls.live(c) for c in urls.ex.by_call):
        for hc in facts.http_calls:
            if hc.method == "PUT" and hc.call not in urls.plans and _read_receipt_body(facts, hc):
                # {"status": "read"} PUT to .../messages/{id} on a base not resolved here
                urls.ex.block(hc.call, a.add(
                    "WM308", "manual", "read receipt (PUT {\"status\": \"read\"}) to a URL "
                    f"the codemod does not recognise (`{facts.code(hc.call, 50)}`): on Cloud "
                    'send POST /messages with {"messaging_product": "whatsapp", "status": '
                    '"read", "message_id": ...}', hc.call,
                    todo="send POST /messages with status read and message_id"))
                _same_base_siblings(facts, a, urls, hc)
    floating = [it for it in urls.ex.floating if it.code.startswith("WM3")]
    if not floating or any(urls.live(c) for c in urls.ex.by_call):
        return
    senders = [hc for hc in facts.http_calls if _sends(hc)]
    if not senders:
        return
    item = a.add("WM908", "manual", "this file sends its payloads to a URL the codemod does not "
                 f"recognise (`{facts.code(senders[0].call, 50)}`): migrate that URL and these "
                 "payloads together", floating[0].node,
                 todo="the URL these payloads go to is not recognised: migrate the URL and the "
                 "payloads together")
    urls.ex.block(None, item)


#: On-Prem path words after a base that a read receipt proved On-Prem.
_ONPREM_SUFFIX: Final = re.compile(r"/(?:messages|media|contacts|settings|configs|users)\b")


def _same_base_siblings(facts: Facts, a: Analysis, urls: _UrlResult, receipt: HttpCall) -> None:
    """A read receipt proves that the instance attribute its URL is built on (``self.app``,
    set in a class of another module) is an On-Prem base: the class's other requests on
    that base with an On-Prem path are On-Prem calls too, so they get a marker."""
    method = receipt.scope.function()
    cls = method.enclosing_class if method is not None else None
    if cls is None or receipt.url is None:
        return
    bases = {facts.code(n, 200) for n in descendants(receipt.url) if isinstance(n, cst.Attribute)
             and isinstance(n.value, cst.Name) and n.value.value == "self"}
    for hc in facts.http_calls:
        fn = hc.scope.function()
        if (hc is receipt or hc.url is None or hc.call in urls.plans or fn is None
                or fn.enclosing_class is not cls):
            continue
        attrs = {facts.code(n, 200) for n in descendants(hc.url) if isinstance(n, cst.Attribute)}
        texts = [(string_value(n) or "") if isinstance(n, cst.SimpleString) else n.value
                 for n in descendants(hc.url)
                 if isinstance(n, cst.SimpleString | cst.FormattedStringText)]
        shared = sorted(attrs & bases)
        if shared and any(_ONPREM_SUFFIX.search(t) for t in texts):
            urls.ex.block(hc.call, a.add(
                "WM917", "manual", f"this request goes to `{shared[0]}`, the base the read "
                "receipt in this class proves an On-Prem one (it is set in another module): "
                "point that base at the Cloud base and migrate this call with it", hc.call,
                todo=f"`{shared[0]}` is an On-Prem base: point it at the Cloud base and "
                "migrate this call with it"))


def _read_receipt_body(facts: Facts, hc: HttpCall) -> bool:
    """Does the call send exactly On-Prem's ``{"status": "read"}``?"""
    for arg in hc.call.args:
        if arg.keyword is not None and arg.keyword.value in ("json", "data"):
            value = _dumps_arg(facts, arg.value, hc.scope) or arg.value
            if any(evidence.read_receipt(d) for d in facts.dict_values(value, hc.scope)):
                return True
    return False


def _or_floating(calls: list[cst.Call] | None) -> list[cst.Call | None]:
    """The calls an item belongs to, or ``[None]`` (it floats) when there are none."""
    return list(calls) if calls else [None]


def _compared_to_int(facts: Facts, node: cst.CSTNode) -> bool:
    parent = facts.parents.get(node)
    if isinstance(parent, cst.Comparison):
        return any(isinstance(t.comparator, cst.Integer | cst.Tuple | cst.List | cst.Set)
                   for t in parent.comparisons)
    if isinstance(parent, cst.ComparisonTarget):
        return isinstance(facts.parents.get(parent), cst.Comparison) and isinstance(
            facts.parents[parent].left, cst.Integer)  # type: ignore[attr-defined]
    return False


#: Parameter names that say a function or class serves one of several numbers.
_CHANNEL_PARAM: Final = re.compile(
    r"(?i)^(?:\w+_)?(?:channel|chan|org|organi[sz]ation|tenant|account|waba|workspace|company|"
    r"business|sender|integration|provider|phone_number_id|number_id|from_number|config|cfg|"
    r"conf|credentials|creds|instance)(?:_\w+)?$")
_PER_CHANNEL_META: Final = re.compile(r"graph\.facebook\.com")
#: a per-channel phone-number id in code (``cfg["phone_number_id"]``), not our global setting
_PHONE_ID_WORD: Final = re.compile(r"(?<![A-Za-z_])phone_(?:number_)?id\b")


def _varies_per_channel(facts: Facts, urls: _UrlResult, call: cst.Call, target: Target) -> bool:
    """Does this request's base URL or number depend on which channel it is for?"""
    plan = urls.plans[call]
    if plan.host == "dynamic" and plan.dynamic_host is not None:
        # a base read from the function's channel/org/self (not a module setting or env)
        scope = facts.scope_of.get(call)
        anchor = facts.dyn_nodes[plan.dynamic_host]
        if (isinstance(anchor, cst.Call) and isinstance(anchor.func, cst.Attribute)
                and anchor.func.attr.value == "get"):
            anchor = anchor.func.value  # channel.config.get(BASE_URL, "")
        if isinstance(anchor, cst.Subscript | cst.Attribute) and _rooted_in_param(
                facts, anchor, scope.function() if scope is not None else None):
            return True
    return target is Target.META and bool(_channel_reason(facts, call))


def _per_channel(facts: Facts, a: Analysis, urls: _UrlResult, text: str,
                 claimed: set[cst.Call]) -> None:
    """Meta target: a request of one of several numbers cannot take one global phone-number id."""
    already = bool(_PER_CHANNEL_META.search(text) and _PHONE_ID_WORD.search(text))
    for call, plan in urls.plans.items():
        if call in claimed or not urls.live(call) or not (
                plan.uses_settings or plan.kind == "mark_read"
                or MARK_RE_SETTINGS in plan.new_url):
            continue
        why = ("this file already builds Graph URLs per phone-number id: send this request "
               "the same way" if already else _channel_reason(facts, call)
               or _key_param_reason(facts, call))
        if not why:
            continue
        item = a.add("WM916", "manual", f"{why}; a global WHATSAPP_PHONE_NUMBER_ID would send "
                     "every channel's messages from one number", call,
                     todo="one phone-number id per channel: send with "
                     "shim.channels.graph_target(<channel name>)"
                     if not already else "use this file's per-channel Graph URL for this call")
        urls.ex.block(call, item)


MARK_RE_SETTINGS: Final = "{WHATSAPP_PHONE_NUMBER_ID}"


def _channel_reason(facts: Facts, call: cst.Call) -> str:
    scope = facts.scope_of.get(call)
    fn = scope.function() if scope is not None else None
    if fn is not None and isinstance(fn.node, cst.FunctionDef):
        for p in _params(fn.node):
            if _CHANNEL_PARAM.match(p):
                return f"the function receives `{p}`"
        cls = fn.enclosing_class
        if cls is not None and isinstance(cls.node, cst.ClassDef):
            init = next((s for s in cls.node.body.body if isinstance(s, cst.FunctionDef)
                         and s.name.value == "__init__"), None)
            if init is not None and _params(init):
                return (f"the class `{cls.node.name.value}` takes its settings per instance "
                        f"(`__init__({', '.join(_params(init))})`)")
            fields = _generated_init_fields(cls.node) if init is None else []
            if fields:
                return (f"the class `{cls.node.name.value}` takes its settings per instance "
                        f"(fields {', '.join(fields)})")
    for node in _call_values(call):
        if isinstance(node, cst.Subscript) and _rooted_in_param(facts, node, fn):
            return f"`{facts.code(node, 30)}` comes from per-record config"
    return ""


#: Header names whose value is a channel's key.
_KEY_HEADERS: Final = frozenset({"d360-api-key", "authorization"})


def _key_param_reason(facts: Facts, call: cst.Call) -> str:
    """A function that sends with a key its caller passes, called in this module with a
    key that a request or a record supplies (a bot per record, looked up from the
    webhook URL): each call may be another channel's, so one global number is wrong.
    A key passed from a module constant or the environment proves nothing."""
    scope = facts.scope_of.get(call)
    fn = scope.function() if scope is not None else None
    if fn is None or not isinstance(fn.node, cst.FunctionDef):
        return ""
    params = _params(fn.node)
    for element in _dict_elements(facts, fn):
        key = element.key
        if not (isinstance(key, cst.SimpleString) and isinstance(key.evaluated_value, str)
                and key.evaluated_value.lower() in _KEY_HEADERS):
            continue
        names = [n.value for n in descendants(element.value) if isinstance(n, cst.Name)]
        found = next((n for n in names if n in params), None)
        if found is not None and _fed_per_caller(facts, fn.node, params.index(found), found, 3):
            return (f"the function sends the key its caller passes (`{found}`), and this module "
                    "passes it a key that a request or a record supplies")
    return ""


def _fed_per_caller(facts: Facts, fn: cst.FunctionDef, index: int, name: str,
                    depth: int) -> bool:
    """Is the parameter ``name`` (position ``index``) of ``fn`` given, at a call in this
    module, a value from a method's parameter or an object's attribute or item (following
    plain functions that pass it on, ``depth`` levels)?"""
    if depth == 0:
        return False
    for site in facts.calls:
        if not (isinstance(site.func, cst.Name) and site.func.value == fn.name.value):
            continue
        arg = next((a.value for a in site.args if a.keyword is not None
                    and a.keyword.value == name), None)
        if arg is None and index < len(site.args) and site.args[index].keyword is None:
            arg = site.args[index].value
        scope = facts.scope_of.get(site)
        caller = scope.function() if scope is not None else None
        if arg is None or caller is None or not isinstance(caller.node, cst.FunctionDef):
            continue
        if isinstance(arg, cst.Subscript | cst.Attribute) and _rooted_in_param(facts, arg, caller):
            return True
        if not isinstance(arg, cst.Name) or arg.value not in _params(caller.node):
            continue
        if caller.enclosing_class is not None:  # a handler's input (a view's URL argument)
            return True
        if _fed_per_caller(facts, caller.node, _params(caller.node).index(arg.value),
                           arg.value, depth - 1):
            return True
    return False


def _dict_elements(facts: Facts, fn: Scope) -> list[cst.DictElement]:
    """The key/value pairs of the dicts written in ``fn`` (not in functions nested in it)."""
    return [el for d in facts.dicts if (where := facts.scope_of.get(d)) is not None
            and where.function() is fn for el in d.elements if isinstance(el, cst.DictElement)]


#: Decorators and bases that give a class an ``__init__`` taking its annotated fields.
_FIELD_CLASSES: Final = re.compile(r"(?:^|\.)(?:dataclass|define|frozen|mutable|s|attrs|"
                                   r"BaseModel|BaseSettings|NamedTuple|TypedDict)$")


def _generated_init_fields(cls: cst.ClassDef) -> list[str]:
    """The annotated fields of a dataclass, attrs class, pydantic model or NamedTuple: the
    ``__init__`` it gets takes them, so each instance may hold another channel's settings."""
    marks = [d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator
             for d in cls.decorators] + [b.value for b in cls.bases]
    if not any(_FIELD_CLASSES.search(_name_of(m)) for m in marks):
        return []
    return [stmt.target.value for line in cls.body.body
            if isinstance(line, cst.SimpleStatementLine) for stmt in line.body
            if isinstance(stmt, cst.AnnAssign) and isinstance(stmt.target, cst.Name)
            and "ClassVar" not in _name_of(stmt.annotation.annotation)]


def _name_of(node: cst.BaseExpression) -> str:
    """``a.b`` of ``a.b`` or ``a.b[...]`` (a generic annotation or base)."""
    return dotted(node.value if isinstance(node, cst.Subscript) else node)


def _params(fn: cst.FunctionDef) -> list[str]:
    names = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params,
                                    *fn.params.kwonly_params)]
    return [n for n in names if n not in ("self", "cls")]


def _call_values(call: cst.Call) -> list[cst.CSTNode]:
    return [node for arg in call.args for node in descendants(arg.value)]


def _rooted_in_param(facts: Facts, node: cst.CSTNode, fn: Scope | None) -> bool:
    cur = node
    while isinstance(cur, cst.Subscript | cst.Attribute):
        cur = cur.value
    if not isinstance(cur, cst.Name) or fn is None:
        return False
    return any(v is None for v, _ in fn.assigns.get(cur.value, []))


# --- URLs ---------------------------------------------------------------------


def _root(facts: Facts, leaf: cst.CSTNode) -> cst.CSTNode:
    node = leaf
    if isinstance(node, cst.FormattedStringText):
        parent = facts.parents.get(node)
        if parent is not None:
            node = parent
    while True:
        parent = facts.parents.get(node)
        if isinstance(parent, cst.ConcatenatedString) or (
            isinstance(parent, cst.BinaryOperation)
            and isinstance(parent.operator, cst.Add | cst.Modulo)
        ):
            node = parent
        elif isinstance(parent, cst.FormattedStringExpression):
            grand = facts.parents.get(parent)
            if grand is None:
                return node
            node = grand
        elif isinstance(parent, cst.Attribute) and parent.attr.value == "format":
            call = facts.parents.get(parent)
            if not isinstance(call, cst.Call):
                return node
            node = call
        elif isinstance(parent, cst.Arg):
            call = facts.parents.get(parent)
            if isinstance(call, cst.Call) and (
                dotted(call.func).endswith("urljoin")
                or (isinstance(call.func, cst.Attribute) and call.func.attr.value == "format"
                    and isinstance(call.func.value, cst.SimpleString))
            ):
                node = call
            else:
                return node
        else:
            return node


def _lead_slash(atoms: list[Atom]) -> list[Atom]:
    if atoms and isinstance(atoms[0], Lit) and atoms[0].text.startswith("v1/"):
        return [Syn("/"), *atoms]
    return atoms


def _owners(atoms: Iterable[Atom]) -> set[int]:
    return {x.owner for x in atoms if isinstance(x, Lit)}


def _interesting_atoms(facts: Facts, atoms: list[Atom]) -> bool:
    return any(interesting(facts.owners[o].value) for o in _owners(atoms))


def _urls(facts: Facts, a: Analysis, target: Target, context: bool, *, native: bool,
          declared: frozenset[str], text: str) -> _UrlResult:
    res = _UrlResult()
    call_uses: list[_Use] = []
    covered: set[int] = set()
    for url, where in per_channel.legacy_urls(facts):  # sent through the channel's config
        covered |= _owners(facts.flatten(url, where))
    versioned: list[tuple[HttpCall, Dyn]] = []
    unproven: list[HttpCall] = []
    several_urls: list[tuple[HttpCall, list[str]]] = []
    unproven_roots: list[tuple[cst.CSTNode, UrlPlan]] = []
    words = not context and bool(CONTEXT_RE.search(text))
    client_base = file_base(facts)
    for hc in facts.http_calls:
        if hc.url is None:
            continue
        atoms = with_base(facts, hc, facts.flatten(hc.url, hc.scope), client_base)
        if not _interesting_atoms(facts, atoms):
            several = _several_urls(facts, hc, target, context, declared)
            if several:
                several_urls.append((hc, several))
                continue
            base = _versioned_base(facts, hc, atoms)
            if base is not None:
                versioned.append((hc, base))
            elif native and not _CLOUD_HOST.search(text) and _hybrid_base(facts, hc, atoms):
                # a Cloud body and D360-API-KEY to {base}/messages: On-Prem if the base is
                # 360dialog's .../v1 (both generations take the key); only the setting tells
                anchor = facts.dyn_nodes[atoms[0].key]  # type: ignore[union-attr]
                what = _setting_text(facts, anchor)
                auth = (" and send 'Authorization: Bearer <system-user token>' instead of "
                        "D360-API-KEY" if target is Target.META else "")
                cloud = target_base(target) + ("/{GRAPH_API_VERSION}/{WHATSAPP_PHONE_NUMBER_ID}"
                                               if target is Target.META else "")
                a.add("WM905", "manual", f"this send posts a Cloud-shaped body with "
                      f"D360-API-KEY to {what} + /messages: if {what} is an On-Prem base "
                      f"(waba.360dialog.io/v1 or a node's /v1), point it at {cloud}{auth}",
                      hc.call, todo=f"if {what} ends in /v1 (On-Prem), point it at "
                      f"{cloud}{auth}")
            elif words:
                imported = _imported_versioned_base(facts, hc, atoms)
                if imported:
                    a.add("WM917", "manual", f"`{facts.code(hc.call, 50)}` posts to "
                          f"`{imported}`/messages; `{imported}` comes from another module: if "
                          "it is an On-Prem or Turn base ending in /v1, this is POST "
                          "/v1/messages: point it at the Cloud base and migrate this call (or "
                          "declare the host with --onprem-host)", hc.call,
                          todo=f"if `{imported}` (another module) ends in /v1, this is an "
                          "On-Prem send: migrate it")
            continue
        covered |= _owners(atoms)  # the call decides, even when it is not an On-Prem call
        atoms = _lead_slash(atoms)
        plan = plan_url(atoms, hc.method, target, context=context, declared=declared)
        if plan is None:
            if not context and (words or _turn_path(atoms)):
                probe = (plan_url(atoms, hc.method, target, context=True) if _turn_path(atoms)
                         else _unproven(facts, hc, atoms, target))
                if probe is not None and not native and _turn_extension(probe):
                    pass  # Turn's own API: the drop-in passes it to Turn untouched
                elif (probe is not None and probe.kind == "manual" and probe.code == "WM902"
                        and (native or probe.endpoint is None or probe.refused)):
                    # a path with no Cloud equivalent (a Turn extension, a login): say so,
                    # whoever the host is; nothing is edited
                    a.add("WM902", "manual", probe.message, hc.call, todo=probe.todo)
                elif probe is not None:
                    unproven.append(hc)
            continue
        call_uses.append(_Use(hc.call, atoms, plan, hc, _owners(atoms)))
        if plan.endpoint is not None and plan.endpoint.name == "send_message":
            res.send_calls.append(hc)
    helper_uses = _helper_calls(facts, target, context, declared)
    if unproven and not native:
        res.onprem = True  # the drop-in passes hosts it is not configured for through untouched
        unproven = []
    for hc in unproven:
        a.add("WM917", "manual", f"`{facts.code(hc.call, 50)}` uses an On-Prem path, but no "
              "value proves its host runs the On-Prem API (no known host, D360 key, On-Prem "
              "body or response read): if it does, run again with --onprem-host HOST or set "
              "legacy_base_url in the config", hc.call,
              todo="if this host runs the On-Prem API, declare it with --onprem-host")
    for hc, olds in several_urls:
        res.onprem = True
        if not native:
            continue
        item = a.add("WM908", "manual", f"the URL of this call is one of several On-Prem URLs "
                     f"({', '.join(olds)}): the codemod cannot tell which one a call sends to; "
                     "give each request its own call and run again", hc.call,
                     todo="this call sends to one of several On-Prem URLs: give each its own "
                     "call, then run again")
        res.plans[hc.call] = UrlPlan("manual", code="WM908")
        res.ex.block(hc.call, item)
    for hc, base in versioned:
        if native:
            _versioned_send(facts, a, res, hc, base, target)
        res.onprem = True
    roots: dict[cst.CSTNode, Scope] = {}
    for leaf in facts.leaves:
        roots.setdefault(_root(facts, leaf), facts.scope_of[leaf])
    standalone: list[_Use] = []
    for root, scope in roots.items():
        if not isinstance(root, cst.BaseExpression) or per_channel.inside_helper(facts, root):
            continue
        atoms = _lead_slash(facts.flatten(root, scope))
        if _owners(atoms) and _owners(atoms) <= covered:
            continue  # the calls that use these strings decide
        if not _may_be_request_url(facts, root, atoms, declared):
            stored = _stored_base(facts, root, atoms, declared)
            if stored is not None and native:
                a.add("WM905", "manual", f"{stored!r} is stored as a setting (not sent from "
                      "here): whatever reads it builds On-Prem URLs; point it at the Cloud base "
                      f"({target_base(target)}) together with the code that appends the paths",
                      root, todo="a stored On-Prem base URL: change it together with the code "
                      "that appends /v1 paths to it")
            continue  # a metric label, a log line, a dict value: not a URL a request uses
        method = _wrapper_method(facts, root)
        plan = plan_url(atoms, method, target, context=context, declared=declared)
        if plan is None:
            if not context and words:
                probe = plan_url(atoms, method, target, context=True, declared=declared)
                if probe is not None and not _also_cloud(probe):
                    unproven_roots.append((root, probe))
            continue
        standalone.append(_Use(root, atoms, plan, None, _owners(atoms)))
    if unproven_roots and not native:
        res.onprem = True  # the drop-in passes hosts it is not configured for through untouched
        # ... but once the host is declared, it refuses what has no Cloud equivalent: say so
        unproven_roots = [(r, p) for r, p in unproven_roots
                          if p.kind == "manual" and p.code == "WM902" and (
                              p.endpoint is None or p.refused) and not _turn_extension(p)]
    for root, probe in unproven_roots:
        if probe.kind == "manual" and probe.code == "WM902":
            a.add("WM902", "manual", probe.message, root, todo=probe.todo)
        else:
            a.add("WM917", "manual", f"{probe.old_url} is an On-Prem path, but no value proves "
                  "the host it is joined to runs the On-Prem API: if it does, run again with "
                  "--onprem-host HOST or set legacy_base_url in the config", root,
                  todo="if this host runs the On-Prem API, declare it with --onprem-host")
    uses = call_uses + standalone
    # a helper that only builds Turn's own URLs proves no On-Prem request
    res.onprem = res.onprem or bool(uses) or any(not _turn_extension(u.plan)
                                                 for u in helper_uses)
    by_url = {hc.url: hc for hc in facts.http_calls if hc.url is not None}
    for u in helper_uses:
        turn = _turn_extension(u.plan)
        if turn and not native:
            continue  # the drop-in passes Turn's own API to Turn untouched
        item = a.add(u.plan.code, "manual", u.plan.message, u.node, todo=u.plan.todo)
        hc = by_url.get(u.node)  # type: ignore[call-overload]
        if hc is not None and native:
            res.plans[hc.call] = u.plan
            if turn:  # it stays on Turn: what it shares must not move
                item.keeps = True
                res.kept.add(hc.call)
            res.ex.block(hc.call, item)
    if uses:
        res.first_use = uses[0].node
    if not native:
        for u in uses:  # what the shim refuses (it serves PATCH /v1/settings/application)
            if u.plan.kind == "manual" and u.plan.code == "WM902" and (
                u.plan.endpoint is None or u.plan.refused
            ) and not _turn_extension(u.plan):
                a.add("WM902", "manual", u.plan.message, u.node, todo=u.plan.todo)
        return res
    ex = res.ex
    for u in call_uses:
        assert u.call is not None
        ex.of(u.call.call)
        res.plans[u.call.call] = u.plan
    mark_read_items = _mark_read(facts, a, call_uses, target, ex)
    _owner_edits(facts, a, call_uses, standalone, mark_read_items, res)
    for u in uses:
        call = u.call.call if u.call is not None else None
        for o in u.owners:
            if o in res.owner_items:
                ex.part(call, res.owner_items[o])
            if o in res.owner_blockers:
                ex.block(call, res.owner_blockers[o])
    notes: dict[tuple[str, str], Item] = {}
    base_notes: dict[str, Item] = {}
    kept: list[_Use] = []
    for u in uses:
        p = u.plan
        call = u.call.call if u.call is not None else None
        if p.kind == "manual":
            item = a.add(p.code, "manual", p.message, u.node, todo=p.todo)
            if call is not None and p.code == "WM902" and _TURN_EXTENSION in p.message:
                # Turn's own API stays on Turn: whatever it shares (a base URL, a session's
                # token) must not move with the requests that migrate
                item.keeps = True
                res.kept.add(call)
                kept.append(u)
            if call is not None or p.code not in TERMINAL:
                ex.block(call, item)  # a path to remove holds nothing but its own call
            continue
        for code, msg, todo in p.notes:
            if (code, msg) not in notes:
                notes[(code, msg)] = a.add(code, "manual", msg, u.node, todo=todo)
            ex.block(call, notes[(code, msg)])
        if p.kind in ("rewrite", "same", "mark_read") and p.host in ("dynamic", "none"):
            base_items = _base_note(facts, a, u, target, notes)
            for note in base_items:
                ex.part(call, note)
            if base_items and u.plan.dynamic_host is not None:
                base_notes[_setting_text(facts, facts.dyn_nodes[u.plan.dynamic_host])] = \
                    base_items[0]
    for u in kept:  # a Turn call on the same base setting as a send: they move together
        first = u.atoms[0] if u.atoms else None
        if isinstance(first, Dyn) and u.call is not None:
            shared = base_notes.get(_setting_text(facts, facts.dyn_nodes[first.key]))
            if shared is not None:
                ex.part(u.call.call, shared)
    return res


#: How the mapping table names an endpoint only Turn.io serves (see shim.mapping.endpoints).
_TURN_EXTENSION: Final = "Turn.io extension"


def _turn_extension(plan: UrlPlan) -> bool:
    """A path only Turn.io serves. The drop-in passes it to Turn untouched on any host (see
    shim.compat.runtime), so under the shim strategy it needs no change and no marker."""
    return _TURN_EXTENSION in plan.message


_TURN_PATH: Final = re.compile(r"/v1/(?:contacts/[^/]+/(?:profile|messages|claim)|chats/|stacks/|"
                               r"messages/[^/]+/(?:automation|labels))")


def _turn_path(atoms: list[Atom]) -> bool:
    """A Turn.io extension path: Turn's own API, reported (never edited) whatever the file says."""
    text = "".join(x.text if isinstance(x, Lit | Syn) else "\x00" for x in atoms)
    return _TURN_PATH.search(text) is not None


def _also_cloud(plan: UrlPlan) -> bool:
    """A path 360dialog's Cloud host serves unchanged (``/v1/configs/...``): proves nothing."""
    ep = plan.endpoint
    if ep is None:
        return "/v1/configs/" in plan.old_url  # the method is unknown; every one stays
    return ep.d360 is not None and ep.d360.path == ep.onprem_path


def _unproven(facts: Facts, hc: HttpCall, atoms: list[Atom], target: Target
              ) -> UrlPlan | None:
    """An On-Prem path in a WhatsApp-worded file, on a host nothing proves On-Prem.

    Reported, never edited; a body with another shape (``{"model": ..., "messages": [...]}``)
    says it is someone else's API, and then nothing is reported at all.
    """
    plan = plan_url(atoms, hc.method, target, context=True)
    if plan is None or _also_cloud(plan):
        return None
    if "/v1/settings/" in plan.old_url:
        return plan  # another API's settings path with a body would be a coincidence too far
    if (urlsplit(plan.old_url).hostname or "").lower() in _HOSTED_ONPREM:
        return plan  # Turn serves the On-Prem API there: no body makes it someone else's
    kw = {arg.keyword.value: arg.value for arg in hc.call.args if arg.keyword is not None}
    if any(facts.dict_values(_dumps_arg(facts, kw[key], hc.scope) or kw[key], hc.scope)
           for key in ("json", "data") if key in kw):
        return None  # a body of another shape: someone else's API
    return plan


def _several_urls(facts: Facts, hc: HttpCall, target: Target, context: bool,
                  declared: frozenset[str]) -> list[str]:
    """``url = self.message_url`` ... ``url = other`` ... ``post(url)``: On-Prem URLs among them."""
    if not isinstance(hc.url, cst.Name):
        return []
    found = facts.lookup(hc.url.value, hc.scope) or []
    if len(found) < 2:
        return []
    olds: list[str] = []
    for value, where in found:
        if value is None:
            continue
        atoms = _lead_slash(facts.flatten(value, where))
        if not _interesting_atoms(facts, atoms):
            continue
        plan = plan_url(atoms, hc.method, target, context=context, declared=declared)
        if plan is not None:
            olds.append(plan.old_url or facts.code(value, 30))
    return olds


def _versioned_base(facts: Facts, hc: HttpCall, atoms: list[Atom]) -> Dyn | None:
    """``'{}/messages'.format(app)`` with an On-Prem body: ``app`` is a base ending in /v1."""
    if hc.method != "POST" or not atoms or not isinstance(atoms[0], Dyn):
        return None
    tail = atoms[1:]
    if not tail or not all(isinstance(x, Lit | Syn) for x in tail):
        return None
    path = "".join(x.text for x in tail if isinstance(x, Lit | Syn))
    if path.rstrip("/") != "/messages":
        return None
    kw = {arg.keyword.value: arg.value for arg in hc.call.args if arg.keyword is not None}
    bodies = [d for key in ("json", "data") if key in kw
              for d in facts.dict_values(_dumps_arg(facts, kw[key], hc.scope) or kw[key],
                                         hc.scope)]
    if not any(evidence.onprem_send_body(d) for d in bodies):
        return None
    return atoms[0]


def _hybrid_base(facts: Facts, hc: HttpCall, atoms: list[Atom]) -> bool:
    """``f"{settings.BASE}/messages"`` sending a Cloud body with ``D360-API-KEY``."""
    if hc.method != "POST" or len(atoms) < 2 or not isinstance(atoms[0], Dyn):
        return False
    tail = atoms[1:]
    if not all(isinstance(x, Lit | Syn) for x in tail):
        return False
    if "".join(x.text for x in tail if isinstance(x, Lit | Syn)).rstrip("/") != "/messages":
        return False
    kw = {arg.keyword.value: arg.value for arg in hc.call.args if arg.keyword is not None}
    if "headers" not in kw or not _carries_d360(facts, kw["headers"], hc.scope):
        return False
    bodies = [d for key in ("json", "data") if key in kw
              for d in facts.dict_values(_dumps_arg(facts, kw[key], hc.scope) or kw[key],
                                         hc.scope)]
    return bool(bodies) and all("messaging_product" in keys_of(d) for d in bodies)


def _imported_versioned_base(facts: Facts, hc: HttpCall, atoms: list[Atom]) -> str:
    """``urljoin(TURN_API_BASE, "messages")`` with the base imported: its name, else ""."""
    if hc.method != "POST" or len(atoms) < 2 or not isinstance(atoms[0], Dyn):
        return ""
    tail = atoms[1:]
    if not all(isinstance(x, Lit | Syn) for x in tail):
        return ""
    path = "".join(x.text for x in tail if isinstance(x, Lit | Syn))
    if path.strip("/") != "messages":
        return ""
    node = facts.dyn_nodes[atoms[0].key]
    return node.value if isinstance(node, cst.Name) and node.value in facts.from_imports else ""


def _versioned_send(facts: Facts, a: Analysis, res: _UrlResult, hc: HttpCall, base: Dyn,
                    target: Target) -> None:
    """The path is already Cloud's ``/messages``: the base and the body need changing."""
    anchor = facts.dyn_nodes[base.key]
    what = _setting_text(facts, anchor)
    cloud = (target_base(target) if target is Target.D360
             else f"{target_base(target)}/<version>/<phone-number-id>")
    res.ex.of(hc.call)
    res.plans[hc.call] = UrlPlan("same", host="dynamic", dynamic_host=base.key,
                                 old_url="{...}/messages", new_url="{...}/messages")
    res.send_calls.append(hc)
    note = a.add("WM905", "manual", f"the base URL {what} ends in /v1 (On-Prem; the path "
                 f"is /messages): point it at {cloud}", anchor, todo=f"point {what} (now "
                 f".../v1) at {cloud}")
    res.ex.part(hc.call, note)


def _stored_base(facts: Facts, root: cst.CSTNode, atoms: list[Atom],
                 declared: frozenset[str]) -> str | None:
    """An On-Prem base URL kept as a value in a dict (a channel config written for later)."""
    if not isinstance(facts.parents.get(root), cst.DictElement) or len(atoms) != 1:
        return None
    only = atoms[0]
    if not isinstance(only, Lit):
        return None
    m = re.match(r"https?://([^/:]+)", only.text)
    if m is None or not evidence.is_onprem_host(m.group(1), declared):
        return None
    return only.text


def _may_be_request_url(facts: Facts, root: cst.CSTNode, atoms: list[Atom],
                        declared: frozenset[str]) -> bool:
    """Could this string reach an HTTP call the codemod cannot see?

    A constant or variable may (another module, a wrapper sends it); so may a URL
    returned by a helper, or a full On-Prem URL handed to a wrapper. A bare path
    given to any other call (``labels("/v1/messages")``) or sitting in a dict,
    comparison or log line is not a request URL.
    """
    parent = facts.parents.get(root)
    if isinstance(parent, cst.Assign | cst.AnnAssign | cst.Return | cst.Param):
        return True  # a constant, a variable, a URL helper's result, a default base
    if isinstance(parent, cst.Element):  # urlunparse(("https", host, "/v1/messages", ...))
        seq = facts.parents.get(parent)
        arg = facts.parents.get(seq) if seq is not None else None
        call = facts.parents.get(arg) if isinstance(arg, cst.Arg) else None
        return isinstance(call, cst.Call) and dotted(call.func).endswith(
            ("urlunparse", "urlunsplit"))
    if isinstance(parent, cst.Arg):
        call = facts.parents.get(parent)
        if isinstance(call, cst.Call) and dotted(call.func).endswith(("ParseResult",
                                                                      "SplitResult")):
            return True  # urlunparse(ParseResult(..., path="/v1/media/..."))
        if _wrapper_method(facts, root) is not None:
            return True  # connection.upload("/v1/settings/profile/photo", fp, ...)
        text = "".join(a.text for a in atoms if isinstance(a, Lit))
        m = re.match(r"https?://([^/:]+)", text)
        return m is not None and evidence.is_onprem_host(m.group(1), declared)
    return False


#: Transport wrappers named after what they send: the path they take first is a request's.
_WRAPPER_METHODS: Final = {"upload": "POST", "download": "GET", "post": "POST",
                           "put": "PUT", "patch": "PATCH", "delete": "DELETE"}


def _wrapper_method(facts: Facts, root: cst.CSTNode) -> str | None:
    """The HTTP method of ``x.upload(<root>, ...)`` (the first argument of a named wrapper)."""
    arg = facts.parents.get(root)
    call = facts.parents.get(arg) if isinstance(arg, cst.Arg) else None
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
            and call.args and call.args[0] is arg and arg.keyword is None):
        return None
    return _WRAPPER_METHODS.get(call.func.attr.value)


def _helper_calls(facts: Facts, target: Target, context: bool, declared: frozenset[str]
                  ) -> list[_Use]:
    """``endpoint("users/login")`` where ``endpoint`` builds the URL: manual items only."""
    out: list[_Use] = []
    for call in facts.calls:
        if not isinstance(call.func, cst.Name) or call.func.value not in facts.helpers:
            continue
        atoms = facts.flatten_helper_call(call, facts.scope_of[call])
        if atoms is None or not _interesting_atoms(facts, atoms):
            continue
        plan = plan_url(_lead_slash(atoms), None, target, context=context,
                        declared=declared)
        if plan is None and not context and _turn_path(atoms):
            # Turn's own API on a host no value names: reported like a direct call's
            plan = plan_url(atoms, None, target, context=True, declared=declared)
            if plan is not None and not _turn_extension(plan):
                plan = None
        if plan is None:
            continue
        if plan.kind == "manual" and plan.code in ("WM901", "WM902"):
            out.append(_Use(call, atoms, plan, None, set()))
        else:
            name = call.func.value
            out.append(_Use(call, atoms, UrlPlan(
                "manual", plan.endpoint, code="WM907", message=(
                    f"the URL comes from the helper `{name}(...)`, which builds On-Prem URLs "
                    f"({plan.old_url}): rewrite the helper for Cloud paths, then run again"),
                todo=f"the URL helper `{name}` builds On-Prem URLs: rewrite it for Cloud "
                "paths, then run again"), None, set()))
    return out


def _setting_text(facts: Facts, node: cst.CSTNode) -> str:
    """How a person finds a base URL: ``settings.X``, ``env WA_URL`` or the code itself."""
    if isinstance(node, cst.Call) and node.args:
        name = dotted(node.func)
        first = string_value(node.args[0].value)
        if first is not None and name in ("os.environ.get", "os.getenv", "environ.get", "getenv"):
            return f"env {first}"
        if name == "getattr" and len(node.args) >= 2:
            attr = string_value(node.args[1].value)
            if attr is not None:
                return f"{facts.code(node.args[0].value, 30)}.{attr}"
    if isinstance(node, cst.Subscript) and dotted(node.value) in ("os.environ", "environ"):
        key = node.slice[0].slice
        if isinstance(key, cst.Index) and string_value(key.value) is not None:
            return f"env {string_value(key.value)}"
    return f"`{facts.code(node, 44)}`"


def _base_note(facts: Facts, a: Analysis, u: _Use, target: Target,
               done: dict[tuple[str, str], Item]) -> list[Item]:
    base = target_base(target)
    extra = (" (the path now carries /{GRAPH_API_VERSION}/{WHATSAPP_PHONE_NUMBER_ID})"
             if target is Target.META else "")
    anchor = u.node
    if u.plan.dynamic_host is not None:
        anchor = facts.dyn_nodes[u.plan.dynamic_host]
        what = _setting_text(facts, anchor)
        if u.plan.host_name_only:  # f"https://{host}/v1/...": the value is a host name
            base = urlsplit(base).hostname or base
            msg = (f"the host name comes from {what} (`{facts.code(anchor)}`, after a literal "
                   f"https://): set it to {base}{extra}")
        else:
            msg = (f"the base URL comes from {what} (`{facts.code(anchor)}`): point it at "
                   f"{base}{extra}")
        todo = f"point {what} at {base}"
    else:
        msg = f"this path is joined to a base URL defined elsewhere: point that base at {base}" \
              f"{extra}"
        todo = f"point the base URL this path is joined to at {base}"
    first = done.get(("WM905", msg))
    if first is not None and facts.statement_of(first.node) is facts.statement_of(anchor):
        return [first]
    item = a.add("WM905", "manual", msg, anchor, todo=todo)  # every request using the base
    if first is None:
        done[("WM905", msg)] = item
        return [item]
    return [first, item]  # the first ties the requests on this base together


def _dedupe(a: Analysis) -> None:
    """One manual item per statement, rule and message."""
    seen: set[tuple[str, str, int]] = set()
    keep: list[Item] = []
    for it in a.items:
        if it.fix == "manual":
            key = (it.code, it.message, id(a.facts.statement_of(it.node)))
            if key in seen:
                continue
            seen.add(key)
        keep.append(it)
    a.items = keep


def _owner_edits(
    facts: Facts,
    a: Analysis,
    call_uses: list[_Use],
    standalone: list[_Use],
    mark_read_items: dict[int, Item],
    res: _UrlResult,
) -> None:
    """Each string gets one new value; uses that disagree make it manual (WM908)."""
    by_owner: dict[int, list[tuple[_Use, str]]] = {}
    opinion: dict[int, str] = {}
    for group, uses in (("call", call_uses), ("standalone", standalone)):
        for u in uses:
            for o in u.owners:
                if group == "standalone" and opinion.get(o) == "call":
                    continue  # calls that use this string decide its fate
                opinion[o] = group
                p = u.plan
                feasible = p.kind != "mark_read" or id(u.node) in mark_read_items
                if p.kind not in ("rewrite", "base", "same", "mark_read") or not feasible:
                    continue
                value = facts.owners[o].value
                new = apply_edits(value, [e for e in p.edits if e.owner == o])
                by_owner.setdefault(o, []).append((u, new))
    for o, props in by_owner.items():
        owner = facts.owners[o]
        values = {v for _, v in props}
        if len(values) > 1:
            shown = " / ".join(sorted(repr(_show(v)) for v in values))
            res.owner_blockers[o] = a.add(
                "WM908", "manual", f"{_show(owner.value)!r} is used by calls that need "
                f"different Cloud URLs ({shown}); give each call its own URL", owner.node,
                todo="calls need different Cloud URLs: give each its own")
            continue
        new = values.pop()
        if new == owner.value:
            continue
        changing = [u for u, v in props if v != owner.value or u.plan.kind != "same"]
        mark_only = all(u.plan.kind == "mark_read" for u in changing)
        if owner.kind in ("percent", "format") and used_settings(new):
            res.owner_blockers[o] = a.add(
                "WM908", "manual", f"{_show(owner.value)!r} would need the Graph settings "
                "inside a format string; rebuild the URL as an f-string by hand", owner.node,
                todo=f"rebuild as {_show(new)!r}")
            continue
        fn = _owner_edit(owner, new)
        if mark_only:
            for u in changing:
                item = mark_read_items[id(u.node)]
                a.edit(owner.node, item, fn)
            res.edited_owners.add(o)
            continue
        unsafe = sorted({r for u in changing for r in u.plan.unsafe_reasons})
        plan = changing[0].plan if changing else props[0][0].plan
        code = "WM101" if "://" in owner.value else "WM102"
        what = f" ({plan.endpoint.name})" if plan.endpoint is not None else ""
        msg = (f"On-Prem URL {_show(owner.value)!r} -> {_show(new)!r}{what}"
               + (f"; unsafe: {'; '.join(unsafe)}" if unsafe else ""))
        item = a.add(code, "unsafe" if unsafe else "safe", msg, owner.node,
                     settings=used_settings(new), reason="; ".join(unsafe))
        a.edit(owner.node, item, fn)
        res.edited_owners.add(o)
        res.owner_items[o] = item


def _show(value: str) -> str:
    return re.sub("\x01([A-Z_]+)\x01", r"{\1}", value)


def _owner_edit(owner: Owner, new: str) -> NodeEdit:
    if owner.kind == "fstring":
        fstring = owner.fstring
        assert fstring is not None
        quote = fstring.end
        raw = "r" in fstring.prefix.lower()

        def edit_text(node: cst.CSTNode, enabled: frozenset[int]
                      ) -> cst.CSTNode | cst.FlattenSentinel[cst.CSTNode] | cst.RemovalSentinel:
            parts = fstring_parts(new, quote, raw)
            if not parts:
                return cst.RemovalSentinel.REMOVE
            return cst.FlattenSentinel(parts)

        return edit_text

    def edit_string(node: cst.CSTNode, enabled: frozenset[int]) -> cst.CSTNode:
        assert isinstance(node, cst.SimpleString)
        return render_simple(node, new)

    return edit_string


def _dynamic_urls(facts: Facts, a: Analysis, target: Target, cloud: bool, *,
                  cloud_host: bool) -> None:
    """Calls whose whole URL comes from env/DB but whose headers or body are On-Prem.

    A ``D360-API-KEY`` call with a Cloud body and a URL from a setting (``cloud``) is
    "hybrid" code: 360dialog's On-Prem and Cloud hosts both take that key, so only
    the setting tells; unless the file names a Cloud host it gets a note to check it.
    """
    for hc in facts.http_calls:
        if hc.url is None or any(isinstance(x, Lit) for x in facts.flatten(hc.url, hc.scope)):
            continue
        resolved = facts.resolve(hc.url, hc.scope) if isinstance(hc.url, cst.Name) else None
        url = resolved[0] if resolved else hc.url
        if _mentions_url(facts, url) or (
            isinstance(url, cst.Call) and isinstance(url.func, cst.Name)
            and url.func.value in facts.helpers
        ):
            continue  # built from a path literal or a URL helper the other rules handle
        kw = {arg.keyword.value: arg.value for arg in hc.call.args if arg.keyword is not None}
        onprem_body = any(
            evidence.onprem_send_body(d)
            for key in ("json", "data") if key in kw
            for d in facts.dict_values(_dumps_arg(facts, kw[key], hc.scope) or kw[key], hc.scope)
        )
        d360 = "headers" in kw and _carries_d360(facts, kw["headers"], hc.scope)
        hybrid = d360 and cloud and not cloud_host and not onprem_body
        if not (onprem_body or (d360 and not cloud) or hybrid):
            continue
        where = _setting_text(facts, hc.url)
        cloud_url = target_base(target) + ("/{GRAPH_API_VERSION}/{WHATSAPP_PHONE_NUMBER_ID}"
                                           if target is Target.META else "") + "/messages"
        if hybrid:
            auth = (" and send 'Authorization: Bearer <system-user token>' instead of "
                    "D360-API-KEY" if target is Target.META else "")
            a.add("WM905", "manual", f"the whole URL comes from {where} and the call sends "
                  "D360-API-KEY: if it holds an On-Prem URL (waba.360dialog.io or "
                  f"waba-sandbox.360dialog.io .../v1/...), point it at the Cloud endpoint "
                  f"(sending: {cloud_url}){auth}; the body is already Cloud-shaped", hc.call,
                  todo=f"if {where} is an On-Prem URL, point it at {cloud_url}{auth}")
            continue
        # the request moves as one: say what else changes with the URL
        also = []
        if onprem_body:
            also.append('add "messaging_product": "whatsapp" to its On-Prem payload')
        if d360 and target is Target.META:
            also.append("send 'Authorization: Bearer <system-user token>' instead of "
                        "D360-API-KEY")
        with_it = f", and in the same change {' and '.join(also)}" if also else ""
        a.add("WM905", "manual", f"the whole URL comes from {where}: point it at the Cloud "
              f"endpoint (sending: {cloud_url}){with_it}", hc.call,
              todo=f"point {where} at the Cloud endpoint ({cloud_url} for sends){with_it}")


def _carries_d360(facts: Facts, headers: cst.BaseExpression, scope: Scope) -> bool:
    """Do the headers a call passes (a dict, or a name or attribute bound to one) carry
    ``D360-API-KEY``?"""
    return any((string_value(el.key) or "").lower() == _ONPREM_AUTH_HEADER
               for d in _attr_dicts(facts, headers, scope) for el in d.elements
               if isinstance(el, cst.DictElement))


def _attr_dicts(facts: Facts, node: cst.BaseExpression, scope: Scope) -> list[cst.Dict]:
    """Dict literals a name or ``self.attr`` (set in ``__init__`` or the class) stands for."""
    if isinstance(node, cst.Attribute):
        hit = facts.resolve(node, scope)
        return [hit[0]] if hit is not None and isinstance(hit[0], cst.Dict) else []
    return facts.dict_values(node, scope)


def _mentions_url(facts: Facts, node: cst.CSTNode) -> bool:
    # an interesting literal (see Facts.leaves)
    return any(isinstance(cur, cst.SimpleString | cst.FormattedStringText)
               and cur in facts.scope_of for cur in descendants(node))


# --- read receipts --------------------------------------------------------------


def _mark_read(facts: Facts, a: Analysis, call_uses: list[_Use], target: Target,
               ex: Exchanges) -> dict[int, Item]:
    """PUT /v1/messages/{id} {"status": "read"} -> POST /messages with status and message_id."""
    items: dict[int, Item] = {}
    for u in call_uses:
        p = u.plan
        if p.kind != "mark_read" or u.call is None or p.message_id is None:
            continue
        hc = u.call
        why = _mark_read_blocker(facts, hc, p)
        if why:
            ex.block(hc.call, a.add(
                "WM308", "manual", f"read receipt: {why}; send POST /messages with "
                '{"messaging_product": "whatsapp", "status": "read", "message_id": ...}',
                hc.call, todo="send POST /messages with status read and message_id"))
            continue
        id_node = facts.dyn_nodes[p.message_id]
        settings: set[str] = set()
        for e in p.edits:
            settings |= used_settings(e.text)
        item = a.add("WM308", "safe", f"read receipt PUT {p.old_url} -> POST {p.new_url} with "
                     '{"messaging_product", "status": "read", "message_id"}', hc.call,
                     settings=settings)
        a.edit(hc.call, item, _mark_read_edit(hc, (_url_id_expr(hc.url) if hc.url is not None
                                                    else None) or id_node,
                                              _paren_column(facts, hc.call)))
        items[id(hc.call)] = item
        ex.part(hc.call, item)
    return items


def _mark_read_blocker(facts: Facts, hc: HttpCall, p: UrlPlan) -> str:
    url = hc.url
    assert p.message_id is not None
    id_node = facts.dyn_nodes[p.message_id]
    func = hc.call.func
    if not (isinstance(func, cst.Attribute) and func.attr.value.lower() in ("put", "request")):
        return "the call is not a .put()/.request() the codemod can change"
    if func.attr.value.lower() == "request":
        first = hc.call.args[0].value if hc.call.args else None
        if not isinstance(first, cst.SimpleString):
            return "the HTTP method is not a literal"
    if isinstance(url, cst.FormattedString):
        last = url.parts[-1] if url.parts else None
        if not (isinstance(last, cst.FormattedStringExpression)
                and _is_id(facts, hc, last.expression, id_node)):
            return "the message id is not the end of the f-string URL"
    elif isinstance(url, cst.BinaryOperation) and isinstance(url.operator, cst.Add):
        if not _is_id(facts, hc, url.right, id_node):
            return "the message id is not the last part of the URL"
    else:
        return "the URL is not built in the call (f-string or +)"
    body = _mark_read_body(hc.call)
    if body == "bad":
        return "the body is not a literal {\"status\": \"read\"}"
    if isinstance(body, cst.Dict):
        status = value_of(body, "status")
        if status is not None and string_value(status) != fields.MARK_READ_STATUS:
            return "only status read exists on Cloud"
        if dynamic_keys(body) or set(keys_of(body)) - {"status"}:
            return "the body has more than a status"
    return ""


def _is_id(facts: Facts, hc: HttpCall, expr: cst.BaseExpression, id_node: cst.CSTNode) -> bool:
    """Is ``expr`` the message id (itself, or a local holding it)?"""
    if expr is id_node:
        return True
    return facts.flatten(expr, hc.scope) == [facts.dyn(id_node)]


def _url_id_expr(url: cst.BaseExpression) -> cst.BaseExpression | None:
    """The expression at the end of a read-receipt URL (the message id as written there)."""
    if isinstance(url, cst.FormattedString) and url.parts and isinstance(
        url.parts[-1], cst.FormattedStringExpression
    ):
        return url.parts[-1].expression
    if isinstance(url, cst.BinaryOperation):
        return url.right
    return None


def _mark_read_body(call: cst.Call) -> cst.Dict | Literal["bad"] | None:
    kw = {arg.keyword.value: arg.value for arg in call.args if arg.keyword is not None}
    if "json" in kw:
        return kw["json"] if isinstance(kw["json"], cst.Dict) else "bad"
    if "data" in kw:
        v = kw["data"]
        if (isinstance(v, cst.Call) and dotted(v.func).endswith("dumps") and v.args
                and isinstance(v.args[0].value, cst.Dict)):
            return v.args[0].value
        return "bad"
    return None


def _paren_column(facts: Facts, call: cst.Call) -> int:
    """Column right of ``call``'s ``(``, past the indentation of its block."""
    func = cst.Module([]).code_for_node(call.func)
    return (facts.pos(call)[1] - 1 + len(func) + 1 - len(_base_indent(facts, call)))


def _mark_read_edit(hc: HttpCall, id_node: cst.CSTNode, paren_column: int) -> NodeEdit:
    id_expr = id_node
    assert isinstance(id_expr, cst.BaseExpression)

    def new_body(body: cst.Dict | None) -> cst.Dict:
        from codemods.dicts import insert_key, key_quote

        if body is None:
            q = '"'
            return cst.parse_expression(
                f'{{{q}messaging_product{q}: {q}{fields.MESSAGING_PRODUCT}{q}, '
                f'{q}status{q}: {q}{fields.MARK_READ_STATUS}{q}, {q}message_id{q}: '
                f'{cst.Module([]).code_for_node(id_expr)}}}'
            )  # type: ignore[return-value]
        q = key_quote(body)
        if "status" not in keys_of(body):
            body = insert_key(body, "status", str_literal(fields.MARK_READ_STATUS, q), 0)
        body = insert_key(body, "message_id", id_expr, len(body.elements))
        return insert_key(body, "messaging_product", str_literal(fields.MESSAGING_PRODUCT, q), 0)

    def edit(node: cst.CSTNode, enabled: frozenset[int]) -> cst.CSTNode:
        assert isinstance(node, cst.Call)
        func = node.func
        assert isinstance(func, cst.Attribute)
        args = list(node.args)
        url_i = 0
        if func.attr.value.lower() == "request":
            m = args[0].value
            assert isinstance(m, cst.SimpleString)
            args[0] = args[0].with_changes(value=str_literal("POST", m.quote))
            url_i = 1
        else:
            new_attr = "post" if func.attr.value == "put" else "POST"
            node = shift_aligned_args(node, len(new_attr) - len(func.attr.value), paren_column)
            node = node.with_changes(func=func.with_changes(attr=cst.Name(new_attr)))
            args = list(node.args)
        url = args[url_i].value
        if isinstance(url, cst.FormattedString):
            parts = list(url.parts)
            parts.pop()
            url = url.with_changes(parts=parts)
        elif isinstance(url, cst.BinaryOperation):
            url = url.left.with_changes(lpar=url.lpar, rpar=url.rpar) if url.lpar else url.left
        args[url_i] = args[url_i].with_changes(value=url)
        body_done = False
        for i, arg in enumerate(args):
            if arg.keyword is not None and arg.keyword.value == "json" and isinstance(
                arg.value, cst.Dict
            ):
                args[i] = arg.with_changes(value=new_body(arg.value))
                body_done = True
            elif arg.keyword is not None and arg.keyword.value == "data" and isinstance(
                arg.value, cst.Call
            ) and arg.value.args and isinstance(arg.value.args[0].value, cst.Dict):
                inner = arg.value
                dumped = list(inner.args)
                first = dumped[0].value
                assert isinstance(first, cst.Dict)
                dumped[0] = dumped[0].with_changes(value=new_body(first))
                args[i] = arg.with_changes(value=inner.with_changes(args=dumped))
                body_done = True
        if not body_done:
            last = args[-1]
            if not isinstance(last.comma, cst.Comma):
                args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=
                                                             cst.SimpleWhitespace(" ")))
            args.append(cst.Arg(keyword=cst.Name("json"), value=new_body(None),
                                equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                      whitespace_after=cst.SimpleWhitespace(""))))
        return node.with_changes(args=args)

    return edit


# --- headers ----------------------------------------------------------------------


def _header_calls(facts: Facts) -> dict[cst.Dict, list[cst.Call]]:
    """Header dict literals -> the HTTP calls that send them (``headers=``)."""
    out: dict[cst.Dict, list[cst.Call]] = {}
    for hc in facts.http_calls:
        for arg in hc.call.args:
            if arg.keyword is not None and arg.keyword.value == "headers":
                for d in facts.dict_values(arg.value, hc.scope):
                    out.setdefault(d, []).append(hc.call)
    for d, calls in returned_header_calls(facts).items():
        out.setdefault(d, []).extend(c for c in calls if c not in out.get(d, ()))
    return out


def _other_headers(facts: Facts) -> set[cst.Dict]:
    """``headers={...}`` of a (mocked) response or a mock assertion: not request headers."""
    out: set[cst.Dict] = set()
    for call in facts.calls:
        name = dotted(call.func).rsplit(".", 1)[-1].lower()
        if not any(w in name for w in ("response", "mock", "assert")):
            continue  # sessions, clients and wrappers send the headers they are given
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == "headers" and isinstance(
                arg.value, cst.Dict
            ):
                out.add(arg.value)
    return out


def _headers(facts: Facts, a: Analysis, target: Target, has_d360: bool, urls: _UrlResult,
             *, login: bool) -> None:
    """Auth headers of On-Prem requests. ``login``: the file logs in for its Bearer tokens."""
    sent_by = _header_calls(facts)
    helper_only = bool(per_channel.legacy_urls(facts)) and not any(
        urls.live(c) for c in urls.ex.by_call)
    not_requests = _other_headers(facts)
    for d in facts.dicts:
        if d in not_requests or per_channel.inside_helper(facts, d):
            continue
        calls = sent_by.get(d)
        onprem_calls = [c for c in calls or () if urls.live(c)]
        if calls and not onprem_calls:
            continue  # the headers of some other API's call
        if not calls and helper_only:
            continue  # a header builder for requests already sent through the channel config
        onprem_calls += [c for c in calls or () if c in urls.kept]
        for el in d.elements:
            if not isinstance(el, cst.DictElement):
                continue
            key = string_value(el.key)
            if key is None:
                continue
            item = _header_pair(facts, a, target, has_d360, urls.onprem, el, key, el.value, el,
                                login=login)
            if item is not None:
                urls.ex.parts_to(onprem_calls, item)
    for assign, sub, key, _scope in facts.subscript_assigns:
        item = _header_pair(facts, a, target, has_d360, urls.onprem, assign, key, assign.value,
                            sub, login=login)
        if item is not None:
            urls.ex.part(None, item)


def _header_pair(
    facts: Facts, a: Analysis, target: Target, has_d360: bool, onprem: bool,
    node: cst.DictElement | cst.Assign, key: str, value: cst.BaseExpression,
    anchor: cst.CSTNode, *, login: bool = False,
) -> Item | None:
    low = key.lower()
    if low == _ONPREM_AUTH_HEADER and target is Target.META:
        item = a.add("WM201", "safe", f"header {key!r} -> 'Authorization: Bearer "
                     f"{facts.code(value, 30)}': Meta authenticates with a system-user token",
                     anchor)
        a.edit(node, item, _header_edit("Authorization", _bearer))
        note = a.add("WM201", "manual", f"`{facts.code(value, 30)}` now goes out as a Bearer "
                     "token: give it the Meta system-user token (a 360dialog key is refused)",
                     anchor, todo=f"`{facts.code(value, 30)}` must now hold a Meta system-user "
                     "token, not the 360dialog key")
        note.when_applied = frozenset({item.id})  # written only with the rewrite
        note.hidden = True  # the finding above already says it
        return item
    if low != "authorization" or has_d360 or not onprem:
        return None
    secret = _bearer_secret(value)
    if secret is None:
        return None
    shown = facts.code(secret, 30)
    # A token from a login call changes every hour and has no Cloud counterpart: the code
    # that fetches it must go first. A static token (a setting, a channel's config) is a
    # secret like the D360 key: the request migrates and a note says which value to set.
    dynamic = login or _LOGIN_WORD.search(shown) is not None
    if target is Target.META:
        if dynamic:
            return a.add("WM201", "unsafe", f"'Authorization: Bearer {shown}' stays: Meta needs "
                         "a system-user token here (an On-Prem login token will not work)",
                         anchor, reason="the Bearer value must become a Meta system-user token")
        return a.add("WM201", "manual", f"'Authorization: Bearer {shown}' stays: give `{shown}` "
                     "the Meta system-user token (an On-Prem or Turn token is refused)", anchor,
                     todo=f"`{shown}` must now hold a Meta system-user token")
    if dynamic:
        item = a.add("WM202", "unsafe", f"'Authorization: Bearer ...' -> '{D360_API_KEY_HEADER}"
                     f": {shown}': 360dialog Cloud takes the channel's API key (the On-Prem "
                     "login token will not work)", anchor,
                     reason="the Bearer value must become the channel's 360dialog API key")
        a.edit(node, item, _header_edit(D360_API_KEY_HEADER, lambda v: _bearer_secret(v) or v))
        return item
    item = a.add("WM202", "safe", f"'Authorization: Bearer ...' -> '{D360_API_KEY_HEADER}: "
                 f"{shown}': 360dialog Cloud takes the channel's API key", anchor)
    a.edit(node, item, _header_edit(D360_API_KEY_HEADER, lambda v: _bearer_secret(v) or v))
    note = a.add("WM202", "manual", f"`{shown}` now goes out as {D360_API_KEY_HEADER}: give it "
                 "the channel's 360dialog API key (an On-Prem or Turn token is refused)", anchor,
                 todo=f"`{shown}` must now hold the channel's 360dialog API key")
    note.when_applied = frozenset({item.id})  # written only with the rewrite
    note.hidden = True  # the finding above already says it
    return item


#: A Bearer value that comes from a login call (``login_token``, ``self.login()``).
_LOGIN_WORD: Final = re.compile(r"(?i)login|users\[0\]")


def _header_edit(new_key: str, value_fn: Callable[[cst.BaseExpression], cst.BaseExpression]
                 ) -> NodeEdit:
    def edit(node: cst.CSTNode, enabled: frozenset[int]) -> cst.CSTNode:
        if isinstance(node, cst.DictElement):
            quote = node.key.quote if isinstance(node.key, cst.SimpleString) else '"'
            return node.with_changes(key=str_literal(new_key, quote), value=value_fn(node.value))
        assert isinstance(node, cst.Assign)
        target = node.targets[0].target
        assert isinstance(target, cst.Subscript)
        el = target.slice[0]
        index = el.slice
        assert isinstance(index, cst.Index)
        quote = index.value.quote if isinstance(index.value, cst.SimpleString) else '"'
        new_target = target.with_changes(slice=[el.with_changes(
            slice=index.with_changes(value=str_literal(new_key, quote)))])
        return node.with_changes(targets=[node.targets[0].with_changes(target=new_target)],
                                 value=value_fn(node.value))

    return edit


def _bearer(value: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(value, cst.SimpleString) and string_value(value) is not None:
        return render_simple(value, "Bearer " + (string_value(value) or ""))
    code = cst.Module([]).code_for_node(value)
    if "\n" not in code and "\\" not in code:
        if '"' not in code:
            return cst.parse_expression(f'f"Bearer {{{code}}}"')
        if "'" not in code:
            return cst.parse_expression(f"f'Bearer {{{code}}}'")
    return cst.parse_expression(f'"Bearer " + {code}')


def _bearer_secret(value: cst.BaseExpression) -> cst.BaseExpression | None:
    """The token inside ``"Bearer " + t``, ``f"Bearer {t}"``, ``"Bearer %s" % t`` and co."""
    if isinstance(value, cst.FormattedString) and len(value.parts) == 2:
        first, second = value.parts
        if (isinstance(first, cst.FormattedStringText) and first.value == "Bearer "
                and isinstance(second, cst.FormattedStringExpression)
                and second.conversion is None and second.format_spec is None):
            return second.expression
    if isinstance(value, cst.BinaryOperation):
        left = string_value(value.left)
        if isinstance(value.operator, cst.Add) and left == "Bearer ":
            return value.right
        if isinstance(value.operator, cst.Modulo) and left == "Bearer %s" and not isinstance(
            value.right, cst.Tuple | cst.Dict
        ):
            return value.right
    if (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
            and value.func.attr.value == "format" and string_value(value.func.value)
            == "Bearer {}" and len(value.args) == 1 and value.args[0].keyword is None):
        return value.args[0].value
    if isinstance(value, cst.SimpleString):
        text = string_value(value)
        if text is not None and text.startswith("Bearer ") and len(text) > 7:
            return render_simple(value, text[7:])
    return None


# --- payloads ---------------------------------------------------------------------


def _body_calls(facts: Facts) -> dict[cst.Dict, list[cst.Call]]:
    """Body dict literals -> the HTTP calls that send them (``json=``, ``data=dumps(..)``)."""
    out: dict[cst.Dict, list[cst.Call]] = {}
    for hc in facts.http_calls:
        for arg in hc.call.args:
            if arg.keyword is None or arg.keyword.value not in ("json", "data"):
                continue
            src = _dumps_arg(facts, arg.value, hc.scope) or arg.value
            for d in facts.dict_values(src, hc.scope):
                out.setdefault(d, []).append(hc.call)
    return out


def _payloads(facts: Facts, a: Analysis, urls: _UrlResult) -> None:
    ex = urls.ex
    envelopes: dict[cst.Dict, Scope] = {}
    for hc in urls.send_calls:
        _send_call_payload(facts, a, hc, envelopes, ex)
    sent_by = _body_calls(facts)
    for d in facts.dicts:
        if _looks_like_send(d):
            envelopes.setdefault(d, facts.scope_of[d])
    nested: set[cst.CSTNode] = set()
    for d in envelopes:
        _collect_nested(d, nested)
    for d, scope in envelopes.items():
        if d in nested:
            continue
        calls = sent_by.get(d, [])
        onprem_calls = [c for c in calls if urls.live(c)]
        if calls and not onprem_calls:
            continue  # the body of a call that is not an On-Prem request
        dyn = dynamic_keys(d)
        if dyn and "messaging_product" not in keys_of(d):
            ex.parts_to(onprem_calls, a.add(
                "WM904", "manual", f"payload with a key the codemod cannot read "
                f"(`{facts.code(dyn[0], 30)}`): check by hand that it needs no hsm/"
                "preview_url/namespace change (Cloud rejects hsm)", dyn[0],
                todo=f"check by hand: key `{facts.code(dyn[0], 20)}` may need Cloud changes"))
        _plan_dict(facts, a, d, envelope=True, ex=ex, calls=onprem_calls)
        _mutations(facts, a, d, scope, ex, onprem_calls)
    for d in facts.dicts:
        if d in envelopes or d in nested:
            continue
        keys = keys_of(d)
        if "hsm" in keys and isinstance(value_of(d, "hsm"), cst.Dict):
            _collect_nested(d, nested)
            _plan_dict(facts, a, d, envelope=False, ex=ex, calls=[])
        elif {"namespace", "name"} <= keys.keys() and (
            "language" in keys or "components" in keys
        ):
            _collect_nested(d, nested)
            rules = tuple(replace(r, onprem=r.onprem.removeprefix("template."))
                          for r in fields.SEND_RULES if r.onprem.startswith("template."))
            _plan_dict(facts, a, d, envelope=False, rules=rules, ex=ex, calls=[])


def _looks_like_send(d: cst.Dict) -> bool:
    """An On-Prem send body by its shape: a recipient and a message type it knows."""
    keys = keys_of(d)
    if "to" not in keys:
        return False
    type_node = value_of(d, "type")
    if type_node is not None:
        kind = string_value(type_node)
        if kind is not None:
            return kind in fields.ONPREM_SEND_TYPES
        return bool(keys.keys() & fields.ONPREM_SEND_TYPES or dynamic_keys(d)
                    or "recipient_type" in keys)
    return bool(keys.keys() & fields.ONPREM_SEND_TYPES)


def _collect_nested(node: cst.CSTNode, out: set[cst.CSTNode]) -> None:
    for child in node.children:
        if isinstance(child, cst.Dict):
            out.add(child)
        _collect_nested(child, out)


def _base_indent(facts: Facts, d: cst.CSTNode) -> str:
    """Indentation of the statement holding ``d`` (for a re-rendered literal)."""
    depth = 0
    cur: cst.CSTNode | None = d
    while cur is not None:
        if isinstance(cur, cst.IndentedBlock):
            depth += 1
        cur = facts.parents.get(cur)
    return facts.module.default_indent * depth


def _first_element_column(facts: Facts, d: cst.Dict, indent: str) -> int | None:
    """Column of ``d``'s first element past ``indent`` when it sits on the brace line."""
    after = d.lbrace.whitespace_after
    if not d.elements or not isinstance(after, cst.SimpleWhitespace):
        return None
    return facts.pos(d)[1] - 1 + 1 + len(after.value) - len(indent)


def _plan_dict(facts: Facts, a: Analysis, d: cst.Dict, *, envelope: bool,
               rules: tuple[fields.FieldRule, ...] = (), ex: Exchanges,
               calls: list[cst.Call]) -> None:
    indent = _base_indent(facts, d)
    plan = plan_payload(d, envelope=envelope, base_indent=indent, rules=rules,
                        column=lambda: _first_element_column(facts, d, indent))
    if not plan.steps:
        return
    ids: list[int] = []
    for step in plan.steps:
        item = a.add(step.code, step.fix, step.message, step.anchor, todo=step.todo,
                     reason=_UNSAFE_PAYLOAD.get(step.code, "") if step.fix == "unsafe" else "")
        ids.append(item.id)
        if step.fix == "manual":
            for call in _or_floating(calls):
                ex.block(call, item)
        else:
            ex.parts_to(calls, item)
    a.edit(d, ALWAYS, _dict_edit(plan, ids))


def _dict_edit(plan: PayloadPlan, ids: list[int]) -> NodeEdit:
    def edit(node: cst.CSTNode, enabled: frozenset[int]) -> cst.CSTNode:
        assert isinstance(node, cst.Dict)
        fixable = [i for i, s in zip(ids, plan.steps, strict=True) if s.apply is not None]
        if plan.oracle is not None and fixable and all(i in enabled for i in fixable):
            return plan.oracle
        for iid, step in zip(ids, plan.steps, strict=True):
            if step.apply is not None and iid in enabled:
                node = step.apply(node)
        return node

    # the edit runs whenever any of its steps is enabled
    return _any_of(ids, edit)


def _any_of(ids: list[int], fn: NodeEdit) -> NodeEdit:
    def edit(node: cst.CSTNode, enabled: frozenset[int]
             ) -> cst.CSTNode | cst.FlattenSentinel[cst.CSTNode] | cst.RemovalSentinel:
        return fn(node, enabled) if any(i in enabled for i in ids) else node

    return edit


_UNSAFE_PAYLOAD: Final = {
    "WM305": "a field with no Cloud equivalent is dropped",
    "WM303": "the hsm parameters are assumed to be plain text",
}


def _send_call_payload(facts: Facts, a: Analysis, hc: HttpCall,
                       envelopes: dict[cst.Dict, Scope], ex: Exchanges) -> None:
    kw = {arg.keyword.value: arg.value for arg in hc.call.args if arg.keyword is not None}
    sources: list[cst.BaseExpression] = []
    if "json" in kw:
        v = kw["json"]
        if isinstance(v, cst.Call) and dotted(v.func).endswith("loads"):
            ex.block(hc.call, a.add(
                "WM903", "manual", "payload from a JSON string: add "
                '"messaging_product": "whatsapp" (and the other Cloud changes) where the '
                "string is stored", v, todo=_JSON_TODO))
        else:
            sources.append(v)
    if "data" in kw:
        v = kw["data"]
        inner = _dumps_arg(facts, v, hc.scope)
        if inner is not None:
            sources.append(inner)
        elif _stringish(facts, v, hc.scope) or (
            not facts.dict_values(v, hc.scope) and _json_content_type(facts, hc)
        ):
            ex.block(hc.call, a.add(
                "WM903", "manual", f"payload sent as a string (`{facts.code(v, 40)}`): add "
                '"messaging_product": "whatsapp" (and the other Cloud changes) to the JSON '
                "where it is stored", v, todo=_JSON_TODO))
    for src in sources:
        for d in facts.dict_values(src, hc.scope):
            envelopes.setdefault(d, facts.scope_of.get(d, hc.scope))


def _json_content_type(facts: Facts, hc: HttpCall) -> bool:
    """Does the call send ``Content-Type: application/json`` (so ``data=`` is JSON text)?"""
    for arg in hc.call.args:
        if arg.keyword is not None and arg.keyword.value == "headers":
            for d in facts.dict_values(arg.value, hc.scope):
                ct = value_of(d, "Content-Type")
                if ct is not None and "json" in (string_value(ct) or ""):
                    return True
    return False


def _dumps_arg(facts: Facts, v: cst.BaseExpression, scope: Scope) -> cst.BaseExpression | None:
    if isinstance(v, cst.Call) and dotted(v.func).endswith("dumps") and v.args:
        return v.args[0].value
    if isinstance(v, cst.Name):
        hit = facts.resolve(v, scope)
        if hit is not None:
            return _dumps_arg(facts, hit[0], hit[1])
    return None


_STRING_METHODS: Final = frozenset({"replace", "format", "format_map", "substitute",
                                    "safe_substitute", "render", "strip", "render_template",
                                    "render_to_string"})


def _stringish(facts: Facts, v: cst.BaseExpression, scope: Scope, depth: int = 0) -> bool:
    """A text payload (JSON from a DB or template), not bytes, a file or form fields."""
    if isinstance(v, cst.SimpleString):
        return "b" not in v.prefix.lower()
    if isinstance(v, cst.FormattedString | cst.ConcatenatedString):
        return True
    if isinstance(v, cst.Call) and depth < 4 and _returns_stringish(facts, v, scope, depth):
        return True  # self.build_message(...): a method of this class that renders the text
    if isinstance(v, cst.Call) and isinstance(v.func, cst.Attribute):
        return v.func.attr.value in _STRING_METHODS
    if isinstance(v, cst.BinaryOperation) and isinstance(v.operator, cst.Add | cst.Modulo):
        return _stringish(facts, v.left, scope, depth + 1)
    if isinstance(v, cst.Name) and depth < 4:
        hit = facts.resolve(v, scope)
        return hit is not None and _stringish(facts, hit[0], hit[1], depth + 1)
    return False


def _returns_stringish(facts: Facts, call: cst.Call, scope: Scope, depth: int) -> bool:
    """``self.name(...)`` / ``name(...)`` of this module whose every return is text."""
    func = call.func
    fn: cst.FunctionDef | None = None
    if isinstance(func, cst.Name):
        fn = next((st for st in facts.module.body if isinstance(st, cst.FunctionDef)
                   and st.name.value == func.value), None)
    elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        here = scope.function()
        cls = here.enclosing_class if here is not None else None
        if cls is not None and isinstance(cls.node, cst.ClassDef) and (
                func.value.value == here.self_name if here is not None else False):
            fn = next((st for st in cls.node.body.body if isinstance(st, cst.FunctionDef)
                       and st.name.value == func.attr.value), None)
    if fn is None:
        return False
    returns = [r for r in _returns(fn.body) if r.value is not None]
    return bool(returns) and all(
        _stringish(facts, r.value, facts.scope_of.get(r.value, scope), depth + 1)
        for r in returns if r.value is not None)


def _returns(node: cst.CSTNode) -> list[cst.Return]:
    """The return statements of a function body (not of functions nested in it)."""
    out: list[cst.Return] = []
    for child in node.children:
        if isinstance(child, cst.Return):
            out.append(child)
        elif not isinstance(child, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            out.extend(_returns(child))
    return out


_JSON_TODO: Final = "add messaging_product and the Cloud changes to the stored JSON"


def _set_later_todo(rule: fields.FieldRule) -> str:
    if rule.action is Action.MOVE:
        return f"set {rule.cloud} instead of {rule.onprem}"
    if rule.action is Action.CONVERT:
        return f"send a {rule.cloud} instead of {rule.onprem}"
    return f"drop {rule.onprem} (no Cloud equivalent)"


def _mutations(facts: Facts, a: Analysis, d: cst.Dict, scope: Scope, ex: Exchanges,
               calls: list[cst.Call]) -> None:
    """``msg["ttl"] = ttl`` after ``msg = {...}``: fields the literal rules cannot see."""
    names = [n for n, vals in scope.assigns.items() if any(v is d for v, _ in vals)]
    if not names:
        return
    watched = {r.onprem: r for r in fields.SEND_RULES
               if r.action in (Action.MOVE, Action.DROP, Action.CONVERT) and "." not in r.onprem
               and "{" not in r.onprem}
    for assign, sub, key, sc in facts.subscript_assigns:
        if sc is not scope or not isinstance(sub.value, cst.Name) or sub.value.value not in names:
            continue
        rule = watched.get(key)
        if key == "type" and string_value(assign.value) == "hsm":
            rule = watched.get("hsm")
        if rule is None:
            continue
        item = a.add("WM914", "manual", f"{sub.value.value}[{key!r}] is set after the "
                     f"literal: {rule.action.value} {rule.onprem}"
                     + (f" -> {rule.cloud}" if rule.cloud else "") + f" by hand ({rule.why})",
                     assign, todo=_set_later_todo(rule))
        for call in _or_floating(calls):
            ex.block(call, item)
    for call in facts.calls:
        func = call.func
        if (isinstance(func, cst.Attribute) and func.attr.value == "update"
                and isinstance(func.value, cst.Name) and func.value.value in names
                and facts.scope_of.get(call) is scope and call.args
                and isinstance(call.args[0].value, cst.Dict)):
            hit = sorted(set(keys_of(call.args[0].value)) & watched.keys())
            for key in hit:
                rule = watched[key]
                item = a.add("WM914", "manual", f"{func.value.value}.update() sets {key!r}: "
                             f"{rule.action.value} {rule.onprem}"
                             + (f" -> {rule.cloud}" if rule.cloud else "")
                             + f" by hand ({rule.why})", call, todo=_set_later_todo(rule))
                for c in _or_floating(calls):
                    ex.block(c, item)


# --- version constants ------------------------------------------------------------


def _version_constants(facts: Facts, a: Analysis, urls: _UrlResult) -> None:
    edited = {facts.owners[o].node for o in urls.edited_owners}
    for scope in (facts.module_scope, *facts.classes.values()):
        for name, values in scope.assigns.items():
            for value, _ in values:
                for node in _v1_literals(value):
                    if node in edited:
                        continue
                    item = a.add("WM907", "manual", f"{name} = 'v1' builds On-Prem URLs "
                                 "(.../v1/<endpoint>); Cloud paths have no /v1 on 360dialog and "
                                 "carry the Graph version on Meta: rewrite the URL helper by "
                                 "hand", node,
                                 todo="rewrite the URL helper for Cloud paths (no /v1)")
                    urls.ex.block(None, item)  # payloads for those URLs wait for the helper


def _v1_literals(value: cst.BaseExpression | None) -> list[cst.SimpleString]:
    if isinstance(value, cst.SimpleString) and string_value(value) == "v1":
        return [value]
    if isinstance(value, cst.Tuple | cst.List):
        return [el.value for el in value.elements if isinstance(el.value, cst.SimpleString)
                and string_value(el.value) == "v1"]
    return []


# --- shim strategy ----------------------------------------------------------------

#: module -> the drop-in the shim offers (``from shim.compat import <name>``)
SHIM_MODULES: Final = {"requests": "WM501", "httpx": "WM502", "aiohttp": "WM503"}
#: names a `from aiohttp import` must take from the drop-in (the others are the same objects)
_AIOHTTP_SENDERS: Final = frozenset({"ClientSession", "request"})


def _shim_imports(facts: Facts, a: Analysis, urls: _UrlResult) -> None:
    http_imported = False
    aio_blocked = _aiohttp_blockers(facts, a)
    for stmt, imp in facts.imports:
        if isinstance(imp, cst.Import):
            for alias in imp.names:
                name = dotted(alias.name)
                if name.split(".")[0] in SHIM_MODULES:
                    http_imported = True
                if name not in SHIM_MODULES or (name == "aiohttp" and aio_blocked):
                    continue
                item = a.add(SHIM_MODULES[name], "safe", f"import {name} -> from shim.compat "
                             f"import {name}: the shim routes On-Prem calls by config", stmt)
                a.edit(stmt, item, _split_import(name))
        elif imp.module is not None:
            mod = dotted(imp.module)
            if mod.split(".")[0] in SHIM_MODULES or mod.startswith("shim.compat"):
                http_imported = True
            if mod in SHIM_MODULES and not imp.relative and (
                mod != "aiohttp" or (not aio_blocked and _imports_a_sender(imp))
            ):
                item = a.add(SHIM_MODULES[mod], "safe", f"from {mod} import ... -> from "
                             f"shim.compat.{mod} import ...", stmt)
                a.edit(stmt, item, _from_import(mod))
    if any(name.split(".")[0] == "aiohttp" for name in facts.module_aliases.values()) or any(
        origin.split(".")[0] == "aiohttp" for origin in facts.from_imports.values()
    ):
        onprem = list(urls.plans) or [h.call for h in facts.http_calls
                                      if _may_be_onprem_url(facts, h.url)]
        for gap in aiohttp_swap.uncovered_calls(facts, onprem):
            a.add("WM912", "manual", gap.message, gap.node, todo=gap.todo)
    for call in _urllib_onprem_requests(facts):
        a.add("WM913", "manual", "this On-Prem request is sent with urllib.request, which the "
              "shim does not route: send it with shim.compat's requests or httpx (or migrate "
              "it with --strategy native)", call,
              todo="urllib.request is not routed by the shim: send this request with "
              "shim.compat.requests, or migrate it by hand")
    anchor = urls.first_use if urls.first_use is not None else _first_v1_constant(facts)
    if not http_imported and anchor is not None:
        a.add("WM913", "manual", "this file builds On-Prem requests but sends them through a "
              "helper: switch the module that imports requests/httpx to shim.compat",
              anchor, todo="switch the module that sends these requests to shim.compat")


_URLLIB_SENDERS: Final = frozenset({"urllib.request.Request", "urllib.request.urlopen"})


def _urllib_onprem_requests(facts: Facts) -> list[cst.Call]:
    """``urllib.request.Request(url, headers={"D360-API-KEY": ...})``: no drop-in routes it."""
    out: list[cst.Call] = []
    for call in facts.calls:
        name = dotted(call.func)
        head = name.split(".", 1)[0]
        origin = facts.from_imports.get(head) or facts.module_aliases.get(head) or head
        full = origin + name[len(head):]
        if full not in _URLLIB_SENDERS:
            continue
        scope = facts.scope_of.get(call)
        for arg in call.args:
            if arg.keyword is None or arg.keyword.value != "headers" or scope is None:
                continue
            if _carries_d360(facts, arg.value, scope):
                out.append(call)
    return out


def _aiohttp_blockers(facts: Facts, a: Analysis) -> bool:
    """Imports that defeat the aiohttp swap, marked; True when there is one."""
    blocked = False
    for stmt, imp in facts.imports:
        found = aiohttp_swap.rebinds_aiohttp(imp)
        if found is not None:
            blocked = True
            a.add("WM912", "manual", found[0], stmt, todo=found[1])
    return blocked


def _may_be_onprem_url(facts: Facts, url: cst.BaseExpression | None) -> bool:
    """Unresolved URL: a name could hold anything; an expression that builds it shows its path."""
    if url is None or isinstance(url, cst.Name | cst.Attribute | cst.Subscript):
        return True
    return "v1" in facts.module.code_for_node(url)


def _imports_a_sender(imp: cst.ImportFrom) -> bool:
    return not isinstance(imp.names, cst.ImportStar) and any(
        dotted(alias.name) in _AIOHTTP_SENDERS for alias in imp.names)


def _first_v1_constant(facts: Facts) -> cst.CSTNode | None:
    """``API_VERSION = "v1"``: the URLs are built from it by a helper in another module."""
    for scope in (facts.module_scope, *facts.classes.values()):
        for values in scope.assigns.values():
            for value, _ in values:
                found = _v1_literals(value)
                if found:
                    return found[0]
    return None


def _shim_refusals(facts: Facts, a: Analysis) -> None:
    """Sends the shim refuses (it has no Cloud equivalent to translate them to): marked."""
    for d in facts.dicts:
        kind = value_of(d, "recipient_type")
        if kind is not None and string_value(kind) == "group" and "to" in keys_of(d):
            a.add("WM909", "manual", "recipient_type 'group' (the legacy On-Prem groups API) "
                  "has no Cloud equivalent: the shim refuses this send (400); port it to the "
                  "Cloud Groups API by hand", d,
                  todo="recipient_type 'group' has no Cloud equivalent: the shim refuses this "
                  "send; port it by hand")
    later = frozenset(key for _, _, key, _ in facts.subscript_assigns)
    for d in facts.dicts:
        keys = keys_of(d)
        kind = value_of(d, "type")
        name = string_value(kind) if kind is not None else None
        if "to" not in keys or name is None or name not in keys:
            continue  # a send body names its type and carries that object
        refused = refusals.refusal(d, later)
        if refused is None or refused.path == "$.recipient_type":
            continue  # a group send is marked above
        code = "WM303" if refused.path.startswith("$.hsm") else "WM910"
        a.add(code, "manual", f"the shim refuses this send (400): {refused.path}: "
              f"{refused.reason}", d, todo=f"fix {refused.path}: {refused.reason} (the shim "
              "refuses this send with a 400)")


def _split_import(name: str) -> NodeEdit:
    def edit(node: cst.CSTNode, enabled: frozenset[int]
             ) -> cst.CSTNode | cst.FlattenSentinel[cst.CSTNode]:
        assert isinstance(node, cst.SimpleStatementLine)
        new_body: list[cst.BaseSmallStatement] = []
        extra: list[cst.SimpleStatementLine] = []
        for small in node.body:
            if not isinstance(small, cst.Import):
                new_body.append(small)
                continue
            keep = [al for al in small.names if dotted(al.name) != name]
            moved = [al for al in small.names if dotted(al.name) == name]
            if keep:
                keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                new_body.append(small.with_changes(names=keep))
            for al in moved:
                extra.append(cst.SimpleStatementLine(body=[cst.ImportFrom(
                    module=cst.Attribute(cst.Name("shim"), cst.Name("compat")),
                    names=[cst.ImportAlias(cst.Name(name), asname=al.asname)],
                )]))
        if not new_body:
            first = extra[0].with_changes(leading_lines=node.leading_lines,
                                          trailing_whitespace=node.trailing_whitespace)
            return cst.FlattenSentinel([first, *extra[1:]])
        return cst.FlattenSentinel([node.with_changes(body=new_body), *extra])

    return edit


def _from_import(mod: str) -> NodeEdit:
    def edit(node: cst.CSTNode, enabled: frozenset[int]) -> cst.CSTNode:
        assert isinstance(node, cst.SimpleStatementLine)
        body: list[cst.BaseSmallStatement] = []
        for small in node.body:
            if isinstance(small, cst.ImportFrom) and small.module is not None and dotted(
                small.module
            ) == mod:
                small = small.with_changes(module=cst.Attribute(
                    cst.Attribute(cst.Name("shim"), cst.Name("compat")), cst.Name(mod)))
            body.append(small)
        return node.with_changes(body=body)

    return edit


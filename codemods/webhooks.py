"""Webhook handlers written for On-Prem bodies: wrap the payload expression.

One edit covers a handler whatever it does next (guards, loops, indexing):
``request.get_json()`` becomes ``onprem_view(request.get_json())``, which
hands back the flat On-Prem body for a Cloud ``entry[].changes[].value``
batch and passes an On-Prem body through (``shim.webhooks.onprem_view``).

Only a proven webhook body is wrapped: the handler reads a webhook key
(``messages``, ``statuses``, ...) from that very object. ``onprem_view`` returns
a new object, so a body the handler writes to is reported instead (the writes
would be lost), and a body handed whole to other code is left alone (that code
may be another endpoint's serializer, or may write to it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

import libcst as cst

from codemods.facts import Facts, Scope, dotted, iter_parents
from shim.mapping.hosts import Target

if TYPE_CHECKING:
    from codemods.analyze import Analysis

VIEW_MODULE: Final = "shim.webhooks"
VIEW_NAME: Final = "onprem_view"
_ADAPTERS: Final = frozenset({"onprem_view", "onprem_bodies", "onprem_translation",
                              "load_payload"})
_REQUEST_NAMES: Final = frozenset({"request", "req"})
_LOADERS: Final = frozenset({"loads", "json_decode"})
#: On-Prem webhook keys the handler reads
_SHAPE: Final = re.compile(r"[\"'](messages|statuses)[\"']")
#: Keys whose read proves an object is a webhook body
WEBHOOK_KEYS: Final = frozenset({"messages", "statuses", "contacts", "errors", "entry"})
#: Every top-level key a WhatsApp webhook body has (On-Prem, or Cloud's ``object``/``entry``):
#: a read of any other key says the object is some other request (Turn's context API
#: handshake, a partner callback) that ``onprem_view`` would refuse
BODY_KEYS: Final = WEBHOOK_KEYS | {"object"}
_MUTATORS: Final = frozenset({"update", "pop", "popitem", "setdefault", "clear", "__setitem__",
                              "__delitem__"})
#: Calls that only look at an object they are given
_LOOKERS: Final = frozenset({"len", "bool", "print", "str", "repr", "isinstance", "dumps",
                             "debug", "info", "warning", "error", "exception", "log", "type",
                             "dict", "list", "iter", "sorted"})
#: Words of the prefilter a webhook file must contain (so --no-prefilter finds nothing more)
_MARKERS: Final = re.compile(r"(?i)statuses|wa_id|recipient_id|whatsapp|waba|360dialog|d360")
#: ... and what makes the payload WhatsApp's: a WhatsApp word, or the On-Prem item keys
#: (``from`` of a message, ``status`` of a status)
_WHATSAPP: Final = re.compile(r"(?i)whatsapp|waba|wa_id|recipient_id|360dialog|d360|turn\.io"
                              r"|[\"']from[\"']|[\"']status[\"']")
_CLOUD_ENTRY: Final = re.compile(r"[\"']entry[\"']")
_CLOUD_CHANGES: Final = re.compile(r"[\"']changes[\"']")


def _is_request(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Name):
        return node.value in _REQUEST_NAMES
    return isinstance(node, cst.Attribute) and node.attr.value == "request"


def _lift(facts: Facts, node: cst.BaseExpression) -> cst.BaseExpression:
    parent = facts.parents.get(node)
    if isinstance(parent, cst.Await):
        return parent
    return node


def _uses_drf(facts: Facts) -> bool:
    names = list(facts.module_aliases.values()) + list(facts.from_imports.values())
    return any(n.startswith("rest_framework") for n in names)


def payload_expressions(facts: Facts) -> list[cst.BaseExpression]:
    """``request.json``, ``request.get_json()``, ``json.loads(request.body)``, ``request.data``."""
    found: list[cst.BaseExpression] = []
    drf = _uses_drf(facts)
    for attr in facts.attributes:
        if not _is_request(attr.value) or _is_local_of_loads(facts, attr):
            continue
        parent = facts.parents.get(attr)
        if attr.attr.value == "json":
            if isinstance(parent, cst.Call) and parent.func is attr:
                found.append(_lift(facts, parent))
            else:
                found.append(attr)
        elif attr.attr.value == "data" and drf and not (
            isinstance(parent, cst.Call) and parent.func is attr
        ):
            found.append(attr)
    for call in facts.calls:
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "get_json" and _is_request(
            func.value
        ):
            found.append(_lift(facts, call))
        elif dotted(func).rsplit(".", 1)[-1] in _LOADERS and call.args:
            arg = call.args[0].value
            if isinstance(arg, cst.Name):  # raw = request.body; json.loads(raw)
                hit = facts.resolve(arg, facts.scope_of[call])
                arg = hit[0] if hit is not None else arg
            if _raw_body(arg):
                found.append(_lift(facts, call))
        elif (isinstance(func, cst.Attribute) and func.attr.value == "parse"
              and isinstance(func.value, cst.Call) and dotted(func.value.func).endswith(
                  "JSONParser") and call.args and _is_request(call.args[0].value)):
            found.append(_lift(facts, call))
    inside: set[cst.CSTNode] = set()
    for node in found:
        _descendants(node, inside)
    out = []
    for node in found:
        if node in inside or _wrapped(facts, node) or _is_target(facts, node):
            continue
        if node not in out:
            out.append(node)
    return out


def _raw_body(arg: cst.BaseExpression) -> bool:
    """``request.body`` / ``request.data`` / ``request.get_data()`` (any ``x.request`` too),
    or one of them decoded first (``request.body.decode("utf-8")``)."""
    if (isinstance(arg, cst.Call) and isinstance(arg.func, cst.Attribute)
            and arg.func.attr.value == "decode"):
        arg = arg.func.value
    if isinstance(arg, cst.Attribute) and arg.attr.value in ("body", "data"):
        return _is_request(arg.value)
    return (isinstance(arg, cst.Call) and isinstance(arg.func, cst.Attribute)
            and arg.func.attr.value == "get_data" and _is_request(arg.func.value))


def _is_local_of_loads(facts: Facts, attr: cst.Attribute) -> bool:
    """``raw = request.body`` that a ``json.loads(raw)`` decodes (the loads is wrapped)."""
    return attr.attr.value != "json" and isinstance(facts.parents.get(attr), cst.Assign)


def _descendants(node: cst.CSTNode, out: set[cst.CSTNode]) -> None:
    for child in node.children:
        out.add(child)
        _descendants(child, out)


def _wrapped(facts: Facts, node: cst.CSTNode) -> bool:
    parent = facts.parents.get(node)
    if isinstance(parent, cst.Arg):
        call = facts.parents.get(parent)
        return isinstance(call, cst.Call) and dotted(call.func).rsplit(".", 1)[-1] in _ADAPTERS
    return False


def _is_target(facts: Facts, node: cst.CSTNode) -> bool:
    parent = facts.parents.get(node)
    return isinstance(parent, cst.AssignTarget | cst.Del) or (
        isinstance(parent, cst.AugAssign) and parent.target is node
    )


def _already_migrated(facts: Facts) -> bool:
    names = set(facts.from_imports) | set(facts.module_aliases)
    return bool(names & _ADAPTERS)


def analyze_webhooks(facts: Facts, a: Analysis, text: str, target: Target, *,
                     onprem: bool = False) -> None:
    """``onprem``: the file is proven to call the On-Prem API (its parameters may be bodies)."""
    if not _SHAPE.search(text) or not _MARKERS.search(text):
        return
    if not _WHATSAPP.search(text):
        return  # "messages"/"statuses" of some other API
    if _CLOUD_ENTRY.search(text) and _CLOUD_CHANGES.search(text):
        return  # the handler already reads Cloud's entry[].changes[]
    if _already_migrated(facts):
        return
    judged = _handlers(facts, a, target)
    if onprem:
        from codemods.webhook_params import report_parameters

        report_parameters(facts, a, judged)


def _handlers(facts: Facts, a: Analysis, target: Target) -> set[int]:
    """Wrap or report each handler's payload; the ids of the functions it is handed to."""
    exprs = payload_expressions(facts)
    judged: set[int] = set()
    first: cst.CSTNode | None = None
    # every ``request.data`` of one handler is the same object: decide for them together
    groups: dict[tuple[int, str], list[cst.BaseExpression]] = {}
    for node in exprs:
        fn = next((p for p in iter_parents(facts, node) if isinstance(p, cst.FunctionDef)),
                  None)
        groups.setdefault((id(fn), facts.code(node, 200)), []).append(node)
    for nodes in groups.values():
        use = _Use()
        for node in nodes:
            _body_use(facts, node, use)
        judged.update(id(fn) for fn in use.followed)
        if not use.reads:
            continue  # not proven a webhook body
        node = nodes[0]
        if use.foreign is not None:
            a.add("WM402", "manual", f"`{facts.code(node, 40)}` is read for "
                  f"`{facts.code(use.foreign, 40)}`, a key no WhatsApp webhook body has: this "
                  "handler also takes other requests (an integration handshake, a partner "
                  f"call), which {VIEW_NAME} would refuse; wrap the body with {VIEW_NAME}(...) "
                  "only on the branch that handles webhook events", node,
                  todo=f"not only webhook bodies arrive here: wrap with {VIEW_NAME} only where "
                  "the body is a webhook event")
        elif use.written is not None:
            a.add("WM402", "manual", f"the webhook body `{facts.code(node, 40)}` is written to "
                  f"(`{facts.code(use.written, 40)}`): {VIEW_NAME} returns a new object, so "
                  "the write would be lost; copy the body into your own dict after "
                  f"{VIEW_NAME}(...) and write to that", use.written,
                  todo=f"writes to the webhook body would be lost under {VIEW_NAME}: "
                  "copy it into your own dict first")
        elif use.passed is not None:
            a.add("WM402", "manual", f"the webhook body `{facts.code(node, 40)}` is handed "
                  f"whole to `{facts.code(use.passed, 40)}`: wrap it with {VIEW_NAME}(...) "
                  "where that code reads the On-Prem keys, if it only reads them", use.passed,
                  todo=f"the webhook body goes to other code whole: wrap it with {VIEW_NAME} "
                  "where it is read")
        else:
            for n in nodes:
                item = a.add("WM401", "safe", f"webhook payload `{facts.code(n, 40)}` -> "
                             f"{VIEW_NAME}(...): Cloud nests events in entry[].changes[].value;"
                             f" {VIEW_NAME} hands the handler the flat On-Prem body", n,
                             view_import=True)
                a.edit(n, item, _wrap)
        first = first or node
    if target is Target.META and first is not None:
        a.add("WM911", "manual", "Meta calls this webhook directly: answer the GET "
              "hub.challenge handshake with your verify token and check X-Hub-Signature-256 "
              "(shim.webhooks WebhookGuard / WSGIWebhookGuard do both)", first,
              todo="verify Meta's GET handshake and X-Hub-Signature-256 (shim.webhooks guards)")
    return judged


class _Use:
    """How a handler uses its payload object: webhook-key reads, writes, hand-offs."""

    def __init__(self) -> None:
        self.reads = False
        self.written: cst.CSTNode | None = None
        self.passed: cst.CSTNode | None = None
        #: a read of a top-level key no webhook body has (the object is another request)
        self.foreign: cst.CSTNode | None = None
        #: functions of this module the object was handed to and followed into
        self.followed: list[cst.FunctionDef] = []


def _body_use(facts: Facts, node: cst.BaseExpression, use: _Use) -> _Use:
    _classify(facts, node, use)
    parent = facts.parents.get(node)
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(
        parent.targets[0].target, cst.Name
    ):
        name = parent.targets[0].target.value
        scope = _scope_for(facts, node)
        if scope is not None and len(scope.assigns.get(name, [])) == 1:
            for ref in _name_refs(scope.node, name):
                _classify(facts, ref, use)
        else:
            use.passed = parent  # rebound: cannot follow it
    return use


def _scope_for(facts: Facts, node: cst.CSTNode) -> Scope | None:
    """The scope of a payload expression (an ``await`` takes its call's)."""
    if isinstance(node, cst.Await):
        node = node.expression
    return facts.scope_of.get(node)


def _name_refs(root: cst.CSTNode, name: str) -> list[cst.Name]:
    """Every use of the variable ``name`` under ``root``.

    A keyword argument's name (``post(data=other)``) and an attribute's name
    (``request.data``) are Name nodes too, but they are not the variable.
    """
    out: list[cst.Name] = []
    stack = [root]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Name) and cur.value == name:
            out.append(cur)
        if isinstance(cur, cst.Arg):
            stack.extend(c for c in cur.children if c is not cur.keyword)
        elif isinstance(cur, cst.Attribute):
            stack.extend(c for c in cur.children if c is not cur.attr)
        else:
            stack.extend(cur.children)
    return out


def _classify(facts: Facts, obj: cst.BaseExpression, use: _Use, depth: int = 0) -> None:
    """One occurrence of the payload object: what the code around it does with it."""
    parent = facts.parents.get(obj)
    if isinstance(parent, cst.Subscript) and parent.value is obj:
        key = _index_key(parent)
        if _is_written(facts, parent):
            use.written = use.written or facts.statement_of(parent)
        elif key in WEBHOOK_KEYS:
            use.reads = True
        elif key is not None and key not in BODY_KEYS:
            use.foreign = use.foreign or parent
        return
    if isinstance(parent, cst.Attribute) and parent.value is obj:
        call = facts.parents.get(parent)
        if isinstance(call, cst.Call) and call.func is parent:
            method = parent.attr.value
            if method in _MUTATORS:
                use.written = use.written or facts.statement_of(call)
            elif method == "get" and call.args:
                key = _str(call.args[0].value)
                if key in WEBHOOK_KEYS:
                    use.reads = True
                elif key is not None and key not in BODY_KEYS:
                    use.foreign = use.foreign or call
        return
    if isinstance(parent, cst.ComparisonTarget) and isinstance(
        parent.operator, cst.In | cst.NotIn
    ):
        cmp = facts.parents.get(parent)
        key = _str(cmp.left) if isinstance(cmp, cst.Comparison) else None
        if key in WEBHOOK_KEYS:
            use.reads = True
        elif key is not None and key not in BODY_KEYS:
            use.foreign = use.foreign or cmp
        return
    if isinstance(parent, cst.Arg):
        call = facts.parents.get(parent)
        name = dotted(call.func).rsplit(".", 1)[-1] if isinstance(call, cst.Call) else ""
        if name not in _LOOKERS and name not in _ADAPTERS:
            if isinstance(call, cst.Call) and _handed_to_reader(facts, call, parent, use, depth):
                return
            use.passed = use.passed or call
            if isinstance(call, cst.Call) and _validated_reads(facts, call):
                use.reads = True  # Serializer(data=body) whose validated_data is read
        return
    if isinstance(parent, cst.Return | cst.Yield | cst.Element | cst.DictElement
                  | cst.StarredElement | cst.StarredDictElement):
        use.passed = use.passed or parent
    elif isinstance(parent, cst.Assign) and obj is parent.value and not isinstance(
        parent.targets[0].target, cst.Name
    ):
        use.passed = use.passed or parent  # stored on an object


#: How many same-module calls deep a body handed on is followed.
_MAX_HANDOFF_DEPTH: Final = 3


def _handed_to_reader(facts: Facts, call: cst.Call, arg: cst.Arg, use: _Use, depth: int) -> bool:
    """``handle(body)`` where ``handle`` is a function of this module: follow the body in.

    The hand-off is judged by what the callee does with its parameter: reads of
    webhook keys make the body a webhook body (wrapped where it is received),
    writes or further hand-offs are reported as they would be in place. Anything
    that cannot be followed (other modules, ``*args``, a rebound parameter) is
    left to the caller as a plain hand-off.
    """
    if depth >= _MAX_HANDOFF_DEPTH or not isinstance(call.func, cst.Name) or arg.star:
        return False
    fn = next((st for st in facts.module.body if isinstance(st, cst.FunctionDef)
               and st.name.value == call.func.value), None)
    if fn is None:
        return False
    params = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
    if arg.keyword is not None:
        param = arg.keyword.value
        if param not in params and param not in {p.name.value for p in fn.params.kwonly_params}:
            return False
    else:
        index = sum(1 for a in call.args[: call.args.index(arg)] if a.keyword is None)
        if index >= len(params):
            return False
        param = params[index]
    refs = _name_refs(fn.body, param)
    if any(_rebinds(facts, r) for r in refs):
        return False  # the parameter is assigned to inside: cannot follow it
    inner = _Use()
    for ref in refs:
        _classify(facts, ref, inner, depth + 1)
    use.followed += [fn, *inner.followed]
    if not inner.reads:
        return False
    use.reads = True
    use.written = use.written or inner.written
    use.passed = use.passed or inner.passed
    use.foreign = use.foreign or inner.foreign
    return True


def _rebinds(facts: Facts, name: cst.Name) -> bool:
    parent = facts.parents.get(name)
    if isinstance(parent, cst.AssignTarget | cst.AugAssign | cst.AnnAssign | cst.For):
        return True
    return isinstance(parent, cst.Attribute) and parent.attr is name


def _validated_reads(facts: Facts, call: cst.Call) -> bool:
    """``s = Serializer(data=body)`` then ``s.validated_data.get("statuses")``."""
    assign = facts.parents.get(call)
    if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
            and isinstance(assign.targets[0].target, cst.Name)):
        return False
    name = assign.targets[0].target.value
    fn = next((p for p in iter_parents(facts, call) if isinstance(p, cst.FunctionDef)), None)
    if fn is None:
        return False
    for ref in _name_refs(fn, name):
        attr = facts.parents.get(ref)
        if isinstance(attr, cst.Attribute) and attr.attr.value in ("validated_data", "data"):
            probe = _Use()
            _classify(facts, attr, probe)
            if probe.reads:
                return True
    return False


def _is_written(facts: Facts, sub: cst.Subscript) -> bool:
    """Is ``sub`` (or a subscript chain starting at it) an assignment or del target?"""
    cur: cst.CSTNode = sub
    while True:
        parent = facts.parents.get(cur)
        if isinstance(parent, cst.AssignTarget | cst.Del):
            return True
        if isinstance(parent, cst.AugAssign) and parent.target is cur:
            return True
        if isinstance(parent, cst.Subscript) and parent.value is cur:
            cur = parent
            continue
        if isinstance(parent, cst.Attribute) and parent.value is cur:
            call = facts.parents.get(parent)
            return (isinstance(call, cst.Call) and call.func is parent
                    and parent.attr.value in (*_MUTATORS, "append", "extend", "remove",
                                              "insert"))
        return False


def _index_key(sub: cst.Subscript) -> str | None:
    if len(sub.slice) != 1 or not isinstance(sub.slice[0].slice, cst.Index):
        return None
    return _str(sub.slice[0].slice.value)


def _str(node: cst.BaseExpression) -> str | None:
    from codemods.literals import string_value

    return string_value(node) if isinstance(node, cst.SimpleString) else None


def _wrap(node: cst.CSTNode, enabled: frozenset[int]) -> cst.CSTNode:
    assert isinstance(node, cst.BaseExpression)
    return cst.Call(func=cst.Name(VIEW_NAME), args=[cst.Arg(value=node)])

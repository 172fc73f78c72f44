"""Webhook handlers written for On-Prem bodies: wrap the payload expression.

One edit covers a handler whatever it does next (guards, loops, indexing):
``request.get_json()`` becomes ``onprem_view(request.get_json())``, which
hands back the flat On-Prem body for a Cloud ``entry[].changes[].value``
batch and passes an On-Prem body through (``shim.webhooks.onprem_view``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

import libcst as cst

from codemods.facts import Facts, dotted
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
        if not _is_request(attr.value):
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
            if (isinstance(arg, cst.Attribute) and arg.attr.value in ("body", "data")
                    and _is_request(arg.value)) or (
                isinstance(arg, cst.Call) and isinstance(arg.func, cst.Attribute)
                and arg.func.attr.value == "get_data" and _is_request(arg.func.value)
            ):
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


def analyze_webhooks(facts: Facts, a: Analysis, text: str, target: Target) -> None:
    exprs = payload_expressions(facts)
    if not exprs or not _SHAPE.search(text) or not _MARKERS.search(text):
        return
    if not _WHATSAPP.search(text):
        return  # "messages"/"statuses" of some other API
    if _CLOUD_ENTRY.search(text) and _CLOUD_CHANGES.search(text):
        return  # the handler already reads Cloud's entry[].changes[]
    if _already_migrated(facts):
        return
    for node in exprs:
        item = a.add("WM401", "safe", f"webhook payload `{facts.code(node, 40)}` -> "
                     f"{VIEW_NAME}(...): Cloud nests events in entry[].changes[].value; "
                     f"{VIEW_NAME} hands the handler the flat On-Prem body", node,
                     view_import=True)
        a.edit(node, item, _wrap)
    if target is Target.META:
        a.add("WM911", "manual", "Meta calls this webhook directly: answer the GET "
              "hub.challenge handshake with your verify token and check X-Hub-Signature-256 "
              "(shim.webhooks WebhookGuard / WSGIWebhookGuard do both)", exprs[0],
              todo="verify Meta's GET handshake and X-Hub-Signature-256 (shim.webhooks guards)")


def _wrap(node: cst.CSTNode, enabled: frozenset[int]) -> cst.CSTNode:
    assert isinstance(node, cst.BaseExpression)
    return cst.Call(func=cst.Name(VIEW_NAME), args=[cst.Arg(value=node)])

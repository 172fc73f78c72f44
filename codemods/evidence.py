"""What proves a file talks to the On-Premise API: values, not vocabulary.

A word such as "whatsapp" is a reason to look at a file, never a reason to edit
it. A file is On-Prem when one of its values says so: a string naming an
On-Prem host (or a host the user declared), a ``D360-API-KEY`` header, a send
body in the On-Prem shape (a recipient and message type but no
``messaging_product``, an ``hsm``, a contacts check), or a read of a response
field only On-Prem sends. A bare ``/v1/messages`` path on an unknown host is
someone else's API until one of these turns up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import libcst as cst

from codemods.dicts import dynamic_keys, keys_of, value_of
from codemods.facts import Facts, Scope
from codemods.literals import string_value
from shim.mapping import fields, hosts
from shim.mapping.hosts import D360_API_KEY_HEADER

_D360: Final = D360_API_KEY_HEADER.lower()


@dataclass(frozen=True, slots=True)
class ResponseRead:
    """A read of a response field only On-Prem sends, with what Cloud has instead."""

    node: cst.CSTNode
    scope: Scope
    field: str
    instead: str


#: (key path, with "0" for an index) -> what Cloud sends instead
ONPREM_RESPONSE_FIELDS: Final = {
    ("meta", "api_status"): "Cloud responses have no meta.api_status: check the HTTP status "
    "(2xx) instead",
    ("meta", "version"): "Cloud responses have no meta.version",
    ("errors", "0", "code"): "Cloud reports one error as error.code with Graph codes (e.g. "
    "131026, 131047, 130429), not On-Prem errors[0].code: compare response['error']['code']",
    ("errors", "0", "details"): "Cloud reports one error: read "
    "response['error']['error_data']['details'] (or ['error']['message'])",
    ("errors", "0", "title"): "Cloud reports one error: read response['error']['message']",
    ("users", "0", "token"): "Cloud has no login token: use the channel's API key (360dialog) "
    "or system-user token (Meta)",
    ("media", "0", "id"): "a Cloud media upload answers {\"id\": ...}: read response['id']",
}


def _key(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Integer):
        return node.value
    return string_value(node) if isinstance(node, cst.SimpleString) else None


def _chain(facts: Facts, node: cst.CSTNode) -> tuple[list[str], cst.CSTNode]:
    """Keys read from ``node`` onwards (``x["a"][0]``, ``x.get("a")``) and the outermost read."""
    keys: list[str] = []
    cur = node
    while True:
        parent = facts.parents.get(cur)
        if isinstance(parent, cst.Subscript) and parent.value is cur and len(parent.slice) == 1:
            idx = parent.slice[0].slice
            k = _key(idx.value) if isinstance(idx, cst.Index) else None
            if k is None:
                break
            keys.append(k)
            cur = parent
            continue
        if isinstance(parent, cst.Attribute) and parent.value is cur and parent.attr.value == "get":
            call = facts.parents.get(parent)
            if isinstance(call, cst.Call) and call.args:
                k = _key(call.args[0].value)
                if k is None:
                    break
                keys.append(k)
                cur = call
                continue
        break
    return keys, cur


def response_reads(facts: Facts) -> Iterator[ResponseRead]:
    """Reads of On-Prem-only response fields (``out["meta"]["api_status"]`` and co)."""
    firsts = {path[0] for path in ONPREM_RESPONSE_FIELDS}
    seen: set[int] = set()
    for leaf in _first_keys(facts, firsts):
        keys, outer = _chain(facts, leaf)
        for path, instead in ONPREM_RESPONSE_FIELDS.items():
            if tuple(keys[: len(path)]) == path and id(outer) not in seen:
                seen.add(id(outer))
                scope = facts.scope_of.get(leaf) or facts.module_scope
                yield ResponseRead(outer, scope, ".".join(
                    f"[{k}]" if k.isdigit() else k for k in path).replace(".[", "["), instead)


def _first_keys(facts: Facts, firsts: set[str]) -> Iterator[cst.BaseExpression]:
    """Objects a first key of interest is read from (``x`` in ``x["meta"]``, ``x.get("meta")``)."""
    for call in facts.calls:
        func = call.func
        if (isinstance(func, cst.Attribute) and func.attr.value == "get" and call.args
                and _key(call.args[0].value) in firsts):
            yield func.value
    for node in facts.subscripts:
        if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) and _key(
            node.slice[0].slice.value
        ) in firsts:
            yield node.value


def read_receipt(d: cst.Dict) -> bool:
    """Exactly On-Prem's read-receipt body, ``{"status": "read"}``."""
    return set(keys_of(d)) == {"status"} and string_value(value_of(d, "status") or d) == "read"


def onprem_send_body(d: cst.Dict) -> bool:
    """A send body (or contacts check) in the On-Prem shape, with no Cloud marker."""
    keys = keys_of(d)
    if "messaging_product" in keys:
        return False
    if "hsm" in keys or "localizable_params" in keys:
        return True
    if "blocking" in keys and "contacts" in keys:
        return True
    if read_receipt(d):
        return True  # a read receipt (PUT /v1/messages/{id})
    if "to" not in keys:
        return False
    kind_node = value_of(d, "type")
    kind = string_value(kind_node) if isinstance(kind_node, cst.SimpleString) else None
    if kind is not None:
        return kind in fields.ONPREM_SEND_TYPES and (kind in keys or "recipient_type" in keys
                                                      or kind == "hsm")
    return ("recipient_type" in keys or bool(keys.keys() & fields.ONPREM_SEND_TYPES)
            or (kind_node is not None and bool(dynamic_keys(d))))


def is_onprem_host(name: str, declared: frozenset[str]) -> bool:
    name = name.lower()
    return name in hosts.ONPREM_HOSTS or name in declared


def file_evidence(facts: Facts, text: str, declared: frozenset[str]) -> bool:
    """Does a value in this file prove it talks to the On-Prem API?"""
    low = text.lower()
    if any(h in low for h in hosts.ONPREM_HOSTS) or any(h in low for h in declared):
        return True
    for d in facts.dicts:
        for el in d.elements:
            if isinstance(el, cst.DictElement) and (string_value(el.key) or "").lower() == _D360:
                return True
        if onprem_send_body(d):
            return True
    if any(key.lower() == _D360 for _, _, key, _ in facts.subscript_assigns):
        return True
    return next(response_reads(facts), None) is not None

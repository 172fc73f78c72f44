"""On-Prem endpoints that tests stub or assert: reported so test files are found too.

A test that registers ``responses.add(POST, ".../v1/messages", ...)`` or asserts
``mock_post.assert_called_with(".../v1/configs/templates", ...)`` pins the
On-Prem request its code under test makes. It is not a request itself, so the
URL rules leave it alone; but when that code migrates, the stub and the
assertion must follow (the Cloud URL, the Cloud answer). Test files are
reported, not rewritten, unless ``--include-tests``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import libcst as cst

from codemods.facts import Facts, dotted
from codemods.urls import Lit, Syn, plan_url
from shim.mapping.hosts import Target

#: Calls that register a fake answer or check the request a test double received.
_DOUBLE: Final = re.compile(
    r"(?:^|\.)(?:add|replace|upsert|register_uri|assert_called_with|assert_called_once_with|"
    r"assert_any_call|expect\w*|stub\w*)$|^(?:responses|respx|httpretty|aioresponses)\."
    r"(?:get|post|put|patch|delete|head)$")
_ONPREM_PATH: Final = re.compile(
    r"/v1/(?:messages|contacts|media|users|settings|configs|account|health|groups|"
    r"certificates|stickerpacks|chats)\b")


@dataclass(frozen=True, slots=True)
class Double:
    node: cst.Call
    message: str
    todo: str


def test_doubles(facts: Facts, target: Target, *, shim: bool) -> Iterator[Double]:
    """Stubs and call assertions whose URL argument is an On-Prem API path."""
    for call in facts.calls:
        name = dotted(call.func)
        if not name or not _DOUBLE.search(name):
            continue
        scope = facts.scope_of.get(call, facts.module_scope)
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value not in ("url", "uri"):
                continue
            atoms = facts.flatten(arg.value, scope)
            text = "".join(x.text if isinstance(x, Lit | Syn) else "{...}" for x in atoms)
            m = _ONPREM_PATH.search(text)
            if m is None:
                continue
            path = text[m.start():]
            plan = plan_url(atoms, None, target, context=True)
            if plan is not None and plan.kind == "manual" and _TURN in plan.message:
                what, instead = "Turn's own API", "it stays on Turn: keep this as it is"
            elif shim:
                what, instead = "the On-Prem API", ("under the shim it keeps this URL: the "
                                                    "stub holds while the test config declares "
                                                    "no channel for its host")
            elif plan is not None and plan.kind == "manual" and plan.code in ("WM901", "WM902"):
                what, instead = "the On-Prem API", plan.todo or plan.message
            elif plan is not None and plan.new_url:
                what, instead = "the On-Prem API", (f"stub or assert {plan.new_url} and the "
                                                    "Cloud answer instead")
            else:
                what, instead = "the On-Prem API", "stub or assert the Cloud URL and answer"
            yield Double(call, f"this test stubs or asserts a request to {what} ({path}, "
                         f"`{facts.code(call, 40)}`); when the code under test migrates: "
                         f"{instead}", f"{path} ({what}): {instead}")
            break


#: How the mapping table names an endpoint only Turn.io serves.
_TURN: Final = "Turn.io extension"

"""Send literals the shim's translator would refuse, asked of the translator itself.

Under the shim strategy the code keeps its On-Prem bodies and the drop-in
translates each one at run time; a body the translator refuses (an hsm without
``language``, say) fails there with a 400. A send literal is run through
``shim.translate`` with every value known only at run time replaced by a
placeholder; a refusal located at a part the literal states (a key it lacks, a
constant it holds) is reported, one located at a placeholder is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import libcst as cst

from codemods.literals import string_value
from shim.translate import TranslationError, translate_send_body

#: What a value known only at run time is replaced with (a plausible recipient too).
PLACEHOLDER: Final = "15550000000"


@dataclass(frozen=True, slots=True)
class Refusal:
    path: str
    reason: str


def _value(node: cst.BaseExpression, path: str, dynamic: list[str]) -> Any:
    if isinstance(node, cst.Dict):
        out: dict[str, Any] = {}
        for el in node.elements:
            key = string_value(el.key) if isinstance(el, cst.DictElement) else None
            if key is None:  # ``**other`` or a computed key: the keys are not all known
                dynamic.append(path)
                return PLACEHOLDER
            out[key] = _value(el.value, f"{path}.{key}", dynamic)
        return out
    if isinstance(node, cst.List | cst.Tuple):
        items: list[Any] = []
        for i, item in enumerate(node.elements):
            if isinstance(item, cst.StarredElement):
                dynamic.append(path)
                return PLACEHOLDER
            items.append(_value(item.value, f"{path}[{i}]", dynamic))
        return items
    text = string_value(node)
    if text is not None:
        return text
    if isinstance(node, cst.Integer):
        return int(node.value, 0)
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    dynamic.append(path)
    return PLACEHOLDER


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def refusal(body: cst.Dict, added_later: frozenset[str] = frozenset()) -> Refusal | None:
    """The translator's refusal of ``body`` that the literal itself causes, if any.

    ``added_later`` are keys the code assigns by subscript after building the
    literal (``data["language"] = ...``): a refusal for a missing one of them is
    not the literal's.
    """
    dynamic: list[str] = []
    value = _value(body, "$", dynamic)
    if not isinstance(value, dict):
        return None
    try:
        translate_send_body(value)
    except TranslationError as exc:
        if any(_under(exc.path, d) or _under(d, exc.path) for d in dynamic):
            return None  # located at (or around) a value the code computes
        if exc.path.rsplit(".", 1)[-1] in added_later:
            return None
        return Refusal(exc.path, exc.reason)
    return None

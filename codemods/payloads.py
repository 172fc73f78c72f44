"""Send-payload dict literals rewritten by the field rules of the mapping table.

Each row of ``shim.mapping.fields.SEND_RULES`` is applied by action (add,
move, drop, rename, convert, reject) at CST level, in table order, so the
literal keeps its layout and variables. Fully constant literals are also run
through the translator (see :mod:`codemods.oracle`); when its body differs from
the in-place result, the translator's body is written instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

import libcst as cst

from codemods import oracle
from codemods.dicts import (
    Column,
    dynamic_keys,
    insert_key,
    key_quote,
    keys_of,
    remove_key,
    rename_key,
    replace_element,
    replace_value,
    value_of,
)
from codemods.literals import str_literal, string_value
from shim.mapping import fields
from shim.mapping.fields import Action, FieldRule

Fix = Literal["safe", "unsafe", "manual"]
DictEdit = Callable[[cst.Dict], cst.Dict]

#: Which rule code reports each send field rule (keyed by the rule's On-Prem path).
FIELD_RULE_CODES: Final[dict[str, str]] = {
    "": "WM301",
    "recipient_type": "WM909",
    "preview_url": "WM302",
    "ttl": "WM305",
    "{media}.provider": "WM305",
    "audio.caption": "WM305",
    "sticker.caption": "WM305",
    "hsm": "WM303",
    "template.namespace": "WM304",
    "template.language.policy": "WM307",
    "template.components.*.parameters.*.date_time.*": "WM305",
    "context.id": "WM306",
}
#: Rows that depend on a value only known at run time (a null, a business-scoped user id
#: in ``to``): the translator applies them per request; code has nothing to rewrite.
RUNTIME_RULES: Final = frozenset({"**=null", "to(BSUID)"})
_LOSSY: Final = "WM305"
_SAFE_CODES: Final = frozenset({"WM301", "WM302", "WM303", "WM304", "WM306", "WM307"})
_HSM_TODO: Final = "convert this hsm to a template by hand"
_HSM_KEYS: Final = frozenset({"namespace", "element_name", "language", "localizable_params"})


@dataclass(eq=False)
class Step:
    code: str
    fix: Fix
    message: str
    anchor: cst.CSTNode
    apply: DictEdit | None = None
    todo: str = ""


@dataclass(eq=False)
class PayloadPlan:
    dict_node: cst.Dict
    steps: list[Step] = field(default_factory=list)
    #: the translator's body, used when every step of this dict is applied
    oracle: cst.Dict | None = None


def code_for(rule: FieldRule) -> str:
    return FIELD_RULE_CODES.get(rule.onprem, _LOSSY if rule.action is Action.DROP else "WM908")


def fix_for(code: str) -> Fix:
    if code in _SAFE_CODES:
        return "safe"
    return "unsafe" if code == _LOSSY else "manual"


def _node_code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def _at(path: tuple[str, ...], fn: DictEdit) -> DictEdit:
    """Apply ``fn`` to the dict literal found by following ``path`` from the root."""

    def edit(root: cst.Dict) -> cst.Dict:
        if not path:
            return fn(root)
        child = value_of(root, path[0])
        if not isinstance(child, cst.Dict):
            return root
        return replace_value(root, path[0], _at(path[1:], fn)(child))

    return edit


def _dicts_at(d: cst.Dict, parts: list[str]) -> list[tuple[tuple[str, ...], cst.Dict]]:
    """Nested dict literals at a rule path (``{media}`` expands to every media type)."""
    if not parts:
        return [((), d)]
    head, rest = parts[0], parts[1:]
    names = sorted(fields.MEDIA_TYPES) if head == "{media}" else [head]
    out: list[tuple[tuple[str, ...], cst.Dict]] = []
    for name in names:
        child = value_of(d, name)
        if isinstance(child, cst.Dict):
            out.extend(((name, *p), n) for p, n in _dicts_at(child, rest))
    return out


def plan_payload(
    d: cst.Dict, *, envelope: bool, base_indent: str = "", rules: tuple[FieldRule, ...] = (),
    column: Column | None = None,
) -> PayloadPlan:
    """What the send field rules do to one dict literal.

    ``envelope``: the dict is a whole send body (gets ``messaging_product``);
    otherwise it is a part (an ``hsm`` or ``template`` object built apart).
    ``column``: where the dict's first element starts past ``base_indent``.
    """
    plan = PayloadPlan(d)
    for rule in rules or fields.SEND_RULES:
        if rule.onprem in RUNTIME_RULES:
            continue
        code = code_for(rule)
        if rule.action is Action.ADD:
            if envelope and rule.cloud and rule.cloud not in keys_of(d):
                plan.steps.append(_add(d, rule, code, column))
        elif rule.action is Action.REJECT:
            plan.steps.extend(_reject(d, rule, code))
        elif rule.action is Action.MOVE:
            plan.steps.extend(_move(d, rule, code))
        elif rule.action is Action.DROP:
            plan.steps.extend(_drop(d, rule, code))
        elif rule.action is Action.RENAME:
            plan.steps.extend(_rename(d, rule, code))
        elif rule.action is Action.CONVERT and rule.onprem == "hsm":
            plan.steps.extend(_convert_hsm(d, rule, code))
    if envelope and plan.steps:
        _consult_translator(plan, base_indent)
    return plan


def _why(rule: FieldRule) -> str:
    return f"{rule.why}" + (f" ({rule.warning})" if rule.warning else "")


def _add(d: cst.Dict, rule: FieldRule, code: str, column: Column | None) -> Step:
    key = rule.cloud or ""
    value = fields.MESSAGING_PRODUCT

    def edit(x: cst.Dict) -> cst.Dict:
        if key in keys_of(x):
            return x
        return insert_key(x, key, str_literal(value, key_quote(x)), 0, column)

    return Step(code, fix_for(code), f'add "{key}": "{value}": {_why(rule)}', d, edit)


def _reject(d: cst.Dict, rule: FieldRule, code: str) -> list[Step]:
    node = value_of(d, rule.onprem)
    if node is None:
        return []
    value = string_value(node)
    if value is None:
        return []
    reason = oracle.recipient_type_refusal(value) if rule.onprem == "recipient_type" else None
    if reason is None:
        return []
    return [Step(code, "manual", f"{rule.onprem} {value!r}: {reason}", node,
                 todo=f"{rule.onprem} {value!r} has no Cloud equivalent")]


def _move(d: cst.Dict, rule: FieldRule, code: str) -> list[Step]:
    src = rule.onprem.split(".")
    dst = (rule.cloud or "").split(".")
    out: list[Step] = []
    for path, parent in _dicts_at(d, src[:-1]):
        el_value = value_of(parent, src[-1])
        if el_value is None:
            continue
        target = value_of(d, dst[0]) if len(dst) == 2 else None
        kind = string_value(value_of(d, "type") or d) if len(dst) == 2 and not path else None
        if target is None and kind is not None and kind != dst[0]:
            # a field of one message type on another (preview_url on an image): the
            # translator drops it, and so does the rewrite
            out.append(Step(code, fix_for(code), f"drop {rule.onprem}: a {kind} message has "
                            f"no {dst[0]} object ({_why(rule)})", el_value,
                            _remover(src[-1])))
            continue
        if not isinstance(target, cst.Dict) or len(dst) != 2 or path:
            out.append(Step(code, "manual", f"move {rule.onprem} to {rule.cloud} by hand: "
                            f"{_why(rule)}", el_value, todo=f"move {rule.onprem} to {rule.cloud}"))
            continue
        if dst[-1] in keys_of(target):
            continue
        out.append(Step(code, fix_for(code), f"move {rule.onprem} to {rule.cloud}: "
                        f"{_why(rule)}", el_value, _move_edit(src[-1], dst[0], dst[-1])))
    return out


def _move_edit(key: str, into: str, new_key: str) -> DictEdit:
    def edit(x: cst.Dict) -> cst.Dict:
        value = value_of(x, key)
        target = value_of(x, into)
        if value is None or not isinstance(target, cst.Dict) or new_key in keys_of(target):
            return x
        x = remove_key(x, key)
        return replace_value(x, into, insert_key(target, new_key, value, 0))

    return edit


def _drop(d: cst.Dict, rule: FieldRule, code: str) -> list[Step]:
    parts = rule.onprem.split(".")
    if "*" in parts:
        return _drop_wildcard(d, rule, code, parts)
    out: list[Step] = []
    for path, parent in _dicts_at(d, parts[:-1]):
        key = parts[-1]
        node = value_of(parent, key)
        if node is None:
            continue
        if rule.onprem.endswith("language.policy"):
            value = string_value(node)
            if value is None or oracle.keeps_policy(value):
                continue
        where = ".".join((*path, key))
        out.append(Step(code, fix_for(code), f"drop {where}: {_why(rule)}", node,
                        _at(path, _remover(key))))
    return out


def _renamer(old: str, new: str) -> DictEdit:
    return lambda x: rename_key(x, old, new)


def _remover(key: str) -> DictEdit:
    return lambda x: remove_key(x, key)


def _drop_wildcard(d: cst.Dict, rule: FieldRule, code: str, parts: list[str]) -> list[Step]:
    """``template.components.*.parameters.*.date_time.*``: keep what the translator keeps."""
    if parts[-1] != "*" or parts.count("*") != 3:
        return []
    template = value_of(d, parts[0])
    if not isinstance(template, cst.Dict):
        return []
    comps = value_of(template, parts[1])
    if not isinstance(comps, cst.List):
        return []
    out: list[Step] = []
    for ci, comp in enumerate(comps.elements):
        if not isinstance(comp.value, cst.Dict):
            continue
        params = value_of(comp.value, parts[3])
        if not isinstance(params, cst.List):
            continue
        for pi, param in enumerate(params.elements):
            if not isinstance(param.value, cst.Dict):
                continue
            inner = value_of(param.value, parts[5])
            if not isinstance(inner, cst.Dict) or dynamic_keys(inner):
                continue
            keys = frozenset(keys_of(inner))
            drop = sorted(keys - oracle.date_time_keeps(keys))
            if drop:
                out.append(Step(code, fix_for(code), f"drop {', '.join(drop)} from a "
                                f"{parts[5]} parameter: {_why(rule)}", inner,
                                _wild_edit(parts, ci, pi, tuple(drop))))
    return out


def _wild_edit(parts: list[str], ci: int, pi: int, drop: tuple[str, ...]) -> DictEdit:
    def edit(x: cst.Dict) -> cst.Dict:
        template = value_of(x, parts[0])
        if not isinstance(template, cst.Dict):
            return x
        comps = value_of(template, parts[1])
        if not isinstance(comps, cst.List) or ci >= len(comps.elements):
            return x
        comp = comps.elements[ci].value
        if not isinstance(comp, cst.Dict):
            return x
        params = value_of(comp, parts[3])
        if not isinstance(params, cst.List) or pi >= len(params.elements):
            return x
        param = params.elements[pi].value
        if not isinstance(param, cst.Dict):
            return x
        inner = value_of(param, parts[5])
        if not isinstance(inner, cst.Dict):
            return x
        for key in drop:
            inner = remove_key(inner, key)
        param = replace_value(param, parts[5], inner)
        p_els = list(params.elements)
        p_els[pi] = p_els[pi].with_changes(value=param)
        comp = replace_value(comp, parts[3], params.with_changes(elements=p_els))
        c_els = list(comps.elements)
        c_els[ci] = c_els[ci].with_changes(value=comp)
        template = replace_value(template, parts[1], comps.with_changes(elements=c_els))
        return replace_value(x, parts[0], template)

    return edit


def _rename(d: cst.Dict, rule: FieldRule, code: str) -> list[Step]:
    parts = rule.onprem.split(".")
    new = (rule.cloud or "").split(".")[-1]
    out: list[Step] = []
    for path, parent in _dicts_at(d, parts[:-1]):
        node = value_of(parent, parts[-1])
        if node is None or new in keys_of(parent):
            continue
        out.append(Step(code, fix_for(code), f"rename {rule.onprem} to {rule.cloud}: "
                        f"{_why(rule)}", node, _at(path, _renamer(parts[-1], new))))
    return out


# --- hsm -> template ----------------------------------------------------------


def _convert_hsm(d: cst.Dict, rule: FieldRule, code: str) -> list[Step]:
    hsm = value_of(d, rule.onprem)
    type_node = value_of(d, "type")
    is_hsm_type = type_node is not None and string_value(type_node) == "hsm"
    if hsm is None:
        if is_hsm_type:
            return [Step(code, "manual", 'type "hsm" without an inline hsm object: convert it '
                         f"to a template by hand ({_why(rule)})", type_node or d, todo=_HSM_TODO)]
        return []
    if not isinstance(hsm, cst.Dict) or dynamic_keys(hsm):
        return [Step(code, "manual", f"hsm object built elsewhere: convert it to a template by "
                     f"hand ({_why(rule)})", hsm, todo=_HSM_TODO)]
    keys = keys_of(hsm)
    unknown = sorted(set(keys) - _HSM_KEYS)
    if unknown or "element_name" not in keys or "language" not in keys:
        what = (f"unknown hsm fields {unknown}" if unknown else "no element_name"
                if "element_name" not in keys else "no language (Cloud templates need "
                "language.code; pick the language the template was approved in)")
        return [Step(code, "manual", f"hsm with {what} cannot become a template "
                     "automatically", hsm, todo=_HSM_TODO)]
    quote = key_quote(hsm)
    params = value_of(hsm, "localizable_params")
    params_code: cst.BaseExpression | str | None = None
    unsafe = False
    if params is not None:
        converted = _convert_params(params, quote)
        if converted is None:
            return [Step(code, "manual", "localizable_params not convertible (unknown "
                         "parameter shape): build the template components by hand", params,
                         todo=_HSM_TODO)]
        params_code, unsafe = converted
    policy_drop = False
    language = value_of(hsm, "language")
    if isinstance(language, cst.Dict):
        policy = value_of(language, "policy")
        value = string_value(policy) if policy is not None else None
        policy_drop = value is not None and not oracle.keeps_policy(value)

    def edit(x: cst.Dict) -> cst.Dict:
        h = value_of(x, "hsm")
        if not isinstance(h, cst.Dict):
            return x
        t = type_value_template(x)
        h = remove_key(h, "namespace")
        h = rename_key(h, "element_name", "name")
        if policy_drop:
            lang = value_of(h, "language")
            if isinstance(lang, cst.Dict):
                h = replace_value(h, "language", remove_key(lang, "policy"))
        if params_code is not None:
            if params_code == "":
                h = remove_key(h, "localizable_params")
            else:
                h = replace_element(h, "localizable_params", "components",
                                    cst.parse_expression(params_code)
                                    if isinstance(params_code, str) else params_code)
        return replace_element(t, "hsm", "template", h)

    fix: Fix = "unsafe" if unsafe else fix_for(code)
    return [Step(code, fix, f"hsm -> template (name, language, body parameters; namespace "
                 f"dropped): {_why(rule)}", hsm, edit)]


def type_value_template(x: cst.Dict) -> cst.Dict:
    node = value_of(x, "type")
    if isinstance(node, cst.SimpleString) and string_value(node) == "hsm":
        return replace_value(x, "type", str_literal("template", node.quote))
    return x


def _convert_params(params: cst.BaseExpression, q: str
                    ) -> tuple[cst.BaseExpression | str, bool] | None:
    """Body parameters for ``localizable_params`` (a node or source), and whether it is a guess.

    A list literal keeps its own layout: each element is converted in place, so
    a one-parameter-per-line list stays one parameter per line.
    """
    def s(text: str) -> str:
        return f"{q}{text}{q}"

    def body(items: str) -> str:
        return f"[{{{s('type')}: {s('body')}, {s('parameters')}: {items}}}]"

    if isinstance(params, cst.List):
        if not params.elements:
            return "", False
        elements: list[cst.BaseElement] = []
        guess = False
        for el in params.elements:
            if isinstance(el, cst.StarredElement):
                return None
            if isinstance(el.value, cst.Dict):
                conv = _convert_param(el.value, q)
                if conv is None:
                    return None
            else:
                conv = (f"{{{s('type')}: {s('text')}, {s('text')}: "
                        f"{_node_code(el.value)}[{s('default')}]}}")
                guess = True
            elements.append(el.with_changes(value=cst.parse_expression(conv)))
        wrapper = cst.parse_expression(body("_"))
        assert isinstance(wrapper, cst.List)
        inner = wrapper.elements[0].value
        assert isinstance(inner, cst.Dict)
        new_list = params.with_changes(elements=elements, lpar=[], rpar=[])
        return wrapper.with_changes(elements=[wrapper.elements[0].with_changes(
            value=replace_value(inner, "parameters", new_list))]), guess
    if isinstance(params, cst.ListComp) and isinstance(params.elt, cst.Dict):
        conv = _convert_param(params.elt, q)
        if conv is None:
            return None
        comp = _node_code(params.with_changes(elt=cst.parse_expression(conv)))
        return body(comp), False
    if isinstance(params, cst.List | cst.ListComp | cst.Dict | cst.SimpleString):
        return None
    return body(f"[{{{s('type')}: {s('text')}, {s('text')}: p[{s('default')}]}} "
                f"for p in {_node_code(params)}]"), True


def _convert_param(p: cst.Dict, q: str) -> str | None:
    """One localizable param -> one template body parameter (api-mapping section 2.4)."""
    if dynamic_keys(p):
        return None
    keys = keys_of(p)
    default = value_of(p, "default")
    if default is None or set(keys) - {"default", "currency", "date_time"}:
        return None
    dv = _node_code(default)

    def s(text: str) -> str:
        return f"{q}{text}{q}"

    if "currency" in keys:
        cur = value_of(p, "currency")
        if not isinstance(cur, cst.Dict):
            return None
        code_node = value_of(cur, "currency_code")
        amount = value_of(cur, "amount_1000")
        if code_node is None or amount is None:
            return None
        return (f"{{{s('type')}: {s('currency')}, {s('currency')}: {{{s('fallback_value')}: "
                f"{dv}, {s('code')}: {_node_code(code_node)}, {s('amount_1000')}: "
                f"{_node_code(amount)}}}}}")
    if "date_time" in keys:
        return (f"{{{s('type')}: {s('date_time')}, {s('date_time')}: "
                f"{{{s('fallback_value')}: {dv}}}}}")
    return f"{{{s('type')}: {s('text')}, {s('text')}: {dv}}}"


# --- the translator as referee for constant bodies ------------------------


def _constant(node: cst.CSTNode) -> bool:
    """Only literals inside (checked before paying for code generation)."""
    if isinstance(node, cst.SimpleString | cst.Integer | cst.Float):
        return True
    if isinstance(node, cst.Name):
        return node.value in ("True", "False", "None")
    if isinstance(node, cst.ConcatenatedString):
        return _constant(node.left) and _constant(node.right)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return _constant(node.expression)
    if isinstance(node, cst.Dict):
        return all(isinstance(el, cst.DictElement) and _constant(el.key) and _constant(el.value)
                   for el in node.elements)
    if isinstance(node, cst.List | cst.Tuple):
        return all(isinstance(el, cst.Element) and _constant(el.value) for el in node.elements)
    return False


def _consult_translator(plan: PayloadPlan, base_indent: str) -> None:
    d = plan.dict_node
    if not _constant(d):
        return
    try:
        value = oracle.evaluate(d, _node_code(d))
    except oracle.NotConstant:
        return
    translated, _warnings, error = oracle.translate_constant(value)
    if error is not None:
        plan.steps.append(Step("WM910", "manual", f"the translator refuses this payload: "
                               f"{error}", d, todo=f"fix {error}"))
        return
    assert translated is not None
    result = d
    for step in plan.steps:
        if step.apply is not None:
            result = step.apply(result)
    try:
        after = oracle.evaluate(result, _node_code(result))
    except oracle.NotConstant:
        after = None
    if oracle.same_body(after, translated, value):
        return
    expected = dict(translated)
    if "recipient_type" not in value and expected.get("recipient_type") == "individual":
        expected.pop("recipient_type")
    code = _node_code(d)
    indent = "    " if "\n" in code else None
    rendered = oracle.render(expected, key_quote(d), indent, 0, base_indent)
    node = cst.parse_expression(rendered)
    assert isinstance(node, cst.Dict)
    plan.oracle = node.with_changes(lpar=d.lpar, rpar=d.rpar)

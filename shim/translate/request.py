"""On-Prem v1 request -> Cloud request, for the 360dialog and Meta targets.

The endpoint comes from the mapping table's endpoint map; the body changes are
driven by ``fields.SEND_RULES`` (one handler per rule, applied in table order).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from shim.json_input import MAX_DEPTH, JSONTooDeep, check_depth
from shim.mapping import fields
from shim.mapping.endpoints import (
    Body,
    CloudRoute,
    EndpointMatch,
    Kind,
    fill,
    match_endpoint,
    match_unsupported,
)
from shim.mapping.fields import MESSAGING_PRODUCT, Action, FieldRule
from shim.mapping.hosts import Target
from shim.translate._util import (
    expect_list,
    expect_object,
    expect_str,
    fail,
    require,
    type_name,
)
from shim.translate.error import META_INFO
from shim.translate.local import answer_locally
from shim.translate.paths import build_path, check_decoded, checked_params, clean_path
from shim.translate.types import (
    JSON,
    CloudRequest,
    MissingFieldError,
    OnPremResponse,
    TranslationError,
    TranslationWarning,
    UnknownEndpointError,
    UnsupportedEndpointError,
)

Warnings = list[TranslationWarning]
_ONPREM_MEDIA_ID = re.compile(fields.ONPREM_MEDIA_ID_PATTERN)
_BSUID = re.compile(fields.BSUID_PATTERN)
_PROVIDER_RULE = next(r for r in fields.SEND_RULES if r.onprem == "{media}.provider")


class _MediaTooLarge(TranslationError):
    status = 413


class _UnsupportedMedia(TranslationError):
    status = 415


def translate_request(
    method: str,
    path: str,
    body: JSON = None,
    *,
    target: Target | str,
    phone_number_id: str | None = None,
    waba_id: str | None = None,
    phone_number: str | None = None,
    verify_token: str | None = None,
    content: bytes | None = None,
    content_type: str | None = None,
    match: EndpointMatch | None = None,
) -> CloudRequest | OnPremResponse:
    """Translate one On-Prem call; local endpoints come back already answered.

    ``match``: ``match_endpoint(method, path)`` when the caller already has it
    (the router matches once per call); looked up here otherwise.
    """
    if not isinstance(target, Target):
        target = _TARGETS.get(target) or Target(target)
    if path != "/v1/messages":  # the hot path holds nothing to clean
        path = clean_path(path)
    path_only, _, raw_query = path.partition("?")
    if match is None:
        match = match_endpoint(method, path_only)
    if match is None:
        unsupported = match_unsupported(method, path_only)
        if unsupported is not None and target is not Target.ONPREM:
            raise UnsupportedEndpointError(path_only, unsupported)
        if target is Target.ONPREM and path_only.startswith("/v1/"):
            check_decoded(path_only)
            return CloudRequest("passthrough", method.upper(), path, body=body)
        raise UnknownEndpointError(path_only, f"{method.upper()} {path_only} is not an "
                                   "On-Premise API v1 endpoint")
    endpoint = match.endpoint
    params = checked_params(match, target) if match.params else match.params
    if target is Target.ONPREM:
        onprem_path = build_path(endpoint.onprem_path, params)
        return CloudRequest(endpoint.name, endpoint.method,
                            f"{onprem_path}?{raw_query}" if raw_query else onprem_path,
                            body=body, body_kind=endpoint.onprem_body)
    if endpoint.in_process_only:  # the router answers it itself, never a translator
        refused = match_unsupported(method, path_only)
        assert refused is not None  # every in-process-only row is also an UNSUPPORTED one
        raise UnsupportedEndpointError(path_only, refused)
    if endpoint.requires is not None:
        refused = endpoint.refusal(raw_query)
        if refused is not None:
            raise UnsupportedEndpointError(path_only, refused)
    if endpoint.kind is Kind.LOCAL:
        return answer_locally(endpoint.name, body, phone_number=phone_number)
    route = endpoint.route(target)
    assert route is not None  # every TRANSLATE row has both Cloud routes
    filled: Mapping[str, str] = params
    needs = _placeholders(route)
    if needs:
        filled = dict(filled)
        for key in needs:
            value = phone_number_id if key == "phone_number_id" else waba_id
            if value is None:
                raise MissingFieldError(key, f"the {target.value} target needs {key} for "
                                        f"{endpoint.method} {endpoint.onprem_path}")
            filled[key] = value
    query = {k: fill(v, filled) for k, v in route.query.items()} if route.query else {}
    if raw_query:
        query.update(_passthrough_query(endpoint.name, raw_query))
    request = CloudRequest(endpoint.name, route.method, build_path(route.path, filled), query,
                           None, route.body, None, [])
    if endpoint.name == "send_message":  # the hot path: no per-call helper objects
        request.body = translate_send_body(body, request.warnings)
        return request
    if endpoint.name == "set_application_webhook":
        answered = _set_application(request, _Input(body, match, target, verify_token, None,
                                                     None))
        return answered or request
    builder = _BODY_BUILDERS.get(endpoint.name)
    if builder is not None:
        builder(request, _Input(body, match, target, verify_token, content, content_type))
    elif route.body is Body.JSON:
        request.body = body
    return request


def _placeholders(route: CloudRoute) -> tuple[str, ...]:
    """Which channel ids (phone_number_id, waba_id) a Cloud route needs filled in."""
    needs = _NEEDS.get(id(route))
    if needs is None:
        text = route.path + "".join(route.query.values())
        needs = tuple(k for k in ("phone_number_id", "waba_id") if "{" + k + "}" in text)
        _NEEDS[id(route)] = needs  # routes are module constants: their ids are stable
    return needs


_NEEDS: dict[int, tuple[str, ...]] = {}
_TARGETS: dict[str, Target] = {t.value: t for t in Target}


def _passthrough_query(endpoint: str, raw_query: str) -> dict[str, str]:
    # Template listing keeps its paging (limit/offset/sort) on 360dialog.
    if endpoint != "list_templates" or not raw_query:
        return {}
    return dict(parse_qsl(raw_query))


class _Input:
    __slots__ = ("body", "content", "content_type", "match", "target", "verify_token")

    def __init__(
        self,
        body: JSON,
        match: EndpointMatch,
        target: Target,
        verify_token: str | None,
        content: bytes | None,
        content_type: str | None,
    ) -> None:
        self.body = body
        self.match = match
        self.target = target
        self.verify_token = verify_token
        self.content = content
        self.content_type = content_type


# --- send ---------------------------------------------------------------


def translate_send_body(body: JSON, warnings: Warnings | None = None) -> dict[str, Any]:
    """Translate a ``POST /v1/messages`` body; Cloud-shaped input comes back as is."""
    warnings = [] if warnings is None else warnings
    src = expect_object(body, "$")
    try:
        if _has_null(src):
            src = _without_nulls(src, "$", _NULL_RULE, warnings)
    except _TooDeep:
        fail(_deep_path(src), f"nested deeper than {MAX_DEPTH} arrays/objects")
    out: dict[str, Any] = {"messaging_product": MESSAGING_PRODUCT}
    out.update(src)
    first, rule = _PIPELINE[0]
    first(out, rule, warnings)  # validates the envelope and settles out["type"]
    for handler, rule in _PIPELINES[out["type"]]:
        handler(out, rule, warnings)
    return out


def _has_null(value: dict[str, Any] | list[Any], depth: int = 1) -> bool:
    """Any object key set to null, at any depth (a null list item is left to Cloud)."""
    # Walks the whole body once, so it also enforces the nesting limit of every reader
    # (the router leaves send bodies to this walk instead of checking them first).
    # On the hot path of every send: plain loops, exact type checks first (JSON decodes
    # to plain dict/list/str), isinstance only for other types.
    if depth > MAX_DEPTH:
        _too_deep()
    is_dict = type(value) is dict or isinstance(value, dict)
    items: Any = value.values() if is_dict else value  # type: ignore[union-attr]
    for item in items:
        if item is None:
            if is_dict:
                return True
            continue
        kind = type(item)
        if kind is str:
            continue
        if (kind is dict or kind is list or (
            kind not in _SCALARS and isinstance(item, dict | list)
        )) and _has_null(item, depth + 1):
            return True
    return False


_SCALARS: frozenset[type] = frozenset({str, int, float, bool})


def _without_nulls(
    value: Any, path: str, rule: FieldRule, warnings: Warnings, depth: int = 1
) -> Any:
    """A copy without null-valued keys, one warning per dropped key (fields.SEND_RULES)."""
    if isinstance(value, dict):
        if depth > MAX_DEPTH:
            _too_deep()
        out = {}
        for key, item in value.items():
            if item is None:
                _warn(warnings, rule, f"{path}.{key}")
            else:
                out[key] = _without_nulls(item, f"{path}.{key}", rule, warnings, depth + 1)
        return out
    if isinstance(value, list):
        if depth > MAX_DEPTH:
            _too_deep()
        return [_without_nulls(v, f"{path}[{i}]", rule, warnings, depth + 1)
                for i, v in enumerate(value)]
    return value


class _TooDeep(Exception):
    """Nested past MAX_DEPTH (turned into a TranslationError naming the path)."""


def _too_deep() -> NoReturn:
    raise _TooDeep


def _deep_path(value: dict[str, Any]) -> str:
    """Where ``value`` nests too deep (a second walk, on the refusal path only)."""
    try:
        check_depth(value)
    except JSONTooDeep as exc:
        return exc.where
    return "$"


def _warn(warnings: Warnings, rule: FieldRule, path: str) -> None:
    assert rule.warning is not None
    warnings.append(TranslationWarning(rule.warning, path, rule.why))


def _add_product(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    if out["messaging_product"] != MESSAGING_PRODUCT:
        fail("$.messaging_product", f'must be "{MESSAGING_PRODUCT}"')
    if "recipient_type" not in out:
        out["recipient_type"] = "individual"
    to = out.get("to")
    if to is None:
        raise MissingFieldError("$.to", "required field is missing")
    if not isinstance(to, str):
        fail("$.to", f"expected a string (phone number or wa_id), got {type_name(to)}")
    if to[:1].isalpha() and _BSUID.match(to):  # rule "to(BSUID)", inline: cheap on every send
        del out["to"]
        out[fields.BSUID_SEND_FIELD] = to
    kind = out.get("type")
    if kind is None:
        if "text" not in out:
            raise MissingFieldError("$.type", "required unless the message is text")
        kind = out["type"] = "text"
    if not isinstance(kind, str):
        fail("$.type", f"expected a string, got {type_name(kind)}")
    if kind not in fields.ONPREM_SEND_TYPES:
        expected = ", ".join(sorted(fields.ONPREM_SEND_TYPES))
        fail("$.type", f"unknown message type {kind!r}; expected one of: {expected}")
    payload = require(out, kind, "$")
    if kind == "contacts":
        expect_list(payload, "$.contacts")
    else:
        expect_object(payload, f"$.{kind}")
    if kind == "text":
        # On-Prem refused a text without a body (1008); so does the shim.
        expect_str(require(payload, "body", "$.text"), "$.text.body")


def _reject_group(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    value = out["recipient_type"]
    if value == "group":
        fail("$.recipient_type", rule.why)
    if value != "individual":
        fail("$.recipient_type", f'expected "individual", got {value!r}')



def _move_preview_url(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    if "preview_url" not in out:
        return
    preview = out.pop("preview_url")
    if not isinstance(preview, bool):
        fail("$.preview_url", f"expected a boolean, got {type_name(preview)}")
    if out["type"] != "text":
        warnings.append(TranslationWarning(
            fields.W_PREVIEW_URL_NOT_TEXT, "$.preview_url",
            "preview_url only applies to text messages; dropped"))
        return
    out["text"] = {**out["text"], "preview_url": preview}


def _drop_ttl(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    if "ttl" in out:
        del out["ttl"]
        _warn(warnings, rule, "$.ttl")


def _media(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    kind = out["type"]
    if kind == "interactive":
        header = out["interactive"].get("header")
        if header is None:
            return
        header = expect_object(header, "$.interactive.header")
        htype = expect_str(require(header, "type", "$.interactive.header"),
                           "$.interactive.header.type")
        if htype in fields.MEDIA_TYPES and isinstance(header.get(htype), dict):
            cleaned = _clean_media(header[htype], f"$.interactive.header.{htype}", warnings)
            out["interactive"] = {**out["interactive"], "header": {**header, htype: cleaned}}
        return
    if kind not in fields.MEDIA_TYPES:
        return
    if "id" not in out[kind] and "link" not in out[kind]:
        raise MissingFieldError(f"$.{kind}", 'needs "id" (an uploaded media id) or "link"')
    # A fresh copy either way: later rules (captions) edit it in place.
    out[kind] = _clean_media(dict(out[kind]), f"$.{kind}", warnings)


def _check_media_id(media_id: object, path: str) -> None:
    if media_id is None:
        return
    if not isinstance(media_id, str):
        fail(path, f"expected a string media id, got {type_name(media_id)}")
    if _ONPREM_MEDIA_ID.match(media_id):
        fail(path, "this is an On-Premise media id (UUID); Cloud cannot use it. Upload the "
             "file again on this channel (POST /v1/media) and send the new id")


def _drop_caption(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    kind = rule.onprem.split(".", 1)[0]
    if out["type"] == kind and "caption" in out[kind]:
        del out[kind]["caption"]
        _warn(warnings, rule, f"$.{kind}.caption")


def _convert_hsm(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    if out["type"] != "hsm":
        return
    hsm = out.pop("hsm")
    name = expect_str(require(hsm, "element_name", "$.hsm"), "$.hsm.element_name")
    language = expect_object(require(hsm, "language", "$.hsm"), "$.hsm.language")
    params = hsm.get("localizable_params", [])
    if not isinstance(params, list):
        fail("$.hsm.localizable_params", f"expected a JSON array, got {type_name(params)}")
    template: dict[str, Any] = {"name": name, "language": dict(language)}
    if params:
        converted = [_hsm_param(p, f"$.hsm.localizable_params[{i}]") for i, p in
                     enumerate(params)]
        template["components"] = [{"type": "body", "parameters": converted}]
    unknown = set(hsm) - {"namespace", "element_name", "language", "localizable_params"}
    for key in sorted(unknown):
        fail(f"$.hsm.{key}", "unknown hsm field; cannot be carried into a template")
    out["type"] = "template"
    out["template"] = template
    _warn(warnings, rule, "$.hsm")


def _hsm_param(param: object, path: str) -> dict[str, Any]:
    p = expect_object(param, path)
    default = require(p, "default", path)
    if not isinstance(default, str):
        fail(f"{path}.default", f"expected a string, got {type_name(default)}")
    if "currency" in p:
        cur = expect_object(p["currency"], f"{path}.currency")
        code = expect_str(require(cur, "currency_code", f"{path}.currency"),
                          f"{path}.currency.currency_code")
        amount = require(cur, "amount_1000", f"{path}.currency")
        if not isinstance(amount, int) or isinstance(amount, bool):
            fail(f"{path}.currency.amount_1000", f"expected an integer, got {type_name(amount)}")
        return {"type": "currency",
                "currency": {"fallback_value": default, "code": code, "amount_1000": amount}}
    if "date_time" in p:
        expect_object(p["date_time"], f"{path}.date_time")
        return {"type": "date_time", "date_time": {"fallback_value": default}}
    return {"type": "text", "text": default}


def _drop_namespace(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    if out["type"] != "template":
        return
    template = dict(out["template"])
    out["template"] = template
    if "namespace" in template:
        del template["namespace"]
        _warn(warnings, rule, "$.template.namespace")
    expect_str(require(template, "name", "$.template"), "$.template.name")
    language = expect_object(require(template, "language", "$.template"), "$.template.language")
    expect_str(require(language, "code", "$.template.language"), "$.template.language.code")


def _language_policy(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    if out["type"] != "template":
        return
    language = out["template"]["language"]
    if "policy" in language and language["policy"] != "deterministic":
        out["template"]["language"] = {k: v for k, v in language.items() if k != "policy"}
        _warn(warnings, rule, "$.template.language.policy")


def _date_time_params(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    if out["type"] != "template" or "components" not in out["template"]:
        return
    components = out["template"]["components"]
    if not isinstance(components, list):
        fail("$.template.components", f"expected a JSON array, got {type_name(components)}")
    new_components = []
    for i, comp in enumerate(components):
        cpath = f"$.template.components[{i}]"
        comp = dict(expect_object(comp, cpath))
        if isinstance(comp.get("index"), int) and not isinstance(comp["index"], bool):
            comp["index"] = str(comp["index"])  # Cloud documents index as a string
        params = comp.get("parameters")
        if params is not None:
            if not isinstance(params, list):
                fail(f"{cpath}.parameters", f"expected a JSON array, got {type_name(params)}")
            comp["parameters"] = [_template_param(p, f"{cpath}.parameters[{j}]", rule, warnings)
                                  for j, p in enumerate(params)]
        new_components.append(comp)
    out["template"]["components"] = new_components


def _template_param(param: object, path: str, rule: FieldRule,
                    warnings: Warnings) -> dict[str, Any]:
    p = expect_object(param, path)
    kind = p.get("type")
    if kind == "date_time":
        dt = expect_object(require(p, "date_time", path), f"{path}.date_time")
        extra = set(dt) - {"fallback_value"}
        if extra:
            _warn(warnings, rule, f"{path}.date_time")
            return {**p, "date_time": {"fallback_value": dt.get("fallback_value", "")}}
    elif isinstance(kind, str) and kind in fields.MEDIA_TYPES and isinstance(p.get(kind), dict):
        return {**p, kind: _clean_media(p[kind], f"{path}.{kind}", warnings)}
    return p


def _clean_media(media: dict[str, Any], path: str, warnings: Warnings) -> dict[str, Any]:
    """Media objects nested in templates and interactive headers follow the media rules."""
    _check_media_id(media.get("id"), f"{path}.id")
    if "provider" not in media:
        return media
    warnings.append(TranslationWarning(_PROVIDER_RULE.warning or "", f"{path}.provider",
                                       _PROVIDER_RULE.why))
    return {k: v for k, v in media.items() if k != "provider"}


def _rename_context(out: dict[str, Any], rule: FieldRule, warnings: Warnings) -> None:
    context = out.get("context")
    if context is None:
        return
    context = dict(expect_object(context, "$.context"))
    if "id" in context and "message_id" not in context:
        context["message_id"] = context.pop("id")
    out["context"] = context


_SendHandler = Callable[[dict[str, Any], FieldRule, Warnings], None]
#: Rules applied inside another step instead of as a pipeline step of their own
#: (the hot path pays no extra call): nulls in translate_send_body, before the
#: envelope; BSUID recipients in the envelope step.
_INLINE: Mapping[str, str] = {"**=null": "translate_send_body", "to(BSUID)": "_add_product"}

_SEND_HANDLERS: Mapping[str, _SendHandler] = {
    "": _add_product,
    "recipient_type": _reject_group,
    "preview_url": _move_preview_url,
    "ttl": _drop_ttl,
    "{media}.provider": _media,
    "audio.caption": _drop_caption,
    "sticker.caption": _drop_caption,
    "hsm": _convert_hsm,
    "template.namespace": _drop_namespace,
    "template.language.policy": _language_policy,
    "template.components.*.parameters.*.date_time.*": _date_time_params,
    "context.id": _rename_context,
}
assert {r.onprem for r in fields.SEND_RULES} == set(_SEND_HANDLERS) | set(_INLINE), (
    "rule without handler")
_NULL_RULE = fields.SEND_RULES[0]
assert _NULL_RULE.onprem == "**=null", "the null rule must come first"
#: The send rules with a step of their own, in table order, each with its handler.
_PIPELINE: tuple[tuple[_SendHandler, FieldRule], ...] = tuple(
    (_SEND_HANDLERS[rule.onprem], rule) for rule in fields.SEND_RULES
    if rule.onprem not in _INLINE
)
assert fields.SEND_RULES[1].onprem == "", "the envelope rule must come right after it"


def _applies_to(rule: FieldRule) -> frozenset[str]:
    """Message types a rule can touch, read off its On-Prem path's first segment."""
    head = rule.onprem.split(".", 1)[0]
    if head == "{media}":
        return fields.MEDIA_TYPES | {"interactive"}
    if head == "template":
        return frozenset({"template", "hsm"})  # hsm becomes a template first
    if head in fields.ONPREM_SEND_TYPES:
        return frozenset({head})
    return fields.ONPREM_SEND_TYPES


#: Per message type, the rules after the first that can apply to it (table order).
_PIPELINES: Mapping[str, tuple[tuple[_SendHandler, FieldRule], ...]] = {
    kind: tuple(step for step in _PIPELINE[1:] if kind in _applies_to(step[1]))
    for kind in fields.ONPREM_SEND_TYPES
}
assert all(r.action in Action for r in fields.SEND_RULES)


# --- other endpoints ------------------------------------------------------


def _mark_read(req: CloudRequest, inp: _Input) -> None:
    body = expect_object(inp.body if inp.body is not None else {}, "$")
    status = body.get("status", fields.MARK_READ_STATUS)
    if status != fields.MARK_READ_STATUS:
        fail("$.status", f'only "read" can be set on Cloud, got {status!r}')
    req.body = {
        "messaging_product": MESSAGING_PRODUCT,
        "status": fields.MARK_READ_STATUS,
        "message_id": inp.match.params["message_id"],
    }


def _upload(req: CloudRequest, inp: _Input) -> None:
    if inp.content is None:
        raise MissingFieldError("$", "media upload needs the file bytes as the request body")
    mime = (inp.content_type or "").split(";", 1)[0].strip().lower()
    if not mime or mime == "application/json":
        raise MissingFieldError("Content-Type", "media upload needs the file's MIME type as "
                                "Content-Type (e.g. image/jpeg)")
    known = fields.CLOUD_MEDIA_LIMITS.get(mime)
    if known is None:
        raise _UnsupportedMedia("Content-Type", f"Cloud does not accept {mime!r} uploads; "
                                "supported: " + ", ".join(sorted(fields.CLOUD_MEDIA_LIMITS)))
    limit = known[1]
    if len(inp.content) > limit:
        raise _MediaTooLarge("$", f"{len(inp.content)} bytes of {mime} exceed the Cloud limit "
                             f"of {limit} bytes")
    extension = mime.rsplit("/", 1)[-1]
    req.body = {"messaging_product": MESSAGING_PRODUCT, "type": mime}
    req.file = (f"upload.{extension}", inp.content, mime)


def _set_webhook(req: CloudRequest, inp: _Input) -> None:
    body = expect_object(inp.body, "$")
    url = expect_str(require(body, "url", "$"), "$.url")
    if inp.target is Target.D360:
        req.body = body
        return
    if not inp.verify_token:
        raise MissingFieldError("verify_token", "Meta's per-number webhook override needs a "
                                "verify token: set verify_token for the channel")
    if body.get("headers"):
        req.warnings.append(TranslationWarning(
            fields.W_WEBHOOK_HEADERS, "$.headers",
            "Meta webhooks cannot carry custom headers; verify X-Hub-Signature-256 instead"))
    req.body = {"webhook_configuration": {"override_callback_uri": url,
                                          "verify_token": inp.verify_token}}


def _set_application(req: CloudRequest, inp: _Input) -> OnPremResponse | None:
    body = expect_object(inp.body, "$")
    webhook: dict[str, Any] = {}
    for key, value in body.items():
        if key != "webhooks":
            _ignore_setting(req.warnings, key)
            continue
        if value is None:
            _ignore_setting(req.warnings, key)
            continue
        for sub, sub_value in expect_object(value, "$.webhooks").items():
            if sub in fields.APPLICATION_WEBHOOK_KEYS and sub_value is not None:
                webhook[sub] = sub_value
            else:
                _ignore_setting(req.warnings, f"webhooks.{sub}")
    if "url" not in webhook:
        # Nothing Cloud knows was asked for: answered here, like On-Prem would.
        return OnPremResponse(200, {"meta": dict(META_INFO)}, req.warnings)
    expect_str(webhook["url"], "$.webhooks.url")
    if "headers" in webhook:
        expect_object(webhook["headers"], "$.webhooks.headers")
    _set_webhook(req, _Input(webhook, inp.match, inp.target, inp.verify_token, None, None))
    return None


def _ignore_setting(warnings: Warnings, key: str) -> None:
    why = fields.APPLICATION_SETTINGS_IGNORED.get(key, "not an On-Prem setting Cloud knows.")
    warnings.append(TranslationWarning(
        fields.W_SETTING_IGNORED, f"$.{key}", f"application setting {key} ignored: {why}"))


def _set_about(req: CloudRequest, inp: _Input) -> None:
    body = expect_object(inp.body, "$")
    text = expect_str(require(body, "text", "$"), "$.text")
    req.body = {"messaging_product": MESSAGING_PRODUCT, "about": text}


def _set_profile(req: CloudRequest, inp: _Input) -> None:
    body = expect_object(inp.body, "$")
    unknown = sorted(set(body) - set(fields.BUSINESS_PROFILE_FIELDS))
    if unknown:
        fail(f"$.{unknown[0]}", "not a business profile field; expected one of: "
             + ", ".join(fields.BUSINESS_PROFILE_FIELDS))
    req.body = {"messaging_product": MESSAGING_PRODUCT, **body}


def _json_object(req: CloudRequest, inp: _Input) -> None:
    req.body = expect_object(inp.body, "$")


_BODY_BUILDERS: Mapping[str, Callable[[CloudRequest, _Input], None]] = {
    "mark_read": _mark_read,
    "upload_media": _upload,
    "set_webhook": _set_webhook,
    "set_about": _set_about,
    "set_business_profile": _set_profile,
    "create_template": _json_object,
}

"""Send-request checks, as plain dict walks (no model validation on the hot path).

Cloud answers a bad field with Graph code 100 and details naming the field
(``Param text['body'] …``); On-Prem answered 1008 (missing) or 1009 (invalid)
with the field in ``details``. Checks that need state (templates, windows,
pair rate) live in the route modules; this module only looks at the body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from shim.mapping.fields import (
    BSUID_PATTERN,
    BSUID_SEND_FIELD,
    MEDIA_TYPES,
    MESSAGING_PRODUCT,
    ONPREM_INTERACTIVE_TYPES,
    ONPREM_SEND_TYPES,
)
from shim.sandbox.envelopes import ApiError

__all__ = [
    "CLOUD_INTERACTIVE_TYPES",
    "CLOUD_SEND_TYPES",
    "MAX_TEXT_CHARS",
    "check_cloud_send",
    "check_onprem_send",
    "wa_id_of",
]

#: Cloud accepts every On-Prem type except the legacy ``hsm``.
CLOUD_SEND_TYPES: Final = ONPREM_SEND_TYPES - {"hsm"}
CLOUD_INTERACTIVE_TYPES: Final = ONPREM_INTERACTIVE_TYPES | {
    "cta_url",
    "flow",
    "location_request_message",
    "address_message",
    "catalog_message",
    "carousel",
}
MAX_TEXT_CHARS: Final = 4096
MAX_CAPTION_CHARS: Final = 1024
MAX_CALLBACK_DATA_CHARS: Final = 512

_INVALID = 100  # Graph: invalid parameter
_MISSING_OP = 1008  # On-Prem: required parameter is missing
_INVALID_OP = 1009  # On-Prem: parameter value is not valid


_NON_DIGITS: Final = re.compile(r"\D+")


def wa_id_of(number: str) -> str:
    """The digits of a phone number (``+49 151-2345`` -> ``491512345``)."""
    return number if number.isdigit() else _NON_DIGITS.sub("", number)


def _valid_number(wa_id: str) -> bool:
    return 6 <= len(wa_id) <= 15


# -- Cloud ----------------------------------------------------------------------


def _cloud_missing(path: str) -> ApiError:
    return ApiError(_INVALID, f"The parameter {path} is required.")


def _cloud_invalid(path: str, why: str) -> ApiError:
    return ApiError(_INVALID, f"Param {path} {why}.")


def _cloud_object(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        raise _cloud_missing(path)
    if not isinstance(value, Mapping):
        raise _cloud_invalid(path, "must be a JSON object")
    return value


def _cloud_str(
    parent: Mapping[str, Any], key: str, path: str, *, required: bool = True, max_len: int = 0
) -> str | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise _cloud_missing(path)
        return None
    if not isinstance(value, str):
        raise _cloud_invalid(path, "must be a string")
    if required and not value:
        raise _cloud_invalid(path, "must not be empty")
    if max_len and len(value) > max_len:
        raise _cloud_invalid(path, f"must be at most {max_len} characters long")
    return value


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def check_cloud_envelope(body: Any) -> Mapping[str, Any]:
    """Checks every Cloud ``POST /messages`` body passes, sends and mark-read alike."""
    if not isinstance(body, Mapping):
        raise ApiError(_INVALID, "Request body must be a JSON object.")
    product = body.get("messaging_product")
    if product is None:
        raise _cloud_missing("messaging_product")
    if product != MESSAGING_PRODUCT:
        raise _cloud_invalid("messaging_product", f"must be '{MESSAGING_PRODUCT}'")
    return body


_BSUID: Final = re.compile(BSUID_PATTERN)


def check_cloud_send(body: Mapping[str, Any]) -> tuple[str, str]:
    """Shape checks of a Cloud send; returns ``(type, wa_id)`` or raises ApiError(100).

    A send to a business-scoped user id carries it in ``recipient`` instead of
    ``to`` (``to`` wins when both are present, as on Cloud); its "wa_id" is the BSUID.
    """
    if body.get("to") is None and body.get(BSUID_SEND_FIELD) is not None:
        bsuid = _cloud_str(body, BSUID_SEND_FIELD, BSUID_SEND_FIELD)
        assert bsuid is not None
        if not _BSUID.match(bsuid):
            raise _cloud_invalid(BSUID_SEND_FIELD, "must be a valid business-scoped user ID")
        wa_id = bsuid
    else:
        to = _cloud_str(body, "to", "to")
        assert to is not None
        wa_id = wa_id_of(to)
        if not _valid_number(wa_id):
            raise _cloud_invalid("to", "must be a valid phone number")
    recipient_type = body.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise _cloud_invalid("recipient_type", "must be 'individual'")
    kind = body.get("type", "text")
    if not isinstance(kind, str) or kind not in CLOUD_SEND_TYPES:
        raise _cloud_invalid("type", f"must be one of {{{', '.join(sorted(CLOUD_SEND_TYPES))}}}")
    if kind == "contacts":
        _check_cloud_contacts(body.get("contacts"))
    else:
        obj = _cloud_object(body, kind, kind)
        _CLOUD_TYPE_CHECKS[kind](obj, kind)
    context = body.get("context")
    if context is not None:
        ctx = _cloud_object(body, "context", "context")
        _cloud_str(ctx, "message_id", "context['message_id']")
    _cloud_str(
        body,
        "biz_opaque_callback_data",
        "biz_opaque_callback_data",
        required=False,
        max_len=MAX_CALLBACK_DATA_CHARS,
    )
    return kind, wa_id


def _check_cloud_text(obj: Mapping[str, Any], path: str) -> None:
    _cloud_str(obj, "body", f"{path}['body']", max_len=MAX_TEXT_CHARS)
    preview = obj.get("preview_url")
    if preview is not None and not isinstance(preview, bool):
        raise _cloud_invalid(f"{path}['preview_url']", "must be a boolean")


def _check_cloud_media(obj: Mapping[str, Any], path: str) -> None:
    has_id, has_link = obj.get("id") is not None, obj.get("link") is not None
    if has_id == has_link:
        raise _cloud_invalid(path, "must contain exactly one of 'id' or 'link'")
    if has_id:
        _cloud_str(obj, "id", f"{path}['id']")
    else:
        link = _cloud_str(obj, "link", f"{path}['link']")
        assert link is not None
        if not link.startswith(("https://", "http://")):
            raise _cloud_invalid(f"{path}['link']", "must be an http(s) URL")
    _cloud_str(obj, "caption", f"{path}['caption']", required=False, max_len=MAX_CAPTION_CHARS)
    _cloud_str(obj, "filename", f"{path}['filename']", required=False)


def _check_cloud_location(obj: Mapping[str, Any], path: str) -> None:
    for key in ("latitude", "longitude"):
        if obj.get(key) is None:
            raise _cloud_missing(f"{path}['{key}']")
        if not _is_number(obj[key]):
            raise _cloud_invalid(f"{path}['{key}']", "must be a number")


def _check_cloud_contacts(value: Any) -> None:
    if value is None:
        raise _cloud_missing("contacts")
    if not isinstance(value, list) or not value:
        raise _cloud_invalid("contacts", "must be a non-empty array")
    for index, contact in enumerate(value):
        path = f"contacts[{index}]"
        if not isinstance(contact, Mapping):
            raise _cloud_invalid(path, "must be a JSON object")
        name = _cloud_object(contact, "name", f"{path}['name']")
        _cloud_str(name, "formatted_name", f"{path}['name']['formatted_name']")


def _check_cloud_interactive(obj: Mapping[str, Any], path: str) -> None:
    kind = obj.get("type")
    if kind is None:
        raise _cloud_missing(f"{path}['type']")
    if not isinstance(kind, str) or kind not in CLOUD_INTERACTIVE_TYPES:
        allowed = ", ".join(sorted(CLOUD_INTERACTIVE_TYPES))
        raise _cloud_invalid(f"{path}['type']", f"must be one of {{{allowed}}}")
    _cloud_object(obj, "action", f"{path}['action']")
    if kind in ("button", "list", "cta_url", "flow", "location_request_message"):
        body = _cloud_object(obj, "body", f"{path}['body']")
        _cloud_str(body, "text", f"{path}['body']['text']")


def _check_cloud_reaction(obj: Mapping[str, Any], path: str) -> None:
    _cloud_str(obj, "message_id", f"{path}['message_id']")
    emoji = obj.get("emoji")
    if emoji is None:
        raise _cloud_missing(f"{path}['emoji']")
    if not isinstance(emoji, str):
        raise _cloud_invalid(f"{path}['emoji']", "must be a string")


def _check_cloud_template(obj: Mapping[str, Any], path: str) -> None:
    _cloud_str(obj, "name", f"{path}['name']")
    language = _cloud_object(obj, "language", f"{path}['language']")
    _cloud_str(language, "code", f"{path}['language']['code']")
    components = obj.get("components")
    if components is not None and not isinstance(components, list):
        raise _cloud_invalid(f"{path}['components']", "must be an array")


_CLOUD_TYPE_CHECKS: Final = {
    "text": _check_cloud_text,
    "location": _check_cloud_location,
    "interactive": _check_cloud_interactive,
    "reaction": _check_cloud_reaction,
    "template": _check_cloud_template,
    **dict.fromkeys(MEDIA_TYPES, _check_cloud_media),
}


# -- On-Prem --------------------------------------------------------------------


def _op_missing(path: str) -> ApiError:
    return ApiError(_MISSING_OP, f"{path}: required parameter is missing")


def _op_invalid(path: str, why: str) -> ApiError:
    return ApiError(_INVALID_OP, f"{path}: {why}")


def _op_object(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        raise _op_missing(path)
    if not isinstance(value, Mapping):
        raise _op_invalid(path, "must be an object")
    return value


def _op_str(parent: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise _op_missing(path)
        return None
    if not isinstance(value, str):
        raise _op_invalid(path, "must be a string")
    return value


def check_onprem_send(body: Any) -> tuple[str, str]:
    """Shape checks of an On-Prem send; returns ``(type, wa_id)`` or raises ApiError."""
    if not isinstance(body, Mapping):
        raise _op_invalid("body", "must be a JSON object")
    to = _op_str(body, "to", "to")
    assert to is not None
    wa_id = wa_id_of(to)
    if not _valid_number(wa_id):
        raise _op_invalid("to", "not a valid phone number")
    recipient_type = body.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise ApiError(1002, f"recipient_type: {recipient_type!r} is not supported here")
    kind = body.get("type", "text")
    if not isinstance(kind, str) or kind not in ONPREM_SEND_TYPES:
        raise _op_invalid("type", f"must be one of {', '.join(sorted(ONPREM_SEND_TYPES))}")
    preview = body.get("preview_url")
    if preview is not None and not isinstance(preview, bool):
        raise _op_invalid("preview_url", "must be a boolean")
    if kind == "contacts":
        contacts = body.get("contacts")
        if contacts is None:
            raise _op_missing("contacts")
        if not isinstance(contacts, list) or not contacts:
            raise _op_invalid("contacts", "must be a non-empty array")
    else:
        obj = _op_object(body, kind, kind)
        _ONPREM_TYPE_CHECKS.get(kind, _no_check)(obj, kind)
    return kind, wa_id


def _no_check(obj: Mapping[str, Any], path: str) -> None:
    return None


def _check_op_text(obj: Mapping[str, Any], path: str) -> None:
    text = _op_str(obj, "body", f"{path}.body")
    assert text is not None
    if len(text) > MAX_TEXT_CHARS:
        raise ApiError(1001, f"{path}.body: longer than {MAX_TEXT_CHARS} characters")


def _check_op_media(obj: Mapping[str, Any], path: str) -> None:
    if obj.get("id") is None and obj.get("link") is None:
        raise _op_missing(f"{path}.id or {path}.link")
    _op_str(obj, "id", f"{path}.id", required=False)
    _op_str(obj, "link", f"{path}.link", required=False)
    _op_str(obj, "caption", f"{path}.caption", required=False)


def _check_op_location(obj: Mapping[str, Any], path: str) -> None:
    for key in ("latitude", "longitude"):
        if obj.get(key) is None:
            raise _op_missing(f"{path}.{key}")
        if not _is_number(obj[key]):
            raise _op_invalid(f"{path}.{key}", "must be a number")


def _check_op_interactive(obj: Mapping[str, Any], path: str) -> None:
    kind = obj.get("type")
    if kind is None:
        raise _op_missing(f"{path}.type")
    if kind not in ONPREM_INTERACTIVE_TYPES:
        raise _op_invalid(
            f"{path}.type", f"must be one of {', '.join(sorted(ONPREM_INTERACTIVE_TYPES))}"
        )
    _op_object(obj, "action", f"{path}.action")


def _check_op_template(obj: Mapping[str, Any], path: str) -> None:
    _op_str(obj, "name", f"{path}.name")
    language = _op_object(obj, "language", f"{path}.language")
    _op_str(language, "code", f"{path}.language.code")
    components = obj.get("components")
    if components is not None and not isinstance(components, list):
        raise _op_invalid(f"{path}.components", "must be an array")


def _check_op_hsm(obj: Mapping[str, Any], path: str) -> None:
    _op_str(obj, "element_name", f"{path}.element_name")
    language = _op_object(obj, "language", f"{path}.language")
    _op_str(language, "code", f"{path}.language.code")
    params = obj.get("localizable_params", [])
    if not isinstance(params, list):
        raise _op_invalid(f"{path}.localizable_params", "must be an array")


_ONPREM_TYPE_CHECKS: Final = {
    "text": _check_op_text,
    "location": _check_op_location,
    "interactive": _check_op_interactive,
    "template": _check_op_template,
    "hsm": _check_op_hsm,
    **dict.fromkeys(MEDIA_TYPES, _check_op_media),
}

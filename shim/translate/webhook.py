"""Cloud webhook bodies -> On-Prem webhook bodies.

Every entry x every change x every item is visited; one On-Prem body comes out
per ``messages`` change, in order. Nothing is dropped: fields On-Prem lacks pass
through, changes of other fields come back in ``other``.
"""

from __future__ import annotations

from typing import Any

from shim.mapping import fields
from shim.mapping.errors import cloud_to_onprem_code, onprem_title
from shim.translate._util import expect_list, expect_object, fail
from shim.translate.error import as_text
from shim.translate.types import (
    JSON,
    OnPremWebhook,
    OtherChange,
    TranslationWarning,
    WebhookTranslation,
)

_ONPREM_KEYS = frozenset({"contacts", "messages", "statuses", "errors"})


def translate_webhook(body: JSON) -> WebhookTranslation:
    """Split a Cloud webhook POST into On-Prem bodies; On-Prem bodies pass through."""
    src = expect_object(body, "$")
    result = WebhookTranslation()
    if "entry" not in src:
        if "object" in src or not (set(src) & _ONPREM_KEYS):
            fail("$", 'not a webhook body: expected Cloud "entry" or On-Prem '
                 '"messages"/"statuses"/"contacts"/"errors"')
        result.bodies.append(OnPremWebhook(src, None))
        return result
    for i, entry in enumerate(expect_list(src["entry"], "$.entry")):
        epath = f"$.entry[{i}]"
        entry = expect_object(entry, epath)
        waba_id = entry.get("id")
        waba = str(waba_id) if waba_id is not None else None
        for j, change in enumerate(expect_list(entry.get("changes", []), f"{epath}.changes")):
            cpath = f"{epath}.changes[{j}]"
            change = expect_object(change, cpath)
            field = change.get("field")
            value = change.get("value")
            if field != fields.WEBHOOK_MESSAGES_FIELD:
                result.other.append(OtherChange(str(field), value, waba))
                result.warnings.append(TranslationWarning(
                    fields.W_OTHER_FIELD, f"{cpath}.field",
                    f"change field {field!r} has no On-Prem webhook; passed through"))
                continue
            value = expect_object(value, f"{cpath}.value")
            result.bodies.append(_messages_change(value, f"{cpath}.value", waba, result.warnings))
    return result


def _messages_change(value: dict[str, Any], path: str, waba_id: str | None,
                     warnings: list[TranslationWarning]) -> OnPremWebhook:
    metadata = value.get("metadata")
    metadata = expect_object(metadata, f"{path}.metadata") if metadata is not None else {}
    body: dict[str, Any] = {}
    for key, item in value.items():
        if key in fields.WEBHOOK_VALUE_ENVELOPE_KEYS:
            continue
        if key == "messages":
            body[key] = [_message(m, f"{path}.messages[{n}]", warnings)
                         for n, m in enumerate(expect_list(item, f"{path}.messages"))]
        elif key == "statuses":
            body[key] = [_status(s, f"{path}.statuses[{n}]", warnings)
                         for n, s in enumerate(expect_list(item, f"{path}.statuses"))]
        elif key == "errors":
            body[key] = _errors(item, f"{path}.errors")
        elif key == "contacts":
            body[key] = [_contact(c, f"{path}.contacts[{n}]", warnings)
                         for n, c in enumerate(expect_list(item, f"{path}.contacts"))]
        else:
            body[key] = item
    pnid = metadata.get("phone_number_id")
    display = metadata.get("display_phone_number")
    return OnPremWebhook(
        body,
        str(pnid) if pnid is not None else None,
        str(display) if display is not None else None,
        waba_id,
    )


def _message(message: JSON, path: str, warnings: list[TranslationWarning]) -> dict[str, Any]:
    out = dict(expect_object(message, path))
    _fill_bsuid(out, "messages", path, warnings)
    kind = out.get("type")
    if isinstance(kind, str) and kind not in fields.INBOUND_TYPE_RENAMES:
        cloud_type = _cloud_only_type(out, kind)
        if cloud_type is not None:
            return _as_unknown(out, message, cloud_type, path, warnings)
    if kind == "audio" and isinstance(out.get("audio"), dict) and out["audio"].get("voice"):
        audio = out.pop("audio")
        out["type"] = "voice"
        out["voice"] = {k: v for k, v in audio.items() if k != "voice"}
    elif isinstance(kind, str) and kind in fields.INBOUND_TYPE_RENAMES:
        out["type"] = fields.INBOUND_TYPE_RENAMES[kind]
    elif kind == "system" and isinstance(out.get("system"), dict):
        out["system"] = {fields.SYSTEM_RENAMES.get(k, k): v for k, v in out["system"].items()}
    elif kind == "interactive" and _sub_type(out) == "nfm_reply":
        warnings.append(TranslationWarning(
            fields.W_NFM_REPLY, f"{path}.interactive",
            "nfm_reply (Flows/address reply) has no On-Prem counterpart; passed through"))
    if "errors" in out:
        out["errors"] = _errors(out["errors"], f"{path}.errors")
    return out


def _cloud_only_type(message: dict[str, Any], kind: str) -> str | None:
    """The Cloud type name when On-Prem handlers would not know this message."""
    if kind not in fields.ONPREM_INBOUND_TYPES:
        return kind
    if kind == "interactive":
        sub = _sub_type(message)
        if isinstance(sub, str) and sub not in fields.ONPREM_INBOUND_INTERACTIVE_TYPES:
            return f"interactive.{sub}"
    return None


def _as_unknown(message: dict[str, Any], original: JSON, cloud_type: str, path: str,
                warnings: list[TranslationWarning]) -> dict[str, Any]:
    out: dict[str, Any] = {k: message[k] for k in fields.UNKNOWN_KEEPS if k in message}
    out["type"] = fields.UNKNOWN_MESSAGE_TYPE
    code, details = fields.UNKNOWN_ERROR
    out["errors"] = [{"code": code, "title": onprem_title(code),
                      "details": f'{details} (Cloud type "{cloud_type}"; the Cloud item is in '
                      f"{fields.CLOUD_ITEM_KEY})"}]
    out[fields.CLOUD_ITEM_KEY] = original
    warnings.append(TranslationWarning(
        fields.W_CLOUD_ONLY_TYPE, f"{path}.type",
        f"Cloud-only message type {cloud_type!r} delivered as type unknown; the Cloud item "
        f"is kept under {fields.CLOUD_ITEM_KEY}"))
    return out


def _fill_bsuid(item: dict[str, Any], kind: str, path: str,
                warnings: list[TranslationWarning]) -> None:
    """Phone-less (username) users: the On-Prem key gets the BSUID (see fields.BSUID_FILLS)."""
    key, source = fields.BSUID_FILLS[kind]
    if key not in item and item.get(source) is not None:
        item[key] = item[source]
        warnings.append(TranslationWarning(
            fields.W_BSUID, f"{path}.{key}",
            f"no phone number (username user); {key} set to the BSUID from {source}"))


def _contact(contact: JSON, path: str, warnings: list[TranslationWarning]) -> JSON:
    if not isinstance(contact, dict):
        return contact
    out = dict(contact)
    _fill_bsuid(out, "contacts", path, warnings)
    return out


def _sub_type(message: dict[str, Any]) -> object:
    interactive = message.get("interactive")
    return interactive.get("type") if isinstance(interactive, dict) else None


def _status(status: JSON, path: str, warnings: list[TranslationWarning]) -> dict[str, Any]:
    out = dict(expect_object(status, path))
    _fill_bsuid(out, "statuses", path, warnings)
    value = out.get("status")
    if isinstance(value, str) and value in fields.STATUS_RENAMES:
        out["status"] = fields.STATUS_RENAMES[value]
        out["cloud_status"] = value
        warnings.append(TranslationWarning(
            fields.W_PLAYED_STATUS, f"{path}.status",
            f"status {value!r} has no On-Prem counterpart; sent as {out['status']!r}"))
    recipient = out.get("recipient_id")
    if recipient is not None and "message" not in out:
        out["message"] = {"recipient_id": recipient}
    if "errors" in out:
        out["errors"] = _errors(out["errors"], f"{path}.errors")
    return out


def _errors(errors: JSON, path: str) -> list[Any]:
    out = []
    for n, error in enumerate(expect_list(errors, path)):
        err = dict(expect_object(error, f"{path}[{n}]"))
        code = err.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            onprem = cloud_to_onprem_code(code)
            data = err.get("error_data")
            detail = data.get("details") if isinstance(data, dict) else None
            original = err.get("message") or err.get("title")
            err["cloud_code"] = code
            if "title" in err:
                err["cloud_title"] = err["title"]
            err["code"] = onprem
            err["title"] = onprem_title(onprem)
            if "details" not in err or not isinstance(err["details"], str):
                err["details"] = as_text(err.get("details") or detail or original or "")
        out.append(err)
    return out

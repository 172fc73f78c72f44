"""On-Prem endpoints the shim answers itself, because Cloud has no counterpart."""

from __future__ import annotations

from shim.mapping import fields
from shim.translate._util import expect_list, expect_object, expect_str, require
from shim.translate.types import JSON, OnPremResponse, TranslationError, TranslationWarning


def answer_locally(endpoint: str, body: JSON, *, phone_number: str | None) -> OnPremResponse:
    if endpoint == "check_contacts":
        return check_contacts(body)
    if endpoint == "get_phone_number":
        if not phone_number:
            raise TranslationError("phone_number", "the channel has no phone_number configured")
        return OnPremResponse(200, {"phone_number": phone_number})
    raise AssertionError(f"no local answer for {endpoint}")


def check_contacts(body: JSON) -> OnPremResponse:
    """Answer like On-Prem >= v2.43: every input valid, wa_id = its digits."""
    req = expect_object(body, "$")
    contacts = expect_list(require(req, "contacts", "$"), "$.contacts")
    answered = []
    for i, item in enumerate(contacts):
        number = expect_str(item, f"$.contacts[{i}]")
        digits = "".join(ch for ch in number if ch.isdigit())
        if not digits:
            answered.append({"input": number, "status": "invalid"})
        else:
            answered.append({"input": number, "status": "valid", "wa_id": digits})
    warning = TranslationWarning(
        fields.W_CONTACTS_LOCAL, "$.contacts",
        "Cloud has no contacts check; answered locally (status valid, wa_id = digits). "
        "Undeliverable numbers surface later as error 131026.",
    )
    return OnPremResponse(200, {"contacts": answered}, [warning])

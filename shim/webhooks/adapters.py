"""Give handlers written for flat On-Prem webhook bodies the Cloud events they now receive.

Cloud batches: one POST carries ``entry[] x changes[]``, each change one
``value`` with its own ``messages``/``statuses``/``contacts``/``errors`` and the
``metadata.phone_number_id`` it belongs to. The translator turns every
``messages`` change into one On-Prem body; these helpers accept whatever a web
handler has in hand and hand back either that list (``onprem_bodies``) or a
single flat body with everything merged (``onprem_view``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shim.json_input import JSONInputError, JSONTooDeep, read_json
from shim.translate import TranslationError, translate_webhook
from shim.translate.types import OnPremWebhook, WebhookTranslation
from shim.webhooks.scope import NumberScope, bound

__all__ = [
    "MERGED_KEYS",
    "WebhookPayloadError",
    "load_payload",
    "onprem_bodies",
    "onprem_translation",
    "onprem_view",
]

#: List-valued keys of an On-Prem body that ``onprem_view`` concatenates.
MERGED_KEYS = ("contacts", "messages", "statuses", "errors")


class WebhookPayloadError(TranslationError):
    """The payload is not a webhook body (not JSON, not an object, unreadable request)."""


def load_payload(payload: object) -> dict[str, Any]:
    """The decoded JSON object behind what a handler has.

    Accepts a mapping (Flask ``request.json``/``get_json()``, DRF
    ``request.data``, sanic, an already parsed dict), JSON text or bytes
    (Django ``request.body``, tornado), a pydantic model, or the request object
    itself (anything with ``get_json()``, a mapping ``.data``/``.json`` or a
    bytes ``.body``).
    """
    if isinstance(payload, Mapping):
        return dict(payload)
    if isinstance(payload, str | bytes | bytearray | memoryview):
        return _decode(bytes(payload) if not isinstance(payload, str) else payload)
    dump = getattr(payload, "model_dump", None)
    if callable(dump):
        return load_payload(dump(mode="json", by_alias=True))
    get_json = getattr(payload, "get_json", None)
    if callable(get_json):
        return load_payload(get_json())
    for attr in ("data", "json", "body"):
        value = getattr(payload, attr, None)
        if isinstance(value, Mapping | str | bytes | bytearray):
            return load_payload(value)
    if payload is None:
        raise WebhookPayloadError("$", "no webhook payload (None): was the body JSON?")
    raise WebhookPayloadError(
        "$", f"cannot read a webhook body from a {type(payload).__name__}"
    )


def _decode(text: str | bytes) -> dict[str, Any]:
    try:
        value = read_json(text)
    except JSONTooDeep as exc:
        raise WebhookPayloadError(exc.where, exc.reason) from None
    except JSONInputError as exc:
        reason = "not UTF-8" if exc.where.startswith("byte") else exc.reason.removeprefix(
            "malformed JSON: ")
        raise WebhookPayloadError("$", f"not valid JSON ({exc.where}): {reason}") from None
    if not isinstance(value, dict):
        raise WebhookPayloadError("$", f"expected a JSON object, got {type(value).__name__}")
    return value


def onprem_translation(payload: object) -> WebhookTranslation:
    """The full translation (bodies, non-message changes, warnings) of a payload."""
    return translate_webhook(load_payload(payload))


def onprem_bodies(
    payload: object, *, phone_number_id: str | None = None, waba_id: str | None = None
) -> list[OnPremWebhook]:
    """Every On-Prem body in a webhook POST, in order, each with its routing data.

    One ``OnPremWebhook`` per Cloud ``messages`` change (``.body`` is the flat
    On-Prem body, ``.phone_number_id``/``.display_phone_number``/``.waba_id``
    say which number it belongs to). An On-Prem body passes through as a single
    item with ``phone_number_id=None``. Changes of other fields (template
    status, account updates) are not messages and are not in this list; use
    ``onprem_translation(payload).other`` to see them.

    Use it when one endpoint serves several numbers::

        for item in onprem_bodies(request.get_json()):
            handle(item.body, channel=item.phone_number_id)

    Bind the endpoint to the number its secret belongs to: with
    ``phone_number_id`` (or ``waba_id``) given, changes about any other number
    are left out and logged as security events (``shim.webhooks.security``),
    since whoever holds this endpoint's secret can write any number into a body.
    """
    bodies = onprem_translation(payload).bodies
    scope = NumberScope(phone_number_id, waba_id)
    return bound(bodies, scope) if scope.restricted else bodies


def onprem_view(
    payload: object, *, phone_number_id: str | None = None, waba_id: str | None = None
) -> dict[str, Any]:
    """ONE flat On-Prem body holding every item of a webhook POST.

    Made for wrapping the payload expression of an existing handler, so the
    rest of it keeps working unchanged::

        data = onprem_view(request.get_json())     # Flask
        data = onprem_view(json.loads(request.body))  # Django
        data = onprem_view(request.data)            # DRF

    The merge: ``contacts``, ``messages``, ``statuses`` and ``errors`` of all
    bodies are concatenated in delivery order (a key is present only when some
    body has it, so ``"messages" in data`` guards keep their meaning); any
    other key keeps its first value. Nothing is dropped, but a handler that
    only reads ``data["messages"][0]`` will now see only the first of several
    batched messages: loop over ``data.get("messages", [])`` instead.

    The merged body does not say which phone number an item belongs to. When
    one POST may carry several numbers (one app subscribed to several numbers
    or WABAs) and the handler routes by number, use ``onprem_bodies`` and its
    ``phone_number_id`` instead. A POST with no messages change (e.g. only a
    template status update) gives ``{}``. ``phone_number_id``/``waba_id``
    bind it to one number, as for ``onprem_bodies``.
    """
    return merge_bodies(onprem_bodies(payload, phone_number_id=phone_number_id,
                                      waba_id=waba_id))


def merge_bodies(bodies: list[OnPremWebhook]) -> dict[str, Any]:
    """Concatenate the list keys of several On-Prem bodies (see ``onprem_view``)."""
    if len(bodies) == 1:
        return bodies[0].body
    merged: dict[str, Any] = {}
    for item in bodies:
        for key, value in item.body.items():
            if key in MERGED_KEYS and isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged.setdefault(key, value)
    return merged

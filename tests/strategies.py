"""Hypothesis strategies for WhatsApp payloads, as plain JSON dicts.

- ``onprem_send_requests()``: valid On-Prem ``POST /v1/messages`` bodies of every
  type, written the way callers write them (type omitted for text, top-level
  ``preview_url``, media with id/link/caption/provider, template namespace and
  policy, legacy hsm with localizable params, optional ttl ...).
  ``ONPREM_SEND_STRATEGIES`` has one strategy per ``type``.
- ``cloud_webhook_bodies()``: valid Cloud webhook bodies with random numbers of
  entries / changes / contacts / messages (all documented types plus Cloud-only
  and not-yet-known ones) / statuses (incl. played, failed with errors,
  CBP and PMP pricing) / out-of-band errors.

- ``hostile_json()`` and ``mutated(base)``: arbitrary JSON with wrong types,
  lists where strings belong, huge strings, lone surrogates and deep nesting,
  alone or planted into valid payloads (for the "only typed errors" properties).

Every valid generated value validates against ``shim.models`` (tests/test_models.py
checks this), so property tests can rely on "valid input" meaning valid.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any

from hypothesis import strategies as st

Json = dict[str, Any]
S = st.SearchStrategy

__all__ = [
    "CLOUD_WEBHOOK_MESSAGE_STRATEGIES",
    "ONPREM_SEND_STRATEGIES",
    "cloud_webhook_bodies",
    "cloud_webhook_changes",
    "cloud_webhook_messages",
    "cloud_webhook_statuses",
    "hostile_json",
    "mutated",
    "onprem_send_requests",
]

# --- scalars


def _printable(max_size: int = 30) -> S[str]:
    # Any unicode except surrogates/control characters, so dumps round-trip through JSON.
    return st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=max_size
    )


_token = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=16)
_digits = st.text(alphabet=string.digits, min_size=6, max_size=15)
_phone = st.one_of(_digits, _digits.map(lambda d: "+" + d))
_uuid = st.uuids().map(str)
_cloud_media_id = st.integers(10**14, 10**16).map(str)
_url = st.builds(
    lambda host, path: f"https://{host}.example.com/{path}",
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10),
    _token,
)
_timestamp = st.integers(1_500_000_000, 2_000_000_000).map(str)
_wamid = _token.map(lambda t: "wamid." + t)
_emoji = st.sampled_from(["\U0001f44d", "\U0001f600", "\u2764\ufe0f", "\U0001f64f"])
_mime = st.sampled_from(["image/jpeg", "image/png", "audio/ogg; codecs=opus", "video/mp4"])


def _opt(**fields: S[Any]) -> dict[str, S[Any]]:
    return fields


def _obj(required: dict[str, S[Any]], optional: dict[str, S[Any]] | None = None) -> S[Json]:
    return st.fixed_dictionaries(required, optional=optional or {})


# --- On-Prem send


def _envelope(
    kind: str, payload_key: str, payload: S[Any], *, type_optional: bool = False
) -> S[Json]:
    optional: dict[str, S[Any]] = {
        "recipient_type": st.just("individual"),
        "ttl": st.one_of(
            st.integers(1, 2_592_000), st.builds(lambda s: {"seconds": s}, st.integers(1, 86_400))
        ),
        # the On-Prem send-side key is unconfirmed; callers use either spelling
        "context": st.one_of(_obj({"message_id": _token}), _obj({"id": _token})),
    }
    required: dict[str, S[Any]] = {"to": _phone, payload_key: payload}
    if type_optional:
        optional["type"] = st.just(kind)
    else:
        required["type"] = st.just(kind)
    return _obj(required, optional)


def _onprem_media(*, caption: bool, filename: bool = False) -> S[Json]:
    optional: dict[str, S[Any]] = {}
    if caption:
        optional["caption"] = _printable()
    if filename:
        optional["filename"] = _token.map(lambda t: t + ".pdf")
    by_id = _obj({"id": _uuid}, optional)
    by_link = _obj({"link": _url}, {**optional, "provider": _obj({"name": _token})})
    return st.one_of(by_id, by_link)


_text_request = st.builds(
    lambda base, preview: {**base, **preview},
    _envelope("text", "text", _obj({"body": _printable(200)}), type_optional=True),
    st.one_of(st.just({}), st.booleans().map(lambda b: {"preview_url": b})),
)

_coordinate = st.one_of(
    st.floats(-90, 90, allow_nan=False),
    st.floats(-90, 90, allow_nan=False).map(lambda f: f"{f:.6f}"),
)
_location = _obj(
    {"latitude": _coordinate, "longitude": _coordinate},
    {"name": _printable(), "address": _printable()},
)

_contact_card = _obj(
    {
        "name": _obj(
            {"formatted_name": _printable()},
            {"first_name": _printable(), "last_name": _printable()},
        )
    },
    {
        "phones": st.lists(
            _obj(
                {"phone": _phone},
                {"type": st.sampled_from(["HOME", "WORK", "CELL"]), "wa_id": _digits},
            ),
            max_size=2,
        ),
        "emails": st.lists(
            _obj({"email": _token.map(lambda t: t + "@example.com")}, {"type": st.just("WORK")}),
            max_size=2,
        ),
        "addresses": st.lists(
            _obj({}, {"city": _printable(), "street": _printable(), "country_code": st.just("us")}),
            max_size=1,
        ),
        "org": _obj({}, {"company": _printable(), "title": _printable()}),
        "urls": st.lists(_obj({"url": _url}, {"type": st.just("WORK")}), max_size=1),
        "birthday": st.dates().map(lambda d: d.isoformat()),
    },
)

_body = _obj({"text": _printable(100)})
_footer = _obj({"text": _printable(60)})
_text_header = _obj({"type": st.just("text"), "text": _printable(60)})
_media_header = st.sampled_from(["image", "video", "document"]).flatmap(
    lambda kind: _obj({"type": st.just(kind), kind: _onprem_media(caption=False)})
)


def _unique_ids(n_min: int, n_max: int) -> S[list[str]]:
    return st.lists(_token, min_size=n_min, max_size=n_max, unique=True)


_buttons = _unique_ids(1, 3).map(
    lambda ids: [{"type": "reply", "reply": {"id": i, "title": f"B{n}"}} for n, i in enumerate(ids)]
)
_interactive_button = _obj(
    {"type": st.just("button"), "body": _body, "action": _obj({"buttons": _buttons})},
    {"header": st.one_of(_text_header, _media_header), "footer": _footer},
)
_rows = _unique_ids(1, 3).flatmap(
    lambda ids: st.tuples(
        *[
            _obj({"id": st.just(i), "title": _printable(24)}, {"description": _printable(72)})
            for i in ids
        ]
    ).map(list)
)
_interactive_list = _obj(
    {
        "type": st.just("list"),
        "body": _body,
        "action": _obj(
            {
                "button": _printable(20),
                "sections": st.lists(
                    _obj({"title": _printable(24), "rows": _rows}), min_size=1, max_size=3
                ),
            }
        ),
    },
    {"header": _text_header, "footer": _footer},
)
_interactive_product = _obj(
    {
        "type": st.just("product"),
        "action": _obj({"catalog_id": _digits, "product_retailer_id": _token}),
    },
    {"body": _body, "footer": _footer},
)
_product_items = st.lists(_obj({"product_retailer_id": _token}), min_size=1, max_size=3)
_interactive_product_list = _obj(
    {
        "type": st.just("product_list"),
        "header": _text_header,
        "body": _body,
        "action": _obj(
            {
                "catalog_id": _digits,
                "sections": st.lists(
                    _obj({"title": _printable(24), "product_items": _product_items}),
                    min_size=1,
                    max_size=3,
                ),
            }
        ),
    },
    {"footer": _footer},
)
_interactive = st.one_of(
    _interactive_button, _interactive_list, _interactive_product, _interactive_product_list
)

_policy = st.sampled_from(["deterministic", "fallback"])
_language_code = st.sampled_from(["en", "en_US", "de", "pt_BR", "es"])
_currency = _obj(
    {
        "fallback_value": _printable(20),
        "code": st.sampled_from(["USD", "EUR", "BRL"]),
        "amount_1000": st.integers(0, 10**9),
    }
)
_int_or_str = st.integers(0, 59).flatmap(lambda n: st.sampled_from([n, str(n)]))
_date_time = _obj(
    {"fallback_value": _printable(30)},
    {
        "day_of_week": st.integers(1, 7),
        "day_of_month": _int_or_str,
        "year": st.integers(1970, 2100),
        "month": st.integers(1, 12),
        "hour": st.integers(0, 23),
        "minute": _int_or_str,
        "calendar": st.just("GREGORIAN"),
    },
)
_body_parameter = st.one_of(
    _obj({"type": st.just("text"), "text": _printable(40)}),
    _obj({"type": st.just("currency"), "currency": _currency}),
    _obj({"type": st.just("date_time"), "date_time": _date_time}),
)
_header_parameter = st.one_of(
    _obj({"type": st.just("text"), "text": _printable(40)}),
    st.sampled_from(["image", "video", "document"]).flatmap(
        lambda kind: _obj({"type": st.just(kind), kind: _onprem_media(caption=False)})
    ),
)
_index = st.integers(0, 9).flatmap(lambda n: st.sampled_from([n, str(n)]))
_button_component = st.one_of(
    _obj(
        {
            "type": st.just("button"),
            "sub_type": st.just("quick_reply"),
            "index": _index,
            "parameters": st.lists(
                _obj({"type": st.just("payload"), "payload": _token}), min_size=1, max_size=1
            ),
        }
    ),
    _obj(
        {
            "type": st.just("button"),
            "sub_type": st.just("url"),
            "index": _index,
            "parameters": st.lists(
                _obj({"type": st.just("text"), "text": _token}), min_size=1, max_size=1
            ),
        }
    ),
)
_components = st.builds(
    lambda header, body, buttons: header + body + buttons,
    st.lists(
        _obj(
            {
                "type": st.just("header"),
                "parameters": st.lists(_header_parameter, min_size=1, max_size=1),
            }
        ),
        max_size=1,
    ),
    st.lists(
        _obj(
            {
                "type": st.just("body"),
                "parameters": st.lists(_body_parameter, min_size=1, max_size=4),
            }
        ),
        max_size=1,
    ),
    st.lists(_button_component, max_size=3),
)
_template = _obj(
    {
        "name": _token,
        "language": _obj({"code": _language_code}, {"policy": st.just("deterministic")}),
    },
    {"namespace": _token, "components": _components},
)

_localizable_param = st.one_of(
    _obj({"default": _printable(30)}),
    _obj(
        {
            "default": _printable(30),
            "currency": _obj(
                {
                    "currency_code": st.sampled_from(["USD", "EUR"]),
                    "amount_1000": st.integers(0, 10**9),
                }
            ),
        }
    ),
    _obj(
        {
            "default": _printable(30),
            "date_time": st.one_of(
                _obj(
                    {
                        "component": _obj(
                            {},
                            {
                                "day_of_week": st.integers(1, 7),
                                "year": st.integers(1970, 2100),
                                "month": st.integers(1, 12),
                                "day_of_month": st.integers(1, 28),
                                "hour": st.integers(0, 23),
                                "minute": st.integers(0, 59),
                            },
                        )
                    }
                ),
                _obj({"unix_epoch": _obj({"timestamp": st.integers(0, 2_000_000_000)})}),
            ),
        }
    ),
)
_hsm = _obj(
    {
        "namespace": _token,
        "element_name": _token,
        "language": _obj({"policy": _policy, "code": _language_code}),
        "localizable_params": st.lists(_localizable_param, max_size=4),
    }
)

#: One strategy per On-Prem ``type`` value.
ONPREM_SEND_STRATEGIES: dict[str, S[Json]] = {
    "text": _text_request,
    "image": _envelope("image", "image", _onprem_media(caption=True)),
    "video": _envelope("video", "video", _onprem_media(caption=True)),
    "document": _envelope("document", "document", _onprem_media(caption=True, filename=True)),
    "audio": _envelope("audio", "audio", _onprem_media(caption=False)),
    "sticker": _envelope("sticker", "sticker", _onprem_media(caption=False)),
    "location": _envelope("location", "location", _location),
    "contacts": _envelope("contacts", "contacts", st.lists(_contact_card, min_size=1, max_size=2)),
    "interactive": _envelope("interactive", "interactive", _interactive),
    "template": _envelope("template", "template", _template),
    "hsm": _envelope("hsm", "hsm", _hsm),
    "reaction": _envelope("reaction", "reaction", _obj({"message_id": _token, "emoji": _emoji})),
}


_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _replace_media_ids(node: Any, mode: str) -> Any:
    """Rewrite every On-Prem (UUID) media id: ``cloud`` -> a numeric Cloud id,
    ``link`` -> a ``link`` instead of the id."""
    if isinstance(node, list):
        return [_replace_media_ids(item, mode) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _replace_media_ids(value, mode) for key, value in node.items()}
    media_id = out.get("id")
    if isinstance(media_id, str) and _UUID_RE.match(media_id):
        if mode == "cloud":
            out["id"] = str(int(media_id.replace("-", "")[:13], 16))
        else:
            del out["id"]
            out["link"] = f"https://media.example.com/{media_id}.bin"
    return out


def onprem_send_requests(*, media_ids: str = "onprem") -> S[Json]:
    """Any valid On-Prem send request body.

    ``media_ids`` chooses how media is referenced: ``onprem`` (UUID ids as
    On-Prem callers have them; Cloud cannot use them without a re-upload),
    ``cloud`` (numeric ids of media already uploaded to Cloud) or ``link``
    (no ids, links only). Links with or without ``provider`` occur in every mode.
    """
    base = st.one_of(*ONPREM_SEND_STRATEGIES.values())
    if media_ids == "onprem":
        return base
    if media_ids not in ("cloud", "link"):
        raise ValueError(f"media_ids must be 'onprem', 'cloud' or 'link', not {media_ids!r}")
    return base.map(lambda body: _replace_media_ids(body, media_ids))


# --- Cloud webhooks


def _inbound_media(**extra: S[Any]) -> S[Json]:
    return _obj(
        {"id": _cloud_media_id, "mime_type": _mime, "sha256": _token},
        {"url": _url.map(lambda u: u + "?mid=1"), **extra},
    )


_context = _obj(
    {"from": _digits, "id": _wamid},
    {
        "forwarded": st.booleans(),
        "referred_product": _obj({"catalog_id": _digits, "product_retailer_id": _token}),
    },
)
_referral = _obj(
    {"source_url": _url, "source_id": _digits, "source_type": st.sampled_from(["ad", "post"])},
    {
        "body": _printable(),
        "headline": _printable(),
        "media_type": st.just("image"),
        "image_url": _url,
        "ctwa_clid": _token,
    },
)
_webhook_error = _obj(
    {"code": st.sampled_from([131051, 131052, 130429, 131026, 131047, 131049, 131014, 999999])},
    {
        "title": _printable(),
        "message": _printable(),
        "error_data": _obj({"details": _printable()}),
        "href": st.just("/docs/errors"),
    },
)


def _message(
    kind: str, payload: dict[str, S[Any]] | None = None, *, errors: bool = False
) -> S[Json]:
    optional: dict[str, S[Any]] = {"context": _context}
    if errors:
        optional["errors"] = st.lists(_webhook_error, min_size=1, max_size=1)
    if kind == "text":
        optional["referral"] = _referral
    return st.builds(
        lambda sender, base: {**sender, **base},
        st.one_of(
            st.builds(lambda f: {"from": f}, _digits),
            # username (BSUID) senders: phone may be absent, from_user_id present
            st.builds(lambda u: {"from_user_id": "US." + u}, _digits),
            st.builds(lambda f, u: {"from": f, "from_user_id": "US." + u}, _digits, _digits),
        ),
        _obj(
            {"id": _wamid, "timestamp": _timestamp, "type": st.just(kind), **(payload or {})},
            optional,
        ),
    )


_interactive_reply = st.one_of(
    _obj(
        {
            "type": st.just("button_reply"),
            "button_reply": _obj({"id": _token, "title": _printable(20)}),
        }
    ),
    _obj(
        {
            "type": st.just("list_reply"),
            "list_reply": _obj(
                {"id": _token, "title": _printable(24)}, {"description": _printable()}
            ),
        }
    ),
    _obj(
        {
            "type": st.just("nfm_reply"),
            "nfm_reply": _obj(
                {"response_json": _token.map(lambda t: json.dumps({"flow_token": t}))},
                {"name": st.just("flow"), "body": st.just("Sent")},
            ),
        }
    ),
)
_order = _obj(
    {
        "catalog_id": _digits,
        "product_items": st.lists(
            _obj(
                {
                    "product_retailer_id": _token,
                    "quantity": st.integers(1, 9),
                    "item_price": st.integers(1, 999),
                    "currency": st.just("USD"),
                }
            ),
            min_size=1,
            max_size=3,
        ),
    },
    {"text": _printable()},
)

#: One strategy per inbound message kind (``voice`` = audio with ``voice: true``;
#: ``future`` = a type Cloud has not documented yet, with its own payload object).
CLOUD_WEBHOOK_MESSAGE_STRATEGIES: dict[str, S[Json]] = {
    "text": _message("text", {"text": _obj({"body": _printable(200)})}),
    "image": _message("image", {"image": _inbound_media(caption=_printable())}),
    "audio": _message("audio", {"audio": _inbound_media()}),
    "voice": _message("audio", {"audio": _inbound_media().map(lambda m: {**m, "voice": True})}),
    "video": _message("video", {"video": _inbound_media(caption=_printable())}),
    "document": _message(
        "document", {"document": _inbound_media(caption=_printable(), filename=_token)}
    ),
    "sticker": _message("sticker", {"sticker": _inbound_media(animated=st.booleans())}),
    "location": _message(
        "location",
        {
            "location": _obj(
                {
                    "latitude": st.floats(-90, 90, allow_nan=False),
                    "longitude": st.floats(-180, 180, allow_nan=False),
                },
                {"name": _printable(), "address": _printable(), "url": _url},
            )
        },
    ),
    "contacts": _message("contacts", {"contacts": st.lists(_contact_card, min_size=1, max_size=2)}),
    "button": _message("button", {"button": _obj({"text": _printable(20), "payload": _token})}),
    "interactive": _message("interactive", {"interactive": _interactive_reply}),
    "order": _message("order", {"order": _order}),
    "system": _message(
        "system",
        {
            "system": _obj(
                {"body": _printable(), "wa_id": _digits, "type": st.just("user_changed_number")}
            )
        },
    ),
    "reaction": _message("reaction", {"reaction": _obj({"message_id": _wamid}, {"emoji": _emoji})}),
    "unsupported": _message(
        "unsupported",
        {"unsupported": _obj({"type": st.sampled_from(["edit", "poll", "unknown"])})},
        errors=True,
    ),
    "future": st.sampled_from(["poll", "event", "call_log"]).flatmap(
        lambda kind: _message(kind, {kind: _obj({"id": _token}, {"question": _printable()})})
    ),
}


def _bsuid_digits(user_id: str) -> str:
    return user_id.removeprefix("US.")


def _with_phone_sender(message: Json) -> Json:
    if "from" in message:
        return message
    return {"from": _bsuid_digits(message["from_user_id"]), **message}


def _with_phone_contact(contact: Json) -> Json:
    if "wa_id" in contact:
        return contact
    return {"wa_id": _bsuid_digits(contact["user_id"]), **contact}


def cloud_webhook_messages(*, unknown_types: bool = True, phoneless: bool = True) -> S[Json]:
    """Any inbound Cloud message. ``unknown_types`` adds not-yet-documented types;
    ``phoneless=False`` gives every sender a phone ``from`` (BSUID may still be present)."""
    kinds = [
        s for k, s in CLOUD_WEBHOOK_MESSAGE_STRATEGIES.items() if unknown_types or k != "future"
    ]
    messages = st.one_of(*kinds)
    return messages if phoneless else messages.map(_with_phone_sender)


def cloud_webhook_statuses() -> S[Json]:
    """Any Cloud status: sent/delivered/read/played, failed with errors, CBP or PMP pricing."""
    pricing = st.one_of(
        _obj(
            {
                "billable": st.booleans(),
                "pricing_model": st.just("CBP"),
                "category": st.sampled_from(["service", "marketing", "utility"]),
            }
        ),
        _obj(
            {
                "billable": st.booleans(),
                "pricing_model": st.just("PMP"),
                "category": st.sampled_from(["marketing", "utility", "authentication"]),
                "type": st.sampled_from(["regular", "free_customer_service"]),
            }
        ),
    )
    conversation = _obj(
        {"id": _token},
        {
            "expiration_timestamp": st.one_of(
                _timestamp, st.integers(1_500_000_000, 2_000_000_000)
            ),
            "origin": _obj({"type": st.sampled_from(["service", "marketing", "utility"])}),
        },
    )
    common_optional: dict[str, S[Any]] = {
        "conversation": conversation,
        "pricing": pricing,
        "biz_opaque_callback_data": _token,
        "recipient_type": st.just("individual"),
    }
    ok = _obj(
        {
            "id": _wamid,
            "status": st.sampled_from(["sent", "delivered", "read", "played"]),
            "timestamp": _timestamp,
            "recipient_id": _digits,
        },
        common_optional,
    )
    failed = _obj(
        {
            "id": _wamid,
            "status": st.just("failed"),
            "timestamp": _timestamp,
            "recipient_id": _digits,
            "errors": st.lists(_webhook_error, min_size=1, max_size=2),
        },
        common_optional,
    )
    return st.one_of(ok, failed)


_cloud_contact = st.one_of(
    _obj({"wa_id": _digits, "profile": _obj({"name": _printable()})}),
    # BSUID contacts: with or without a phone number, optional username
    _obj(
        {"user_id": _digits.map(lambda d: "US." + d)},
        {"wa_id": _digits, "profile": _obj({}, {"name": _printable(), "username": _token})},
    ),
)


def cloud_webhook_changes(
    *, unknown_types: bool = True, other_fields: bool = False, phoneless: bool = True
) -> S[Json]:
    """One change; ``other_fields`` adds non-``messages`` changes (template status updates);
    ``phoneless=False`` leaves out username users without a phone number."""
    contact = _cloud_contact if phoneless else _cloud_contact.map(_with_phone_contact)
    value = _obj(
        {
            "messaging_product": st.just("whatsapp"),
            "metadata": _obj({"display_phone_number": _digits, "phone_number_id": _digits}),
        },
        {
            "contacts": st.lists(contact, min_size=1, max_size=2),
            "messages": st.lists(
                cloud_webhook_messages(unknown_types=unknown_types, phoneless=phoneless),
                min_size=1,
                max_size=4,
            ),
            "statuses": st.lists(cloud_webhook_statuses(), min_size=1, max_size=4),
            "errors": st.lists(_webhook_error, min_size=1, max_size=2),
        },
    )
    messages = _obj({"field": st.just("messages"), "value": value})
    if not other_fields:
        return messages
    template_update = _obj(
        {
            "field": st.just("message_template_status_update"),
            "value": _obj(
                {
                    "event": st.sampled_from(["APPROVED", "REJECTED"]),
                    "message_template_id": st.integers(1, 10**12),
                    "message_template_name": _token,
                    "message_template_language": _language_code,
                }
            ),
        }
    )
    return st.one_of(messages, template_update)


def cloud_webhook_bodies(
    *,
    unknown_types: bool = True,
    other_fields: bool = False,
    phoneless: bool = True,
    max_entries: int = 3,
    max_changes: int = 3,
) -> S[Json]:
    """A Cloud webhook POST body (batched entries and changes are normal).

    ``phoneless`` (default on): some senders/contacts are username users with a
    BSUID and no phone number, as Cloud sends from mid-2026. On-Prem bodies need
    a ``from``/``wa_id``, so a translator must have a policy for them."""
    entry = _obj(
        {
            "id": _digits,
            "changes": st.lists(
                cloud_webhook_changes(
                    unknown_types=unknown_types, other_fields=other_fields, phoneless=phoneless
                ),
                min_size=1,
                max_size=max_changes,
            ),
        }
    )
    return _obj(
        {
            "object": st.just("whatsapp_business_account"),
            "entry": st.lists(entry, min_size=1, max_size=max_entries),
        }
    )


# --- hostile input
#
# ``hostile_json()``: any JSON value, with what breaks careless code over-represented:
# lone surrogates, control characters, huge strings, huge numbers, path tricks,
# one-element lists where a string belongs (``["image"]``) and nesting past the
# readers' limit. ``mutated(base)``: a valid payload from ``base`` with one to
# three places replaced by hostile values (or keys dropped), so the input gets
# past the first checks and reaches the deep ones.

_hostile_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["\ud800", "a\udfffb", "\udc80\ud800", "\x00", "a\nb", "\x7f", "../..",
                     "a/b?c#d", "%2e%2e%2f", "..%2F", "", " ", "wamid.HBgL+/=="]),
    st.integers(10_000, 200_000).map(lambda n: "x" * n),
    st.sampled_from(["image", "text", "interactive", "button", "document", "id", "link"]),
)
_hostile_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(2**63, 2**80),
    st.floats(allow_nan=False), _hostile_text,
)


def _nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


def hostile_json() -> S[Any]:
    """Any JSON value, hostile values over-represented (see above)."""
    return st.one_of(
        st.recursive(
            _hostile_scalar,
            lambda inner: st.lists(inner, max_size=4)
            | st.dictionaries(st.one_of(_token, _hostile_text), inner, max_size=4),
            max_leaves=12,
        ),
        _hostile_text.map(lambda t: [t]),
        st.builds(_nest, _hostile_scalar, st.integers(60, 200), st.booleans()),
    )


def _places(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _places(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _places(value, (*path, index))
    return found


def _mutate(doc: Any, edits: list[tuple[int, bool, Any]]) -> Any:
    doc = json.loads(json.dumps(doc))
    for pick, drop, value in edits:
        places = [p for p in _places(doc) if p]
        if not places:
            return value
        path = places[pick % len(places)]
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if drop and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return doc


def mutated(base: S[Any]) -> S[Any]:
    """Valid payloads from ``base`` with 1..3 places made hostile."""
    edit = st.tuples(st.integers(0, 10**6), st.booleans(), hostile_json())
    return st.builds(_mutate, base, st.lists(edit, min_size=1, max_size=3))

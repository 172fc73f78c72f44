"""The endpoint map: every On-Premise v1 path, what serves it on each Cloud target.

One row per On-Prem operation. ``kind`` says how the shim, gateway and codemods
treat it: ``translate`` (a Cloud route exists; payloads go through the
translators), ``local`` (answered by the shim itself, no Cloud call) and, in
:data:`UNSUPPORTED`, operations with no Cloud counterpart and what to do instead.
Paths are templates: ``{name}`` matches one path segment, ``{name:path}`` the
rest of the path. Cloud paths are relative to the target's base URL (360dialog:
``https://waba-v2.360dialog.io``; Meta: ``https://graph.facebook.com/{version}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Final
from urllib.parse import parse_qsl, unquote

from shim.mapping.hosts import Target


class Kind(StrEnum):
    TRANSLATE = "translate"
    LOCAL = "local"
    UNSUPPORTED = "unsupported"


class Body(StrEnum):
    """What travels in the request body, so transports know how to encode it."""

    NONE = "none"
    JSON = "json"
    MULTIPART = "multipart"  # Cloud media upload: file + type + messaging_product
    RAW = "raw"  # On-Prem media upload: raw bytes with the MIME type as Content-Type


_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CloudRoute:
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    body: Body = Body.JSON


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    method: str
    onprem_path: str
    d360: CloudRoute | None
    meta: CloudRoute | None
    kind: Kind = Kind.TRANSLATE
    onprem_body: Body = Body.JSON
    note: str = ""
    decision: str | None = None
    #: what changes on the Meta target, when ``note`` speaks of 360dialog
    meta_note: str = ""
    #: a LOCAL row only the in-process router answers (drop-ins, Python client); the
    #: gateway refuses it with the :data:`UNSUPPORTED` row the path also matches
    in_process_only: bool = False
    #: a row that serves only calls carrying a query parameter; the others are refused
    requires: QueryRequirement | None = None

    def refusal(self, raw_query: str) -> Unsupported | None:
        """Why a Cloud target cannot serve this call with this query, if it cannot."""
        if self.requires is None or self.requires.met(raw_query):
            return None
        return self.requires.refusal

    def target_note(self, target: Target) -> str:
        return self.meta_note if target is Target.META and self.meta_note else self.note

    def route(self, target: Target) -> CloudRoute | None:
        if target is Target.D360:
            return self.d360
        if target is Target.META:
            return self.meta
        return CloudRoute(self.method, self.onprem_path, body=self.onprem_body)


@dataclass(frozen=True, slots=True)
class Unsupported:
    """An On-Prem operation with no Cloud equivalent."""

    methods: frozenset[str]
    onprem_path: str
    reason: str
    instead: str
    #: what to do instead on the Meta target, when ``instead`` is 360dialog advice
    instead_meta: str = ""

    def advice(self, target: Target) -> str:
        return self.instead_meta if target is Target.META and self.instead_meta else self.instead


@dataclass(frozen=True, slots=True)
class QueryRequirement:
    """``name=value`` must be in the query for the row to serve a call on Cloud.

    Without it On-Prem answered something Cloud cannot produce; the call gets
    ``refusal`` (HTTP 501) instead of an answer in another shape.
    """

    name: str
    value: str
    refusal: Unsupported

    def met(self, raw_query: str) -> bool:
        return (self.name, self.value) in parse_qsl(raw_query, keep_blank_values=True)


#: GET /v1/settings/profile/photo without ?format=link: On-Prem answered the image bytes.
PROFILE_PHOTO_BYTES: Final = Unsupported(
    frozenset({"GET"}), "/v1/settings/profile/photo",
    "Without ?format=link On-Premise answers the image bytes; Cloud only exposes a URL "
    "(profile_picture_url).",
    "Ask with GET /v1/settings/profile/photo?format=link and download the link.",
)

_R = CloudRoute
_E = Endpoint
_PROFILE_FIELDS: Final = "about,address,description,email,profile_picture_url,websites,vertical"

ENDPOINTS: Final = (
    _E(
        "send_message", "POST", "/v1/messages",
        _R("POST", "/messages"), _R("POST", "/{phone_number_id}/messages"),
        note="Body translated (messaging_product, preview_url, hsm, namespace, ttl, provider).",
    ),
    _E(
        "mark_read", "PUT", "/v1/messages/{message_id:path}",
        _R("POST", "/messages"), _R("POST", "/{phone_number_id}/messages"),
        note='{"status": "read"} becomes {"messaging_product", "status": "read", "message_id"}.',
    ),
    _E(
        "upload_media", "POST", "/v1/media",
        _R("POST", "/media", body=Body.MULTIPART),
        _R("POST", "/{phone_number_id}/media", body=Body.MULTIPART),
        onprem_body=Body.RAW,
        note="Raw bytes + Content-Type become a multipart form (file, type, messaging_product).",
    ),
    _E(
        "download_media", "GET", "/v1/media/{media_id}",
        _R("GET", "/{media_id}", body=Body.NONE), _R("GET", "/{media_id}", body=Body.NONE),
        onprem_body=Body.NONE,
        note="Two steps on Cloud: GET the media JSON, then GET its url (360dialog: lookaside "
        "host rewritten to waba-v2.360dialog.io; Meta: with the Bearer token). Ids are not "
        "portable between backends.",
    ),
    _E(
        "delete_media", "DELETE", "/v1/media/{media_id}",
        _R("DELETE", "/{media_id}", body=Body.NONE),
        _R("DELETE", "/{media_id}", {"phone_number_id": "{phone_number_id}"}, Body.NONE),
        onprem_body=Body.NONE,
    ),
    _E(
        "check_contacts", "POST", "/v1/contacts", None, None, Kind.LOCAL,
        note="No Cloud endpoint. Answered locally like On-Prem >= v2.43: every input valid, "
        "wa_id = its digits. Sending never needs it on Cloud.",
    ),
    _E(
        "login", "POST", "/v1/users/login", None, None, Kind.LOCAL,
        note="No Cloud login. Answered in-process only (drop-ins, Python client) when the "
        "call's URL host is a channel's legacy_base_url or the caller names the channel: an "
        "opaque random token for that channel, valid 7 days; the Basic credentials are not "
        "checked. The gateway refuses it (see /v1/users below).",
        decision="The token grants nothing a keyless in-process call to that host does not "
        "already get; a gateway must not mint credentials for unauthenticated callers.",
        in_process_only=True,
    ),
    _E(
        "health", "GET", "/v1/health",
        _R("GET", "/health_status", body=Body.NONE),
        _R("GET", "/{phone_number_id}", {"fields": "health_status"}, Body.NONE),
        onprem_body=Body.NONE,
        note="can_send_message mapped to gateway_status (see fields.HEALTH_STATUS).",
    ),
    _E(
        "get_webhook", "GET", "/v1/configs/webhook",
        _R("GET", "/v1/configs/webhook", body=Body.NONE),
        _R("GET", "/{phone_number_id}", {"fields": "webhook_configuration"}, Body.NONE),
        onprem_body=Body.NONE,
    ),
    _E(
        "set_webhook", "POST", "/v1/configs/webhook",
        _R("POST", "/v1/configs/webhook"), _R("POST", "/{phone_number_id}"),
        note="360dialog keeps the path and body {url, headers}. Meta: per-number override "
        "{webhook_configuration: {override_callback_uri, verify_token}}; headers cannot be set.",
        meta_note="Meta takes POST /{phone_number_id} with {webhook_configuration: "
        "{override_callback_uri, verify_token}} (or the app's webhook settings); custom "
        "headers cannot be set, so check X-Hub-Signature-256 instead.",
        decision="Meta needs a verify token: taken from the channel config; missing -> error.",
    ),
    _E(
        "list_templates", "GET", "/v1/configs/templates",
        _R("GET", "/v1/configs/templates", body=Body.NONE),
        _R("GET", "/{waba_id}/message_templates", body=Body.NONE),
        onprem_body=Body.NONE,
    ),
    _E(
        "create_template", "POST", "/v1/configs/templates",
        _R("POST", "/v1/configs/templates"), _R("POST", "/{waba_id}/message_templates"),
    ),
    _E(
        "delete_template", "DELETE", "/v1/configs/templates/{name}",
        _R("DELETE", "/v1/configs/templates/{name}", body=Body.NONE),
        _R("DELETE", "/{waba_id}/message_templates", {"name": "{name}"}, Body.NONE),
        onprem_body=Body.NONE,
    ),
    _E(
        "get_phone_number", "GET", "/v1/configs/phone_number", None, None, Kind.LOCAL,
        onprem_body=Body.NONE,
        note="Answered from the channel's configured phone_number.",
        decision="A waba-v2 equivalent is UNCONFIRMED; the config already knows the number.",
    ),
    _E(
        "get_about", "GET", "/v1/settings/profile/about",
        _R("GET", "/whatsapp_business_profile", {"fields": "about"}, Body.NONE),
        _R("GET", "/{phone_number_id}/whatsapp_business_profile", {"fields": "about"}, Body.NONE),
        onprem_body=Body.NONE,
    ),
    _E(
        "set_about", "PATCH", "/v1/settings/profile/about",
        _R("POST", "/whatsapp_business_profile"),
        _R("POST", "/{phone_number_id}/whatsapp_business_profile"),
    ),
    _E(
        "get_business_profile", "GET", "/v1/settings/business/profile",
        _R("GET", "/whatsapp_business_profile", {"fields": _PROFILE_FIELDS}, Body.NONE),
        _R(
            "GET", "/{phone_number_id}/whatsapp_business_profile",
            {"fields": _PROFILE_FIELDS}, Body.NONE,
        ),
        onprem_body=Body.NONE,
    ),
    _E(
        "set_business_profile", "POST", "/v1/settings/business/profile",
        _R("POST", "/whatsapp_business_profile"),
        _R("POST", "/{phone_number_id}/whatsapp_business_profile"),
    ),
    _E(
        "get_profile_photo", "GET", "/v1/settings/profile/photo",
        _R("GET", "/whatsapp_business_profile", {"fields": "profile_picture_url"}, Body.NONE),
        _R(
            "GET", "/{phone_number_id}/whatsapp_business_profile",
            {"fields": "profile_picture_url"}, Body.NONE,
        ),
        onprem_body=Body.NONE,
        note="Only with ?format=link, answered as {settings.profile.photo.link}; without it "
        "(On-Prem answered the image bytes) the call is refused with 501.",
        requires=QueryRequirement("format", "link", PROFILE_PHOTO_BYTES),
    ),
    _E(
        "get_application_settings", "GET", "/v1/settings/application",
        _R("GET", "/v1/configs/webhook", body=Body.NONE),
        _R("GET", "/{phone_number_id}", {"fields": "webhook_configuration"}, Body.NONE),
        onprem_body=Body.NONE,
        note="Answered in the On-Prem shape {settings: {application: {webhooks: {url}}}} from "
        "the backend's webhook configuration; no other setting exists on Cloud.",
    ),
    _E(
        "set_application_webhook", "PATCH", "/v1/settings/application",
        _R("POST", "/v1/configs/webhook"), _R("POST", "/{phone_number_id}"),
        note="Only the webhooks.url part maps (with 360dialog's webhooks.headers), through the "
        "backend's webhook configuration like set_webhook; every other setting is ignored "
        "with warning W304 per key (fields.APPLICATION_SETTINGS_IGNORED).",
        decision="A body with no webhooks.url is answered locally (nothing to apply); the "
        'answer is On-Prem\'s success shape {"meta": {...}} either way.',
    ),
)

_U = Unsupported

#: PATCH /v1/settings/application with anything but webhooks.url: the codemods never move
#: such a call (the shim answers it with this reason too, through the endpoint's note).
APPLICATION_SETTINGS: Final = Unsupported(
    frozenset({"PATCH"}), "/v1/settings/application",
    "Application settings (callback backoff, auto-download, pass_through, ...) do not exist "
    "on Cloud; only the webhook URL maps.",
    "Set the webhook with POST /v1/configs/webhook; drop the other settings.",
    "Set the webhook URL in the Meta app's WhatsApp webhook settings (or per number with "
    "POST /{phone_number_id} {webhook_configuration}); drop the other settings.",
)
_ANY = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

UNSUPPORTED: Final = (
    _U(_ANY, "/v1/users{rest:path}",
       "Cloud has no login: 360dialog uses a static D360-API-KEY, Meta a Bearer token.",
       "Remove the login call; set api_key / access_token for the channel in the config."),
    _U(_ANY, "/v1/contacts/{wa_id}/block",
       "On-Prem contact blocking has no 1:1 Cloud equivalent.",
       "Use Meta's block-users API (POST /{phone_number_id}/block_users) directly."),
    _U(_ANY, "/v1/settings/backup", "Cloud keeps no client state to back up.",
       "Remove the call."),
    _U(_ANY, "/v1/settings/restore", "Cloud keeps no client state to restore.",
       "Remove the call."),
    _U(_ANY, "/v1/settings/application/media/providers{rest:path}",
       "Cloud fetches media links without credentials; there are no media providers.",
       "Serve media from a public HTTPS link or upload it (POST /v1/media)."),
    _U(frozenset({"POST", "PUT", "DELETE"}), "/v1/settings/application",
       "Cloud has no application settings to replace or reset; only the webhook URL maps.",
       "Use PATCH /v1/settings/application with webhooks.url, or POST /v1/configs/webhook."),
    _U(_ANY, "/v1/settings/account/two-step",
       "Cloud sets the PIN with POST /{phone_number_id} {pin} and cannot disable it.",
       "Set the two-step PIN in 360dialog's hub or with Meta's API directly."),
    _U(frozenset({"POST"}), "/v1/settings/profile/photo",
       "Cloud sets the photo from a Resumable Upload handle (profile_picture_handle).",
       "Upload with Meta's Resumable Upload API, then POST the handle to the business profile."),
    _U(frozenset({"DELETE"}), "/v1/settings/profile/photo",
       "Cloud has no call that removes the profile photo.",
       "Remove the photo in 360dialog's hub or WhatsApp Manager, or replace it (upload a new "
       "one with Meta's Resumable Upload API and POST its handle to the business profile).",
       "Remove the photo in WhatsApp Manager, or replace it (upload a new one with the "
       "Resumable Upload API and POST its handle to the business profile)."),
    _U(_ANY, "/v1/settings/business/whatsapp_business_encryption",
       "The Flows encryption key lives on the phone number on Cloud.",
       "Use POST /{phone_number_id}/whatsapp_business_encryption."),
    _U(_ANY, "/v1/account/shards",
       "Cloud scales throughput itself (80 msg/s, up to 1,000 msg/s).",
       "Remove the call; ask 360dialog/Meta for a higher throughput tier."),
    _U(_ANY, "/v1/account/verify",
       "Registration is done by 360dialog's hub or Cloud's /register flow.",
       "Register the number in the 360dialog hub (or POST /{phone_number_id}/register).",
       "Register the number with POST /{phone_number_id}/register (and a two-step PIN)."),
    _U(_ANY, "/v1/account",
       "Registration is done by 360dialog's hub or Cloud's /request_code flow.",
       "Register the number in the 360dialog hub (or POST /{phone_number_id}/request_code).",
       "Request a code with POST /{phone_number_id}/request_code, then POST "
       "/{phone_number_id}/verify_code and /register (or use WhatsApp Manager)."),
    _U(_ANY, "/v1/stats/{rest:path}", "Cloud exposes no container statistics.",
       "Use WhatsApp Manager insights, or the gateway's /metrics."),
    _U(_ANY, "/v1/metrics", "Cloud exposes no container metrics.",
       "Use the gateway's /metrics or WhatsApp Manager insights."),
    _U(_ANY, "/v1/support", "Cloud has no support-info endpoint.", "Remove the call."),
    _U(_ANY, "/v1/certificates{rest:path}",
       "Certificates belong to On-Prem registration; Cloud has none.", "Remove the call."),
    _U(_ANY, "/v1/groups{rest:path}",
       "The legacy On-Prem groups API was retired; Cloud's Groups API differs.",
       "Port group features to the Cloud Groups API by hand."),
    _U(_ANY, "/v1/messages/{message_id}/automation",
       "A Turn.io extension (hands a conversation back to Turn's automation); the Cloud API "
       "has no equivalent.",
       "Keep calling Turn's own API for this (it is not an On-Prem call to migrate)."),
    _U(_ANY, "/v1/messages/{message_id}/labels{rest:path}",
       "A Turn.io extension (message labels); the Cloud API has no equivalent.",
       "Keep calling Turn's own API for this (it is not an On-Prem call to migrate)."),
    _U(_ANY, "/v1/contacts/{wa_id}/profile",
       "A Turn.io extension (contact profile fields); the Cloud API has no equivalent.",
       "Keep calling Turn's own API for this (it is not an On-Prem call to migrate)."),
    _U(_ANY, "/v1/contacts/{wa_id}/messages",
       "A Turn.io extension (conversation history); the Cloud API keeps no history.",
       "Keep calling Turn's own API for this, or store the history from your webhooks."),
    _U(_ANY, "/v1/chats/{chat_id}/archive",
       "A Turn.io extension (archive a chat in Turn's inbox); the Cloud API has no inbox.",
       "Keep calling Turn's own API for this (it is not an On-Prem call to migrate)."),
    _U(frozenset({"GET", "PATCH"}), "/v1/contacts/{wa_id}",
       "A Turn.io extension (read or update a contact's fields); the Cloud API stores no "
       "contacts.",
       "Keep calling Turn's own API for this, or keep the fields in your own database."),
    _U(_ANY, "/v1/contacts/{wa_id}/claim",
       "A Turn.io extension (claim a conversation for a Turn inbox user); the Cloud API has "
       "no inbox.",
       "Keep calling Turn's own API for this (it is not an On-Prem call to migrate)."),
    _U(_ANY, "/v1/stacks{rest:path}",
       "A Turn.io extension (start a Turn Stack flow); the Cloud API has no equivalent.",
       "Keep calling Turn's own API for this (it is not an On-Prem call to migrate)."),
    _U(_ANY, "/v1/stickerpacks{rest:path}",
       "Sticker packs are not part of the Cloud API (existence on On-Prem UNCONFIRMED).",
       "Send stickers as media (type sticker) instead."),
)


@dataclass(frozen=True, slots=True)
class PathParam:
    """What a value taken from an On-Prem path may look like before it reaches a backend.

    Every value that lands in a backend path is checked against the shape of
    the backend it goes to and percent-encoded when the path is built, so a
    value can never add a segment, a query or a fragment to the mapped route.
    """

    name: str
    cloud: re.Pattern[str]
    onprem: re.Pattern[str]
    shape: str

    def pattern(self, target: Target) -> re.Pattern[str]:
        return self.onprem if target is Target.ONPREM else self.cloud


_P = PathParam
#: Shapes of the path parameters of :data:`ENDPOINTS`, by placeholder name.
PATH_PARAMS: Final[Mapping[str, PathParam]] = MappingProxyType({
    "media_id": _P(
        "media_id", re.compile(r"[0-9]{1,64}"), re.compile(r"[A-Za-z0-9_-]{1,128}"),
        "Cloud media ids are digits; On-Premise media ids are UUIDs",
    ),
    # Cloud ids are "wamid." + standard base64, which may hold "+", "/" and "=";
    # they are percent-encoded, never refused, for those characters.
    "message_id": _P(
        "message_id", re.compile(r"[A-Za-z0-9._~:+/=-]{1,512}"),
        re.compile(r"[A-Za-z0-9._~:+/=-]{1,512}"),
        'message ids are "wamid." plus base64 (letters, digits and . _ - ~ : + / =)',
    ),
    "name": _P(
        "name", re.compile(r"[A-Za-z0-9_-]{1,512}"), re.compile(r"[A-Za-z0-9_-]{1,512}"),
        "template names are letters, digits, _ and -",
    ),
})


@dataclass(frozen=True, slots=True)
class EndpointMatch:
    endpoint: Endpoint
    params: Mapping[str, str]


_PARAM = re.compile(r"\{(\w+)(?::path)?\}")


@cache
def _compile(template: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        is_rest = m.group(0).endswith(":path}")
        out.append(f"(?P<{m.group(1)}>{'.*' if is_rest else '[^/]+'})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out) + "/?")


_SLASHES = re.compile(r"/{2,}")
#: ``PUT /v1/messages/{message_id}``: everything after this prefix is the id.
_MESSAGE_ID_PREFIX = re.compile(r"/+v1/+messages/+(?=[^/])")


def collapse_slashes(path: str) -> str:
    """``path`` (no query) with repeated slashes collapsed, as On-Prem's server did.

    A Cloud message id is standard base64 and may itself hold ``//``; in
    ``/v1/messages/{id}`` the id is kept exactly as sent.
    """
    if "//" not in path:
        return path
    m = _MESSAGE_ID_PREFIX.match(path)
    if m is not None:
        return "/v1/messages/" + path[m.end():]
    return _SLASHES.sub("/", path)


def _clean(path: str) -> str:
    """The path without its query, repeated slashes collapsed (On-Prem's server did)."""
    return collapse_slashes(path.split("?", 1)[0])


def match_endpoint(method: str, path: str) -> EndpointMatch | None:
    """The mapped operation for an On-Prem method and path, if there is one."""
    method, path = method.upper(), _clean(path)
    static = _STATIC.get((method, path.rstrip("/")))
    if static is not None:
        return static
    for ep in ENDPOINTS:
        if ep.method == method:
            m = _compile(ep.onprem_path).fullmatch(path)
            if m:
                # Path parameters arrive percent-encoded (Cloud ids hold "/", "+", "=").
                params = {k: unquote(v) for k, v in m.groupdict().items()}
                return EndpointMatch(ep, MappingProxyType(params))
    return None


#: How an UNSUPPORTED row says the path is Turn.io's own API, not the On-Prem API.
TURN_EXTENSION: Final = "A Turn.io extension"


def is_turn_extension(path: str) -> bool:
    """A path only Turn.io serves (any method): a drop-in leaves such calls to Turn."""
    path = _clean(path.partition("?")[0])
    return any(item.reason.startswith(TURN_EXTENSION)
               and _compile(item.onprem_path).fullmatch(path) for item in UNSUPPORTED)


def match_unsupported(method: str, path: str) -> Unsupported | None:
    """The reason an On-Prem operation cannot run on Cloud, if it is a known one."""
    method, path = method.upper(), _clean(path)
    for item in UNSUPPORTED:
        if method in item.methods and _compile(item.onprem_path).fullmatch(path):
            return item
    return None


def fill(template: str, values: Mapping[str, str]) -> str:
    """Substitute ``{name}`` placeholders; a missing value is a KeyError naming it."""
    if "{" not in template:
        return template
    return _PARAM.sub(lambda m: values[m.group(1)], template)


#: Rows without path parameters, for a dictionary lookup before the regexes.
_STATIC: Final[Mapping[tuple[str, str], EndpointMatch]] = MappingProxyType(
    {
        (ep.method, ep.onprem_path): EndpointMatch(ep, MappingProxyType({}))
        for ep in ENDPOINTS
        if "{" not in ep.onprem_path
    }
)


ENDPOINTS_BY_NAME: Final[Mapping[str, Endpoint]] = MappingProxyType(
    {ep.name: ep for ep in ENDPOINTS}
)

"""Every rule the codemods report, as data: code, name, fix applicability, summary, example.

Codes are stable and never reused: WM1xx URLs, WM2xx auth headers, WM3xx send
payloads, WM4xx webhook handlers, WM5xx the ``shim`` strategy's imports, WM9xx
items that need a person. ``fix`` is the rule's usual applicability; a single
finding may be reported lower (e.g. a URL on a sandbox host is ``unsafe``).
``safe`` fixes are applied by ``rewrite --write``, ``unsafe`` ones only with
``--unsafe``, ``manual`` ones are reported and marked with a
``# waba-migrate: <code>: <what to do>`` comment. The examples are checked by
the test suite: rewriting ``before`` for ``target``/``strategy`` with only
this rule selected gives ``after``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

Fix = Literal["safe", "unsafe", "manual"]
Strategy = Literal["native", "shim"]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    fix: Fix
    summary: str
    before: str
    after: str
    #: the --target / --strategy the example is written for
    target: Literal["360dialog", "meta"] = "360dialog"
    strategy: Strategy = "native"

    @property
    def category(self) -> str:
        return CATEGORIES[self.code[:3]]


CATEGORIES: Final = MappingProxyType({
    "WM1": "URLs",
    "WM2": "auth headers",
    "WM3": "send payloads",
    "WM4": "webhook handlers",
    "WM5": "shim strategy imports",
    "WM9": "manual",
})

RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "WM101", "onprem-url", "safe",
        "On-Prem URL or base URL literal rewritten to the Cloud host and path (360dialog: "
        "waba-v2.360dialog.io without /v1; Meta: "
        "graph.facebook.com/{GRAPH_API_VERSION}/{WHATSAPP_PHONE_NUMBER_ID}/...). Unsafe for "
        "the sandbox host, self-hosted/other hosts and bases ending in /v1.",
        before='''import requests

URL = "https://waba.360dialog.io/v1/messages"
requests.post(URL, json=body)
''',
        after='''import requests

URL = "https://waba-v2.360dialog.io/messages"
requests.post(URL, json=body)
''',
    ),
    Rule(
        "WM102", "onprem-path", "safe",
        "On-Prem path literal (/v1/... or v1/... for urljoin) in a concatenation, f-string, "
        "%-format, str.format, urljoin or class attribute rewritten to the Cloud path. When "
        "the base it is joined to comes from a setting, variable or parameter, the whole "
        "request is held instead (WM905).",
        before='''import requests

WABA = "https://waba.360dialog.io"

def send(key, body):
    return requests.post(WABA + "/v1/messages", json=body,
                         headers={"D360-API-KEY": key})
''',
        after='''import requests

WABA = "https://waba.360dialog.io"

def send(key, body):
    return requests.post(WABA + "/messages", json=body,
                         headers={"D360-API-KEY": key})
''',
    ),
    Rule(
        "WM103", "per-channel-request", "safe",
        "A request whose base URL or number differs per channel (channel.config, an org's "
        "stored host, instance settings) takes its Cloud URL and auth header from "
        "shim.channels.cloud_request, which picks the config channel by the key the call "
        "already sends (legacy_api_key), else its legacy_base_url host, else the only channel. "
        "360dialog target: only when one of the file's requests exists only on On-Prem; calls "
        "360dialog Cloud serves unchanged (/v1/configs/webhook, /v1/configs/templates) alone "
        "get a WM905 marker instead.",
        before='''import requests

def send_text(channel, to, text):
    body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": text}}
    return requests.post(channel.config["base_url"] + "/v1/messages", json=body,
                         headers={"D360-API-KEY": channel.config["api_key"]})
''',
        after='''import requests
from shim.channels import cloud_request

def send_text(channel, to, text):
    body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": text}}
    return requests.post(**cloud_request("360dialog", "/messages", {"D360-API-KEY": channel.config["api_key"]},
                                         channel.config["base_url"] + "/v1/messages"), json=body)
''',  # noqa: E501
    ),
    Rule(
        "WM201", "d360-key-to-bearer", "safe",
        "Meta target: a D360-API-KEY header (dict literal, module constant, session.headers) "
        "becomes Authorization: Bearer with the same secret expression, and a comment says the "
        "value must now be a Meta system-user token.",
        before='''import requests

HEADERS = {"D360-API-KEY": API_KEY, "Content-Type": "application/json"}
requests.post("https://waba.360dialog.io/v1/messages", json=body, headers=HEADERS)
''',
        after='''import requests

# waba-migrate: WM201: `API_KEY` must now hold a Meta system-user token, not the 360dialog key
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
requests.post("https://waba.360dialog.io/v1/messages", json=body, headers=HEADERS)
''',
        target="meta",
    ),
    Rule(
        "WM202", "bearer-to-d360-key", "safe",
        "360dialog target, self-hosted or Turn-hosted On-Prem code: Authorization: Bearer "
        "<token> becomes D360-API-KEY with the same expression, and a comment says the value "
        "must now be the channel's 360dialog API key. Unsafe when the token comes from a "
        "/v1/users/login call (the login must go first). On the Meta target the Bearer header "
        "stays and a WM201 note says the value must be a Meta system-user token.",
        before='''import requests
from django.conf import settings


def send(to, text):
    hdr = {"Authorization": "Bearer " + settings.WA_TOKEN}
    return requests.post("https://waba.360dialog.io/v1/messages", headers=hdr,
                         json={"to": to, "type": "text", "text": {"body": text}})
''',
        after='''import requests
from django.conf import settings


def send(to, text):
    # waba-migrate: WM202: `settings.WA_TOKEN` must now hold the channel's 360dialog API key
    hdr = {"D360-API-KEY": settings.WA_TOKEN}
    return requests.post("https://waba.360dialog.io/v1/messages", headers=hdr,
                         json={"to": to, "type": "text", "text": {"body": text}})
''',
    ),
    Rule(
        "WM301", "messaging-product", "safe",
        'Send payload dict (inline json=, module constant, variable, json.dumps(...) for '
        'data=, builder return value) gets "messaging_product": "whatsapp".',
        before='''def text_message(wa_id, text):
    return {"to": wa_id, "type": "text", "text": {"body": text}}
''',
        after='''def text_message(wa_id, text):
    return {"messaging_product": "whatsapp", "to": wa_id, "type": "text", "text": {"body": text}}
''',
    ),
    Rule(
        "WM302", "preview-url-into-text", "safe",
        "Top-level preview_url moved into the text object (Cloud reads text.preview_url); on a "
        "message of another type (an image) it is dropped, as the translator does.",
        before='''def text_message(wa_id, text):
    return {"to": wa_id, "type": "text", "preview_url": True, "text": {"body": text}}
''',
        after='''def text_message(wa_id, text):
    return {"to": wa_id, "type": "text", "text": {"preview_url": True, "body": text}}
''',
    ),
    Rule(
        "WM303", "hsm-to-template", "safe",
        "Legacy hsm message converted to a template: element_name -> name, language kept, "
        "localizable_params -> body parameters, namespace dropped. Unsafe when the parameter "
        "list is not a literal (the conversion assumes plain text parameters).",
        before='''msg = {"to": wa_id, "type": "hsm", "hsm": {"namespace": ns, "element_name": "otp",
       "language": {"policy": "deterministic", "code": "en"},
       "localizable_params": [{"default": code}]}}
''',
        after='''msg = {"to": wa_id, "type": "template", "template": {"name": "otp",
       "language": {"policy": "deterministic", "code": "en"},
       "components": [{"type": "body", "parameters": [{"type": "text", "text": code}]}]}}
''',
    ),
    Rule(
        "WM304", "drop-template-namespace", "safe",
        "template.namespace dropped (Cloud identifies templates by name and language).",
        before='''def receipt(wa_id, ns):
    return {"to": wa_id, "type": "template",
            "template": {"namespace": ns, "name": "receipt", "language": {"code": "en"}}}
''',
        after='''def receipt(wa_id, ns):
    return {"to": wa_id, "type": "template",
            "template": {"name": "receipt", "language": {"code": "en"}}}
''',
    ),
    Rule(
        "WM305", "drop-lossy-field", "unsafe",
        "A field with no Cloud equivalent is dropped (ttl, media provider, audio/sticker "
        "caption, date_time parameter details); unsafe because behaviour changes.",
        before='''def text_message(wa_id, text):
    return {"to": wa_id, "type": "text", "text": {"body": text}, "ttl": 3600}
''',
        after='''def text_message(wa_id, text):
    return {"to": wa_id, "type": "text", "text": {"body": text}}
''',
    ),
    Rule(
        "WM306", "context-message-id", "safe",
        "Reply context: context.id renamed to context.message_id.",
        before='''def reply(wa_id, text, mid):
    return {"to": wa_id, "type": "text", "text": {"body": text}, "context": {"id": mid}}
''',
        after='''def reply(wa_id, text, mid):
    return {"to": wa_id, "type": "text", "text": {"body": text}, "context": {"message_id": mid}}
''',
    ),
    Rule(
        "WM307", "drop-language-policy", "safe",
        'A template language policy Cloud does not know ("fallback") is dropped.',
        before='''def hello(wa_id):
    return {"to": wa_id, "type": "template", "template": {
        "name": "hello", "language": {"policy": "fallback", "code": "en"}}}
''',
        after='''def hello(wa_id):
    return {"to": wa_id, "type": "template", "template": {
        "name": "hello", "language": {"code": "en"}}}
''',
    ),
    Rule(
        "WM308", "mark-read-post", "safe",
        'Read receipt PUT /v1/messages/{id} {"status": "read"} becomes POST /messages with '
        'messaging_product, status and message_id (manual when the URL or body is not built '
        'in the call).',
        before='''import requests

WABA_URL = "https://waba.360dialog.io"

def mark_read(mid):
    return requests.put(f"{WABA_URL}/v1/messages/{mid}", json={
        "status": "read",
    })
''',
        after='''import requests

WABA_URL = "https://waba-v2.360dialog.io"

def mark_read(mid):
    return requests.post(f"{WABA_URL}/messages", json={
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": mid,
    })
''',
    ),
    Rule(
        "WM401", "webhook-onprem-view", "safe",
        "Webhook payload expression (request.json, request.get_json(), "
        "json.loads(request.body), DRF request.data, await request.json()) wrapped with "
        "shim.webhooks.onprem_view, which turns a Cloud batch into the flat On-Prem body.",
        before='''from flask import request

@app.post("/hook")
def hook():
    data = request.get_json()
    for status in data.get("statuses", []):
        mark(status["id"], status["status"])
    return "", 200
''',
        after='''from flask import request
from shim.webhooks import onprem_view

@app.post("/hook")
def hook():
    data = onprem_view(request.get_json())
    for status in data.get("statuses", []):
        mark(status["id"], status["status"])
    return "", 200
''',
    ),
    Rule(
        "WM402", "webhook-body-manual", "manual",
        "A webhook body the handler reads On-Prem keys from, but also writes to (the writes "
        "would be lost on the new object onprem_view returns) or hands whole to other code: "
        "wrap it by hand where it is only read. Also a function parameter read as a flat "
        "On-Prem body (data[\"messages\"][0]) in a file that calls the On-Prem API, when no "
        "handler here hands it over: wrap the body where the handler receives it.",
        before='''from flask import request

@app.post("/hook")
def hook():
    body = request.json
    body["statuses"] = [s for s in body.get("statuses", []) if s["status"] != "deleted"]
    store(body)
    return ""
''',
        after='''from flask import request

@app.post("/hook")
def hook():
    body = request.json
    # waba-migrate: WM402: writes to the webhook body would be lost under onprem_view: copy it into your own dict first
    body["statuses"] = [s for s in body.get("statuses", []) if s["status"] != "deleted"]
    store(body)
    return ""
''',  # noqa: E501
    ),
    Rule(
        "WM501", "shim-requests", "safe",
        "shim strategy: in a file that calls On-Prem endpoints, import requests becomes from "
        "shim.compat import requests (from requests import X -> from shim.compat.requests "
        "import X); the shim routes the calls by config.",
        before='''import requests

requests.post("https://waba.360dialog.io/v1/messages", json=body, headers=HEADERS)
''',
        after='''from shim.compat import requests

requests.post("https://waba.360dialog.io/v1/messages", json=body, headers=HEADERS)
''',
        strategy="shim",
    ),
    Rule(
        "WM502", "shim-httpx", "safe",
        "shim strategy: import httpx becomes from shim.compat import httpx (from httpx import "
        "X -> from shim.compat.httpx import X).",
        before='''import httpx

async def send(body):
    async with httpx.AsyncClient() as client:
        await client.post("https://waba.360dialog.io/v1/messages", json=body)
''',
        after='''from shim.compat import httpx

async def send(body):
    async with httpx.AsyncClient() as client:
        await client.post("https://waba.360dialog.io/v1/messages", json=body)
''',
        strategy="shim",
    ),
    Rule(
        "WM503", "shim-aiohttp", "safe",
        "shim strategy: import aiohttp becomes from shim.compat import aiohttp (from aiohttp "
        "import ClientSession -> from shim.compat.aiohttp import ClientSession).",
        before='''import aiohttp

async def send(body):
    async with aiohttp.ClientSession() as s:
        async with s.post("https://waba.360dialog.io/v1/messages", json=body) as r:
            return await r.json()
''',
        after='''from shim.compat import aiohttp

async def send(body):
    async with aiohttp.ClientSession() as s:
        async with s.post("https://waba.360dialog.io/v1/messages", json=body) as r:
            return await r.json()
''',
        strategy="shim",
    ),
    Rule(
        "WM901", "contacts-check", "manual",
        "POST /v1/contacts (and other endpoints the shim answers locally) has no Cloud "
        "endpoint: remove the check; sending needs none and wa_id is the number's digits.",
        before='''from urllib.parse import urljoin

def resolve(s, root, msisdn):
    r = s.post(urljoin(root, "/v1/contacts"), json={"blocking": "wait", "contacts": [msisdn]})
    return r.json()["contacts"][0]["wa_id"]
''',
        after='''from urllib.parse import urljoin

def resolve(s, root, msisdn):
    # waba-migrate: WM901: POST /v1/contacts has no Cloud endpoint: remove the call
    r = s.post(urljoin(root, "/v1/contacts"), json={"blocking": "wait", "contacts": [msisdn]})
    return r.json()["contacts"][0]["wa_id"]
''',
    ),
    Rule(
        "WM902", "unsupported-endpoint", "manual",
        "An On-Prem endpoint with no Cloud equivalent (/v1/users/login, "
        "/v1/settings/application, /v1/account, ...): the message names what to do instead "
        "(from the mapping table).",
        before='''import requests

def login(user, pw):
    return requests.post("https://waba.360dialog.io/v1/users/login", auth=(user, pw))
''',
        after='''import requests

def login(user, pw):
    # waba-migrate: WM902: Remove the login call; set api_key / access_token for the channel in the config.
    return requests.post("https://waba.360dialog.io/v1/users/login", auth=(user, pw))
''',  # noqa: E501
    ),
    Rule(
        "WM903", "json-string-payload", "manual",
        "The payload is a JSON string (from a DB, env or template file): add "
        "messaging_product and the other Cloud changes where the string is stored.",
        before='''import requests

def send(tpl, to):
    return requests.post("https://waba.360dialog.io/v1/messages",
                         data=tpl.replace("{to}", to))
''',
        after='''import requests

def send(tpl, to):
    # waba-migrate: WM903: add messaging_product and the Cloud changes to the stored JSON
    return requests.post("https://waba.360dialog.io/v1/messages",
                         data=tpl.replace("{to}", to))
''',
    ),
    Rule(
        "WM904", "dynamic-payload", "manual",
        "A payload key the codemod cannot read ({kind: {...}}, **splat): check by hand that "
        "no hsm/preview_url/namespace change is needed.",
        before='''def media(wa_id, kind, media_id):
    return {"to": wa_id, "type": kind, kind: {"id": media_id}}
''',
        after='''def media(wa_id, kind, media_id):
    # waba-migrate: WM904: check by hand: key `kind` may need Cloud changes
    return {"to": wa_id, "type": kind, kind: {"id": media_id}}
''',
    ),
    Rule(
        "WM905", "base-url-setting", "manual",
        "The base URL comes from a setting, env var, attribute or parameter: the codemod "
        "cannot point it at Cloud, so nothing of the request changes (path, auth header, "
        "body, nor a header or body it shares with other requests); the marker lists every "
        "change to make together with the base.",
        before='''import requests
from django.conf import settings

def send(to, text):
    return requests.post(settings.WA_BASE + "/v1/messages",
                         json={"to": to, "type": "text", "text": {"body": text}})
''',
        after='''import requests
from django.conf import settings

def send(to, text):
    # waba-migrate: WM905: point `settings.WA_BASE` at https://waba-v2.360dialog.io, and in the same change: On-Prem URL '/v1/messages' -> '/messages' (send_message); add "messaging_product": "whatsapp" (held: a Cloud path, header or body sent to an On-Prem base fails)
    return requests.post(settings.WA_BASE + "/v1/messages",
                         json={"to": to, "type": "text", "text": {"body": text}})
''',  # noqa: E501
    ),
    Rule(
        "WM906", "endpoint-shape-change", "manual",
        "The endpoint exists on Cloud but its request or response changes shape (media upload "
        "is multipart, media download is two steps, profile and webhook settings differ): the "
        "message quotes the mapping table's note. A send carrying the media id of an upload "
        "that stays is held with it (a Cloud send cannot use an On-Prem media id).",
        before='''import requests

def download(key, media_id):
    url = "https://waba.360dialog.io/v1/media/" + media_id
    return requests.get(url, headers={"D360-API-KEY": key}).content
''',
        after='''import requests

def download(key, media_id):
    url = "https://waba.360dialog.io/v1/media/" + media_id
    # waba-migrate: WM906: adapt this download_media call: Two steps on Cloud: GET the media JSON, then GET its url
    return requests.get(url, headers={"D360-API-KEY": key}).content
''',  # noqa: E501
    ),
    Rule(
        "WM907", "version-segment", "manual",
        "A 'v1' constant builds On-Prem URLs in a helper ('{}/{}/{}'.format(HOST, VERSION, "
        "method)): rewrite the helper by hand; payloads built for those URLs wait for it.",
        before='''NODE, API_VERSION = "https://wa-node.internal:9090", "v1"

def endpoint(method):
    return "{}/{}/{}".format(NODE, API_VERSION, method)

def text(to, body):
    return {"recipient_type": "individual", "to": to, "type": "text", "text": {"body": body}}
''',
        after='''# waba-migrate: WM907: rewrite the URL helper for Cloud paths (no /v1)
NODE, API_VERSION = "https://wa-node.internal:9090", "v1"

def endpoint(method):
    return "{}/{}/{}".format(NODE, API_VERSION, method)

def text(to, body):
    # waba-migrate: WM907: not rewritten until this is done: rewrite the URL helper for Cloud paths (no /v1)
    return {"recipient_type": "individual", "to": to, "type": "text", "text": {"body": body}}
''',  # noqa: E501
    ),
    Rule(
        "WM908", "url-needs-hand-rewrite", "manual",
        "The URL cannot be rewritten mechanically: one constant serves endpoints that map to "
        "different Cloud URLs, the Cloud URL depends on an HTTP method the codemod cannot "
        "see, or its parts move around.",
        before='''import requests

MEDIA = "https://waba.360dialog.io/v1/media"

def upload(data):
    return requests.post(MEDIA, data=data)

def download(media_id):
    return requests.get(MEDIA + "/" + media_id)
''',
        after='''import requests

# waba-migrate: WM908: calls need different Cloud URLs: give each its own
MEDIA = "https://waba.360dialog.io/v1/media"

def upload(data):
    return requests.post(MEDIA, data=data)

def download(media_id):
    return requests.get(MEDIA + "/" + media_id)
''',
    ),
    Rule(
        "WM909", "group-recipient", "manual",
        'recipient_type "group" (the legacy On-Prem groups API) has no Cloud equivalent.',
        before='''def group_text(group_id, text):
    return {"recipient_type": "group", "to": group_id, "type": "text",
            "text": {"body": text}}
''',
        after='''def group_text(group_id, text):
    # waba-migrate: WM909: recipient_type 'group' has no Cloud equivalent
    return {"recipient_type": "group", "to": group_id, "type": "text",
            "text": {"body": text}}
''',
    ),
    Rule(
        "WM910", "payload-rejected", "manual",
        "The translator refuses a constant payload (e.g. an On-Prem media UUID, an unknown "
        "type): the message gives its JSON path and reason.",
        before='''WA_IMAGE = {"to": "4915112345678", "type": "image",
            "image": {"id": "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68"}}
''',
        after='''# waba-migrate: WM910: fix $.image.id: this is an On-Premise media id (UUID); Cloud cannot use it. Upload the file again on this channel (POST /v1/media) and send the new id
WA_IMAGE = {"to": "4915112345678", "type": "image",
            "image": {"id": "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68"}}
''',  # noqa: E501
    ),
    Rule(
        "WM911", "meta-webhook-verification", "manual",
        "Meta target: the webhook must answer Meta's GET verify-token handshake and check "
        "X-Hub-Signature-256 (shim.webhooks guards do both).",
        before='''from flask import request

@app.post("/hook")
def hook():
    body = request.json
    if "messages" in body:
        handle(body["contacts"][0]["wa_id"], body["messages"][0])
    return ""
''',
        after='''from flask import request

@app.post("/hook")
def hook():
    # waba-migrate: WM911: verify Meta's GET handshake and X-Hub-Signature-256 (shim.webhooks guards)
    body = request.json
    if "messages" in body:
        handle(body["contacts"][0]["wa_id"], body["messages"][0])
    return ""
''',  # noqa: E501
        target="meta",
    ),
    Rule(
        "WM912", "aiohttp-not-routed", "manual",
        "shim strategy: an aiohttp use the drop-in cannot route: a call passing its own "
        "middlewares=, a session class from another library, import aiohttp.<sub> or "
        "from aiohttp import *.",
        before='''import aiohttp

async def send(body, retry):
    async with aiohttp.ClientSession() as s:
        await s.post("https://waba.360dialog.io/v1/messages", json=body, middlewares=(retry,))
''',
        after='''import aiohttp

async def send(body, retry):
    async with aiohttp.ClientSession() as s:
        # waba-migrate: WM912: pass middlewares= to the ClientSession, not to this call
        await s.post("https://waba.360dialog.io/v1/messages", json=body, middlewares=(retry,))
''',
        strategy="shim",
    ),
    Rule(
        "WM913", "http-through-wrapper", "manual",
        "shim strategy: the file builds On-Prem requests but imports no HTTP library (a "
        "wrapper sends them): switch the wrapper's module to shim.compat.",
        before='''from .http import post_request

def send(body):
    return post_request("https://waba.360dialog.io/v1/messages", body)
''',
        after='''from .http import post_request

def send(body):
    # waba-migrate: WM913: switch the module that sends these requests to shim.compat
    return post_request("https://waba.360dialog.io/v1/messages", body)
''',
        strategy="shim",
    ),
    Rule(
        "WM914", "payload-set-later", "manual",
        'An On-Prem-only field (preview_url, ttl, hsm) is set on a payload variable after the '
        'literal (msg["ttl"] = ..., msg.update(...)): change it by hand.',
        before='''def push(wa_id, text, ttl=None):
    msg = {"to": wa_id, "type": "text", "text": {"body": text}}
    if ttl is not None:
        msg["ttl"] = ttl
    return msg
''',
        after='''def push(wa_id, text, ttl=None):
    msg = {"to": wa_id, "type": "text", "text": {"body": text}}
    if ttl is not None:
        # waba-migrate: WM914: drop ttl (no Cloud equivalent)
        msg["ttl"] = ttl
    return msg
''',
    ),
    Rule(
    "WM915", "onprem-response-read", "manual",
    "The code reads a response field only On-Prem sends (meta.api_status, errors[0].code "
    "compared to an On-Prem code, users[0].token, media[0].id): the request is left "
    "unchanged until the read uses the Cloud field the message names.",
    before='''import requests

def send(key, body):
    out = requests.post("https://waba.360dialog.io/v1/messages", json=body,
                        headers={"D360-API-KEY": key}).json()
    return out["meta"]["api_status"] == "stable"
''',
    after='''import requests

def send(key, body):
    out = requests.post("https://waba.360dialog.io/v1/messages", json=body,
                        headers={"D360-API-KEY": key}).json()
    # waba-migrate: WM915: Cloud responses have no meta.api_status: check the HTTP status (2xx) instead
    return out["meta"]["api_status"] == "stable"
''',  # noqa: E501
    ),
    Rule(
    "WM916", "per-channel-number", "manual",
    "Meta target: the request belongs to one of several numbers (the code receives a "
    "channel, org or config, or takes its base URL and key from instance or per-record "
    "settings), so one global phone-number id would be wrong: build the Graph URL and "
    "token per channel (shim.channels.graph_target reads them from the project config).",
    before='''import requests

def send(channel, body):
    return requests.post("https://waba.360dialog.io/v1/messages", json=body,
                         **channel.request_options)
''',
    after='''import requests

def send(channel, body):
    # waba-migrate: WM916: one phone-number id per channel: send with shim.channels.graph_target(<channel name>)
    return requests.post("https://waba.360dialog.io/v1/messages", json=body,
                         **channel.request_options)
''',  # noqa: E501
    target="meta",
    ),
    Rule(
        "WM917", "unproven-onprem-host", "manual",
        "A call uses an On-Prem path (/v1/messages, ...) on a host that nothing in the file "
        "proves runs the On-Prem API: it is reported, not rewritten; declare the host with "
        "--onprem-host (or legacy_base_url in the config) to migrate it.",
        before='''import requests

WA_NODE = "https://wa-node.internal:9090"

def send(token, payload):
    return requests.post(WA_NODE + "/v1/messages", json=payload,
                         headers={"Authorization": "Bearer " + token})
''',
        after='''import requests

WA_NODE = "https://wa-node.internal:9090"

def send(token, payload):
    # waba-migrate: WM917: if this host runs the On-Prem API, declare it with --onprem-host
    return requests.post(WA_NODE + "/v1/messages", json=payload,
                         headers={"Authorization": "Bearer " + token})
''',
    ),
    Rule(
    "WM918", "onprem-test-double", "manual",
    "A test stubs or asserts an On-Prem request (responses.add, respx, register_uri, "
    "mock.assert_called_with, expect...() helpers with a /v1/... URL): when the code under "
    "test migrates, the stub and the assertion must expect the Cloud URL and answer. Test "
    "files are reported, not rewritten (unless --include-tests).",
    before='''import responses


@responses.activate
def test_notify():
    responses.add(responses.POST, "https://wa-node.example.test/v1/messages",
                  json={"messages": [{"id": "gBEGkYiEB1VXAglK1ZEqA1YKPrU"}]})
    assert notify("4915112345678", "hi") == "gBEGkYiEB1VXAglK1ZEqA1YKPrU"
''',
    after='''import responses


@responses.activate
def test_notify():
    # waba-migrate: WM918: /v1/messages (the On-Prem API): stub or assert https://waba-v2.360dialog.io/messages and the Cloud answer instead
    responses.add(responses.POST, "https://wa-node.example.test/v1/messages",
                  json={"messages": [{"id": "gBEGkYiEB1VXAglK1ZEqA1YKPrU"}]})
    assert notify("4915112345678", "hi") == "gBEGkYiEB1VXAglK1ZEqA1YKPrU"
''',  # noqa: E501
    ),
)

RULES_BY_CODE: Final[Mapping[str, Rule]] = MappingProxyType({r.code: r for r in RULES})
assert len(RULES_BY_CODE) == len(RULES), "duplicate rule code"


class UnknownRuleError(ValueError):
    """A --select/--ignore entry that names no rule."""


def select_codes(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> frozenset[str]:
    """Rule codes left after ``--select`` and ``--ignore`` (codes or prefixes like ``WM3``)."""
    wanted = list(select)
    chosen = _expand(wanted) if wanted else set(RULES_BY_CODE)
    return frozenset(chosen - _expand(ignore))


def _expand(entries: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for raw in entries:
        for part in raw.split(","):
            token = part.strip().upper()
            if not token:
                continue
            if token == "ALL":
                out |= set(RULES_BY_CODE)
                continue
            hits = {c for c in RULES_BY_CODE if c.startswith(token)}
            if not hits or not token.startswith("WM"):
                raise UnknownRuleError(f"unknown rule code {part.strip()!r} (codes: "
                                       f"{', '.join(RULES_BY_CODE)})")
            out |= hits
    return out

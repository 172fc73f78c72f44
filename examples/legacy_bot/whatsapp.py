"""Calls to the 360dialog WhatsApp API (On-Premise v1)."""

import json
import os
from urllib.parse import urljoin

import requests

# Set WABA_URL to https://waba-sandbox.360dialog.io while testing.
WABA_URL = os.environ.get("WABA_URL", "https://waba.360dialog.io")
API_KEY = os.environ.get("D360_API_KEY", "")
TEMPLATE_NAMESPACE = os.environ.get("WABA_TEMPLATE_NAMESPACE", "c8ae5f90_307a_ca4c_b8f6_d1e2a2573574")

MESSAGES_URL = WABA_URL + "/v1/messages"
HEADERS = {"D360-API-KEY": API_KEY, "Content-Type": "application/json"}
TIMEOUT = 10


class WhatsAppError(Exception):
    def __init__(self, code, details):
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


def _message_id(response):
    data = response.json()
    if "errors" in data:
        error = data["errors"][0]
        raise WhatsAppError(error["code"], error.get("details") or error.get("title"))
    return data["messages"][0]["id"]


def send_text(to, text, preview_url=False):
    payload = {
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "preview_url": preview_url,
        "text": {"body": text},
    }
    r = requests.post(MESSAGES_URL, headers=HEADERS, json=payload, timeout=TIMEOUT)
    return _message_id(r)


def send_image(to, media_id, caption=None):
    image = {"id": media_id}
    if caption:
        image["caption"] = caption
    r = requests.post(
        f"{WABA_URL}/v1/messages",
        headers=HEADERS,
        json={"recipient_type": "individual", "to": to, "type": "image", "image": image},
        timeout=TIMEOUT,
    )
    return _message_id(r)


def send_shipping_update(to, customer, parcel):
    """The 'parcel_shipped' template, sent the old way (hsm)."""
    body = {
        "to": to,
        "type": "hsm",
        "hsm": {
            "namespace": TEMPLATE_NAMESPACE,
            "element_name": "parcel_shipped",
            "language": {"policy": "deterministic", "code": "en"},
            "localizable_params": [{"default": customer}, {"default": parcel}],
        },
    }
    r = requests.post(MESSAGES_URL, headers=HEADERS, data=json.dumps(body), timeout=TIMEOUT)
    return _message_id(r)


def send_template(to, name, params, lang="en"):
    message = {
        "to": to,
        "type": "template",
        "template": {
            "namespace": TEMPLATE_NAMESPACE,
            "name": name,
            "language": {"policy": "deterministic", "code": lang},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
            ],
        },
    }
    r = requests.post(MESSAGES_URL, headers=HEADERS, json=message, timeout=TIMEOUT)
    return _message_id(r)


def mark_read(message_id):
    r = requests.put(
        f"{WABA_URL}/v1/messages/{message_id}",
        headers=HEADERS,
        json={"status": "read"},
        timeout=TIMEOUT,
    )
    r.raise_for_status()


def upload_media(content, mime_type):
    r = requests.post(
        urljoin(WABA_URL, "/v1/media"),
        headers={"D360-API-KEY": API_KEY, "Content-Type": mime_type},
        data=content,
        timeout=TIMEOUT,
    )
    return r.json()["media"][0]["id"]


def download_media(media_id):
    r = requests.get(
        f"{WABA_URL}/v1/media/{media_id}", headers={"D360-API-KEY": API_KEY}, timeout=TIMEOUT
    )
    r.raise_for_status()
    return r.content


def check_contact(phone):
    """The wa_id for a phone number, or None when it is not on WhatsApp."""
    r = requests.post(
        WABA_URL + "/v1/contacts",
        headers=HEADERS,
        json={"blocking": "wait", "contacts": [phone]},
        timeout=TIMEOUT,
    )
    contact = r.json()["contacts"][0]
    return contact.get("wa_id") if contact.get("status") == "valid" else None

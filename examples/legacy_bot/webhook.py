"""Inbound webhooks: 360dialog posts one On-Premise body per event to /webhook."""

import logging

from . import whatsapp

log = logging.getLogger(__name__)

GREETINGS = {"hi", "hello", "hallo", "hola"}
HELP_URL = "https://example.com/help"

# What the bot did, newest last (read by the support dashboard).
REPLIES = []
DELIVERY = {}


def webhook_view(request):
    """POST /webhook (a Flask-style view)."""
    payload = request.get_json()
    handle_webhook(payload)
    return "", 200


def handle_webhook(payload):
    names = {c["wa_id"]: c["profile"]["name"] for c in payload.get("contacts", [])}
    for status in payload.get("statuses", []):
        on_status(status)
    if "messages" not in payload:
        return
    for message in payload["messages"]:
        on_message(message, names.get(message["from"], "there"))


def on_status(status):
    DELIVERY[status["id"]] = status["status"]
    if status["status"] != "failed":
        return
    error = status.get("errors", [{}])[0]
    log.warning("message %s failed: %s %s", status["id"], error.get("code"), error.get("title"))
    if error.get("code") == 470:
        # Outside the 24 h window only a template gets through.
        recipient = status["recipient_id"]
        REPLIES.append(("template", whatsapp.send_template(recipient, "parcel_shipped", ["there", "-"])))


def on_message(message, name):
    sender = message["from"]
    whatsapp.mark_read(message["id"])
    kind = message["type"]
    if kind == "text":
        text = message["text"]["body"].strip().lower()
        if text in GREETINGS:
            reply = whatsapp.send_text(
                sender, f"Hi {name}! Send 'track' to follow your parcel, or a photo of your receipt."
            )
        elif text == "track":
            reply = whatsapp.send_shipping_update(sender, name, "DE-4711")
        else:
            reply = whatsapp.send_text(sender, f"Our help page: {HELP_URL}", preview_url=True)
    elif kind in ("image", "document"):
        content = whatsapp.download_media(message[kind]["id"])
        reply = whatsapp.send_text(sender, f"Thanks, we received your {kind} ({len(content)} bytes).")
    elif kind == "voice":
        reply = whatsapp.send_text(sender, "Sorry, we cannot listen to voice messages. Please type.")
    else:
        reply = whatsapp.send_text(sender, "Sorry, I did not understand that.")
    REPLIES.append((kind, reply))

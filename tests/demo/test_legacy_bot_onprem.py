"""examples/legacy_bot as written (On-Premise v1), run against the On-Prem sandbox.

This is the baseline the after-rewrite test compares with: the same bot, the
same conversation, before any migration.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shim.sandbox import RunningSandbox, running_sandbox
from tests.demo.harness import (
    BOT_DIR,
    CUSTOMER,
    RECEIPT,
    STRANGER,
    Bot,
    add_template,
    all_delivered,
    outbox_for,
    receipt_inbound,
    running_bot,
)


@pytest.fixture(scope="module")
def onprem() -> Iterator[RunningSandbox]:
    with running_sandbox("onprem", seed=1) as sandbox:
        yield sandbox


@pytest.fixture
def bot(onprem: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bot]:
    onprem.reset()
    add_template(onprem)
    with running_bot(BOT_DIR.parent, monkeypatch, onprem) as bot:
        yield bot


def test_greeting_is_read_and_answered(bot: Bot, onprem: RunningSandbox) -> None:
    inbound = onprem.inbound(CUSTOMER, "Hi", name="Anna")
    all_delivered(onprem.wait_for_webhooks())
    [reply] = outbox_for(onprem, CUSTOMER)
    assert reply["body"]["type"] == "text"
    assert reply["body"]["text"]["body"].startswith("Hi Anna!")
    assert [("text", reply["id"])] == bot.webhook.REPLIES
    assert inbound["id"] not in bot.webhook.DELIVERY  # inbound ids are not statuses
    assert set(bot.webhook.DELIVERY) == {reply["id"]}


def test_track_sends_the_legacy_hsm(bot: Bot, onprem: RunningSandbox) -> None:
    onprem.inbound(CUSTOMER, "track", name="Anna")
    all_delivered(onprem.wait_for_webhooks())
    [reply] = outbox_for(onprem, CUSTOMER)
    assert reply["body"]["type"] == "hsm"
    hsm = reply["body"]["hsm"]
    assert hsm["element_name"] == "parcel_shipped"
    assert [p["default"] for p in hsm["localizable_params"]] == ["Anna", "DE-4711"]


def test_photo_is_downloaded_from_v1_media(bot: Bot, onprem: RunningSandbox) -> None:
    onprem.inbound(CUSTOMER, type="image", image=receipt_inbound())
    all_delivered(onprem.wait_for_webhooks())
    [reply] = outbox_for(onprem, CUSTOMER)
    expected = f"Thanks, we received your image ({len(RECEIPT)} bytes)."
    assert reply["body"]["text"]["body"] == expected


def test_voice_note_arrives_as_voice(bot: Bot, onprem: RunningSandbox) -> None:
    onprem.inbound(CUSTOMER, type="audio", audio={"voice": True})
    all_delivered(onprem.wait_for_webhooks())
    assert bot.webhook.REPLIES[0][0] == "voice"


def test_help_link_keeps_preview_url(bot: Bot, onprem: RunningSandbox) -> None:
    onprem.inbound(CUSTOMER, "where is my stuff?")
    all_delivered(onprem.wait_for_webhooks())
    [reply] = outbox_for(onprem, CUSTOMER)
    assert reply["body"]["preview_url"] is True


def test_message_outside_the_window_fails_with_470_and_falls_back_to_a_template(
    bot: Bot, onprem: RunningSandbox
) -> None:
    message_id = bot.whatsapp.send_text(STRANGER, "Your parcel is ready for pick-up.")
    all_delivered(onprem.wait_for_webhooks())
    assert bot.webhook.DELIVERY[message_id] == "failed"
    [fallback] = outbox_for(onprem, STRANGER)
    assert fallback["body"]["type"] == "template"
    assert fallback["body"]["template"]["name"] == "parcel_shipped"


def test_upload_send_and_download_media(bot: Bot, onprem: RunningSandbox) -> None:
    onprem.inbound(CUSTOMER, "hello")
    onprem.wait_for_webhooks()
    media_id = bot.whatsapp.upload_media(RECEIPT, "image/png")
    sent = bot.whatsapp.send_image(CUSTOMER, media_id, caption="your receipt")
    images = [m for m in outbox_for(onprem, CUSTOMER) if m["body"]["type"] == "image"]
    assert [m["id"] for m in images] == [sent]
    assert images[0]["body"]["image"] == {"id": media_id, "caption": "your receipt"}
    assert bot.whatsapp.download_media(media_id) == RECEIPT


def test_contacts_check(bot: Bot) -> None:
    assert bot.whatsapp.check_contact("+49 151 1234 5678") == CUSTOMER

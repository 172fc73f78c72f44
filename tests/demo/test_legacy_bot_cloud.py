"""examples/legacy_bot after ``waba-migrate rewrite --write --target 360dialog``, on Cloud.

Two copies of the bot are rewritten by the real CLI. The ``native`` strategy
holds this bot's requests (they all share their base URL with the media upload,
which needs a person) and marks each one, so only what it wrote is checked. The
``shim`` strategy (the code keeps its On-Prem calls, ``from shim.compat import
requests`` routes them by config, the webhook view is wrapped) runs the same
conversation as the On-Prem baseline against the 360dialog Cloud sandbox,
whose webhooks are Cloud-shaped.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from shim import compat
from shim.sandbox import RunningSandbox, running_sandbox
from tests.demo.harness import (
    CUSTOMER,
    PACKAGE,
    RECEIPT,
    STRANGER,
    Bot,
    add_template,
    all_delivered,
    outbox_for,
    receipt_inbound,
    rewrite_copy,
    running_bot,
)

OLD_KEY = "the-onprem-key-the-bot-still-sends"


@pytest.fixture(scope="module")
def d360() -> Iterator[RunningSandbox]:
    with running_sandbox("360dialog", seed=3) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def d360_shim() -> Iterator[RunningSandbox]:
    with running_sandbox("360dialog", seed=4) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def native_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("native")
    result = rewrite_copy(parent)
    assert result.returncode == 0, result.stderr
    return parent


@pytest.fixture(scope="module")
def shim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("shim")
    result = rewrite_copy(parent, "--strategy", "shim")
    assert result.returncode == 0, result.stderr
    return parent


@pytest.fixture
def native_bot(
    native_dir: Path, d360: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Bot]:
    d360.reset()
    add_template(d360)
    with running_bot(native_dir, monkeypatch, d360) as bot:
        yield bot


@pytest.fixture
def shim_bot(
    shim_dir: Path, d360_shim: RunningSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Bot]:
    d360 = d360_shim
    d360.reset()
    add_template(d360)
    config = tmp_path / "waba-migrate.toml"
    config.write_text(
        f"""
[channels.shop]
phone_number = "+4930123456"
backend = "360dialog"
api_key = "env:SHOP_D360_KEY"
legacy_api_key = "env:SHOP_OLD_KEY"
base_url = "{d360.base_url}"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("WABA_MIGRATE_CONFIG", str(config))
    monkeypatch.setenv("SHOP_D360_KEY", d360.api_key)
    monkeypatch.setenv("SHOP_OLD_KEY", OLD_KEY)
    compat.reset()
    try:
        # The bot keeps https://waba.360dialog.io and its old key; the drop-in routes both.
        with running_bot(shim_dir, monkeypatch, d360, waba_url=None, api_key=OLD_KEY) as bot:
            assert bot.whatsapp.WABA_URL == "https://waba.360dialog.io"
            yield bot
    finally:
        compat.reset()


def _source(parent: Path, name: str) -> str:
    return (parent / PACKAGE / name).read_text(encoding="utf-8")


# -- what the rewrite wrote ---------------------------------------------------------


def test_native_rewrite_holds_requests_tied_to_the_media_upload_and_marks_each(
    native_dir: Path,
) -> None:
    # Every request of this bot shares WABA_URL and the key with the raw-bytes media
    # upload, which has no automatic Cloud form: moving the shared base would change
    # the upload's URL under it, so each request is left as it was and marked (correct
    # or marked, never half-migrated). The webhook view is migrated on its own.
    whatsapp = _source(native_dir, "whatsapp.py")
    webhook = _source(native_dir, "webhook.py")
    for text in (whatsapp, webhook):
        ast.parse(text)
    original = (Path(__file__).resolve().parents[2] / "examples" / PACKAGE / "whatsapp.py"
                ).read_text(encoding="utf-8")
    code = [line for line in whatsapp.splitlines() if not line.lstrip().startswith("#")]
    assert code == [line for line in original.splitlines() if not line.lstrip().startswith("#")]
    assert 'os.environ.get("WABA_URL", "https://waba.360dialog.io")' in whatsapp
    calls = sum(line.lstrip().startswith("r = requests.") for line in whatsapp.splitlines())
    assert calls == 8
    assert whatsapp.count("# waba-migrate: WM906:") + whatsapp.count(
        "# waba-migrate: WM901:") == calls  # one marker on every request
    assert "onprem_view(request.get_json())" in webhook


def test_shim_rewrite_only_swaps_the_import(shim_dir: Path) -> None:
    whatsapp = _source(shim_dir, "whatsapp.py")
    assert "from shim.compat import requests" in whatsapp
    assert "\nimport requests" not in whatsapp
    assert '"https://waba.360dialog.io"' in whatsapp
    assert "onprem_view(request.get_json())" in _source(shim_dir, "webhook.py")


# -- shim strategy: the On-Prem code unchanged, routed by config ----------------------


def _inbound_id(sandbox: RunningSandbox, with_slash: bool) -> str:
    for _ in range(200):
        message_id: str = sandbox.inbound(CUSTOMER, "hi")["id"]
        if ("/" in message_id) == with_slash:
            return message_id
    raise AssertionError("the sandbox produced no such id")


def test_shim_conversation(shim_bot: Bot, d360_shim: RunningSandbox) -> None:
    d360_shim.inbound(CUSTOMER, "Hi", name="Anna")
    all_delivered(d360_shim.wait_for_webhooks())
    d360_shim.inbound(CUSTOMER, "track", name="Anna")
    all_delivered(d360_shim.wait_for_webhooks())
    d360_shim.inbound(CUSTOMER, type="audio", audio={"voice": True})
    all_delivered(d360_shim.wait_for_webhooks())
    bodies = [m["body"] for m in outbox_for(d360_shim, CUSTOMER)]
    assert [b["type"] for b in bodies] == ["text", "template", "text"]
    assert all(b["messaging_product"] == "whatsapp" for b in bodies)
    assert bodies[0]["text"]["body"].startswith("Hi Anna!")
    assert bodies[1]["template"]["name"] == "parcel_shipped"
    assert [kind for kind, _ in shim_bot.webhook.REPLIES] == ["text", "text", "voice"]


def test_shim_photo_is_downloaded_in_two_steps(shim_bot: Bot, d360_shim: RunningSandbox) -> None:
    d360_shim.inbound(CUSTOMER, type="image", image=receipt_inbound())
    all_delivered(d360_shim.wait_for_webhooks())
    [reply] = outbox_for(d360_shim, CUSTOMER)
    expected = f"Thanks, we received your image ({len(RECEIPT)} bytes)."
    assert reply["body"]["text"]["body"] == expected


def test_shim_upload_send_download(shim_bot: Bot, d360_shim: RunningSandbox) -> None:
    d360_shim.configure(webhook_url=None)
    d360_shim.inbound(CUSTOMER, "hello")
    media_id = shim_bot.whatsapp.upload_media(RECEIPT, "image/png")
    sent = shim_bot.whatsapp.send_image(CUSTOMER, media_id)
    images = [m for m in outbox_for(d360_shim, CUSTOMER) if m["body"]["type"] == "image"]
    assert [m["id"] for m in images] == [sent]
    assert shim_bot.whatsapp.download_media(media_id) == RECEIPT


def test_shim_window_error_is_470_for_the_old_error_handling(shim_bot: Bot) -> None:
    with pytest.raises(shim_bot.whatsapp.WhatsAppError) as caught:
        shim_bot.whatsapp.send_text(STRANGER, "Your parcel is ready.")
    assert caught.value.code == 470


def test_shim_failed_status_falls_back_to_a_template(
    shim_bot: Bot, d360_shim: RunningSandbox
) -> None:
    # Only the failed status: automatic sent/delivered/read could arrive after it.
    d360_shim.configure(open_windows=True, statuses=[])
    sent = shim_bot.whatsapp.send_text(CUSTOMER, "Your parcel is ready.")
    d360_shim.emit_status(sent, "failed", error_code=131047)
    all_delivered(d360_shim.wait_for_webhooks())
    assert shim_bot.webhook.DELIVERY[sent] == "failed"
    assert shim_bot.webhook.REPLIES[-1] == ("template", outbox_for(d360_shim, CUSTOMER)[-1]["id"])


def test_shim_contacts_check_is_answered_locally(shim_bot: Bot) -> None:
    assert shim_bot.whatsapp.check_contact("+49 151 1234 5678") == CUSTOMER


@pytest.mark.parametrize("slash", [False, True], ids=["plain-id", "id-with-slash"])
def test_shim_mark_read_of_cloud_ids(
    shim_bot: Bot, d360_shim: RunningSandbox, slash: bool
) -> None:
    # Cloud wamids are standard base64: the bot's PUT /v1/messages/{id} may get a '/' in it.
    d360_shim.configure(webhook_url=None)
    shim_bot.whatsapp.mark_read(_inbound_id(d360_shim, with_slash=slash))

"""wabclient 2.3.3 (an On-Prem SDK from the package index), driven unchanged.

It reaches a 360dialog Cloud and a Meta channel (sandboxes on loopback) two
ways: through the gateway (its base URL points at ``waba-migrate serve``) and
through the process-wide drop-in (``shim.compat.install()``; its base URL stays
the old On-Prem host). Nothing in wabclient is patched or subclassed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
from wabclient.client import Client as WabClient

from shim import compat
from shim.config import load_config
from shim.gateway import create_app
from shim.sandbox import RunningSandbox, running_asgi, running_sandbox

D360_KEY = "sk-d360-WAB-SECRET-71c0"
META_TOKEN = "EAAG-WAB-META-SECRET-0d55"
OLD_SHOP = "legacy-WAB-shop-SECRET-2e19"
OLD_BRAND = "legacy-WAB-brand-SECRET-9b3a"
ENV = {"WAB_D360": D360_KEY, "WAB_META": META_TOKEN, "WAB_OLD_SHOP": OLD_SHOP,
       "WAB_OLD_BRAND": OLD_BRAND, "WAB_VERIFY": "wab-verify-token"}
OLD_HOST = "https://waba.360dialog.io"
NODE = "https://wa-node.internal:9090"
TO = "4915112345678"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8


@pytest.fixture(scope="module")
def sb360() -> Iterator[RunningSandbox]:
    with running_sandbox("360dialog", api_key=D360_KEY, open_windows=True) as sb:
        yield sb


@pytest.fixture(scope="module")
def sbmeta() -> Iterator[RunningSandbox]:
    with running_sandbox("meta", access_token=META_TOKEN, open_windows=True) as sb:
        yield sb


@pytest.fixture(scope="module")
def config_path(
    tmp_path_factory: pytest.TempPathFactory, sb360: RunningSandbox, sbmeta: RunningSandbox
) -> Path:
    path = tmp_path_factory.mktemp("wab") / "channels.toml"
    path.write_text(f"""
[channels.shop]
phone_number = "+4915100000001"
backend = "360dialog"
base_url = {json.dumps(sb360.base_url)}
api_key = "env:WAB_D360"
legacy_api_key = "env:WAB_OLD_SHOP"
mps = 1000

[channels.brand]
phone_number = "+4915100000002"
backend = "meta"
base_url = {json.dumps(sbmeta.base_url)}
phone_number_id = {json.dumps(sbmeta.phone_number_id)}
waba_id = {json.dumps(sbmeta.waba_id)}
access_token = "env:WAB_META"
legacy_api_key = "env:WAB_OLD_BRAND"
legacy_base_url = {json.dumps(NODE)}
verify_token = "env:WAB_VERIFY"
mps = 1000
""", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@dataclass
class Wab:
    """One wabclient as its application builds it, and the sandbox behind it."""

    client: WabClient
    sandbox: RunningSandbox


@pytest.fixture(scope="module")
def gateway_url(config_path: Path) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV.items():
            mp.setenv(name, value)
        with running_asgi(create_app(load_config(config_path))) as url:
            yield url


def _session(channel: str) -> requests.Session:
    session = requests.Session()
    if channel == "shop":  # 360dialog's On-Prem key header
        session.headers["D360-API-KEY"] = OLD_SHOP
    return session


@pytest.fixture(params=["gateway-360dialog", "gateway-meta", "dropin-360dialog", "dropin-meta"])
def wab(
    request: pytest.FixtureRequest,
    sb360: RunningSandbox,
    sbmeta: RunningSandbox,
    config_path: Path,
    gateway_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Wab]:
    way, backend = request.param.split("-")
    channel, sandbox = ("shop", sb360) if backend == "360dialog" else ("brand", sbmeta)
    sandbox.reset()
    sandbox.configure(open_windows=True)
    if way == "dropin":
        monkeypatch.setenv("WABA_MIGRATE_CONFIG", str(config_path))
        compat.install()
        url = OLD_HOST if channel == "shop" else NODE
    else:
        url = gateway_url
    client = WabClient(url, session=_session(channel))
    if channel == "brand":  # the self-hosted node's Bearer login token (one shared session)
        client.connection.set_token(OLD_BRAND)
    try:
        yield Wab(client, sandbox)
    finally:
        if way == "dropin":
            compat.uninstall()
            compat.reset()


def _sent(wab: Wab) -> list[dict[str, Any]]:
    return [item["body"] for item in wab.sandbox.outbox()]


def test_text_and_hsm(wab: Wab) -> None:
    text = wab.client.send_message(TO, "hello, see https://example.com")
    hsm = wab.client.send_hsm(TO, "c8ae5f90_307a_ca4c_b8f6_d1e2a2573574", "hello_world",
                              "en_US", [])
    assert text["messages"][0]["id"].startswith("wamid.")
    assert hsm["messages"][0]["id"].startswith("wamid.")
    first, second = _sent(wab)
    assert first["text"] == {"body": "hello, see https://example.com", "preview_url": True}
    assert second["type"] == "template" and second["template"]["name"] == "hello_world"
    assert "namespace" not in second["template"]


@pytest.mark.parametrize("caption", ["a caption", None])
def test_image_upload_and_send(wab: Wab, caption: str | None) -> None:
    sent = wab.client.send_image(TO, "photo.jpg", io.BytesIO(JPEG), caption)
    assert sent["messages"][0]["id"]
    [body] = _sent(wab)
    image = body["image"]
    assert image["id"].isdigit()  # the Cloud media id of the upload
    if caption is None:
        assert "caption" not in image  # wabclient sends "caption": null
    else:
        assert image["caption"] == caption


def test_contacts_and_health(wab: Wab) -> None:
    assert wab.client.get_address("+49 151 12345678") == TO
    checked = wab.client.check_contacts(["+4915112345678"], wait=True)
    assert checked["contacts"][0]["status"] == "valid"
    health = wab.client.healthcheck()
    assert health["health"]["gateway_status"] == "connected"


async def _receiver(scope: Any, receive: Any, send: Any) -> None:
    """The application's webhook endpoint; it answers Meta's verify handshake."""
    if scope["type"] != "http":
        return
    query = dict(parse_qsl(scope["query_string"].decode()))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": query.get("hub.challenge", "ok").encode()})


@pytest.fixture(scope="module")
def receiver_url() -> Iterator[str]:
    with running_asgi(_receiver) as url:
        yield url


def test_set_settings_with_a_webhook_url(wab: Wab, receiver_url: str) -> None:
    hook = f"{receiver_url}/whatsapp"
    answer = wab.client.config.set_settings("+27000000000", hook)
    assert "meta" in answer
    assert wab.client.config.get_settings()["webhooks"]["url"] == hook


def test_470_outside_the_window(wab: Wab) -> None:
    wab.sandbox.configure(open_windows=False)
    with pytest.raises(requests.HTTPError) as err:
        wab.client.send_message("4915199999999", "too late")
    response = err.value.response
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == 470
    assert _sent(wab) == []

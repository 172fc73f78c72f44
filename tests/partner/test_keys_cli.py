"""``waba-migrate keys``: create/list/delete against the loopback Partner API emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from shim.cli import main
from tests.partner.conftest import CHANNEL_ID, PARTNER_ID, PASSWORD, USERNAME, PartnerHub


@pytest.fixture
def login_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WABA_PARTNER_USERNAME", USERNAME)
    monkeypatch.setenv("WABA_PARTNER_PASSWORD", PASSWORD)
    monkeypatch.delenv("WABA_PARTNER_TOKEN", raising=False)
    monkeypatch.delenv("WABA_PARTNER_ID", raising=False)
    monkeypatch.delenv("WABA_PARTNER_BASE_URL", raising=False)


def keys(hub: PartnerHub, *args: str, stdin: str | None = None) -> Result:
    ids = ["--partner-id", PARTNER_ID, "--channel-id", CHANNEL_ID, "--base-url", hub.base_url]
    result = CliRunner().invoke(main, ["keys", *args, *ids], input=stdin)
    assert PASSWORD not in result.output
    return result


def test_create_prints_the_new_key_once_and_the_next_steps(
    hub: PartnerHub, login_env: None, tmp_path: Path
) -> None:
    config = tmp_path / "waba.toml"
    config.write_text(
        '[channels.shop]\nphone_number = "+4915100000001"\nbackend = "360dialog"\n'
        'api_key = "env:SHOP_D360_KEY"\n',
        encoding="utf-8",
    )
    result = keys(hub, "create", "--config", str(config), "--channel", "shop")
    assert result.exit_code == 0, result.output
    [created] = hub.keys[(PARTNER_ID, CHANNEL_ID)]
    assert result.output.count(created["api_key"]) == 1
    out = result.stdout
    assert f"Created API key {created['id']}" in out
    assert 'SHOP_D360_KEY (channels.shop.api_key = "env:SHOP_D360_KEY")' in out
    assert "https://waba-v2.360dialog.io/v1/configs/webhook" in out
    assert 'set_webhook(url, channel="shop")' in out
    assert not any(token in result.output for token in hub.tokens)


def test_create_json_is_one_document_with_the_key(hub: PartnerHub, login_env: None) -> None:
    result = keys(hub, "create", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    [created] = hub.keys[(PARTNER_ID, CHANNEL_ID)]
    assert doc["api_key"] == created["api_key"] and doc["id"] == created["id"]
    assert doc["address"] == "https://waba-v2.360dialog.io" and doc["channel_id"] == CHANNEL_ID
    assert len(doc["next_steps"]) == 3 and "webhook" in doc["next_steps"][1]
    assert result.output.count(created["api_key"]) == 1


def test_list_never_shows_key_values(hub: PartnerHub, login_env: None) -> None:
    first, second = hub.seed_key(), hub.seed_key()
    text = keys(hub, "list")
    as_json = keys(hub, "list", "--json")
    assert text.exit_code == 0 and as_json.exit_code == 0
    for result in (text, as_json):
        assert first["api_key"] not in result.output and second["api_key"] not in result.output
    assert first["id"] in text.stdout and second["id"] in text.stdout
    doc = json.loads(as_json.stdout)
    assert [k["id"] for k in doc["api_keys"]] == [first["id"], second["id"]]
    assert all("api_key" not in k for k in doc["api_keys"])

    hub.keys.clear()
    assert "has no API keys" in keys(hub, "list").stdout


def test_delete_asks_first(hub: PartnerHub, login_env: None) -> None:
    hub.seed_key()
    refused = keys(hub, "delete", stdin="n\n")
    assert refused.exit_code == 1 and hub.keys  # aborted, nothing deleted
    assert [m for m, _ in hub.calls] == []
    confirmed = keys(hub, "delete", stdin="y\n")
    assert confirmed.exit_code == 0 and hub.keys == {}
    hub.seed_key()
    result = keys(hub, "delete", "--yes", "--json")
    assert json.loads(result.stdout) == {
        "partner_id": PARTNER_ID,
        "channel_id": CHANNEL_ID,
        "deleted": True,
    }
    assert hub.keys == {}


def test_token_from_env_skips_login(
    hub: PartnerHub, login_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WABA_PARTNER_USERNAME")
    monkeypatch.delenv("WABA_PARTNER_PASSWORD")
    token = hub.issue_token()
    monkeypatch.setenv("WABA_PARTNER_TOKEN", token)
    result = keys(hub, "list")
    assert result.exit_code == 0 and hub.token_calls == 0
    assert token not in result.output


def test_missing_credentials_is_a_usage_error_naming_the_variables(
    hub: PartnerHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("WABA_PARTNER_USERNAME", "WABA_PARTNER_PASSWORD", "WABA_PARTNER_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    result = keys(hub, "list")
    assert result.exit_code == 2
    assert "WABA_PARTNER_USERNAME" in result.stderr and "WABA_PARTNER_TOKEN" in result.stderr
    assert hub.calls == []


def test_refusals_exit_1_with_the_reason_and_no_secret(
    hub: PartnerHub, login_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WABA_PARTNER_PASSWORD", "wrong-SECRET-pw")
    result = keys(hub, "create")
    assert result.exit_code == 1
    assert "Invalid username or password" in result.stderr
    assert "wrong-SECRET-pw" not in result.output and hub.keys == {}

    monkeypatch.setenv("WABA_PARTNER_PASSWORD", PASSWORD)
    hub.fail_next = 503
    result = keys(hub, "list")
    assert result.exit_code == 1 and "HTTP 503" in result.stderr and "hub is down" in result.stderr


def test_usage_errors(hub: PartnerHub, login_env: None) -> None:
    missing = CliRunner().invoke(main, ["keys", "list", "--channel-id", CHANNEL_ID])
    assert missing.exit_code == 2 and "--partner-id" in missing.stderr
    args = ["--partner-id", PARTNER_ID, "--channel-id", CHANNEL_ID]
    plain_url = ["--base-url", "http://hub.example.com/api/v2"]
    plain = CliRunner().invoke(main, ["keys", "list", *args, *plain_url])
    assert plain.exit_code == 2 and "plain http" in plain.stderr
    no_channel = keys(hub, "create", "--channel", "shop", "--config", "/nonexistent.toml")
    assert no_channel.exit_code == 2 and "file not found" in no_channel.stderr
    assert hub.keys == {}

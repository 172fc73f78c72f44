"""PartnerClient against the loopback Partner API emulator."""

from __future__ import annotations

import pytest

from shim.partner import (
    ChannelApiKey,
    PartnerAuthError,
    PartnerClient,
    PartnerCredentials,
    PartnerError,
    PartnerOutcomeUnknown,
)
from tests.partner.conftest import CHANNEL_ID, PARTNER_ID, PASSWORD, USERNAME, PartnerHub

LOGIN = PartnerCredentials(username=USERNAME, password=PASSWORD)


def test_login_create_list_delete_round_trip(hub: PartnerHub) -> None:
    with PartnerClient(LOGIN, base_url=hub.base_url) as client:
        assert client.list_api_keys(PARTNER_ID, CHANNEL_ID) == []
        created = client.create_api_key(PARTNER_ID, CHANNEL_ID)
        listed = client.list_api_keys(PARTNER_ID, CHANNEL_ID)
        client.delete_api_keys(PARTNER_ID, CHANNEL_ID)
        after = client.list_api_keys(PARTNER_ID, CHANNEL_ID)
    assert hub.keys == {}
    assert created.api_key and created.api_key.startswith("KEY-SECRET-")
    assert (created.address, created.app_id) == ("https://waba-v2.360dialog.io", "104148")
    assert [k.id for k in listed] == [created.id]
    assert after == []
    assert hub.token_calls == 1  # one login, the token is reused
    assert [m for m, _ in hub.calls] == ["GET", "POST", "GET", "DELETE", "GET"]


def test_a_given_token_is_used_without_login(hub: PartnerHub) -> None:
    token = hub.issue_token()
    seeded = hub.seed_key()
    with PartnerClient(PartnerCredentials(token=token), base_url=hub.base_url) as client:
        assert [k.id for k in client.list_api_keys(PARTNER_ID, CHANNEL_ID)] == [seeded["id"]]
    assert hub.token_calls == 0


def test_an_expired_token_logs_in_again_once(hub: PartnerHub) -> None:
    with PartnerClient(LOGIN, base_url=hub.base_url) as client:
        client.list_api_keys(PARTNER_ID, CHANNEL_ID)
        hub.expire_tokens()
        client.create_api_key(PARTNER_ID, CHANNEL_ID)
    assert hub.token_calls == 2
    assert len(hub.keys[(PARTNER_ID, CHANNEL_ID)]) == 1


def test_a_rejected_token_without_login_is_an_auth_error(hub: PartnerHub) -> None:
    creds = PartnerCredentials(token="tok-SECRET-stale")
    with (
        PartnerClient(creds, base_url=hub.base_url) as client,
        pytest.raises(PartnerAuthError) as exc,
    ):
        client.list_api_keys(PARTNER_ID, CHANNEL_ID)
    assert exc.value.status == 401 and "Not authenticated" in str(exc.value)
    assert "tok-SECRET-stale" not in str(exc.value)


def test_a_wrong_password_is_refused_without_echoing_it(hub: PartnerHub) -> None:
    creds = PartnerCredentials(username=USERNAME, password="wrong-SECRET-pw")
    with (
        PartnerClient(creds, base_url=hub.base_url) as client,
        pytest.raises(PartnerAuthError) as exc,
    ):
        client.create_api_key(PARTNER_ID, CHANNEL_ID)
    assert "Invalid username or password" in str(exc.value)
    assert "wrong-SECRET-pw" not in str(exc.value)
    assert hub.keys == {}


def test_server_errors_carry_status_and_the_servers_message(hub: PartnerHub) -> None:
    hub.fail_next = 500
    with PartnerClient(LOGIN, base_url=hub.base_url) as client:
        with pytest.raises(PartnerError) as exc:
            client.list_api_keys(PARTNER_ID, CHANNEL_ID)
        assert exc.value.status == 500 and "hub is down" in str(exc.value)
        with pytest.raises(PartnerAuthError) as denied:
            client.list_api_keys("PAother", CHANNEL_ID)
        assert denied.value.status == 403 and "Partner not found" in str(denied.value)


def test_a_lost_create_answer_is_outcome_unknown_not_retried(hub: PartnerHub) -> None:
    hub.create_delay_s = 1.0
    with (
        PartnerClient(LOGIN, base_url=hub.base_url, timeout=0.3) as client,
        pytest.raises(PartnerOutcomeUnknown) as exc,
    ):
        client.create_api_key(PARTNER_ID, CHANNEL_ID)
    assert "keys list" in str(exc.value)
    assert [m for m, _ in hub.calls] == ["POST"]  # sent once, never resent
    assert len(hub.keys[(PARTNER_ID, CHANNEL_ID)]) == 1  # the key does exist


def test_unreachable_hub_says_nothing_changed() -> None:
    with (
        PartnerClient(LOGIN, base_url="http://127.0.0.1:9", timeout=2) as client,
        pytest.raises(PartnerError) as exc,
    ):
        client.list_api_keys(PARTNER_ID, CHANNEL_ID)
    assert "cannot reach" in str(exc.value)


def test_secrets_stay_out_of_reprs_and_ids_are_path_safe() -> None:
    creds = PartnerCredentials(username=USERNAME, password=PASSWORD, token="tok-SECRET-x")
    assert PASSWORD not in repr(creds) and "tok-SECRET-x" not in repr(creds)
    key = ChannelApiKey("1", "https://waba-v2.360dialog.io", "7", api_key="KEY-SECRET-y")
    assert "KEY-SECRET-y" not in repr(key) and "api_key" not in key.public()
    assert PartnerClient.keys_path("PA 1", "../x") == "/partners/PA%201/channels/..%2Fx/api_keys"
    with pytest.raises(PartnerError):
        PartnerClient.keys_path("PA", " ")


def test_credentials_and_base_url_are_checked_up_front() -> None:
    with pytest.raises(PartnerAuthError) as exc:
        PartnerCredentials.from_env({"WABA_PARTNER_USERNAME": USERNAME})
    assert "WABA_PARTNER_PASSWORD" in str(exc.value) and "WABA_PARTNER_TOKEN" in str(exc.value)
    env = {"WABA_PARTNER_USERNAME": USERNAME, "WABA_PARTNER_PASSWORD": PASSWORD}
    assert PartnerCredentials.from_env(env).can_login
    with pytest.raises(PartnerError, match="plain http"):
        PartnerClient(LOGIN, base_url="http://hub.example.com/api/v2")
    with pytest.raises(PartnerError, match="http"):
        PartnerClient(LOGIN, base_url="hub.360dialog.io")

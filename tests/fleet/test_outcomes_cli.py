"""``waba-migrate outcomes list|show``: what an operator sees of unknown and settled keys."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from shim import Client
from shim.cli import main
from shim.client.outcomes import Reconciler
from shim.client.state import open_state
from shim.config import StateConfig
from shim.sandbox import RunningSandbox, running_sandbox
from tests.client.conftest import D360_KEY, ENV, config_for

TO = "4915112345678"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WABA_MIGRATE_CONFIG", raising=False)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    with running_sandbox("360dialog", api_key=D360_KEY, open_windows=True, webhook_url=dead,
                         webhook_max_attempts=1) as sb:
        yield sb


def _unknown_send(sandbox: RunningSandbox, url: str, key: str) -> None:
    sandbox.fault(drop_after_accept=True, path="/messages")
    with Client(config_for(sandbox), state=open_state(url), raise_on_unknown=False) as client:
        response = client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}},
                               headers={"Idempotency-Key": key})
        client.router.state.close()  # writes what is queued first
    assert response.outcome_unknown


def test_list_and_show_follow_a_key_from_unknown_to_settled(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sandbox.reset()
    url = f"sqlite:///{tmp_path / 'state.db'}"
    _unknown_send(sandbox, url, "order-77")
    runner = CliRunner()
    listed = runner.invoke(main, ["outcomes", "list", "--state", url])
    assert listed.exit_code == 0, listed.output
    assert "unknown" in listed.output and "order-77" in listed.output
    assert "1 key(s), 0 overdue" in listed.output

    store = open_state(url)
    try:
        for delivery in sandbox.wait_for_webhooks():
            Reconciler(store).observe(lambda pnid: "main", delivery["payload"])
    finally:
        store.close()
    shown = runner.invoke(main, ["outcomes", "show", "order-77", "--state", url])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["state"] == "happened" and data["channel"] == "main"
    assert data["message_id"] == sandbox.outbox()[0]["id"]
    missing = runner.invoke(main, ["outcomes", "show", "nope", "--state", url])
    assert missing.exit_code == 1 and "no key 'nope'" in missing.output


def test_an_unsettled_key_past_the_settle_timeout_is_reported_overdue(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sandbox.reset()
    sandbox.configure(statuses=[])  # Cloud never says what happened
    db = tmp_path / "state.db"
    _unknown_send(sandbox, f"sqlite:///{db}", "order-78")
    config = tmp_path / "waba.toml"
    config.write_text(
        '[channels.main]\nphone_number = "+15550000001"\nbackend = "360dialog"\n'
        'api_key = "env:T_D360_KEY"\n\n[state]\nurl = "env:T_STATE"\nsettle_timeout = 0.001\n'
    )
    result = CliRunner().invoke(main, ["outcomes", "list", "--config", str(config), "--json"],
                                env={"T_STATE": f"sqlite:///{db}"})
    assert result.exit_code == 3, result.output
    (line,) = result.output.splitlines()
    row = json.loads(line)
    assert row["key"] == "order-78" and row["state"] == "unknown" and row["overdue"] is True
    assert StateConfig(url="memory").settle_timeout == 3600.0


def test_without_a_shared_store_the_command_says_so(tmp_path: Path) -> None:
    config = tmp_path / "waba.toml"
    config.write_text('[channels.main]\nphone_number = "+15550000001"\nbackend = "360dialog"\n'
                      'api_key = "env:T_D360_KEY"\n')
    result = CliRunner().invoke(main, ["outcomes", "list", "--config", str(config)])
    assert result.exit_code == 1 and "no shared state" in result.output
    bad = CliRunner().invoke(main, ["outcomes", "list", "--state", "mysql://x"])
    assert bad.exit_code == 1 and "cannot open the state store" in bad.output

"""``waba-migrate relay``: refuses to start on configs it cannot serve safely, clearly."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from shim.cli import main
from tests.relay.loopback import (
    ENV,
    Receiver,
    channel_table,
    cloud_event,
    encode,
    running_receiver,
    running_relay,
    write_config,
)


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["relay", *args], env=env)
    return result.exit_code, result.output


def test_help_lists_the_server_options_and_dlq() -> None:
    code, out = run("--help")
    assert code == 0
    for word in ("--config", "--host", "--port", "--db", "--max-age", "dlq"):
        assert word in out
    code, out = run("dlq", "--help")
    assert code == 0 and "list" in out and "replay" in out


def test_a_missing_secret_variable_stops_the_start(tmp_path: Path) -> None:
    config = write_config(tmp_path / "relay.toml", {"shop": channel_table("http://127.0.0.1:9/h")})
    env = {k: v for k, v in ENV.items() if k != "APP_SECRET"}
    code, out = run("--config", str(config), "--db", str(tmp_path / "r.db"), env=env)
    assert code == 1
    assert "relay.toml: channels.shop.app_secret[1]: environment variable APP_SECRET" in out
    assert ENV["APP_SECRET_OLD"] not in out  # never a secret value


def test_no_way_to_authenticate_senders_needs_the_insecure_flag(tmp_path: Path) -> None:
    table = channel_table("http://127.0.0.1:9/h", app_secret=None)
    config = write_config(tmp_path / "relay.toml", {"shop": table})
    code, out = run("--config", str(config), "--db", str(tmp_path / "r.db"), env=ENV)
    assert code == 1 and "refusing to accept unauthenticated webhooks" in out
    assert "--insecure-skip-signature" in run("--help")[1]


def test_without_a_forward_url_there_is_nothing_to_relay(tmp_path: Path) -> None:
    table = channel_table("http://127.0.0.1:9/h")
    del table["forward_url"]
    config = write_config(tmp_path / "relay.toml", {"shop": table})
    code, out = run("--config", str(config), "--db", str(tmp_path / "r.db"), env=ENV)
    assert code == 1 and "no channel has a forward_url" in out


def test_bad_options_and_unknown_dead_letter_db(tmp_path: Path) -> None:
    code, out = run("--max-age", "soon")
    assert code == 2 and "not a duration" in out
    code, out = run("dlq", "list", "--db", str(tmp_path / "none.db"))
    assert code == 1 and "no relay database at" in out
    code, out = run("dlq", "list", "--db", "postgresql://nobody:s3cret@127.0.0.1:1/x")
    assert code == 1 and "s3cret" not in out and "***" in out


def test_insecure_flag_accepts_unsigned_events(tmp_path: Path) -> None:
    receiver = Receiver()
    with running_receiver(receiver) as hook:
        table = channel_table(hook, app_secret=None)
        with running_relay(str(tmp_path / "r.db"), {"shop": table}, insecure=True) as relay:
            raw = encode(cloud_event([("111", "m1", "x")]))
            response = httpx.post(relay.webhook(), content=raw,
                                  headers={"content-type": "application/json"})
            assert response.status_code == 200


@pytest.mark.parametrize("value", ["90s", "15m", "24h", "7d", "2.5"])
def test_durations(value: str) -> None:
    from shim.cli.relay import Duration

    seconds = Duration().convert(value, None, None)
    assert seconds == {"90s": 90, "15m": 900, "24h": 86400, "7d": 604800, "2.5": 2.5}[value]

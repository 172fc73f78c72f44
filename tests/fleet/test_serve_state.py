"""``serve --workers N`` shares its state; ``--state`` picks the store; bad URLs are clear."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from shim.cli import main
from shim.sandbox import running_sandbox
from tests.fleet.processes import GatewayProcess

KEY = "serve-d360-key"
CALLER = "serve-caller-key"
ENV = {"SERVE_D360": KEY, "SERVE_CALLER": CALLER}


def _config(path: Path, base_url: str) -> Path:
    path.write_text(
        "[channels.shop]\n"
        'phone_number = "+15550000001"\nbackend = "360dialog"\n'
        f'base_url = "{base_url}"\napi_key = "env:SERVE_D360"\n'
        'legacy_api_key = "env:SERVE_CALLER"\n'
    )
    return path


@pytest.mark.slow
def test_workers_share_a_sqlite_file_next_to_the_config_by_default(tmp_path: Path) -> None:
    with running_sandbox("360dialog", api_key=KEY, open_windows=True) as sandbox:
        config = _config(tmp_path / "waba.toml", sandbox.base_url)
        gateway = GatewayProcess(config, ENV, "--workers", "2", log=tmp_path / "gw.log").start()
        try:
            answers = []
            for _ in range(6):  # a fresh connection each time: either worker may answer
                with httpx.Client(base_url=gateway.url, trust_env=False, timeout=30,
                                  headers={"D360-API-KEY": CALLER}) as http:
                    answers.append(http.post("/v1/messages",
                                             json={"to": "4915112345678", "text": {"body": "x"}},
                                             headers={"Idempotency-Key": "once"}))
                    health = http.get("/healthz").json()
        finally:
            gateway.stop()
        sent = sandbox.outbox()
    assert len(sent) == 1
    assert (tmp_path / "waba-migrate-state.db").is_file()
    assert health["state"] == {"store": f"sqlite:///{tmp_path / 'waba-migrate-state.db'}",
                               "shared": True}
    assert [a.status_code for a in answers] == [200] * 6
    assert sum(a.headers.get("X-Waba-Migrate-Replayed") == "true" for a in answers) == 5
    assert len({a.json()["messages"][0]["id"] for a in answers}) == 1


def test_a_state_url_that_cannot_be_opened_stops_serve_with_a_clear_error(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path / "waba.toml", "http://127.0.0.1:9")
    runner = CliRunner()
    bad = runner.invoke(main, ["serve", "--config", str(config), "--port", "0",
                               "--state", "sqlite:////no/such/dir/state.db"], env=ENV)
    assert bad.exit_code == 1 and "cannot open the state store" in bad.output
    assert "Traceback" not in bad.output
    unset = runner.invoke(main, ["serve", "--config", str(config), "--port", "0",
                                 "--state", "env:NO_SUCH_STATE_VAR"], env=ENV)
    assert unset.exit_code == 2 and "NO_SUCH_STATE_VAR is not set" in unset.output
    secret = runner.invoke(main, ["serve", "--config", str(config), "--port", "0",
                                  "--state", "postgresql://u:hunter2@127.0.0.1:9/db"], env=ENV)
    assert secret.exit_code == 1 and "hunter2" not in secret.output

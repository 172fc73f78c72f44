"""``waba-migrate serve``: the command as an operator runs it, and the worker app factory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from shim.cli import main
from shim.config import CONFIG_ENV_VAR
from shim.gateway import OPTIONS_ENV_VAR, BodyLimits, GatewayOptions, app_from_env
from shim.sandbox.runner import running_asgi
from tests.gateway.conftest import ENV, SECRETS, TO, RunningGateway

REPO = Path(__file__).resolve().parents[2]


def _first_line(stream: object, timeout: float) -> str:
    """The first stdout line of the server, or a failure after ``timeout`` seconds."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()),  # type: ignore[attr-defined]
                              daemon=True)
    reader.start()
    reader.join(timeout)
    assert got and got[0], "the gateway printed no address in time"
    return got[0].strip()


def test_serve_prints_its_address_serves_and_stops_cleanly(
    tmp_path: Path, gw: RunningGateway
) -> None:
    log_path = tmp_path / "serve.log"
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO)}
    env.pop(CONFIG_ENV_VAR, None)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shim.cli", "serve", "--config", str(gw.config_path),
             "--port", "0"],
            stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=tmp_path,
        )
        try:
            url = _first_line(proc.stdout, 30)
            assert url.startswith("http://127.0.0.1:")
            with httpx.Client(base_url=url, trust_env=False, verify=False, timeout=15,
                              headers={"D360-API-KEY": gw.shop.key}) as http:
                sent = http.post("/v1/messages", json={"to": TO, "text": {"body": "hi"}})
                refused = http.get("/v1/health", headers={"D360-API-KEY": "wrong-key-1234"})
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(15)
    assert sent.status_code == 200, sent.text
    assert sent.json()["messages"][0]["id"] == gw.shop.sandbox.outbox()[0]["id"]
    assert refused.status_code == 401
    output = log_path.read_text()
    # uvicorn shuts down gracefully, then re-raises SIGTERM (its default exit status).
    assert code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert f"gateway ready on {url}/v1" in output
    assert '"POST /v1/messages" 200' in output and '"GET /v1/health" 401' in output
    for secret in (*SECRETS, "wrong-key-1234"):
        assert secret not in output


def test_worker_factory_builds_the_app_from_the_environment(
    gw: RunningGateway, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    options = GatewayOptions(limits=BodyLimits(json=2048, media=4096), workers=4)
    monkeypatch.setenv(CONFIG_ENV_VAR, str(gw.config_path))
    monkeypatch.setenv(OPTIONS_ENV_VAR, options.to_json())
    app = app_from_env()
    gateway = app.state.gateway
    assert gateway.options == options
    assert gateway.config.channels["shop"].mps == 250  # 1000 shared by 4 workers
    with running_asgi(app) as url, httpx.Client(
        base_url=url, trust_env=False, verify=False, headers={"D360-API-KEY": gw.brand.key}
    ) as http:
        assert http.post("/v1/messages", json={"to": TO, "text": {"body": "w"}}).status_code == 200
        too_big = http.post("/v1/messages", json={"to": TO, "text": {"body": "x" * 3000}})
    assert too_big.status_code == 413


def test_bad_config_and_bad_flags_are_clear_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["serve", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 1 and "nope.toml: file not found" in missing.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[channels.x]\nphone_number = "+4915100000001"\nbackend = "meta"\n')
    invalid = runner.invoke(main, ["serve", "--config", str(bad)])
    assert invalid.exit_code == 1 and "phone_number_id" in invalid.output
    size = runner.invoke(main, ["serve", "--config", str(bad), "--max-json-size", "12XB"])
    assert size.exit_code == 2 and "12XB" in size.output
    workers = runner.invoke(main, ["serve", "--config", str(bad), "--workers", "0"])
    assert workers.exit_code == 2
    assert "Traceback" not in missing.output + invalid.output + size.output

"""Embedding the sandbox (sync and async), the CLI command, and the benchmark smoke run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from shim.cli import main
from shim.sandbox import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_API_KEY,
    DEFAULT_PHONE_NUMBER_ID,
    SandboxStartError,
    running_sandbox,
    running_sandbox_async,
)
from tests.sandbox.helpers import LOOPBACK, WebhookReceiver, cloud_statuses, text_send

REPO = Path(__file__).resolve().parents[2]


def test_defaults_and_urls() -> None:
    assert (DEFAULT_API_KEY, DEFAULT_ACCESS_TOKEN, DEFAULT_PHONE_NUMBER_ID) == (
        "sandbox-key",
        "sandbox-token",
        "1000000001",
    )
    with running_sandbox("meta", phone_number_id="555") as sandbox:
        assert sandbox.api == "meta"
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        assert sandbox.messages_url == f"{sandbox.base_url}/v24.0/555/messages"
        assert sandbox.auth_headers == {"Authorization": "Bearer sandbox-token"}
        info = LOOPBACK.get(f"{sandbox.base_url}/_sandbox/info").json()
        assert info["api"] == "meta" and info["phone_number_id"] == "555"
        assert "sandbox-token" not in str(info)  # credentials are not exposed


def test_two_sandboxes_run_side_by_side() -> None:
    with running_sandbox("onprem") as first, running_sandbox("360dialog") as second:
        assert first.base_url != second.base_url
        assert first.messages_url.endswith("/v1/messages")
        assert second.messages_url == f"{second.base_url}/messages"
        first.configure(open_windows=True)
        with first.client() as api:
            assert api.post(
                "/messages", json={"to": "4915112345678", "text": {"body": "x"}}
            ).is_success
        assert len(first.outbox()) == 1 and second.outbox() == []


def test_bad_settings_and_taken_port_raise_start_errors() -> None:
    with pytest.raises(SandboxStartError), running_sandbox("360dialog", webhook_max_attempts=0):
        pass
    with (
        pytest.raises(SandboxStartError, match="whatsapp-classic"),
        running_sandbox("whatsapp-classic"),
    ):
        pass
    with running_sandbox() as sandbox:
        port = int(sandbox.base_url.rsplit(":", 1)[1])
        with pytest.raises(SandboxStartError, match="cannot bind"), running_sandbox(port=port):
            pass


@pytest.mark.anyio
async def test_async_variant_with_a_receiver_in_the_same_test(receiver: WebhookReceiver) -> None:
    async with running_sandbox_async("360dialog", webhook_url=receiver.url) as sandbox:
        await sandbox.aconfigure(open_windows=True)
        async with sandbox.async_client() as api:
            response = await api.post("/messages", json=text_send())
        assert response.status_code == 200
        assert len(await sandbox.aoutbox()) == 1
        deliveries = await sandbox.await_webhooks()
        assert sum(d["items"] for d in deliveries) == 3
        assert len(cloud_statuses(receiver.payloads())) == 3
        await sandbox.afault(503)
        async with sandbox.async_client() as api:
            assert (await api.post("/messages", json=text_send())).status_code == 503
        inbound = await sandbox.ainbound("4915112345678", "hi")
        assert inbound["id"].startswith("wamid.")
        await sandbox.areset()
        assert await sandbox.aoutbox() == []
        assert await sandbox.adeliveries() == []


def test_cli_rejects_bad_options() -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["sandbox", "--api", "meta", "--port", "0", "--webhook-url", "ftp://x"]
    )
    assert result.exit_code == 2
    assert "--webhook-url" in result.output
    result = runner.invoke(main, ["sandbox", "--api", "telex", "--port", "0"])
    assert result.exit_code == 2


def test_cli_serves_and_prints_its_base_url() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from shim.cli import main; main()",
            "sandbox",
            "--api",
            "onprem",
            "--port",
            "0",
            "--api-key",
            "cli-key",
            "--open-windows",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        response = LOOPBACK.post(
            f"{base_url}/v1/messages",
            json={"to": "4915112345678", "text": {"body": "from the CLI test"}},
            headers={"D360-API-KEY": "cli-key"},
        )
        assert response.status_code == 200
        assert response.json()["messages"][0]["id"].startswith("gBEG")
        assert LOOPBACK.get(f"{base_url}/_sandbox/outbox").json()[0]["to"] == "4915112345678"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_benchmark_quick_mode_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "sandbox_throughput.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "baseline (minimal starlette handler)" in result.stdout
    assert re.search(r"ratio: min [\d.]+ median [\d.]+ max [\d.]+", result.stdout), result.stdout
    assert "sandbox RSS after" in result.stdout

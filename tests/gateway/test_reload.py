"""``waba-migrate serve`` reloads its config on SIGHUP: atomically, dropping nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shim.config import CONFIG_ENV_VAR
from tests.gateway.conftest import ENV, TO, RunningGateway
from tests.gateway.test_serve import REPO, _first_line

NEW_SHOP_KEY = "legacy-GW-shop-ROTATED-5d0c"


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def served(tmp_path: Path, gw: RunningGateway) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    config = tmp_path / "channels.toml"
    config.write_text(gw.config_path.read_text())
    log_path = tmp_path / "serve.log"
    env = {**os.environ, **ENV, "GW_LEGACY_SHOP_NEW": NEW_SHOP_KEY, "PYTHONPATH": str(REPO)}
    env.pop(CONFIG_ENV_VAR, None)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shim.cli", "serve", "--config", str(config), "--port", "0"],
            stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=tmp_path,
        )
        try:
            yield _first_line(proc.stdout, 30), proc, log_path
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)


def test_sighup_reloads_without_dropping_a_request_and_refuses_a_bad_file(
    served: tuple[str, subprocess.Popen[str], Path], gw: RunningGateway, tmp_path: Path
) -> None:
    url, proc, log_path = served
    config = tmp_path / "channels.toml"
    statuses: list[int | str] = []
    stop = threading.Event()

    def load() -> None:
        # Callers of the unchanged channel keep sending through both reloads.
        with httpx.Client(base_url=url, trust_env=False, timeout=30,
                          headers={"D360-API-KEY": gw.brand.key}) as http:
            while not stop.is_set():
                try:
                    r = http.post("/v1/messages", json={"to": TO, "text": {"body": "load"}})
                    statuses.append(r.status_code)
                except httpx.HTTPError as exc:
                    statuses.append(type(exc).__name__)

    def status_with(key: str) -> int:
        with httpx.Client(base_url=url, trust_env=False, timeout=30) as http:
            return http.get("/v1/configs/phone_number",
                            headers={"D360-API-KEY": key}).status_code

    # Some sends are slow at the backend, so calls are in flight during the reload.
    gw.brand.sandbox.fault(delay_ms=300, count=5, path="/messages")
    workers = [threading.Thread(target=load) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        _wait(lambda: len(statuses) >= 3, "traffic before the reload")
        assert status_with(gw.shop.key) == 200 and status_with(NEW_SHOP_KEY) == 401
        rotated = config.read_text().replace("env:GW_LEGACY_SHOP", "env:GW_LEGACY_SHOP_NEW")
        config.write_text(rotated)
        proc.send_signal(signal.SIGHUP)
        _wait(lambda: status_with(NEW_SHOP_KEY) == 200, "the new key to be served")
        assert status_with(gw.shop.key) == 401
        # An invalid file: the running config stays and the log says why.
        config.write_text("[channels.shop]\nbackend = 'nowhere'\n")
        proc.send_signal(signal.SIGHUP)
        _wait(lambda: "config reload refused" in log_path.read_text(), "the refusal in the log")
        assert status_with(NEW_SHOP_KEY) == 200
        count = len(statuses)
        _wait(lambda: len(statuses) >= count + 3, "traffic after the reloads")
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert statuses and set(statuses) == {200}, statuses
    assert proc.poll() is None
    text = log_path.read_text()
    assert "config reloaded from" in text and "backend" in text.split("refused", 1)[1]

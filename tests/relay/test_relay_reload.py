"""``waba-migrate relay`` reloads its config on SIGHUP: atomically, dropping nothing."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.relay.loopback import (
    ENV,
    Receiver,
    RelayProcess,
    channel_table,
    cloud_event,
    post_event,
    running_receiver,
    write_config,
)

FAST = ("--backoff-base", "0.05s", "--backoff-max", "0.2s", "--poll", "0.05s")
ROTATED = "rotated-app-secret-77"
CLINIC_PNID = "200200200200"


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_sighup_swaps_channels_without_dropping_an_event(tmp_path: Path) -> None:
    receiver = Receiver()
    env = {**ENV, "ROTATED_SECRET": ROTATED, "CLINIC_KEY": "clinic-d360-key"}
    with running_receiver(receiver) as hook:
        def tables(shop_secret: str) -> dict[str, dict[str, object]]:
            return {
                "shop": channel_table(hook, app_secret=[shop_secret]),
                "clinic": channel_table(hook, phone_number="+15550000002",
                                        phone_number_id=CLINIC_PNID, api_key="env:CLINIC_KEY",
                                        app_secret=["env:APP_SECRET"]),
            }

        config = write_config(tmp_path / "relay.toml", tables("env:APP_SECRET"))
        log = tmp_path / "relay.log"
        relay = RelayProcess(config, str(tmp_path / "r.db"), env, *FAST, log=log).start()
        acked: list[str] = []
        answers: list[int | str] = []
        stop = threading.Event()

        def load() -> None:  # the unchanged channel keeps receiving through both reloads
            with httpx.Client(timeout=30) as client:
                n = 0
                while not stop.is_set():
                    mid = f"wamid.reload-{n:05d}"
                    body = cloud_event([("4917000000001", mid, f"#{n}")],
                                       phone_number_id=CLINIC_PNID)
                    try:
                        status = post_event(client, f"{relay.url}/webhooks/clinic", body,
                                            ENV["APP_SECRET"])
                    except httpx.HTTPError as exc:
                        answers.append(type(exc).__name__)
                        continue
                    answers.append(status)
                    if status == 200:
                        acked.append(mid)
                    n += 1

        def shop_status(secret: str) -> int:
            body = cloud_event([("4917000000002", f"wamid.shop-{time.monotonic_ns()}", "s")])
            with httpx.Client(timeout=30) as client:
                return post_event(client, f"{relay.url}/webhooks/shop", body, secret)

        thread = threading.Thread(target=load)
        thread.start()
        try:
            _wait(lambda: len(acked) >= 5, "traffic before the reload")
            assert shop_status(ENV["APP_SECRET"]) == 200
            assert shop_status(ROTATED) != 200
            write_config(config, tables("env:ROTATED_SECRET"))
            assert relay.proc is not None
            relay.proc.send_signal(signal.SIGHUP)
            _wait(lambda: shop_status(ROTATED) == 200, "the rotated secret to be accepted")
            assert shop_status(ENV["APP_SECRET"]) != 200
            config.write_text("[channels.shop]\nbackend = 'nowhere'\n")
            relay.proc.send_signal(signal.SIGHUP)
            _wait(lambda: "config reload refused" in log.read_text(), "the refusal in the log")
            assert shop_status(ROTATED) == 200
            count = len(acked)
            _wait(lambda: len(acked) >= count + 5, "traffic after the reloads")
        finally:
            stop.set()
            thread.join(30)
        try:
            delivered = set(receiver.wait_for(len(acked) + 3, timeout=40))
        finally:
            relay.stop()
    assert set(answers) == {200}, answers
    assert set(acked) <= delivered
    assert "config reloaded" in log.read_text()

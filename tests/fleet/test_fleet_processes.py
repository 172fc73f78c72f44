"""Two gateway processes and a relay on one PostgreSQL state store, against a faulty sandbox.

Callers send keyed messages through either gateway; the sandbox drops
connections after accepting sends and answers 429/503; callers retry each
key on the other gateway. Nothing is sent twice, every outcome-unknown key
is settled by the relay from the sandbox's status webhooks, and the sandbox
outbox stays within the channel's ``mps`` across both gateways.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from shim.client.state import open_state
from shim.sandbox import DEFAULT_PHONE_NUMBER_ID, running_sandbox
from tests.fleet.processes import GatewayProcess, wait_until
from tests.pgserver import PostgresServer
from tests.relay.loopback import Receiver, RelayProcess, running_receiver, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KEY = "fleet-d360-key"
CALLER = "fleet-caller-key"
HOOK_SECRET = "fleet-hook-secret"
ENV = {"FLEET_D360": KEY, "FLEET_CALLER": CALLER, "FLEET_HOOK_SECRET": HOOK_SECRET}
MPS = 20
SENDS = 60


@pytest.fixture
def fleet(tmp_path: Path, postgres: PostgresServer) -> Iterator[dict[str, Any]]:
    db = postgres.new_database()
    receiver = Receiver()
    with running_receiver(receiver) as forward_url:
        relay_port_holder = RelayProcess(tmp_path / "unused.toml", db, ENV)
        hook = f"{relay_port_holder.url}/webhooks/shop"
        # 360dialog does not sign webhooks: a shared-secret header set with the URL.
        with running_sandbox("360dialog", api_key=KEY, open_windows=True, webhook_url=hook,
                             phone_number_id=DEFAULT_PHONE_NUMBER_ID,
                             webhook_headers={"X-Relay-Secret": HOOK_SECRET}) as sandbox:
            config = write_config(tmp_path / "fleet.toml", {"shop": {
                "phone_number": "+15550000001",
                "backend": "360dialog",
                "base_url": sandbox.base_url,
                "api_key": "env:FLEET_D360",
                "legacy_api_key": "env:FLEET_CALLER",
                "phone_number_id": DEFAULT_PHONE_NUMBER_ID,
                "webhook_secret_header": "X-Relay-Secret",
                "webhook_secret": "env:FLEET_HOOK_SECRET",
                "forward_url": forward_url,
                "mps": MPS,
                "retry": {"max_attempts": 2, "backoff_base": 0.05, "backoff_max": 0.2},
            }})
            relay = RelayProcess(config, db, ENV, "--state", db, log=tmp_path / "relay.log")
            relay.port, relay.url = relay_port_holder.port, relay_port_holder.url
            relay.cmd[relay.cmd.index("--port") + 1] = str(relay.port)
            gateways = [GatewayProcess(config, ENV, "--state", db, log=tmp_path / f"gw{i}.log")
                        for i in range(2)]
            try:
                relay.start()
                for gateway in gateways:
                    gateway.start()
                yield {"sandbox": sandbox, "gateways": gateways, "db": db, "relay": relay}
            finally:
                for gateway in gateways:
                    gateway.stop()
                relay.stop()


def test_two_gateways_one_store_no_double_send_unknowns_settled_rate_held(
    fleet: dict[str, Any],
) -> None:
    sandbox = fleet["sandbox"]
    gateways: list[GatewayProcess] = fleet["gateways"]
    for _ in range(4):  # faults interleaved over the first sends
        sandbox.fault(drop_after_accept=True, path="/messages")
        sandbox.fault(429, path="/messages")
        sandbox.fault(503, path="/messages")
    clients = [httpx.Client(base_url=g.url, timeout=30, trust_env=False,
                            headers={"D360-API-KEY": CALLER}) for g in gateways]
    saw_unknown: set[str] = set()
    answers: dict[str, str] = {}
    lock = threading.Lock()

    def call(i: int) -> None:
        key = f"order-{i}"
        body = {"to": f"49151{i:07d}", "text": {"body": f"m{i}"}}
        turn = i % 2
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            response = clients[turn].post("/v1/messages", json=body,
                                          headers={"Idempotency-Key": key})
            if response.status_code == 200:
                with lock:
                    answers[key] = response.json()["messages"][0]["id"]
                return
            if response.status_code == 504:
                assert response.headers["Idempotency-Key"] == key
                with lock:
                    saw_unknown.add(key)
            else:
                assert response.status_code in (429, 503), response.text
            turn = 1 - turn  # the caller retries on the other gateway
            time.sleep(0.1)
        last = sandbox.deliveries()[-1:]
        raise AssertionError(f"{key} never got an answer; last webhook: {last}")

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(call, range(SENDS)))
    finally:
        for client in clients:
            client.close()

    outbox = sandbox.outbox()
    per_key = collections.Counter(m["body"]["biz_opaque_callback_data"] for m in outbox)
    assert set(per_key) == {f"order-{i}" for i in range(SENDS)}
    assert max(per_key.values()) == 1, [k for k, n in per_key.items() if n > 1]  # 0 double sends
    assert answers == {m["body"]["biz_opaque_callback_data"]: m["id"] for m in outbox}
    assert len(saw_unknown) == 4  # every dropped send was answered 504, then settled

    store = open_state(fleet["db"])
    try:
        # A status webhook may settle an answered key before its gateway has recorded the
        # answer (that write is queued behind the answer); the recorded answer replaces it.
        wait_until(lambda: not store.entries(("pending", "unknown"))
                   and {e.key for e in store.entries(("happened",))} == saw_unknown, 30,
                   "the relay to settle every unknown key, and answered keys to be recorded")
        settled = {e.key: e for e in store.entries(("happened",))}
    finally:
        store.close()
    assert set(settled) == saw_unknown
    assert all(settled[k].message_id == answers[k] for k in saw_unknown)

    stamps = sorted(m["at"] for m in outbox)
    # The sandbox stamps arrival, not the moment a gateway was granted the slot: on a
    # loaded machine a stalled process delivers a few granted sends late and together.
    # So any two-second window may hold its 2 * mps plus half a second's worth of such
    # bunching; each gateway pacing alone (the failure this guards) puts all 60 sends
    # into 1.5 s ...
    worst = max(sum(1 for t in stamps[i:] if t < start + 2.0) for i, start in enumerate(stamps))
    assert worst <= 2 * MPS + MPS // 2, worst
    # ... and, with callers always waiting, close to it overall.
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate <= MPS * 1.05, rate

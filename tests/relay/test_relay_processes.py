"""The relay as a real process: kill -9 mid-stream loses no acknowledged event, and two
instances share one PostgreSQL queue without double delivery or reordering."""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.relay.loopback import (
    ENV,
    SECRET,
    Receiver,
    RelayProcess,
    channel_table,
    cloud_event,
    encode,
    running_receiver,
    signed_headers,
    write_config,
)

FAST = ("--backoff-base", "0.05s", "--backoff-max", "0.2s", "--poll", "0.05s",
        "--breaker-cooldown", "0.1s")
WA_IDS = [f"49170000{n:04d}" for n in range(10)]


def send_until_acked(client: httpx.Client, urls: list[str], body: dict, stop: threading.Event,  # type: ignore[type-arg]
                     ) -> None:
    """Post like Meta: retry (here: at once, round-robin) until a 200 comes back."""
    raw = encode(body)
    headers = signed_headers(raw, SECRET)
    attempt = 0
    while not stop.is_set():
        url = urls[attempt % len(urls)]
        attempt += 1
        try:
            if client.post(url, content=raw, headers=headers, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise AssertionError("sender gave up")


#: Where the poison goes in the stream: before the kill, so the restart meets it too.
POISON_AT = 40
POISON_ID = "wamid.poison\ud800"


def test_kill_9_mid_stream_loses_no_acknowledged_event(db: str, tmp_path: Path) -> None:
    """...and a poison event in the middle (lone surrogates, plus a webhook-shaped body the
    translator refuses) stops nothing: everything after it is delivered."""
    total = 200
    # 8 failures: enough to open the app's circuit (5) and fail two probes
    receiver = Receiver(fail_first=8, delay=0.005)
    acked: list[str] = []
    stop = threading.Event()
    killed = threading.Event()
    with running_receiver(receiver) as hook:
        config = write_config(tmp_path / "relay.toml", {"shop": channel_table(hook)})
        relay = RelayProcess(config, db, ENV, *FAST, log=tmp_path / "relay.log").start()
        url = f"{relay.url}/webhooks/shop"

        def sender() -> None:
            with httpx.Client() as client:
                for n in range(total):
                    if n >= total // 2 and not killed.is_set():
                        # a loaded machine may deliver slowly: keep the stream going
                        # (slower) so the kill still comes in the middle of it
                        killed.wait(0.05 if n < total * 3 // 4 else 30)
                    if n == POISON_AT:
                        poison = cloud_event([("4917\udfff", POISON_ID, "\ud800 no pair")])
                        send_until_acked(client, [url], poison, stop)
                        untranslatable = {"object": "whatsapp_business_account", "entry": [
                            {"id": "1", "changes": [{"field": "messages", "value": 7}]}]}
                        send_until_acked(client, [url], untranslatable, stop)
                    mid = f"wamid.{n:05d}"
                    send_until_acked(client, [url],
                                     cloud_event([(WA_IDS[n % len(WA_IDS)], mid, f"#{n}")]), stop)
                    acked.append(mid)

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        try:
            # kill while events arrive AND forwarding (with failures) is under way
            while len(acked) < 60 or len(receiver.bodies) < 10:
                time.sleep(0.005)
            in_flight_before = receiver.attempts
            delivered_before = len(receiver.bodies)
            relay.kill()  # SIGKILL: no shutdown code runs
            acked_at_kill = list(acked)
            killed.set()
            time.sleep(0.3)
            relay = RelayProcess(config, db, ENV, *FAST, log=tmp_path / "relay.log")
            relay.port, relay.url = int(url.split(":")[2].split("/")[0]), url.rsplit("/", 2)[0]
            relay.cmd[relay.cmd.index("--port") + 1] = str(relay.port)
            relay.start()
            thread.join(60)
            assert not thread.is_alive(), "sender did not finish"
            delivered = receiver.wait_for(total + 1, timeout=40)
            health = relay.health()
        finally:
            stop.set()
            relay.stop()
    assert POISON_ID in delivered
    assert health["dead_letters"] == 1 and health["status"] == "degraded"
    delivered = [m for m in delivered if m != POISON_ID]
    counts = collections.Counter(delivered)
    lost = [m for m in acked_at_kill if m not in counts]
    duplicates = sum(c - 1 for c in counts.values())
    print(f"\nkill -9 ({db.split(':')[0]}): {len(acked_at_kill)} acked before the kill "
          f"({in_flight_before} forward attempts, {delivered_before} delivered), "
          f"{total} sent in all, "
          f"{len(counts)} distinct delivered, {duplicates} duplicate(s)")
    assert lost == []
    assert len(acked_at_kill) < total, "the kill came after the last event: not mid-stream"
    assert set(counts) == {f"wamid.{n:05d}" for n in range(total)}
    # Only deliveries in flight at the kill can be sent twice (at most --concurrency).
    assert duplicates <= 16


@pytest.mark.postgres
def test_two_instances_share_one_postgres_queue(postgres_db: str, tmp_path: Path) -> None:
    total = 120
    receiver = Receiver(fail_first=10, delay=0.002)
    with running_receiver(receiver) as hook:
        config = write_config(tmp_path / "relay.toml", {"shop": channel_table(hook)})
        first = RelayProcess(config, postgres_db, ENV, *FAST, log=tmp_path / "a.log")
        second = RelayProcess(config, postgres_db, ENV, *FAST, log=tmp_path / "b.log")
        starters = [threading.Thread(target=r.start) for r in (first, second)]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        urls = [f"{first.url}/webhooks/shop", f"{second.url}/webhooks/shop"]
        stop = threading.Event()
        try:
            with httpx.Client() as client:
                for n in range(total):  # alternate instances, like a load balancer
                    body = cloud_event([(WA_IDS[n % len(WA_IDS)], f"wamid.{n:05d}", f"#{n}")])
                    send_until_acked(client, [urls[n % 2]], body, stop)
                    if n % 10 == 0:  # Meta redelivers to whichever instance
                        send_until_acked(client, [urls[(n + 1) % 2]], body, stop)
            delivered = receiver.wait_for(total, timeout=40)
            depths = [r.health()["queue_depth"] for r in (first, second)]
        finally:
            stop.set()
            first.stop()
            second.stop()
    counts = collections.Counter(delivered)
    assert set(counts) == {f"wamid.{n:05d}" for n in range(total)}
    assert max(counts.values()) == 1, "a delivery went out twice"
    per_conversation: dict[str, list[int]] = collections.defaultdict(list)
    with receiver.lock:
        for body in receiver.bodies:
            message = body["messages"][0]
            per_conversation[message["from"]].append(int(message["id"].split(".")[1]))
    for wa_id, numbers in per_conversation.items():
        assert numbers == sorted(numbers), f"conversation {wa_id} reordered"
    assert depths == [0, 0] or sum(depths) <= 1

"""End to end: the sandbox plays Meta / 360dialog Cloud (batched, reordered, signed or
header-authenticated webhooks), the relay turns them into On-Prem bodies for the old app."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shim.sandbox import running_sandbox
from tests.relay.loopback import (
    ENV,
    SECRET,
    Receiver,
    channel_table,
    running_receiver,
    running_relay,
)

USERS = ["4915100000001", "4915100000002", "4915100000003"]


@pytest.mark.parametrize("api", ["meta", "360dialog"])
def test_sandbox_webhooks_reach_the_legacy_app(api: str, tmp_path: Path) -> None:
    receiver = Receiver()
    with running_receiver(receiver) as hook:
        if api == "meta":
            table = channel_table(hook)
            sandbox_auth: dict[str, object] = {"app_secret": SECRET}
        else:  # 360dialog does not sign: a custom header set with the webhook URL
            table = channel_table(hook, app_secret=None, webhook_secret_header="X-Relay-Secret",
                                  webhook_secret="env:HEADER_SECRET")
            sandbox_auth = {"webhook_headers": {"X-Relay-Secret": ENV["HEADER_SECRET"]}}
        with running_relay(str(tmp_path / "relay.db"), {"shop": table}) as relay, \
                running_sandbox(api, webhook_url=relay.webhook(), phone_number_id="106540352242922",
                                webhook_flush_ms=100.0, **sandbox_auth) as sandbox:
            sandbox.configure(webhook_batch_probability=1.0, webhook_max_batch=4)
            sent = [sandbox.inbound(USERS[n % 3], f"hello {n}")["id"] for n in range(12)]
            deadline = time.monotonic() + 20
            while set(receiver.message_ids()) != set(sent) and time.monotonic() < deadline:
                time.sleep(0.05)
            deliveries = sandbox.deliveries()
    assert sorted(receiver.message_ids()) == sorted(sent)  # each once, none lost
    assert all(d["state"] == "delivered" and d["last_status"] == 200 for d in deliveries)
    assert max(d["items"] for d in deliveries) > 1  # the relay really got batched POSTs
    for body in receiver.bodies:
        (message,) = body["messages"]
        assert set(body) == {"contacts", "messages"} and message["type"] == "text"
        assert body["contacts"][0]["wa_id"] == message["from"]

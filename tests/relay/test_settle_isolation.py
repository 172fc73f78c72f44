"""Status webhooks settle idempotency keys only for channels that authenticated the POST."""

from __future__ import annotations

import time
from pathlib import Path

from shim.client.outcomes import Reconciler
from shim.client.state import Entry, open_state
from shim.relay.routing import make_split, settling_observer
from shim.webhooks.scope import NumberScope
from tests.relay.loopback import cloud_event, encode

A_PNID, B_PNID = "1000000001", "2000000002"
KEY = "wm-0123456789abcdef0123456789abcdef"


def status_for(pnid: str) -> bytes:
    body = cloud_event(statuses=[("wamid.sent1", "delivered", "4915112345678")],
                       phone_number_id=pnid)
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = KEY
    return encode(body)


def test_a_status_posted_with_another_channels_secret_settles_nothing(tmp_path: Path) -> None:
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        now = time.time()
        state.complete(Entry("b", KEY, "unknown", "gw", now, now, 0.0))
        state.flush()
        scopes = {"a": NumberScope(phone_number_id=A_PNID),
                  "b": NumberScope(phone_number_id=B_PNID)}
        split = make_split(scopes, settling_observer(Reconciler(state), {A_PNID: "a",
                                                                         B_PNID: "b"}))
        split("a", status_for(B_PNID), ())  # a's credentials, b's number
        entry = state.get("b", KEY)
        assert entry is not None and entry.state == "unknown"
        split("a", status_for(B_PNID), ("b",))  # b's credentials accepted it too: a peer
        entry = state.get("b", KEY)
        assert entry is not None and entry.state == "happened"
        assert entry.message_id == "wamid.sent1"
    finally:
        state.close()

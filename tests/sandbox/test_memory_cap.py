"""A long load test runs in bounded memory: the sandbox forgets its oldest sends first."""

from __future__ import annotations

import httpx

from shim.sandbox import running_sandbox
from tests.sandbox.helpers import text_send


def test_only_the_newest_sends_are_kept() -> None:
    with running_sandbox("360dialog", open_windows=True, keep_messages=3) as sb, \
            httpx.Client(base_url=sb.base_url, trust_env=False, timeout=10,
                         headers={"D360-API-KEY": "sandbox-key"}) as api:
        ids = []
        for i in range(5):
            answer = api.post("/messages", json=text_send(f"49151000000{i:02d}"))
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["messages"][0]["id"])
        assert [m["id"] for m in sb.outbox()] == ids[2:]
        # A status can still be emitted for a kept send, not for a forgotten one.
        kept = api.post("/_sandbox/status", json={"id": ids[4], "status": "delivered"})
        assert kept.status_code == 200, kept.text
        gone = api.post("/_sandbox/status", json={"id": ids[0], "status": "delivered"})
        assert gone.status_code == 404

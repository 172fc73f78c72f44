"""The idempotency ledger through real sends: memory, SQLite and PostgreSQL stores.

Every test talks to a sandbox over loopback and counts its outbox; the status
webhooks that settle keys are the ones the sandbox itself posts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shim import Client
from shim.client import OutcomeUnknown, RequestOptions
from shim.client.idempotency import FORCE_HEADER
from shim.client.outcomes import Reconciler
from shim.client.state import StateStore, open_state
from shim.sandbox import RunningSandbox, running_sandbox
from tests.client.conftest import D360_KEY, config_for
from tests.pgserver import PostgresServer

TO = "4915112345678"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def store(state_url: str) -> Iterator[StateStore]:
    state = open_state(state_url)
    try:
        yield state
    finally:
        state.close()


@pytest.fixture(scope="module")
def sb_hooks() -> Iterator[RunningSandbox]:
    """A 360dialog sandbox that posts status webhooks (to a port nobody answers: the
    delivery log keeps each payload, which is what the relay would have received)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    with running_sandbox("360dialog", api_key=D360_KEY, open_windows=True, webhook_url=dead,
                         webhook_max_attempts=1) as sb:
        yield sb


def _payloads(sb: RunningSandbox) -> list[Any]:
    return [d["payload"] for d in sb.wait_for_webhooks()]


def test_a_retry_of_an_unknown_outcome_answers_504_and_sends_nothing(
    sb_hooks: RunningSandbox, store: StateStore
) -> None:
    sb_hooks.reset()
    sb_hooks.fault(drop_after_accept=True, path="/messages")
    with Client(config_for(sb_hooks), state=store, raise_on_unknown=False) as client:
        first = client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}},
                            headers={"Idempotency-Key": "order-1"})
        again = [client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}},
                             headers={"Idempotency-Key": "order-1"}) for _ in range(5)]
    assert first.outcome_unknown and first.status_code == 504
    assert [r.status_code for r in again] == [504] * 5
    assert all(r.outcome_unknown and r.headers["Idempotency-Key"] == "order-1" for r in again)
    assert "unknown outcome" in again[0].json()["errors"][0]["details"]
    assert len(sb_hooks.outbox()) == 1
    assert store.flush()
    entry = store.get("main", "order-1")
    assert entry is not None and entry.state == "unknown"


def test_a_generated_key_from_a_504_is_remembered_too(
    sb_hooks: RunningSandbox, store: StateStore
) -> None:
    sb_hooks.reset()
    sb_hooks.fault(drop_after_accept=True, path="/messages")
    with Client(config_for(sb_hooks), state=store, raise_on_unknown=False) as client:
        first = client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}})
        key = first.idempotency_key
        assert key is not None and first.outcome_unknown
        again = client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}},
                            headers={"Idempotency-Key": key})
    assert again.status_code == 504 and again.outcome_unknown
    assert len(sb_hooks.outbox()) == 1


def test_a_status_webhook_settles_the_key_and_the_retry_gets_the_wamid(
    sb_hooks: RunningSandbox, store: StateStore
) -> None:
    sb_hooks.reset()
    sb_hooks.fault(drop_after_accept=True, path="/messages")
    with Client(config_for(sb_hooks), state=store) as client:
        with pytest.raises(OutcomeUnknown):
            client.send_text(TO, "x", idempotency_key="k-1")
        wamid = sb_hooks.outbox()[0]["id"]
        assert store.flush()  # the unknown outcome is recorded before the webhook comes
        reconciler = Reconciler(store)
        settled = sum(reconciler.observe(lambda pnid: "main", p) for p in _payloads(sb_hooks))
        assert settled == 1  # sent, delivered, read: the first settles, the rest find it closed
        assert client.send_text(TO, "x", idempotency_key="k-1") == wamid
    entry = store.get("main", "k-1")
    assert entry is not None and entry.state == "happened" and entry.message_id == wamid
    assert len(sb_hooks.outbox()) == 1


def test_a_failed_status_settles_the_key_as_not_sent_with_the_error(
    sb_hooks: RunningSandbox, store: StateStore
) -> None:
    sb_hooks.reset()
    sb_hooks.configure(statuses=[])
    sb_hooks.fault(drop_after_accept=True, path="/messages")
    with Client(config_for(sb_hooks), state=store, raise_on_unknown=False) as client:
        assert client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}},
                           headers={"Idempotency-Key": "k-f"}).outcome_unknown
        wamid = sb_hooks.outbox()[0]["id"]
        assert store.flush()
        sb_hooks.emit_status(wamid, "failed", error_code=131026, details="not on WhatsApp")
        Reconciler(store).observe(lambda pnid: "main", _payloads(sb_hooks)[-1])
        again = client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}},
                            headers={"Idempotency-Key": "k-f"})
        forced = client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}},
                             headers={"Idempotency-Key": "k-f", FORCE_HEADER: "true"})
    assert again.status_code == 400 and again.replayed
    error = again.json()["errors"][0]
    assert "not on WhatsApp" in error["details"] and wamid in error["details"]
    assert forced.status_code == 200 and not forced.replayed
    assert len(sb_hooks.outbox()) == 2


def test_force_resends_an_unknown_key_once_and_then_replays_that_success(
    sb_hooks: RunningSandbox, store: StateStore
) -> None:
    sb_hooks.reset()
    sb_hooks.fault(drop_after_accept=True, path="/messages")
    body = {"to": TO, "text": {"body": "x"}}
    with Client(config_for(sb_hooks), state=store, raise_on_unknown=False) as client:
        assert client.post("/v1/messages", json=body,
                           options=RequestOptions(idempotency_key="k-2")).outcome_unknown
        forced = client.post("/v1/messages", json=body,
                             options=RequestOptions(idempotency_key="k-2", force=True))
        again = client.post("/v1/messages", json=body,
                            options=RequestOptions(idempotency_key="k-2", force=True))
    assert forced.status_code == 200 and not forced.replayed
    assert again.replayed and again.json() == forced.json()
    assert len(sb_hooks.outbox()) == 2


def test_a_keyed_send_that_failed_is_sent_again_not_replayed(
    sb_hooks: RunningSandbox, store: StateStore
) -> None:
    sb_hooks.reset()
    sb_hooks.fault(429, count=1, path="/messages")
    one_try = RequestOptions(idempotency_key="k-3", max_attempts=1)
    with Client(config_for(sb_hooks), state=store) as client:
        failed = client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}},
                             options=one_try)
        assert failed.status_code == 429 and sb_hooks.outbox() == []
        retried = client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}},
                              options=one_try)
    assert retried.status_code == 200 and not retried.replayed
    assert [m["id"] for m in sb_hooks.outbox()] == [retried.json()["messages"][0]["id"]]


def test_a_concurrent_call_with_the_key_waits_for_the_first_and_gets_its_answer(
    sb_hooks: RunningSandbox, state_url: str
) -> None:
    sb_hooks.reset()
    sb_hooks.fault(delay_ms=600, path="/messages")
    body = {"to": TO, "text": {"body": "x"}}
    # Two clients, two stores on one URL: as two processes would be (memory: one shared).
    first_store = open_state(state_url)
    second_store = first_store if state_url == "memory" else open_state(state_url)
    results: dict[str, Any] = {}

    def call(name: str, store: StateStore) -> None:
        with Client(config_for(sb_hooks), state=store) as client:
            results[name] = client.post("/v1/messages", json=body,
                                        headers={"Idempotency-Key": "k-4"})

    try:
        first = threading.Thread(target=call, args=("first", first_store))
        first.start()
        # The second starts once the first holds the key.
        _wait_for(lambda: first_store.get("main", "k-4") is not None)
        call("second", second_store)
        first.join(10)
    finally:
        first_store.close()
        if second_store is not first_store:
            second_store.close()
    assert results["first"].status_code == 200 and not results["first"].replayed
    assert results["second"].replayed
    assert results["second"].json() == results["first"].json()
    assert len(sb_hooks.outbox()) == 1


def test_completed_outcomes_expire_after_the_configured_time(
    sb_hooks: RunningSandbox, store: StateStore
) -> None:
    sb_hooks.reset()
    body = {"to": TO, "text": {"body": "x"}}
    config = config_for(sb_hooks).model_copy(
        update={"state": _state_config(outcome_ttl=0.2)}
    )
    with Client(config, state=store) as client:
        first = client.post("/v1/messages", json=body, headers={"Idempotency-Key": "k-5"})
        replay = client.post("/v1/messages", json=body, headers={"Idempotency-Key": "k-5"})
        _wait_for(lambda: store.flush() and _expired(store, "main", "k-5"))
        later = client.post("/v1/messages", json=body, headers={"Idempotency-Key": "k-5"})
    assert replay.replayed and not later.replayed
    assert later.json() != first.json()
    assert len(sb_hooks.outbox()) == 2


def test_media_uploaded_through_one_instance_is_accepted_by_another_on_its_channel_only(
    sb_hooks: RunningSandbox, state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if state_url == "memory":
        pytest.skip("memory state is per process by design")
    sb_hooks.reset()
    from shim.config import parse_config
    from tests.client.conftest import D360_KEY, channel_table

    # One sandbox plays both numbers: the same key value, each channel its own variable.
    monkeypatch.setenv("T_D360_KEY_B", D360_KEY)
    cfg = parse_config({"channels": {"a": channel_table(sb_hooks),
                                     "b": channel_table(sb_hooks, api_key="env:T_D360_KEY_B")}})
    one, two = open_state(state_url), open_state(state_url)
    try:
        with Client(cfg, state=one) as uploader, Client(cfg, state=two) as other:
            up = uploader.post("/v1/media", channel="a", content=b"\x89PNG....",
                               headers={"Content-Type": "image/png"})
            media_id = up.json()["media"][0]["id"]
            image = {"to": TO, "type": "image", "image": {"id": media_id}}
            same = other.post("/v1/messages", channel="a", json=image)
            foreign = other.post("/v1/messages", channel="b", json=image)
    finally:
        one.close()
        two.close()
    assert same.status_code == 200
    assert foreign.status_code == 400
    assert "uploaded through channel 'a'" in foreign.json()["errors"][0]["details"]
    assert len(sb_hooks.outbox()) == 1


def _state_config(**values: Any) -> Any:
    from shim.config import StateConfig

    return StateConfig(**values)


def _expired(store: StateStore, channel: str, key: str) -> bool:
    import time

    entry = store.get(channel, key)
    return entry is None or entry.expires_at <= time.time()


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.005)



def test_a_store_that_fails_means_503_and_nothing_sent(
    sb_hooks: RunningSandbox, state_url: str
) -> None:
    if state_url == "memory":
        pytest.skip("memory state cannot fail this way")
    sb_hooks.reset()
    store = open_state(state_url)
    with Client(config_for(sb_hooks), state=store) as client:
        assert client.post("/v1/messages", json={"to": TO, "text": {"body": "ok"}}).ok
        if state_url.startswith("postgresql://"):  # the database goes away for good
            import psycopg

            admin, _, name = state_url.rpartition("/")
            with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        else:
            store.close()  # from now on every call on the file raises
        keyed = client.post("/v1/messages", json={"to": TO, "text": {"body": "x"}},
                            headers={"Idempotency-Key": "k-down"})
        plain = client.post("/v1/messages", json={"to": TO, "text": {"body": "y"}})
    for response in (keyed, plain):
        assert response.status_code == 503, response.text
        error = response.json()["errors"][0]
        assert error["code"] == 1011 and "nothing was sent" in error["details"]
    assert len(sb_hooks.outbox()) == 1

"""The state stores' contract, the same for memory, SQLite and PostgreSQL.

Two store objects on one URL stand for two processes (memory: one object).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shim.client.fleet_pacing import FLEET_SAFETY, SharedPairLimiter, SharedRateLimiter
from shim.client.pacing import PairLimit
from shim.client.state import Entry, SlotRequest, StateStore, open_state
from shim.client.state_sql import PRUNE_EVERY, RIDE_MAX
from tests.pgserver import PostgresServer


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[StateStore, StateStore]]:
    if request.param == "memory":
        one = open_state("memory")
        yield one, one
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.new_database()
    one, two = open_state(url), open_state(url)
    try:
        yield one, two
    finally:
        one.close()
        two.close()


def test_one_claim_wins_and_an_expired_claim_turns_unknown_never_free(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    now = time.time()
    assert a.claim("ch", "k", "a", 5.0, now).won
    held = b.claim("ch", "k", "b", 5.0, now)
    assert not held.won and held.entry is not None and held.entry.state == "pending"
    late = b.claim("ch", "k", "b", 5.0, now + 6)  # a died mid-send
    assert not late.won and late.entry is not None and late.entry.state == "unknown"
    assert "may have gone out" in (late.entry.detail or "")
    assert not a.claim("ch", "k", "a", 5.0, now + 3600).won  # stays unknown for good
    assert b.claim("other", "k", "b", 5.0, now).won  # keys are per channel


def test_release_frees_only_our_claim_and_completed_rows_expire(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    now = time.time()
    assert a.claim("ch", "k", "a", 60.0, now).won
    b.release("ch", "k", "b")  # not b's claim: nothing happens
    assert not b.claim("ch", "k", "b", 60.0, now).won
    a.release("ch", "k", "a")
    assert b.claim("ch", "k", "b", 60.0, now).won
    b.complete(Entry("ch", "k", "ok", "b", now, now, now + 10, 200, b'{"x":1}'))
    found = a.claim("ch", "k", "a", 60.0, now + 5)
    assert found.entry is not None and found.entry.content == b'{"x":1}'
    assert a.claim("ch", "k", "a", 60.0, now + 11).won  # the answer expired: free again


def test_settle_changes_open_keys_only_and_prune_keeps_unknown_ones(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    now = time.time()
    a.complete(Entry("ch", "u", "unknown", "a", now, now, 0.0))
    a.complete(Entry("ch", "u2", "unknown", "a", now, now, 0.0))
    a.complete(Entry("ch", "ok", "ok", "a", now, now, now + 1, 200, b"{}", message_id="w0"))
    assert b.settle("ch", "u", happened=True, message_id="w1", detail=None, now=now, ttl=1)
    assert not b.settle("ch", "u", happened=False, message_id="w1", detail="x", now=now, ttl=1)
    assert not b.settle("ch", "ok", happened=False, message_id=None, detail="x", now=now, ttl=1)
    assert not b.settle("ch", "nope", happened=True, message_id="w", detail=None, now=now, ttl=1)
    assert [(e.key, e.state) for e in a.entries(("happened", "unknown"))] == [
        ("u", "happened"), ("u2", "unknown")]
    # The sender's late "unknown" does not undo a settlement that came first:
    b.complete(Entry("ch", "u", "unknown", "a", now, now, 0.0))
    assert (found := a.get("ch", "u")) is not None and found.state == "happened"
    assert a.prune(now + 2) == 2  # the settled and the ok row; the unknown one stays
    assert [e.key for e in b.entries()] == ["u2"]
    assert [e.channel for e in b.find("u2")] == ["ch"]


def test_listing_by_state_finds_every_state_oldest_first(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    now = time.time()
    assert a.claim("ch", "p", "a", 60.0, now + 5).won
    a.complete(Entry("ch", "u", "unknown", "a", now + 4, now + 4, 0.0))
    a.complete(Entry("ch", "f", "unknown", "a", now + 3, now + 3, 0.0))
    assert b.settle("ch", "f", happened=False, message_id=None, detail="x", now=now, ttl=60)
    a.complete(Entry("ch", "h", "unknown", "a", now + 2, now + 2, 0.0))
    assert b.settle("ch", "h", happened=True, message_id="w", detail=None, now=now, ttl=60)
    a.complete(Entry("ch", "o", "ok", "a", now + 1, now + 1, now + 60, 200, b"{}"))

    def keys(*states: str, limit: int = 1000) -> list[str]:
        return [e.key for e in b.entries(states, limit)]

    assert keys() == ["o", "h", "f", "u", "p"]
    assert keys("unknown", "happened", "failed") == ["h", "f", "u"]
    assert keys("failed", "unknown", limit=1) == ["f"]
    assert keys("pending", "unknown") == ["u", "p"]
    assert keys("ok", "failed") == ["o", "f"]
    assert keys("pending") == ["p"]


def test_media_owners_are_shared(pair: tuple[StateStore, StateStore]) -> None:
    a, b = pair
    a.record_media("1234567890", "shop", time.time())
    assert b.media_owner("1234567890") == "shop"
    assert b.media_owner("999") is None


def test_slots_are_one_timeline_for_every_instance_and_a_dead_lease_just_passes(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    now = time.time()
    first = a.take_slots("mps:x", 4, 0.1, now)
    second = b.take_slots("mps:x", 4, 0.1, now)
    assert first == pytest.approx(now) and second == pytest.approx(now + 0.4)
    # Whoever leased the slots up to now + 0.8 died; a second later they are simply gone:
    assert b.take_slots("mps:x", 1, 0.1, now + 2.0) == pytest.approx(now + 2.0)
    b.pause("mps:x", now + 5.0)
    assert a.take_slots("mps:x", 1, 0.1, now + 2.5) == pytest.approx(now + 5.0)


def test_idle_timelines_are_pruned_and_slots_stay_the_same(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    now = time.time()
    for i in range(50):  # recipients paced once, minutes ago
        a.take_slots(f"pair:ch:4915{i}", 1, 6.0, now - 500)
    a.take_slots("pair:ch:busy", 1, 6.0, now - 500)
    a.take_slots("pair:ch:busy", 1, 6.0, now)  # its timeline runs into the future
    a.pause("pair:ch:paused", now + 300)  # the backend said: not before then
    a.take_slots("pair:ch:recent", 1, 6.0, now - 30)  # idle, but within the clock margin
    assert a.timelines() == 53
    a.prune(now)
    assert b.timelines() == 3  # busy, paused and recent; the 50 idle ones are gone
    # A dropped timeline gives the slot it would have given; the kept ones hold:
    assert b.take_slots("pair:ch:49151", 1, 6.0, now) == pytest.approx(now)
    assert b.take_slots("pair:ch:busy", 1, 6.0, now) == pytest.approx(now + 6.0)
    assert b.take_slots("pair:ch:paused", 1, 6.0, now) == pytest.approx(now + 300)


def test_a_sender_without_keys_still_prunes_idle_timelines(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, _ = pair
    start = time.time()
    for i in range(5000):  # each a new recipient, one second apart: most go idle
        a.take_slots(f"pair:ch:{i}", 1, 6.0, start + i)
    later = start + 5000 + PRUNE_EVERY
    a.take_slots("pair:ch:last", 1, 6.0, later)
    assert a.timelines() < 1000  # without pruning: 5,001


def test_shared_rate_limiters_space_a_fleet_at_the_rate_with_one_store_call_per_chunk(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    clock = [1_000_000.0]
    one = SharedRateLimiter(a, "mps:y", 100, chunk=5, clock=lambda: clock[0])
    two = SharedRateLimiter(b, "mps:y", 100, chunk=5, clock=lambda: clock[0])
    slots = sorted(clock[0] + lim.reserve() for _ in range(20) for lim in (one, two))
    gaps = [round(y - x, 6) for x, y in itertools.pairwise(slots)]
    interval = 0.01 * FLEET_SAFETY  # 100/s, kept 2 % under
    assert min(gaps) >= interval - 1e-6 and len(set(slots)) == 40
    assert slots[-1] - slots[0] == pytest.approx(39 * interval)
    assert one.leases == two.leases == 4  # 20 slots each in chunks of 5
    # Leased slots whose time passed unused are dropped, not spent in a burst:
    clock[0] += 10.0
    assert [one.reserve() for _ in range(3)] == pytest.approx([0.0, interval, 2 * interval])


def test_the_pair_limit_holds_across_instances(pair: tuple[StateStore, StateStore]) -> None:
    a, b = pair
    clock = [2_000_000.0]
    limit = PairLimit(interval_s=6.0, burst=3)
    one = SharedPairLimiter(a, "ch", limit, clock=lambda: clock[0])
    two = SharedPairLimiter(b, "ch", limit, clock=lambda: clock[0])
    waits = [one.reserve("+49 151 1"), two.reserve("491511"), one.reserve("491511"),
             two.reserve("491511")]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 6.0])  # burst of 3, then one per 6 s
    assert one.reserve("491512") == 0.0  # another recipient is not held back


def test_slots_leased_with_claims_follow_the_pair_limit_across_instances(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    now = time.time()
    pace = SlotRequest("pair:ch:491511", 1, 6.0, tolerance=12.0)  # burst of 3, then 6 s
    slots = [store.claim("ch", f"k{i}", "x", 60.0, now, pace).slot
             for i, store in enumerate((a, b, a, b))]
    assert slots == pytest.approx([now, now, now, now + 6.0])
    # The claims and plain leases share the recipient's timeline:
    assert b.take_slots("pair:ch:491511", 1, 6.0, now, tolerance=12.0) == pytest.approx(now + 12.0)
    other = a.claim("ch", "k9", "x", 60.0, now, SlotRequest("pair:ch:491512", 1, 6.0, 12.0))
    assert other.slot == pytest.approx(now)  # another recipient is not held back


def test_a_queued_outcome_lands_with_the_next_claim_in_one_transaction(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    if hasattr(a, "write_linger"):
        a.write_linger = 60.0  # the writer thread stays out of it
    now = time.time()
    assert a.claim("ch", "k1", "a", 60.0, now).won
    a.complete(Entry("ch", "k1", "ok", "a", now, now, now + 60, 200, b'{"m":1}'), wait=False)
    assert a.claim("ch", "k2", "a", 60.0, now, SlotRequest("pair:ch:1", 1, 6.0)).won
    # No flush: the claim carried the outcome, so another process sees it at once.
    assert (found := b.get("ch", "k1")) is not None and found.state == "ok"
    assert found.content == b'{"m":1}'
    counts = getattr(a, "counts", None)
    if counts is not None:  # the SQL stores: the writer thread had nothing left to write
        assert counts.behind_statements == 0
    a.release("ch", "k2", "a", wait=False)
    # A retry of a queued key in the same process carries it along and gets the answer:
    again = a.claim("ch", "k2", "a", 60.0, now)
    assert again.won
    a.complete(Entry("ch", "k2", "ok", "a", now, now, now + 60, 200, b"{}"), wait=False)
    assert a.flush(timeout=5.0)  # flush does not wait out the linger
    assert (done := b.get("ch", "k2")) is not None and done.state == "ok"


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_queued_write_the_database_refuses_does_not_fail_the_next_claim(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    if store == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.new_database()
    a, b = open_state(url), open_state(url)
    try:
        now = time.time()
        assert a.claim("ch", "bad", "a", 60.0, now).won
        assert a.claim("ch", "good", "a", 60.0, now).won
        refused: Any = {"not": "a value any database binds"}
        a.complete(Entry("ch", "bad", "ok", "a", now, now, now + 60, 200, message_id=refused),
                   wait=False)
        a.complete(Entry("ch", "good", "ok", "a", now, now, now + 60, 200, b"{}"), wait=False)
        assert a.claim("ch", "next", "a", 60.0, now, SlotRequest("pair:ch:2", 1, 6.0)).won
        assert a.flush()
        # The next claim went through all the same. The writer retried the writes one by
        # one: the good outcome landed; the bad key stays claimed (its lease turns it unknown).
        assert (nxt := b.get("ch", "next")) is not None and nxt.state == "pending"
        assert "failed along with a claim" in caplog.text
        assert "could not record an outcome" in caplog.text
        assert (bad := b.get("ch", "bad")) is not None and bad.state == "pending"
        assert (good := b.get("ch", "good")) is not None and good.state == "ok"
    finally:
        a.close()
        b.close()


def test_outcomes_a_claim_carries_follow_the_rules_of_a_recorded_outcome(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    if hasattr(a, "write_linger"):
        a.write_linger = 60.0  # only claims write the queue
    now = time.time()
    for key in ("u", "o", "held"):
        assert a.claim("ch", key, "a", 60.0, now).won
    assert b.settle("ch", "u", happened=True, message_id="w1", detail=None, now=now, ttl=60)
    assert b.settle("ch", "o", happened=True, message_id="w2", detail=None, now=now, ttl=60)
    a.complete(Entry("ch", "u", "unknown", "a", now, now, 0.0), wait=False)
    a.complete(Entry("ch", "o", "ok", "a", now, now, now + 60, 200, b"{}", message_id="w2"),
               wait=False)
    held = a.claim("ch", "held", "a", 60.0, now + 1)  # carries both; still held (by a)
    assert not held.won and held.entry is not None and held.entry.state == "pending"
    assert (u := b.get("ch", "u")) is not None and u.state == "happened"  # settled stays
    assert (o := b.get("ch", "o")) is not None and o.state == "ok"  # the answer wins
    assert o.created_at == now and o.content == b"{}"


def test_a_claim_carries_at_most_a_few_outcomes_and_the_writer_the_rest(
    pair: tuple[StateStore, StateStore],
) -> None:
    a, b = pair
    if not hasattr(a, "write_linger"):
        pytest.skip("the memory store writes at once")
    a.write_linger = 60.0
    now = time.time()
    keys = [f"k{i}" for i in range(RIDE_MAX + 2)]
    for key in keys:
        assert a.claim("ch", key, "a", 60.0, now).won
    for key in keys:
        a.complete(Entry("ch", key, "ok", "a", now, now, now + 60, 200, b"{}"), wait=False)
    assert a.claim("ch", "next", "a", 60.0, now).won
    states = [e.state for key in keys if (e := b.get("ch", key)) is not None]
    assert states == ["ok"] * RIDE_MAX + ["pending"] * 2  # oldest first
    assert a.flush(timeout=5.0)
    landed = [b.get("ch", key) for key in keys]
    assert [e.state if e else None for e in landed] == ["ok"] * len(keys)

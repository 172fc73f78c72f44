"""The SQLite store's claim: the queued outcomes, the claim and the recipient's pair slot
commit in one transaction under the write lock, so claim and slot are one atomic step
even between processes; files made by earlier versions are upgraded on open."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shim.client.state import Entry, SlotRequest, open_state

REPO = Path(__file__).resolve().parents[2]

#: One process of the race: claims keys k0..k{n-1} in order, each with a slot on one
#: recipient's timeline, once the parent says go; prints [won, slot, holder] per key.
RACER = """
import json, os, sys, time
from shim.client.state import SlotRequest, open_state
store = open_state(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
found = []
for i in range(int(sys.argv[2])):
    c = store.claim("ch", f"k{i}", str(os.getpid()), 60.0, time.time(),
                    SlotRequest("pair:ch:4915100000001", 1, 1.0))
    found.append([c.won, c.slot, c.entry.owner if c.entry is not None else None])
store.close()
print(json.dumps([os.getpid(), found]), flush=True)
"""


def test_two_processes_racing_for_the_same_keys_win_each_once_and_share_one_timeline(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    open_state(url).close()  # the schema exists before the race
    keys = 150
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    racers = [subprocess.Popen([sys.executable, "-c", RACER, url, str(keys)], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
              for _ in range(2)]
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    results = {}
    for racer in racers:
        out, _ = racer.communicate(timeout=120)
        assert racer.returncode == 0
        pid, found = json.loads(out)
        results[str(pid)] = found
    (one, first), (two, second) = results.items()
    slots = []
    for i in range(keys):
        a, b = first[i], second[i]
        assert a[0] != b[0], f"k{i}: won by {'both' if a[0] else 'neither'}"
        winner, loser = (a, b) if a[0] else (b, a)
        assert loser[2] == (one if winner is a else two)  # it sees the winner's claim
        assert loser[1] is None  # a claim that lost took no slot
        slots.append(winner[1])
    # Every winner's slot comes from one timeline: one per second, none shared.
    slots.sort()
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert len(slots) == keys and min(gaps) >= 1.0 - 1e-6


def test_a_lost_claim_takes_no_slot_and_a_claim_over_an_expired_answer_takes_one(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    a, b = open_state(url), open_state(url)
    try:
        now = time.time()
        pace = SlotRequest("pair:ch:1", 1, 6.0)
        first = a.claim("ch", "k", "a", 60.0, now, pace)
        assert first.won and first.slot == pytest.approx(now)
        lost = b.claim("ch", "k", "b", 60.0, now, pace)
        assert not lost.won and lost.slot is None
        # The answer expired (ttl 0): the key is free, and its new claim is paced.
        a.complete(Entry("ch", "k", "ok", "a", now, now, now, 200, b"{}"))
        again = b.claim("ch", "k", "b", 60.0, now, pace)
        assert again.won and again.slot == pytest.approx(now + 6.0)
        assert a.claim("ch", "k2", "a", 60.0, now, pace).slot == pytest.approx(now + 12.0)
        # Settling, recording and releasing never move the timeline.
        assert b.settle("ch", "k2", happened=True, message_id="w", detail=None, now=now,
                        ttl=60)
        b.complete(Entry("ch", "k", "ok", "b", now, now, now + 60, 200, b"{}"))
        a.release("ch", "k3", "a")
        assert a.take_slots("pair:ch:1", 1, 6.0, now) == pytest.approx(now + 18.0)
    finally:
        a.close()
        b.close()


#: The schema as files were made before claims carried their slot.
OLD_SCHEMA = """
CREATE TABLE wm_keys (
    channel TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, owner TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL NOT NULL,
    status INTEGER NOT NULL DEFAULT 0, content BLOB, content_type TEXT, message_id TEXT,
    detail TEXT, PRIMARY KEY (channel, key)
) WITHOUT ROWID;
CREATE INDEX wm_keys_state ON wm_keys (state, created_at);
CREATE TABLE wm_media (media_id TEXT PRIMARY KEY, channel TEXT NOT NULL,
    created_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE wm_pace (name TEXT PRIMARY KEY, tat REAL NOT NULL, paused REAL NOT NULL)
    WITHOUT ROWID;
"""


def test_a_file_from_before_the_one_statement_claim_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    now = time.time()
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute("INSERT INTO wm_keys VALUES ('ch', 'old', 'ok', 'x', ?, ?, ?, 200, "
                     "x'7b7d', 'application/json', 'wamid.1', NULL)", (now - 1, now - 1, now + 60))
        conn.execute("INSERT INTO wm_pace VALUES ('pair:ch:1', ?, 0)", (now + 6.0,))
    conn.close()
    store = open_state(f"sqlite:///{path}")
    try:
        old = store.get("ch", "old")
        assert old is not None and old.state == "ok" and old.message_id == "wamid.1"
        claimed = store.claim("ch", "new", "me", 60.0, now, SlotRequest("pair:ch:1", 1, 6.0))
        assert claimed.won and claimed.slot == pytest.approx(now + 6.0)  # the old timeline
        assert store.take_slots("pair:ch:1", 1, 6.0, now) == pytest.approx(now + 12.0)
        store.complete(Entry("ch", "lost", "unknown", "me", now, now, 0.0))
        assert [e.key for e in store.entries(("unknown",))] == ["lost"]
        assert [e.key for e in store.entries(("pending", "ok"))] == ["old", "new"]
    finally:
        store.close()
    open_state(f"sqlite:///{path}").close()  # a second open finds nothing to change


#: A file as the version before this one made it: the pair slot rode in the claim row,
#: triggers pushed the timeline, and the partial index listed its states with IN.
TRIGGER_ERA_SCHEMA = """
CREATE TABLE wm_keys (channel TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL,
    owner TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL NOT NULL,
    status INTEGER NOT NULL DEFAULT 0, content BLOB, content_type TEXT, message_id TEXT,
    detail TEXT, pace_name TEXT, pace_span REAL, pace_slot REAL,
    PRIMARY KEY (channel, key)) WITHOUT ROWID;
CREATE INDEX wm_keys_uncommon ON wm_keys (state, created_at)
    WHERE state IN ('unknown', 'happened', 'failed');
CREATE TABLE wm_media (media_id TEXT PRIMARY KEY, channel TEXT NOT NULL,
    created_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE wm_pace (name TEXT PRIMARY KEY, tat REAL NOT NULL, paused REAL NOT NULL)
    WITHOUT ROWID;
CREATE TRIGGER wm_keys_pace_insert AFTER INSERT ON wm_keys WHEN NEW.pace_name IS NOT NULL
BEGIN
    INSERT INTO wm_pace (name, tat, paused) VALUES (NEW.pace_name, NEW.pace_slot + 1000, 0)
    ON CONFLICT (name) DO UPDATE SET tat = tat + 1000;
END;
"""


def test_a_file_from_the_trigger_claim_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    now = time.time()
    with sqlite3.connect(path) as conn:
        conn.executescript(TRIGGER_ERA_SCHEMA)
        conn.execute("INSERT INTO wm_keys VALUES ('ch', 'lost', 'unknown', 'x', ?, ?, 0, 0, "
                     "NULL, NULL, NULL, NULL, 'pair:ch:1', 6.0, ?)", (now - 1, now - 1, now))
        conn.execute("UPDATE wm_pace SET tat = ? WHERE name = 'pair:ch:1'", (now + 6.0,))
    conn.close()
    store = open_state(f"sqlite:///{path}")
    try:
        with sqlite3.connect(path) as conn:
            kept = {(kind, name) for kind, name in conn.execute(
                "SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger')")
                if not name.startswith("sqlite_autoindex")}
        conn.close()
        assert kept == {("index", "wm_keys_rare")}
        claimed = store.claim("ch", "new", "me", 60.0, now, SlotRequest("pair:ch:1", 1, 6.0))
        # the old timeline holds, and no trigger added its own push on top
        assert claimed.won and claimed.slot == pytest.approx(now + 6.0)
        assert store.take_slots("pair:ch:1", 1, 6.0, now) == pytest.approx(now + 12.0)
        assert [e.key for e in store.entries(("unknown",))] == ["lost"]
    finally:
        store.close()


def test_no_statement_of_a_keyed_send_makes_sqlite_build_a_temporary_table(
        tmp_path: Path) -> None:
    """A temporary table per statement (a RETURNING buffer, an IN list in the partial
    index's condition, evaluated for every row written) doubled the store's CPU per send."""
    from shim.client.state_sqlite import CLAIM, PACE_READ, PACE_WRITE

    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        conn = store._conn  # type: ignore[attr-defined]
        complete = store._complete_sql  # type: ignore[attr-defined]
        for sql in (CLAIM, complete, PACE_READ, PACE_WRITE):
            opcodes = [row[1] for row in conn.execute(f"EXPLAIN {sql}", [None] * sql.count("?"))]
            assert "OpenEphemeral" not in opcodes, sql
            assert "Program" not in opcodes, sql  # no trigger runs
    finally:
        store.close()

"""Shared state in one SQLite file (WAL): the processes of one machine share it.

For ``serve --workers N`` and a gateway and relay on one host. Each process
opens its own connection; SQLite serialises writers on the file, and every
operation is one short autocommitted statement, so waits are brief
(``busy_timeout`` covers them). ``synchronous=NORMAL``: a power cut may lose
the last few writes, never corrupt the file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from shim.client.state_sql import SQLStateStore

__all__ = ["SQLiteStateStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS wm_keys (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    status INTEGER NOT NULL DEFAULT 0,
    content BLOB,
    content_type TEXT,
    message_id TEXT,
    detail TEXT,
    PRIMARY KEY (channel, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS wm_keys_state ON wm_keys (state, created_at);
CREATE TABLE IF NOT EXISTS wm_media (
    media_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wm_pace (
    name TEXT PRIMARY KEY,
    tat REAL NOT NULL,
    paused REAL NOT NULL
) WITHOUT ROWID;
"""


class SQLiteStateStore(SQLStateStore):
    """The state in a SQLite file (created if missing)."""

    own_writer_connection = False

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.where = f"sqlite:///{path}"
        parent = Path(path).parent
        if not parent.is_dir():
            raise ValueError(f"no directory {parent} for the state file {path}")
        self._conn = self._connect()
        with self._lock:
            self._conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=10.0)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

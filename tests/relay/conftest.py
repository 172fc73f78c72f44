"""The ``db`` fixture that runs a relay test once per store (the PostgreSQL server
itself comes from ``tests.pgserver``, registered in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The relay store under test: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "relay.db")
    url: str = request.getfixturevalue("postgres_db")
    return url

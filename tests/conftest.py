"""Shared test helpers: the bundled example payloads (copied from the reference set)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.pgserver import PostgresServer, postgres, postgres_db

__all__ = ["PostgresServer", "postgres", "postgres_db"]

EXAMPLES_DIR = Path(__file__).parent / "examples"


def load_example(name: str) -> Any:
    """An example payload by file stem, e.g. ``load_example("onprem-send-text")``."""
    return json.loads((EXAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))


def example_names(prefix: str = "") -> list[str]:
    return sorted(p.stem for p in EXAMPLES_DIR.glob(f"{prefix}*.json"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

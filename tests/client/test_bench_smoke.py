"""The client benchmarks run in quick mode (smoke only: no speed is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_quick(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_shim_send_quick() -> None:
    out = run_quick("shim_send.py")
    assert "bare httpx transport" in out and "shim Client.post" in out
    assert re.search(r"CPU ratio shim / bare transport: +min [\d.]+ +median [\d.]+ +max", out), out
    assert "bare shim HTTP1Transport" in out
    assert re.search(r"CPU ratio shim / bare own transport .*: +min [\d.]+ +median [\d.]+ +max",
                     out), out


@pytest.mark.parametrize("client", ["sync", "async"])
def test_send_many_quick(client: str) -> None:
    out = run_quick("send_many.py", "--client", client)
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["80"] * 3 + ["1000"] * 3  # three rounds per limit
    assert re.search(r"share of 1000/s: min [\d.]+% median [\d.]+% max [\d.]+%", out), out
    for row in rows:
        messages, ok, pair_errors = int(row[1]), int(row[5]), int(row[6])
        assert ok == messages and pair_errors == 0  # behaviour, not speed

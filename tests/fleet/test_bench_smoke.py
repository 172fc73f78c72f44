"""The fleet benchmark runs in quick mode (smoke only: no speed is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.postgres
def test_fleet_state_quick() -> None:
    result = subprocess.run([sys.executable, str(BENCH / "fleet_state.py"), "--quick"],
                            capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for side in ("memory", "sqlite", "postgresql"):
        assert re.search(rf"{side} *: +[\d.]+ us CPU/send", out), out
    assert re.search(r"CPU ratio sqlite / memory: +min [\d.]+ +median [\d.]+ +max", out), out
    assert re.search(r"added store ms/send: +min -?[\d.]+ +median -?[\d.]+ +max", out), out
    rounds = re.findall(r"round \d: +([\d.]+) % of mps accepted, (\d+) throttling errors", out)
    assert len(rounds) == 3 and all(float(share) > 0 for share, _ in rounds), out

"""The relay benchmark's smoke mode runs end to end (figures are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "relay_ack.py"


def test_relay_ack_benchmark_quick_mode() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ratio relay/minimal:" in done.stdout
    assert "forwarded 400/400 On-Prem bodies" in done.stdout

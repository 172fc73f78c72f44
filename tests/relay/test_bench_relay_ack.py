"""The relay benchmark's smoke mode runs end to end (figures are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "relay_ack.py"


def test_relay_ack_benchmark_quick_mode() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for phase in ("ratio relay/minimal acks/s", "ratio backlog/empty p99",
                  "idle with nothing due", "first 10 %", "relay RSS", "targets"):
        assert phase in out, out
    assert "(300/300 delivered)" in out and "FAILED" not in out

"""The gateway benchmark's quick mode runs end to end (figures are printed, never asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gateway_roundtrip.py"
RATIO = r"min +\d+\.\d\d +median +\d+\.\d\d +max +\d+\.\d\d"


def test_gateway_roundtrip_benchmark_quick_mode() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--connections", "4",
                           "--rounds", "3"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for label in ("CPU/request ratio", "requests/s ratio", "CPU ratio at 1 conn",
                  "CPU ratio at 4 conn", "wall ratio at 1 conn", "requests/s gateway/direct"):
        assert re.search(re.escape(label) + r" +" + RATIO, out), (label, out)
    assert re.search(r"all targets met|\d target\(s\) MISSED", out), out

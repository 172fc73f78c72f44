"""The gateway benchmark's quick mode runs end to end (figures are printed, never asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gateway_roundtrip.py"


def test_gateway_roundtrip_benchmark_quick_mode() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--connections", "4"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"ratio gateway/direct: sequential \d+\.\d\dx, concurrent \d+\.\d\dx",
                     done.stdout), done.stdout
    assert "gateway adds" in done.stdout

"""The fuzz benchmark runs (quick mode) and reports zero untyped failures and hangs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "fuzz.py"


def test_fuzz_benchmark_quick_mode_runs_clean() -> None:
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--seed", "7"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for stage in ("translators:", "gateway:", "relay:"):
        assert stage in proc.stdout
    assert "0 untyped exceptions/5xx, 0 hangs" in proc.stdout

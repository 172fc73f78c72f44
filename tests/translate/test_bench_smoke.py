"""The translate benchmark runs (quick mode) and prints its ratio line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "translate.py"


def test_translate_benchmark_quick_mode_runs() -> None:
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "requests" in proc.stdout and "webhook items" in proc.stdout
    assert "target <= 2.00x" in proc.stdout

"""The scan benchmark runs end to end in quick mode (correctness only; no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "codemods_scan.py"


def test_scan_benchmark_quick() -> None:
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "recall: 100%" in proc.stdout
    assert "findings in unrelated files: 0" in proc.stdout
    assert "ratio:" in proc.stdout

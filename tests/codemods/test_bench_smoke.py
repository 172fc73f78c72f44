"""The scan benchmark runs end to end in quick mode (correctness only; no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "codemods_scan.py"


@cache
def _quick() -> tuple[int, str]:
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _recall(out: str, prefix: str) -> tuple[int, int]:
    pairs = [(int(a), int(b)) for a, b in
             re.findall(rf"recall {prefix}\S*\s+(\d+)/(\d+)", out)]
    assert pairs, out
    return sum(a for a, _ in pairs), sum(b for _, b in pairs)


def test_scan_benchmark_quick() -> None:
    _, out = _quick()
    for line in ("ratio libcst/scan:", "ratio ast/scan:", "peak memory, scan of 240 files",
                 "findings in unrelated files: 0", "errors: 0"):
        assert line in out, out
    assert re.search(r"waba-migrate scan\s+min\s+[\d.]+\s+median\s+[\d.]+\s+max", out), out
    found, seeded = _recall(out, "classic-")
    assert found == seeded == 10


def test_scan_benchmark_finds_the_invisible_callers() -> None:
    """Self-hosted/Turn callers with no WhatsApp word (issue 12, class 12), every style."""
    code, out = _quick()
    found, seeded = _recall(out, "invisible-")
    assert found == seeded == 5, out
    assert code == 0 and "recall: 100%" in out, out

"""Start ``waba-migrate sandbox`` in its own process for a benchmark.

A separate process keeps the server's CPU time off the measured client's GIL,
so ratios show the client's own cost.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

API_KEY = "bench-key"


@contextlib.contextmanager
def sandbox_process(api: str = "360dialog", api_key: str = API_KEY) -> Iterator[str]:
    """Yield the base URL of a sandbox subprocess (windows open, key ``bench-key``)."""
    cli = Path(sys.executable).with_name("waba-migrate")
    cmd = [str(cli)] if cli.exists() else [sys.executable, "-m", "shim.cli"]
    proc = subprocess.Popen(
        [
            *cmd,
            "sandbox",
            "--api",
            api,
            "--port",
            "0",
            "--api-key",
            api_key,
            "--open-windows",
            "--log-level",
            "error",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = next((w for w in line.split() if w.startswith("http://")), None)
        if url is None:
            raise RuntimeError(f"sandbox did not start: {line!r}")
        yield url.rstrip("/.,")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def control(base_url: str, method: str, path: str, json: object = None) -> object:
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as c:
        response = c.request(method, path, json=json)
        response.raise_for_status()
        return response.json()

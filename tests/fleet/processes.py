"""Gateways as real ``waba-migrate serve`` processes, for fleet tests and the fleet bench."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class GatewayProcess:
    """``waba-migrate serve --port 0`` in a subprocess; ``url`` once it printed it."""

    def __init__(self, config: Path, env: Mapping[str, str], *args: str,
                 log: Path | None = None) -> None:
        self.cmd = [sys.executable, "-m", "shim.cli", "serve", "--config", str(config),
                    "--port", "0", "--no-access-log", "--log-level", "warning", *args]
        self.env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
        self.env.pop("WABA_MIGRATE_CONFIG", None)
        self.log = log
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> GatewayProcess:
        err = open(self.log, "a") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=REPO, text=True,
                                     stdout=subprocess.PIPE, stderr=err)
        got: list[str] = []
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        reader = threading.Thread(target=lambda: got.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not got or not got[0].strip():
            self.stop()
            raise RuntimeError(f"the gateway printed no address: {self.output()}")
        self.url = got[0].strip()
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_until(condition: object, timeout: float, what: str) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)

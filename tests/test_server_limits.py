"""Connection limits of the three servers, started the way operators start them (the CLI).

Each server runs as ``waba-migrate serve|relay|sandbox`` with small limits; the
test opens raw TCP connections that never finish their headers (half-open),
stop half-way through a body, or exceed the connection cap, and waits (with a
deadline) for the server to close them, then checks it still serves.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

LIMIT_FLAGS = ["--header-timeout", "0.5", "--read-timeout", "0.5",
               "--keep-alive-timeout", "0.5", "--max-connections", "20"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@contextlib.contextmanager
def server(kind: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, a path that answers 200) of a ``waba-migrate KIND`` process."""
    port = free_port()
    env = {**os.environ, "LIM_KEY": "lim-key", "LIM_SECRET": "lim-secret"}
    config = tmp_path / "lim.toml"
    config.write_text("""
[channels.main]
phone_number = "+15550000001"
backend = "360dialog"
api_key = "env:LIM_KEY"
phone_number_id = "1000000001"
app_secret = "env:LIM_SECRET"
base_url = "http://127.0.0.1:9"
forward_url = "http://127.0.0.1:9/hook"
""", encoding="utf-8")
    if kind == "sandbox":
        args = ["sandbox", "--api", "360dialog", "--port", str(port)]
        path = "/_sandbox/outbox"
    elif kind == "serve":
        args = ["serve", "--config", str(config), "--port", str(port), "--no-access-log"]
        path = "/healthz"
    else:
        args = ["relay", "--config", str(config), "--port", str(port),
                "--db", str(tmp_path / "relay.db")]
        path = "/healthz"
    proc = subprocess.Popen([sys.executable, "-m", "shim.cli", *args, *LIMIT_FLAGS,
                             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, f"{kind} exited with {proc.returncode}"
        try:
            return httpx.get(url + path, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, 60)
        yield url, path
    finally:
        proc.terminate()
        proc.wait(15)


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setblocking(False)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.mark.parametrize("kind", ["serve", "relay", "sandbox"])
def test_half_open_slow_and_surplus_connections_are_closed(kind: str, tmp_path: Path) -> None:
    with server(kind, tmp_path) as (url, path):
        silent = [connect(url) for _ in range(5)]
        partial = [connect(url) for _ in range(5)]
        for sock in partial:
            sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n")  # no blank line
        slow_body = connect(url)
        slow_body.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          b"application/json\r\nContent-Length: 100\r\n\r\n{\"to\":")
        kept_alive = connect(url)  # a complete request, then idle past the keep-alive timeout
        kept_alive.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        opened = silent + partial + [slow_body, kept_alive]
        try:
            wait_for(lambda: all(closed_by_server(s) for s in opened))
        finally:
            for sock in opened:
                sock.close()
        assert httpx.get(url + path, timeout=5).status_code == 200


@pytest.mark.parametrize("kind", ["serve", "sandbox"])
def test_connections_over_the_cap_get_503_and_are_closed(kind: str, tmp_path: Path) -> None:
    with server(kind, tmp_path) as (url, path):
        held = [connect(url) for _ in range(30)]
        refused: set[int] = set()
        try:
            def surplus_refused() -> bool:
                for index, sock in enumerate(held):
                    with contextlib.suppress(BlockingIOError, OSError):
                        if sock.recv(1 << 16).startswith(b"HTTP/1.1 503"):
                            refused.add(index)
                return len(refused) >= 10

            wait_for(surplus_refused, 10)
        finally:
            for sock in held:
                sock.close()
        wait_for(lambda: httpx.get(url + path, timeout=5).status_code == 200)

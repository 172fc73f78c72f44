"""Real servers on 127.0.0.1 for webhook and relay tests: any ASGI app in a thread,
a recording receiver that can be told to fail, Cloud event builders, a relay subprocess."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from shim.webhooks import sign
from tests.conftest import load_example

REPO = Path(__file__).resolve().parents[2]


class ServerThread:
    """Serve an ASGI app with uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: ASGIApp, *, lifespan: str = "auto") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted sockets; without it uvicorn on a pre-bound socket answers
        # after the 40 ms delayed-ACK timer (Nagle on the split header/body writes).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)
        self.server = uvicorn.Server(config)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.error!r}")
            time.sleep(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@dataclass
class Receiver:
    """The legacy On-Prem app: records every POST; fails on demand.

    ``fail_first``: answer 500 to that many requests. ``fail_senders``: answer
    503 to bodies about these wa_ids while they are in the set.
    """

    fail_first: int = 0
    fail_senders: set[str] = field(default_factory=set)
    delay: float = 0.0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    #: Every request seen, answered or not: (delivery id header, body).
    seen: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            raw = await request.body()
            body = json.loads(raw)
            with self.lock:
                self.seen.append((request.headers.get("x-waba-migrate-delivery-id"), body))
            if self.delay:
                import asyncio

                await asyncio.sleep(self.delay)
            with self.lock:
                self.attempts += 1
                if self.fail_first > 0:
                    self.fail_first -= 1
                    return JSONResponse({"error": "down"}, 500)
                if conv_of(body) in self.fail_senders:
                    return JSONResponse({"error": "busy"}, 503)
                self.bodies.append(body)
                self.headers.append(dict(request.headers))
                self.raw.append(raw)
            return JSONResponse({})

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["id"] for b in self.bodies for m in b.get("messages", [])]

    def statuses(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(s["id"], s["status"]) for b in self.bodies for s in b.get("statuses", [])]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.message_ids()
            if len(set(ids)) >= count:
                return ids
            time.sleep(0.02)
        return self.message_ids()


def conv_of(body: Mapping[str, Any]) -> str:
    for message in body.get("messages", []):
        return str(message.get("from", ""))
    for status in body.get("statuses", []):
        return str(status.get("recipient_id", ""))
    return ""


@contextlib.contextmanager
def running_receiver(receiver: Receiver) -> Iterator[str]:
    """Yield the receiver's webhook URL."""
    with ServerThread(receiver.app()) as server:
        yield f"{server.url}/hook"


# -- Cloud events ------------------------------------------------------------

PNID = "106540352242922"


def cloud_event(
    messages: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    statuses: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    *,
    phone_number_id: str = PNID,
) -> dict[str, Any]:
    """A Cloud body with text messages (wa_id, msg id, text) and statuses (id, status, wa_id)."""
    body = copy.deepcopy(load_example("cloud-webhook-inbound-text"))
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    template = value["messages"][0]
    value["contacts"] = [
        {"profile": {"name": f"User {w}"}, "wa_id": w}
        for w in dict.fromkeys(w for w, _, _ in messages)
    ]
    value["messages"] = [
        {**template, "from": w, "id": i, "text": {"body": t}} for w, i, t in messages
    ]
    if statuses:
        value["statuses"] = [
            {"id": i, "status": s, "timestamp": "1750030073", "recipient_id": w}
            for i, s, w in statuses
        ]
    for key in ("contacts", "messages"):
        if not value[key]:
            del value[key]
    return body


def encode(body: Mapping[str, Any]) -> bytes:
    """Serialise like Meta does (ASCII, escaped slashes): the signature covers these bytes."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def signed_headers(raw: bytes, secret: str) -> dict[str, str]:
    return {"content-type": "application/json", "x-hub-signature-256": sign(secret, raw)}


def post_event(client: httpx.Client, url: str, body: Mapping[str, Any], secret: str) -> int:
    raw = encode(body)
    return client.post(url, content=raw, headers=signed_headers(raw, secret)).status_code


# -- relay subprocess ------------------------------------------------------------


def write_config(path: Path, channels: Mapping[str, Mapping[str, Any]]) -> Path:
    """A relay config (TOML) from plain dicts; values are strings, numbers or flat tables."""
    lines: list[str] = []
    for name, table in channels.items():
        lines.append(f"[channels.{name}]")
        subtables = []
        for key, value in table.items():
            if isinstance(value, Mapping):
                subtables.append((key, value))
            else:
                lines.append(f"{key} = {json.dumps(value)}")
        for key, value in subtables:
            lines.append(f"[channels.{name}.{key}]")
            lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RelayProcess:
    """``waba-migrate relay`` in a subprocess (so it can be killed with SIGKILL)."""

    def __init__(
        self, config: Path, db: str, env: Mapping[str, str], *args: str, log: Path | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [
            sys.executable,
            "-m",
            "shim.cli",
            "relay",
            "--config",
            str(config),
            "--port",
            str(self.port),
            "--db",
            db,
            "--log-level",
            "warning",
            *args,
        ]
        self.env = {**os.environ, **env}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> RelayProcess:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"relay exited with {self.proc.returncode}: {self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"relay did not become healthy: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log else ""

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/healthz", timeout=5).json()
        return result

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


# -- relay in this process -------------------------------------------------------

ENV = {
    "D360_KEY": "d360-key",
    "D360_KEY_2": "d360-key-2",
    "APP_SECRET": "new-app-secret",
    "APP_SECRET_OLD": "old-app-secret",
    "VERIFY": "verify-me",
    "LEGACY_AUTH": "Bearer legacy-token",
    "LEGACY_FLAG": "yes",
    "HEADER_SECRET": "shared-360-secret",
}
SECRET = ENV["APP_SECRET"]


def channel_table(forward_url: str, **overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "phone_number": "+15550783881",
        "backend": "360dialog",
        "api_key": "env:D360_KEY",
        "phone_number_id": PNID,
        "app_secret": ["env:APP_SECRET_OLD", "env:APP_SECRET"],
        "verify_token": "env:VERIFY",
        "forward_url": forward_url,
        "forward_headers": {"X-Legacy": "env:LEGACY_FLAG", "Authorization": "env:LEGACY_AUTH"},
    }
    table.update(overrides)
    return {k: v for k, v in table.items() if v is not None}


@dataclass
class InProcessRelay:
    url: str
    store: Any
    worker: Any

    def webhook(self, channel: str = "shop") -> str:
        return f"{self.url}/webhooks/{channel}"


@contextlib.contextmanager
def running_relay(
    db: str,
    channels: Mapping[str, Mapping[str, Any]],
    *,
    max_age: float = 60.0,
    insecure: bool = False,
    timeout: float = 5.0,
    breaker_cooldown: float = 5.0,
) -> Iterator[InProcessRelay]:
    """The relay app (store + worker) served by uvicorn in a thread, fast retries."""
    from shim.config import parse_config
    from shim.relay import DeliveryWorker, RetryPolicy, create_app, make_split, open_store
    from shim.relay.channels import relay_channels, scopes

    config = parse_config({"channels": dict(channels)}, "relay-test.toml")
    resolved = relay_channels(config, insecure_skip_signature=insecure, environ=ENV)
    store = open_store(db)
    worker = DeliveryWorker(
        store, {n: c.route for n, c in resolved.items()}, make_split(scopes(resolved)),
        policy=RetryPolicy(base=0.02, cap=0.1, max_age=max_age, timeout=timeout,
                           breaker_cooldown=breaker_cooldown), poll=0.05,
    )
    try:
        with ServerThread(create_app(store, resolved, worker), lifespan="on") as server:
            yield InProcessRelay(server.url, store, worker)
    finally:
        store.close()

"""Test doubles and payload helpers for the sandbox tests."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

#: A plain client for loopback calls without credentials (building a CA bundle per
#: ``httpx.get`` call costs ~100 ms, so tests share this one).
LOOPBACK = httpx.Client(verify=False, trust_env=False, timeout=10)


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class WebhookReceiver:
    """A real HTTP endpoint that records what the sandbox posts to it."""

    url: str = ""
    verify_token: str = "verify-me"
    fail_first: int = 0
    always_fail: bool = False
    gate: threading.Event = field(default_factory=threading.Event)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.gate.set()

    def reset(self) -> None:
        with self._lock:
            self.fail_first, self.always_fail, self.attempts = 0, False, 0
            self.received.clear()
        self.gate.set()

    async def _post(self, request: Request) -> Response:
        raw = await request.body()
        while not self.gate.is_set():  # a slow receiver, released by the test
            await _sleep(0.01)
        with self._lock:
            self.attempts += 1
            if self.always_fail or self.attempts <= self.fail_first:
                return PlainTextResponse("nope", status_code=500)
            self.received.append(Received(dict(request.headers), raw))
        return PlainTextResponse("ok")

    async def _get(self, request: Request) -> Response:
        params = request.query_params
        if (
            params.get("hub.mode") == "subscribe"
            and params.get("hub.verify_token") == self.verify_token
        ):
            return PlainTextResponse(params.get("hub.challenge", ""))
        return PlainTextResponse("forbidden", status_code=403)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/hook", self._post, methods=["POST"]),
                Route("/hook", self._get, methods=["GET"]),
            ]
        )

    def payloads(self) -> list[Any]:
        with self._lock:
            return [r.json for r in self.received]

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            payloads = self.payloads()
            if predicate(payloads):
                return payloads
            if time.monotonic() > deadline:
                raise AssertionError(f"webhook condition not met; got {payloads!r}")
            time.sleep(0.01)


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def cloud_statuses(payloads: list[Any]) -> list[dict[str, Any]]:
    """Every status item of every entry/change of every Cloud POST, in arrival order."""
    return [
        status
        for payload in payloads
        for entry in payload["entry"]
        for change in entry["changes"]
        for status in change["value"].get("statuses", [])
    ]


def cloud_messages(payloads: list[Any]) -> list[dict[str, Any]]:
    return [
        message
        for payload in payloads
        for entry in payload["entry"]
        for change in entry["changes"]
        for message in change["value"].get("messages", [])
    ]


def text_send(to: str = "4915112345678", body: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "text",
        "text": {"body": body},
        **extra,
    }

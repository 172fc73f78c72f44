"""The handle :func:`running_sandbox` yields: where the sandbox is, and control helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import anyio
import httpx

from shim.mapping.hosts import (
    AUTHORIZATION_HEADER,
    D360_API_KEY_HEADER,
    DEFAULT_GRAPH_VERSION,
    Target,
)
from shim.sandbox.settings import SandboxSettings

__all__ = ["RunningSandbox"]


class RunningSandbox:
    """A started sandbox: where it is, how to authenticate, and control helpers.

    Facts: ``base_url``, ``api``, ``api_base_url`` (``{api_base_url}/messages``
    works on every surface), ``messages_url``, ``graph_url``, ``auth_headers``,
    ``api_key``, ``access_token``, ``phone_number_id``, ``waba_id``, ``settings``;
    ``client()`` / ``async_client()`` give authenticated httpx clients.

    Control helpers (``inbound``, ``outbox``, ``fault``, ``clear_faults``,
    ``reset``, ``configure``, ``emit_status``, ``deliveries``,
    ``wait_for_webhooks``) are thread-safe. Coroutine twins for async tests
    (``ainbound``, ``aoutbox``, ``afault``, ``areset``, ``aconfigure``,
    ``adeliveries``, ``await_webhooks``) never block an event loop that also
    runs a webhook receiver.
    """

    def __init__(self, settings: SandboxSettings, base_url: str) -> None:
        self.settings = settings
        self.base_url = base_url
        self._client = httpx.Client(**_loopback_client_options(base_url))
        self._lock = threading.Lock()

    # -- facts -------------------------------------------------------------------

    @property
    def api(self) -> Target:
        return self.settings.api

    @property
    def api_key(self) -> str:
        return self.settings.api_key

    @property
    def access_token(self) -> str:
        return self.settings.access_token

    @property
    def phone_number_id(self) -> str:
        return self.settings.phone_number_id

    @property
    def waba_id(self) -> str:
        return self.settings.waba_id

    @property
    def auth_headers(self) -> dict[str, str]:
        """The credential header this surface expects."""
        if self.api is Target.META:
            return {AUTHORIZATION_HEADER: f"Bearer {self.access_token}"}
        return {D360_API_KEY_HEADER: self.api_key}

    @property
    def graph_url(self) -> str:
        """``{base_url}/vNN.N`` (Meta surface paths hang off it)."""
        return f"{self.base_url}/{DEFAULT_GRAPH_VERSION}"

    @property
    def api_base_url(self) -> str:
        """Prefix of the messaging paths: ``{api_base_url}/messages`` and ``/media``.

        360dialog: the base URL; Meta: ``{base_url}/vNN.N/{phone_number_id}``;
        On-Prem: ``{base_url}/v1``.
        """
        if self.api is Target.META:
            return f"{self.graph_url}/{self.phone_number_id}"
        if self.api is Target.ONPREM:
            return f"{self.base_url}/v1"
        return self.base_url

    @property
    def messages_url(self) -> str:
        """Where sends go on this surface."""
        return f"{self.api_base_url}/messages"

    def client(self, **options: Any) -> httpx.Client:
        """An httpx client for this surface: base URL ``api_base_url``, auth headers set."""
        merged = {**_loopback_client_options(self.api_base_url), "headers": self.auth_headers}
        return httpx.Client(**{**merged, **options})

    def async_client(self, **options: Any) -> httpx.AsyncClient:
        """Async twin of :meth:`client`."""
        merged = {**_loopback_client_options(self.api_base_url), "headers": self.auth_headers}
        return httpx.AsyncClient(**{**merged, **options})

    def close(self) -> None:
        self._client.close()

    # -- sync control helpers ------------------------------------------------------

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        with self._lock:
            response = self._client.request(method, path, json=json)
        response.raise_for_status()
        return response.json()

    def inbound(self, from_: str, text: str | None = None, **message: Any) -> dict[str, Any]:
        """A user writes in (opens the 24 h window); returns ``{"id", "wa_id", ...}``."""
        body = _inbound_body(from_, text, message)
        result: dict[str, Any] = self._call("POST", "/_sandbox/inbound", body)
        return result

    def outbox(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call("GET", "/_sandbox/outbox")
        return items

    def fault(
        self,
        status: int | None = None,
        *,
        count: int = 1,
        delay_ms: int = 0,
        drop_after_accept: bool = False,
        path: str | None = None,
        method: str | None = None,
    ) -> list[dict[str, Any]]:
        """Fail the next ``count`` API calls; returns the pending faults."""
        body = _fault_body(status, count, delay_ms, drop_after_accept, path, method)
        result: list[dict[str, Any]] = self._call("POST", "/_sandbox/faults", body)["faults"]
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sandbox/faults")

    def reset(self) -> None:
        self._call("POST", "/_sandbox/reset")

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change runtime knobs (``open_windows``, ``pair_rate_limit``, ``statuses`` …)."""
        result: dict[str, Any] = self._call("POST", "/_sandbox/config", knobs)
        return result

    def emit_status(
        self,
        message_id: str,
        status: str,
        *,
        error_code: int | None = None,
        details: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"id": message_id, "status": status}
        if error_code is not None:
            body["error_code"] = error_code
        if details is not None:
            body["details"] = details
        self._call("POST", "/_sandbox/status", body)

    def deliveries(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_sandbox/webhooks")["deliveries"]
        return result

    def wait_for_webhooks(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until no webhook is buffered, in flight or waiting for a retry."""
        deadline = time.monotonic() + timeout
        while True:
            data = self._call("GET", "/_sandbox/webhooks")
            if data["idle"]:
                result: list[dict[str, Any]] = data["deliveries"]
                return result
            if time.monotonic() > deadline:
                raise TimeoutError("sandbox webhooks still busy")
            time.sleep(0.01)

    # -- async twins ---------------------------------------------------------------

    async def _acall(self, method: str, path: str, json: Any = None) -> Any:
        async with httpx.AsyncClient(**_loopback_client_options(self.base_url)) as client:
            response = await client.request(method, path, json=json)
        response.raise_for_status()
        return response.json()

    async def ainbound(self, from_: str, text: str | None = None, **message: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._acall(
            "POST", "/_sandbox/inbound", _inbound_body(from_, text, message)
        )
        return result

    async def aoutbox(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = await self._acall("GET", "/_sandbox/outbox")
        return items

    async def afault(
        self,
        status: int | None = None,
        *,
        count: int = 1,
        delay_ms: int = 0,
        drop_after_accept: bool = False,
        path: str | None = None,
        method: str | None = None,
    ) -> list[dict[str, Any]]:
        body = _fault_body(status, count, delay_ms, drop_after_accept, path, method)
        result: list[dict[str, Any]] = (await self._acall("POST", "/_sandbox/faults", body))[
            "faults"
        ]
        return result

    async def areset(self) -> None:
        await self._acall("POST", "/_sandbox/reset")

    async def aconfigure(self, **knobs: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._acall("POST", "/_sandbox/config", knobs)
        return result

    async def adeliveries(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._acall("GET", "/_sandbox/webhooks"))[
            "deliveries"
        ]
        return result

    async def await_webhooks(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        with anyio.fail_after(timeout):
            while True:
                data = await self._acall("GET", "/_sandbox/webhooks")
                if data["idle"]:
                    result: list[dict[str, Any]] = data["deliveries"]
                    return result
                await anyio.sleep(0.01)


def _loopback_client_options(base_url: str) -> dict[str, Any]:
    # Plain HTTP on loopback: skip building a CA bundle (costs ~100 ms per client)
    # and ignore proxy variables.
    return {"base_url": base_url, "timeout": 10.0, "trust_env": False, "verify": False}


def _inbound_body(from_: str, text: str | None, message: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"from": from_, **message}
    if text is not None:
        body["text"] = text
    return body


def _fault_body(
    status: int | None,
    count: int,
    delay_ms: int,
    drop_after_accept: bool,
    path: str | None,
    method: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"count": count}
    if status is not None:
        body["status"] = status
    if delay_ms:
        body["delay_ms"] = delay_ms
    if drop_after_accept:
        body["drop_after_accept"] = True
    if path is not None:
        body["path"] = path
    if method is not None:
        body["method"] = method
    return body

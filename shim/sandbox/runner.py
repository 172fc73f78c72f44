"""Run the sandbox as a real uvicorn server: in a background thread or in the foreground.

Tests and ``waba-migrate demo`` embed it with :func:`running_sandbox`; the
``waba-migrate sandbox`` command uses :func:`serve`. The socket is bound before
uvicorn starts, so port 0 gives a free port with no race.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import anyio.to_thread
import httpx
import uvicorn
from starlette.types import ASGIApp

from shim.mapping.hosts import (
    AUTHORIZATION_HEADER,
    D360_API_KEY_HEADER,
    DEFAULT_GRAPH_VERSION,
    Target,
)
from shim.sandbox.app import SandboxApp
from shim.sandbox.settings import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_API_KEY,
    DEFAULT_PHONE_NUMBER_ID,
    RuntimeKnobs,
    SandboxSettings,
)

__all__ = [
    "RunningSandbox",
    "SandboxStartError",
    "running_asgi",
    "running_sandbox",
    "running_sandbox_async",
    "serve",
    "serve_app",
]

_STARTUP_TIMEOUT_S = 15.0


class SandboxStartError(RuntimeError):
    """The server did not come up (port taken, bad settings)."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto is IPPROTO_TCP, and without it every response waits ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SandboxStartError(f"cannot bind {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def _config(app: ASGIApp, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        ws="none",
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=2,
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class RunningSandbox:
    """A started sandbox: where it is, how to authenticate, and control helpers.

    Sync helpers (``inbound``, ``outbox``, ``fault``, ``reset``, ``configure``,
    ``emit_status``, ``deliveries``, ``wait_for_webhooks``) are thread-safe;
    each has an ``a``-prefixed coroutine twin for async tests, so an event loop
    that also runs a webhook receiver is never blocked.
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


class _ServerThread:
    def __init__(self, app: ASGIApp, host: str, port: int, log_level: str) -> None:
        self.sock = _bind(host, port)
        self.port = int(self.sock.getsockname()[1])
        self.server = uvicorn.Server(_config(app, host, self.port, log_level))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"asgi-{self.port}", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # reported to the starting thread
            self.error = exc

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SandboxStartError(f"server did not start: {self.error!r}")
            time.sleep(0.005)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@contextlib.contextmanager
def running_asgi(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[str]:
    """Serve any ASGI app with uvicorn in a background thread; yield its base URL.

    Used for the sandbox itself and for test doubles on the other side of it
    (webhook receivers), so both are real servers on loopback.
    """
    server = _ServerThread(app, host, port, log_level)
    server.start()
    try:
        yield f"http://{_url_host(host)}:{server.port}"
    finally:
        server.stop()


def _settings_from(
    api: str,
    webhook_url: str | None,
    api_key: str,
    access_token: str,
    phone_number_id: str,
    accept_any_key: bool,
    open_windows: bool,
    overrides: Mapping[str, Any],
) -> SandboxSettings:
    knobs = overrides.get("knobs") or RuntimeKnobs()
    if open_windows:
        knobs = replace(knobs, open_windows=True)
    rest = {k: v for k, v in overrides.items() if k != "knobs"}
    try:
        return SandboxSettings(
            api=Target(api),
            webhook_url=webhook_url,
            api_key=api_key,
            access_token=access_token,
            phone_number_id=phone_number_id,
            accept_any_key=accept_any_key,
            knobs=knobs,
            **rest,
        )
    except (TypeError, ValueError) as exc:
        raise SandboxStartError(f"bad sandbox settings: {exc}") from exc


@contextlib.contextmanager
def running_sandbox(
    api: str = "360dialog",
    *,
    webhook_url: str | None = None,
    api_key: str = DEFAULT_API_KEY,
    access_token: str = DEFAULT_ACCESS_TOKEN,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    accept_any_key: bool = False,
    open_windows: bool = False,
    host: str = "127.0.0.1",
    port: int = 0,
    settings: SandboxSettings | None = None,
    log_level: str = "warning",
    **overrides: Any,
) -> Iterator[RunningSandbox]:
    """Start a sandbox in a background thread; yield a :class:`RunningSandbox`.

    ``running_sandbox(api="360dialog"|"meta"|"onprem", webhook_url=None,
    api_key="sandbox-key", access_token="sandbox-token",
    phone_number_id="1000000001", accept_any_key=False, open_windows=False,
    host="127.0.0.1", port=0, settings=None, log_level="warning", **overrides)``

    - ``api_key`` is the D360-API-KEY (360dialog and onprem surfaces);
      ``access_token`` the Bearer token (meta). ``accept_any_key`` accepts any
      non-empty credential.
    - ``open_windows`` opens the 24 h window for every recipient (demos,
      benchmarks); otherwise ``inbound()`` opens it per number.
    - ``overrides`` are further :class:`SandboxSettings` fields (``waba_id``,
      ``app_secret``, ``seed``, ``knobs``, ``webhook_max_attempts`` …);
      ``settings`` replaces all of the above at once.
    - Port 0 picks a free loopback port; the server is ready when this yields.
      The server runs on its own event loop, so sync and async tests alike
      can call it.
    """
    if settings is None:
        settings = _settings_from(
            api,
            webhook_url,
            api_key,
            access_token,
            phone_number_id,
            accept_any_key,
            open_windows,
            overrides,
        )
    with running_asgi(SandboxApp(settings), host, port, log_level) as base_url:
        sandbox = RunningSandbox(settings, base_url)
        try:
            yield sandbox
        finally:
            sandbox.close()


@contextlib.asynccontextmanager
async def running_sandbox_async(
    api: str = "360dialog", **kwargs: Any
) -> AsyncIterator[RunningSandbox]:
    """:func:`running_sandbox` for ``async with``: starts and stops off the event loop.

    Takes the same arguments. The server still runs in its own thread, so a
    test loop that also hosts a webhook receiver keeps both responsive.
    """
    manager = running_sandbox(api, **kwargs)
    sandbox = await anyio.to_thread.run_sync(manager.__enter__)
    try:
        yield sandbox
    finally:
        await anyio.to_thread.run_sync(manager.__exit__, None, None, None)


def serve_app(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Run any ASGI app in the foreground with the sandbox's uvicorn settings.

    ``on_ready(base_url)`` is called once the socket listens (port 0: a free port).
    """
    sock = _bind(host, port)
    bound = int(sock.getsockname()[1])
    config = _config(app, host, bound, log_level)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and on_ready is not None:
                on_ready(f"http://{_url_host(host)}:{bound}")

    try:
        _Server(config).run(sockets=[sock])
    finally:
        sock.close()


def serve(
    settings: SandboxSettings,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Run a sandbox in the foreground until interrupted; ``on_ready(base_url)`` once listening."""
    serve_app(SandboxApp(settings), host, port, on_ready, log_level)

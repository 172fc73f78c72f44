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
import uvicorn
from starlette.types import ASGIApp

from shim.mapping.hosts import Target
from shim.sandbox.app import SandboxApp
from shim.sandbox.handle import RunningSandbox
from shim.sandbox.settings import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_API_KEY,
    DEFAULT_PHONE_NUMBER_ID,
    RuntimeKnobs,
    SandboxSettings,
)
from shim.server_limits import DEFAULT_LIMITS, LimitedConfig, ServerLimits

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


def _config(
    app: ASGIApp, host: str, port: int, log_level: str, limits: ServerLimits = DEFAULT_LIMITS
) -> uvicorn.Config:
    return LimitedConfig(
        app,
        limits=limits,
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


class _ServerThread:
    def __init__(
        self, app: ASGIApp, host: str, port: int, log_level: str, limits: ServerLimits
    ) -> None:
        self.sock = _bind(host, port)
        self.port = int(self.sock.getsockname()[1])
        self.server = uvicorn.Server(_config(app, host, self.port, log_level, limits))
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
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    limits: ServerLimits = DEFAULT_LIMITS,
) -> Iterator[str]:
    """Serve any ASGI app with uvicorn in a background thread; yield its base URL.

    Used for the sandbox itself and for test doubles on the other side of it
    (webhook receivers), so both are real servers on loopback. ``limits``: the
    connection limits (:mod:`shim.server_limits`).
    """
    server = _ServerThread(app, host, port, log_level, limits)
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
    limits: ServerLimits = DEFAULT_LIMITS,
) -> None:
    """Run any ASGI app in the foreground with the sandbox's uvicorn settings.

    ``on_ready(base_url)`` is called once the socket listens (port 0: a free port).
    """
    sock = _bind(host, port)
    bound = int(sock.getsockname()[1])
    config = _config(app, host, bound, log_level, limits)

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
    limits: ServerLimits = DEFAULT_LIMITS,
) -> None:
    """Run a sandbox in the foreground until interrupted; ``on_ready(base_url)`` once listening."""
    serve_app(SandboxApp(settings), host, port, on_ready, log_level, limits)

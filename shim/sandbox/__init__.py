"""A local emulator of 360dialog Cloud, Meta Graph and 360dialog On-Prem v1.

Embed it with :func:`running_sandbox` (a context manager that serves it on a
free loopback port) or run ``waba-migrate sandbox``. Control endpoints under
``/_sandbox/`` drive it: ``inbound``, ``outbox``, ``faults``, ``reset``.
"""

from __future__ import annotations

from shim.sandbox.app import SandboxApp, create_app
from shim.sandbox.runner import (
    RunningSandbox,
    SandboxStartError,
    running_asgi,
    running_sandbox,
    running_sandbox_async,
    serve,
    serve_app,
)
from shim.sandbox.settings import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_API_KEY,
    DEFAULT_APP_SECRET,
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_WABA_ID,
    PairRateLimit,
    RuntimeKnobs,
    SandboxSettings,
)

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_API_KEY",
    "DEFAULT_APP_SECRET",
    "DEFAULT_PHONE_NUMBER_ID",
    "DEFAULT_WABA_ID",
    "PairRateLimit",
    "RunningSandbox",
    "RuntimeKnobs",
    "SandboxApp",
    "SandboxSettings",
    "SandboxStartError",
    "create_app",
    "running_asgi",
    "running_sandbox",
    "running_sandbox_async",
    "serve",
    "serve_app",
]

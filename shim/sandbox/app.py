"""The ASGI application: one surface's routes, the control routes, faults and auth.

Layers, outermost first: faults (so an injected 503 needs no credentials, like
a gateway failing), auth (+ 360dialog's path blacklist), then Starlette
routing with exception handlers that turn every error, including our own
bugs, into the surface's error envelope instead of a traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from shim.mapping.errors import cloud_to_onprem_code
from shim.mapping.hosts import Target
from shim.sandbox.auth import AuthMiddleware
from shim.sandbox.bodies import BodyCap
from shim.sandbox.cloud_routes import d360_routes, meta_routes
from shim.sandbox.control_routes import control_routes
from shim.sandbox.core import SandboxCore
from shim.sandbox.envelopes import ApiError, graph_error, onprem_error, render_cloud, render_onprem
from shim.sandbox.faults import FaultMiddleware
from shim.sandbox.onprem_routes import onprem_routes
from shim.sandbox.settings import SandboxSettings
from shim.sandbox.state import SandboxState
from shim.sandbox.webhooks import WebhookDispatcher

__all__ = ["FAULT_CLOUD_CODES", "SandboxApp", "create_app"]

log = logging.getLogger(__name__)

#: Injected HTTP status -> Graph code. On-Prem uses the cross-walk counterpart.
FAULT_CLOUD_CODES: Final = {429: 130429, 500: 131000, 503: 2}
FAULT_DETAILS: Final = "Injected by the sandbox (POST /_sandbox/faults)."


def _fault_renderer(settings: SandboxSettings) -> Callable[[int], Response]:
    def render(status: int) -> Response:
        code = FAULT_CLOUD_CODES[status]
        if settings.is_cloud:
            return graph_error(code, FAULT_DETAILS, http_status=status)
        return onprem_error(cloud_to_onprem_code(code), FAULT_DETAILS, http_status=status)

    return render


class _StripTrailingSlash:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        await self.app(scope, receive, send)


class SandboxApp:
    """An ASGI app with its :class:`SandboxCore` at hand (for in-process embedding)."""

    def __init__(self, settings: SandboxSettings) -> None:
        state = SandboxState(settings)
        self.core = SandboxCore(settings, state, WebhookDispatcher(settings, state))
        self.settings = settings
        # One Mount for the control routes: a single prefix check on the API hot
        # path, and Graph's catch-all "/{version}/{node}" cannot shadow them.
        routes: list[BaseRoute] = [Mount("/_sandbox", routes=control_routes(self.core))]
        if settings.api is Target.D360:
            routes += d360_routes(self.core)
        elif settings.api is Target.META:
            routes += meta_routes(self.core)
        else:
            routes += onprem_routes(self.core)

        cloud = settings.is_cloud

        async def api_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, ApiError)
            return render_cloud(exc) if cloud else render_onprem(exc)

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            what = f"{request.method} {request.url.path}"
            if exc.status_code in (404, 405):
                details = f"Unsupported request: {what}"
            else:
                details = f"{what}: {exc.detail}"
            if cloud:
                return graph_error(100, details, http_status=exc.status_code)
            return onprem_error(
                1006 if exc.status_code in (404, 405) else 1009,
                details,
                http_status=exc.status_code,
            )

        async def server_error(request: Request, exc: Exception) -> Response:
            log.error("sandbox bug on %s %s", request.method, request.url.path, exc_info=exc)
            if cloud:
                return graph_error(131000, "Internal sandbox error.")
            return onprem_error(1014, "Internal sandbox error.")

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await self.core.webhooks.start()
            try:
                yield
            finally:
                await self.core.webhooks.stop()

        starlette = Starlette(
            routes=routes,
            exception_handlers={
                ApiError: api_error,
                HTTPException: http_error,
                Exception: server_error,
            },
            lifespan=lifespan,
        )
        # Graph and 360dialog treat "/x/" like "/x"; normalize instead of redirecting.
        starlette.router.redirect_slashes = False
        inner: ASGIApp = AuthMiddleware(_StripTrailingSlash(starlette), settings)
        self._app: ASGIApp = FaultMiddleware(
            BodyCap(inner), self.core.state.faults, _fault_renderer(settings)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def create_app(settings: SandboxSettings | None = None) -> SandboxApp:
    return SandboxApp(settings or SandboxSettings())

"""The gateway: On-Prem v1 over HTTP for callers that cannot import the client.

A thin ASGI layer over the client's seam (:class:`shim.client.Router` run by
:class:`shim.client.AsyncDispatcher`): every ``/v1/...`` call is handed over
as it arrived (method, percent-encoded path and query, headers, raw body) and
the On-Prem-shaped answer is written back. Which endpoints exist, how they
translate and what is refused (404/1006 unknown, 501 no Cloud equivalent) is
decided there, from the mapping table, not by routes declared here.

What the gateway adds on top is what only a network server needs: the key
check before a body is read (401/1005), body ceilings (413), an access log
without secrets, and ``/healthz`` + ``/metrics``. Anything that goes wrong
answers an On-Prem error envelope; no traceback ever reaches a caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from shim.client import AsyncDispatcher, Router, ShimResponse
from shim.client.errors import refusal
from shim.client.state import open_state
from shim.config import Config, ConfigError, load_config
from shim.gateway.limits import BodyLimits, BodyTooLarge, ClientGone, read_body
from shim.gateway.metrics import PROMETHEUS_CONTENT_TYPE, Metrics
from shim.gateway.redaction import RedactingFilter, Redactor, configure_logging
from shim.translate import TranslationError, error_response

__all__ = ["OPTIONS_ENV_VAR", "Gateway", "GatewayOptions", "app_from_env", "create_app"]

log = logging.getLogger("shim.gateway")
access_log = logging.getLogger("shim.gateway.access")

#: JSON :class:`GatewayOptions` for worker processes (``--workers N``); the config
#: path travels in ``WABA_MIGRATE_CONFIG``.
OPTIONS_ENV_VAR: Final = "WABA_MIGRATE_GATEWAY_OPTIONS"

# On-Prem codes (titles live in shim.mapping.errors.ONPREM_ERRORS).
_NOT_FOUND: Final = 1006
_NOT_VALID: Final = 1009
_INTERNAL: Final = 1014

#: Never copied from a ShimResponse: the server frames the body itself.
_FRAMING: Final = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    """Knobs of one gateway process (the CLI flags; JSON-able for workers)."""

    limits: BodyLimits = field(default_factory=BodyLimits)
    log_level: str = "info"
    access_log: bool = True
    #: Worker processes sharing the configured per-channel rate (``mps``).
    workers: int = 1
    #: Shared state store URL (``--state``); None: the config's ``[state] url``.
    state_url: str | None = None
    #: Reload the config file on SIGHUP (``waba-migrate serve``; main thread only).
    reload_on_sighup: bool = False

    def to_json(self) -> str:
        return json.dumps({
            "max_json_bytes": self.limits.json,
            "max_media_bytes": self.limits.media,
            "log_level": self.log_level,
            "access_log": self.access_log,
            "workers": self.workers,
            "state_url": self.state_url,
            "reload_on_sighup": self.reload_on_sighup,
        })

    @classmethod
    def from_json(cls, text: str) -> GatewayOptions:
        data = json.loads(text)
        return cls(
            limits=BodyLimits(json=int(data["max_json_bytes"]), media=int(data["max_media_bytes"])),
            log_level=str(data["log_level"]),
            access_log=bool(data["access_log"]),
            workers=int(data["workers"]),
            state_url=data.get("state_url"),
            reload_on_sighup=bool(data.get("reload_on_sighup", False)),
        )


def _error(status: int, code: int, where: str, reason: str) -> ShimResponse:
    """One of the gateway's own refusals, rendered like the seam renders its own."""
    onprem = error_response(refusal(status, code, where, reason))
    return ShimResponse(onprem.status, body=onprem.body)


def _crashed(path: str) -> ShimResponse:
    """The answer to an unexpected failure (the details go to the log, never the caller)."""
    return _error(500, _INTERNAL, path[:200], "the gateway failed; see its log")


def _refused(exc: TranslationError) -> ShimResponse:
    onprem = error_response(exc)
    return ShimResponse(onprem.status, body=onprem.body)


def _error_code(response: ShimResponse) -> int | None:
    """The On-Prem code of an error response (first ``errors`` entry), for the metrics."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = errors[0].get("code")
            if isinstance(code, int) and not isinstance(code, bool):
                return code
    return None


def _presented(headers: Mapping[str, str]) -> tuple[str, ...]:
    """Every credential the caller sent (to mask wherever it shows up, valid or not)."""
    values = []
    for name in ("d360-api-key", "authorization"):
        value = headers.get(name, "").strip()
        if value:
            values.append(value)
            values.append(value.partition(" ")[2].strip())  # the token of "Bearer <token>"
    return tuple(v for v in values if v)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


class Gateway:
    """State shared by the routes: the seam, limits, metrics and the redactor."""

    def __init__(
        self,
        config: Config,
        *,
        options: GatewayOptions | None = None,
        environ: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.options = options or GatewayOptions()
        state = open_state(self.options.state_url) if self.options.state_url else None
        self.router = Router(config, require_key=True, environ=environ, state=state)
        self._own_state = state
        self.dispatcher = AsyncDispatcher(self.router, http=http)
        self.metrics = Metrics(config)
        self.redactor = Redactor.from_config(config, environ)
        self.environ = environ
        #: routers replaced by reloads; closed at shutdown (in-flight calls may still use them)
        self._retired: list[Router] = []

    def reload(self, path: str | None = None) -> bool:
        """Swap in the config file's current content; keep the running one if it is invalid.

        Atomic for callers: each request reads ``self.router`` once, so it is served
        wholly by the old or wholly by the new config; requests in flight finish on
        the router they started with. The connection pool, metrics and idempotency
        state carry over.
        """
        source = path or self.config.source
        try:
            config = load_config(source)
        except ConfigError as exc:
            log.error("config reload refused, still serving the previous config: %s", exc)
            return False
        if self.options.workers > 1:
            config = split_rate(config, self.options.workers)
        try:
            router = Router(config, require_key=True, environ=self.environ,
                            state=self.router.state)
        except Exception as exc:  # e.g. a channel the state store cannot serve
            log.error("config reload refused, still serving the previous config: %s", exc)
            return False
        old = self.router
        redactor = Redactor([*self.redactor.secrets,
                             *Redactor.from_config(config, self.environ).secrets])
        self.config, self.router, self.redactor = config, router, redactor
        self.dispatcher.router = router
        for handler in logging.getLogger().handlers:
            for flt in handler.filters:
                if isinstance(flt, RedactingFilter):
                    flt.redactor = redactor
        self._retired.append(old)
        log.info("config reloaded from %s: channels %s", source,
                 ", ".join(f"{n} ({c.backend.value})" for n, c in config.channels.items()))
        return True

    # -- /v1/... -----------------------------------------------------------------

    async def onprem(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        target = f"{path}?{query}" if query else path
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        presented = _presented(headers)
        close = False
        channel: str | None = None
        router = self.router  # one config per request, even across a reload
        try:
            # The key decides the channel before a byte of the body is read.
            channel = router.resolve(headers).name
        except TranslationError as exc:
            response = _refused(exc)
        else:
            stats = self.metrics.started(channel)
            try:
                response, close = await self._serve(
                    scope, receive, method, target, headers, channel, router
                )
            except ClientGone:
                # Nothing was forwarded and nobody is listening: log it (nginx's 499), send nothing.
                response = _error(499, _NOT_VALID, "$", "the caller closed the connection")
                self._finish(stats, response, started)
                self._access(scope, method, target, response, started, channel, presented)
                return
            self._finish(stats, response, started)
        if channel is None:
            self._finish(self.metrics.started(None), response, started)
        # Logged before the response leaves: once a caller has its answer, the line exists.
        self._access(scope, method, target, response, started, channel, presented)
        await self._send(scope, receive, send, response, close)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        method: str,
        target: str,
        headers: dict[str, str],
        channel: str,
        router: Router,
    ) -> tuple[ShimResponse, bool]:
        limit, what = self.options.limits.for_request(method, target)
        try:
            body = await read_body(receive, scope["headers"], limit)
        except BodyTooLarge as exc:
            reason = (
                f"the body is larger than {exc.limit} bytes, the gateway's limit for {what}"
                + (" (On-Prem accepted uploads up to 64 MB)" if what == "a media upload" else "")
            )
            return _error(413, _NOT_VALID, "$", reason), True
        try:
            response = await self.dispatcher.run(router.plan(
                method, target, headers=headers, content=body or None, channel=channel
            ))
        except Exception:
            log.exception("channel %s: %s %s failed inside the gateway", channel, method, target)
            response = _error(
                500, _INTERNAL, target.partition("?")[0],
                "the gateway failed while serving this call; see its log",
            )
        return response, False

    def _finish(self, stats: Any, response: ShimResponse, started: float) -> None:
        self.metrics.finished(
            stats, response, time.perf_counter() - started, _error_code(response)
        )

    @staticmethod
    async def _send(
        scope: Scope, receive: Receive, send: Send, response: ShimResponse, close: bool
    ) -> None:
        # Plain ASGI messages: this runs once per call, and a framework Response
        # object re-validates every header on the way out.
        body = response.content
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                   for k, v in response.headers.items() if k.lower() not in _FRAMING]
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _access(
        self,
        scope: Scope,
        method: str,
        target: str,
        response: ShimResponse,
        started: float,
        channel: str | None,
        presented: tuple[str, ...],
    ) -> None:
        if not (self.options.access_log and access_log.isEnabledFor(logging.INFO)):
            return
        line = self.redactor.redact(target, *presented)
        extra = ""
        if response.outcome_unknown:
            extra = f" outcome=unknown idempotency_key={response.idempotency_key}"
        access_log.info(
            '%s "%s %s" %d %dB %.1fms channel=%s backend=%s attempts=%d%s',
            _client(scope),
            method,
            line,
            response.status_code,
            len(response.content),
            (time.perf_counter() - started) * 1000,
            channel or "-",
            response.backend or "-",
            response.attempts,
            extra,
        )

    # -- everything else ---------------------------------------------------------

    def note_local(self, scope: Scope, response: ShimResponse) -> None:
        """Count and log a call the gateway answered itself (not under /v1, wrong method)."""
        started = time.perf_counter()
        self._finish(self.metrics.started(None), response, started)
        target = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        self._access(scope, scope["method"], target, response, started, None, ())

    def healthz(self) -> dict[str, Any]:
        now = time.time()

        def age(t: float | None) -> float | None:
            return None if t is None else round(now - t, 3)

        channels: dict[str, Any] = {}
        for name, ch in self.config.channels.items():
            s = self.metrics.stats(name)
            credential = ch.optional_secret(ch.backend_secret_key, self.environ) is not None
            callers = any(
                ch.optional_secret(k, self.environ) is not None
                for k in ("legacy_api_key", "api_key")
            )
            if not credential:
                state = "misconfigured"
            elif s.last_status is None:
                state = "idle"
            elif (s.last_backend_failure_at or 0) > (s.last_success_at or 0):
                state = "degraded"
            else:
                state = "ok"
            channels[name] = {
                "backend": ch.backend.value,
                "base_url": ch.resolved_base_url,
                "state": state,
                "backend_credential_set": credential,
                "caller_key_set": callers,
                "requests": s.requests,
                "in_flight": s.in_flight,
                "outcome_unknown": s.outcome_unknown,
                "last_status": s.last_status,
                "last_request_age_s": age(s.last_at),
                "last_success_age_s": age(s.last_success_at),
                "last_backend_failure_age_s": age(s.last_backend_failure_at),
            }
        return {
            "status": "ok",
            "pid": os.getpid(),
            "uptime_s": round(now - self.metrics.started_at, 3),
            "state": {"store": self.router.state.where, "shared": self.router.state.shared},
            "channels": channels,
        }

    def close(self) -> None:
        for router in (*self._retired, self.router):
            router.close()
        if self._own_state is not None:
            self._own_state.close()


class _GatewayApp(Starlette):
    """Starlette for everything but ``/v1/...``, which goes to the gateway directly.

    The On-Prem calls are the hot path: they skip the middleware stack and the
    route table (the gateway renders its own errors; a crash still gets the
    On-Prem 500 envelope here). Other paths (``/healthz``, ``/metrics``, 404s)
    keep Starlette's handling.
    """

    def __init__(self, gateway: Gateway, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/v1/", "//")):
            await super().__call__(scope, receive, send)
            return
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._gateway.onprem(scope, receive, tracked)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"][:200])
            if not started:
                await self._gateway._send(
                    scope, receive, send,
                    _crashed(scope["path"]),
                    True,
                )


class _OnPremEndpoint:
    """``/v1/{path}``: every method, straight to the seam."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.gateway.onprem(scope, receive, send)


def create_app(
    config: Config,
    *,
    options: GatewayOptions | None = None,
    environ: Mapping[str, str] | None = None,
    http: httpx.AsyncClient | None = None,
) -> Starlette:
    """The gateway ASGI app for ``config`` (run it with lifespan on, e.g. uvicorn)."""
    gateway = Gateway(config, options=options, environ=environ, http=http)

    async def healthz(request: Request) -> Response:
        return JSONResponse(gateway.healthz())

    async def metrics(request: Request) -> Response:
        wants_json = request.query_params.get("format") == "json" or (
            "application/json" in request.headers.get("accept", "")
        )
        if wants_json:
            return JSONResponse(gateway.metrics.as_json())
        return Response(gateway.metrics.prometheus(), media_type=PROMETHEUS_CONTENT_TYPE)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            reason = "not an On-Premise API v1 path; the gateway serves /v1/..., /healthz, /metrics"
        elif status == 405:
            reason = f"{request.method} is not served here (GET only)"
        else:
            reason = exc.detail if isinstance(exc, HTTPException) else "error"
        code = _NOT_FOUND if status in (404, 405) else _NOT_VALID
        response = _error(status, code, request.url.path[:200], reason)
        gateway.note_local(request.scope, response)
        return _starlette_response(response)

    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _starlette_response(_crashed(request.url.path))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hup = gateway.options.reload_on_sighup and hasattr(signal, "SIGHUP")
        if hup:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, gateway.reload)
        try:
            yield
        finally:
            if hup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await gateway.dispatcher.aclose()
            gateway.close()

    app = _GatewayApp(
        gateway,
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/v1/{path:path}", _OnPremEndpoint(gateway)),
            # "//v1/..." (repeated slashes): On-Prem's server collapsed them; the router does.
            Route("//{path:path}", _OnPremEndpoint(gateway)),
        ],
        exception_handlers={HTTPException: http_error, Exception: crashed},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.gateway = gateway
    return app


def _starlette_response(response: ShimResponse) -> Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _FRAMING}
    return Response(response.content, status_code=response.status_code, headers=headers)


def app_from_env() -> Starlette:
    """App factory for worker processes: config from ``$WABA_MIGRATE_CONFIG``.

    Workers on a shared state store pace each channel together at ``mps``;
    with memory state each one paces at ``mps / workers`` instead.
    """
    raw = os.environ.get(OPTIONS_ENV_VAR)
    options = GatewayOptions.from_json(raw) if raw else GatewayOptions()
    config = load_config()
    url = options.state_url or (config.state.resolved_url() if config.state else "memory")
    if options.workers > 1 and url == "memory":
        config = split_rate(config, options.workers)
    configure_logging(options.log_level, Redactor.from_config(config))
    return create_app(config, options=options)


def split_rate(config: Config, workers: int) -> Config:
    """``config`` with each channel's ``mps`` divided among ``workers`` processes."""
    channels = {
        name: ch.model_copy(update={"mps": max(1, ch.mps // workers)})
        for name, ch in config.channels.items()
    }
    return config.model_copy(update={"channels": channels})

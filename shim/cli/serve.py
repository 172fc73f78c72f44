"""``waba-migrate serve``: run the On-Prem v1 gateway for callers that are not Python.

Prints the base URL on stdout once it accepts connections (machine-readable,
like ``waba-migrate sandbox``) and a human summary on stderr.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from typing import Any

import click

from shim.cli.state import open_for_cli, resolve_state_url, state_option
from shim.client.state import mask_url
from shim.config import CONFIG_ENV_VAR
from shim.server_limits import LimitedConfig, limit_options, limits_from

__all__ = ["serve"]

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
          "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3}
_LOOPBACK = ("127.", "::1", "localhost")


class ByteSize(click.ParamType[int]):
    """A byte count: 1048576, 512KB, 1MB, 64MB (1 MB = 1024 * 1024 bytes)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", str(value))
        unit = match[2].lower() if match else ""
        if not match or unit not in _UNITS or int(match[1]) < 1:
            self.fail(f"{value!r} is not a size such as 1048576, 512KB, 1MB or 64MB", param, ctx)
        return int(match[1]) * _UNITS[unit]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on accepted sockets whose listener
    # says TCP; without it small responses wait for Nagle (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@click.command("serve")
@click.option("--config", "config_path", required=True, envvar=CONFIG_ENV_VAR,
              type=click.Path(dir_okay=False),
              help=f"Channel config (TOML), as for the client. Default: ${CONFIG_ENV_VAR}.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback by default; the gateway speaks plain HTTP).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: a free one).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes. They share idempotency keys, pacing and media owners "
                   "through the state store (default with N > 1: a SQLite file next to the "
                   "config).")
@state_option
@click.option("--max-json-size", type=ByteSize(), default="1MB", show_default=True,
              help="Largest JSON request body.")
@click.option("--max-media-size", type=ByteSize(), default="64MB", show_default=True,
              help="Largest POST /v1/media upload (On-Prem's limit was 64 MB).")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log one line per request (secrets redacted).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@limit_options
def serve(config_path: str, host: str, port: int, workers: int, state_url: str | None,
          max_json_size: int, max_media_size: int, access_log: bool, log_level: str,
          header_timeout: float, read_timeout: float, keep_alive_timeout: float,
          max_connections: int) -> None:
    """Serve the On-Premise API v1 over HTTP, routed per caller key to each channel's backend.

    Point an On-Prem caller's base URL at the printed address and keep its
    code: /v1/messages, /v1/media, /v1/contacts, /v1/health, /v1/configs/...,
    /v1/settings/profile/... answer in On-Prem shape. The caller's
    D360-API-KEY (or Authorization: Bearer) must equal a channel's
    legacy_api_key or api_key. GET /healthz and GET /metrics (Prometheus text;
    ?format=json for JSON) report per-channel state and counters.

    SIGHUP reloads the config file without dropping a request; an invalid file
    keeps the running config and logs why.
    """
    import uvicorn

    from shim.config import ConfigError, load_config
    from shim.gateway.app import OPTIONS_ENV_VAR, GatewayOptions, create_app
    from shim.gateway.limits import BodyLimits
    from shim.gateway.redaction import Redactor, configure_logging

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    url = resolve_state_url(config, state_url)
    if workers > 1 and url == "memory":
        if state_url is None:  # workers must share keys and budgets: one file on this host
            url = state_url = f"sqlite:///{default_state_file(config_path)}"
        else:
            click.echo("warning: --state memory with several workers: each worker keeps its "
                       "own idempotency keys and paces at mps / N", err=True)
    if url != "memory":
        open_for_cli(url).close()  # fail now, with a clear message, not in every worker
    options = GatewayOptions(
        limits=BodyLimits(json=max_json_size, media=max_media_size),
        log_level=log_level,
        access_log=access_log,
        workers=workers,
        # The flag as given (env:NAME stays a reference); None: each worker reads [state].
        state_url=state_url,
        reload_on_sighup=workers == 1,
    )
    for line in _env_warnings(config):
        click.echo(f"warning: {line}", err=True)
    if not host.startswith(_LOOPBACK):
        click.echo(f"warning: listening on {host}, reachable from other machines; the gateway "
                   "speaks plain HTTP, put TLS in front of it", err=True)

    sock = _bind(host, port)
    base_url = _url(host, int(sock.getsockname()[1]))
    summary = ", ".join(f"{name} ({ch.backend.value})" for name, ch in config.channels.items())

    def ready() -> None:
        click.echo(base_url)
        sys.stdout.flush()
        click.echo(f"gateway ready on {base_url}/v1 for channels {summary}; "
                   f"{workers} worker(s); state {mask_url(url)}; /healthz, /metrics; "
                   "Ctrl-C to stop", err=True)

    settings: dict[str, Any] = dict(
        log_config=None, log_level=log_level, access_log=False, lifespan="on", ws="none",
        server_header=False,
        # In-flight sends finish before a restart (a cut one would be an unknown outcome).
        timeout_graceful_shutdown=30,
    )
    limits = limits_from(header_timeout, read_timeout, keep_alive_timeout, max_connections)
    configure_logging(log_level, Redactor.from_config(config))
    try:
        if workers == 1:
            app = create_app(config, options=options)

            class _Server(uvicorn.Server):
                async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                    await super().startup(sockets=sockets)
                    if self.started:
                        ready()

            _Server(LimitedConfig(app, limits=limits, **settings)).run(sockets=[sock])
        else:
            from uvicorn.supervisors import Multiprocess

            class _Supervisor(Multiprocess):
                def handle_hup(self) -> None:
                    # Workers are replaced one by one, each new one ready before its old
                    # one drains; an invalid file replaces none of them.
                    try:
                        load_config(config_path)
                    except ConfigError as exc:
                        logging.getLogger("shim.gateway").error(
                            "config reload refused, still serving the previous config: %s", exc)
                        return
                    super().handle_hup()

            os.environ[CONFIG_ENV_VAR] = os.path.abspath(config_path)
            os.environ[OPTIONS_ENV_VAR] = options.to_json()
            uv_config = LimitedConfig("shim.gateway.app:app_from_env", factory=True,
                                      workers=workers, limits=limits, **settings)
            # Connections wait in the backlog until a worker accepts them.
            sock.listen(uv_config.backlog)
            ready()
            _Supervisor(uv_config, sockets=[sock]).run()
    finally:
        sock.close()


def default_state_file(config_path: str) -> str:
    """The SQLite state file of ``serve --workers N`` without ``[state]``: beside the config."""
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), "waba-migrate-state.db")


def _env_warnings(config: Any) -> list[str]:
    """Channels that cannot serve yet because a referenced variable is unset."""
    notes = []
    for name, ch in config.channels.items():
        key = ch.backend_secret_key
        ref = getattr(ch, key)
        if ref is not None and ref.resolve() is None:
            notes.append(f"channel {name}: {key} (env:{ref.var}) is not set; its calls will "
                         "answer 500")
        caller_refs = [r for r in (ch.legacy_api_key, ch.api_key) if r is not None]
        if not any(r.resolve() for r in caller_refs):
            names = " / ".join(f"env:{r.var}" for r in caller_refs) or "no key configured"
            notes.append(f"channel {name}: no caller key is set ({names}); every call to it "
                         "will be refused 401")
    return notes

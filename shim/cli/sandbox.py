"""``waba-migrate sandbox``: serve the local API emulator until interrupted."""

from __future__ import annotations

import sys

import click

from shim.mapping.hosts import Target
from shim.server_limits import limit_options, limits_from

__all__ = ["sandbox"]


def _check_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter("must be an absolute http(s) URL", ctx=ctx, param=param)
    return value


@click.command("sandbox")
@click.option(
    "--api",
    type=click.Choice([t.value for t in Target]),
    required=True,
    help="Which API to emulate: 360dialog Cloud, Meta Graph or 360dialog On-Prem v1.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", type=click.IntRange(0, 65535), required=True, help="Port to bind (0: a free one)."
)
@click.option(
    "--webhook-url", callback=_check_url, help="Where to POST webhooks (statuses, inbound)."
)
@click.option(
    "--api-key",
    envvar="WABA_SANDBOX_API_KEY",
    default="sandbox-key",
    show_default=True,
    help="D360-API-KEY the 360dialog/onprem surfaces accept.",
)
@click.option(
    "--access-token",
    envvar="WABA_SANDBOX_ACCESS_TOKEN",
    default="sandbox-token",
    show_default=True,
    help="Bearer token the meta surface accepts.",
)
@click.option("--phone-number-id", default="1000000001", show_default=True)
@click.option("--accept-any-key", is_flag=True, help="Accept any non-empty key or token.")
@click.option(
    "--open-windows", is_flag=True, help="Treat every recipient as inside the 24 h window."
)
@click.option("--seed", type=int, help="Seed for webhook batching/reordering.")
@click.option(
    "--keep-messages",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Sent messages remembered for the outbox and status lookups (oldest forgotten first).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
)
@limit_options
def sandbox(
    api: str,
    host: str,
    port: int,
    webhook_url: str | None,
    api_key: str,
    access_token: str,
    phone_number_id: str,
    accept_any_key: bool,
    open_windows: bool,
    seed: int | None,
    keep_messages: int,
    log_level: str,
    header_timeout: float,
    read_timeout: float,
    keep_alive_timeout: float,
    max_connections: int,
) -> None:
    """Run a local emulator of the WhatsApp Business APIs; prints its base URL when ready.

    Control it over HTTP: POST /_sandbox/inbound, GET /_sandbox/outbox,
    POST /_sandbox/faults, POST /_sandbox/reset.
    """
    from shim.sandbox import RuntimeKnobs, SandboxSettings, SandboxStartError, serve

    settings = SandboxSettings(
        api=Target(api),
        api_key=api_key,
        access_token=access_token,
        phone_number_id=phone_number_id,
        accept_any_key=accept_any_key,
        webhook_url=webhook_url,
        knobs=RuntimeKnobs(open_windows=open_windows),
        seed=seed,
        keep_messages=keep_messages,
    )

    def ready(base_url: str) -> None:
        click.echo(base_url)
        sys.stdout.flush()
        click.echo(f"{api} sandbox ready; Ctrl-C to stop", err=True)

    try:
        serve(settings, host, port, on_ready=ready, log_level=log_level,
              limits=limits_from(header_timeout, read_timeout, keep_alive_timeout,
                                 max_connections))
    except SandboxStartError as exc:
        raise click.ClickException(str(exc)) from exc

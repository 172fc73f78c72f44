"""``waba-migrate keys create|list|delete``: a channel's 360dialog API keys via the Partner API.

A number migrated to 360dialog Cloud needs a new ``D360-API-KEY``. Partner
credentials come from the environment (``WABA_PARTNER_USERNAME`` +
``WABA_PARTNER_PASSWORD``, or ``WABA_PARTNER_TOKEN``); the partner and channel
ids are options. Nothing secret is printed, except the newly created key,
once (that is what ``create`` is for). Exit codes: 0 done, 1 the Partner API
refused or could not be reached, 2 usage (missing ids or credentials).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from shim.config import CONFIG_ENV_VAR, ConfigError, EnvRef, load_config
from shim.mapping.hosts import D360_CLOUD_BASE_URL, D360_PARTNER_BASE_URL
from shim.partner import (
    PartnerAuthError,
    PartnerClient,
    PartnerCredentials,
    PartnerError,
)

F = TypeVar("F", bound=Callable[..., Any])

PARTNER_ID_ENV = "WABA_PARTNER_ID"
BASE_URL_ENV = "WABA_PARTNER_BASE_URL"


def _common(func: F) -> F:
    """Options every keys sub-command takes."""
    func = click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document instead of text."
    )(func)
    func = click.option(
        "--base-url",
        envvar=BASE_URL_ENV,
        default=D360_PARTNER_BASE_URL,
        show_default=True,
        help=f"Partner API base URL (env {BASE_URL_ENV}).",
    )(func)
    func = click.option(
        "--channel-id", required=True, help="The 360dialog channel id of the number."
    )(func)
    func = click.option(
        "--partner-id",
        envvar=PARTNER_ID_ENV,
        required=True,
        help=f"Your 360dialog partner id (env {PARTNER_ID_ENV}).",
    )(func)
    return func


@click.group()
def keys() -> None:
    """Manage a channel's 360dialog API keys (a migrated number needs a new one).

    Credentials: WABA_PARTNER_USERNAME and WABA_PARTNER_PASSWORD (a partner
    user's login), or WABA_PARTNER_TOKEN (a Bearer token).
    """


def _client(base_url: str) -> PartnerClient:
    try:
        credentials = PartnerCredentials.from_env()
    except PartnerAuthError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        return PartnerClient(credentials, base_url=base_url)
    except PartnerError as exc:
        raise click.UsageError(str(exc)) from None


def _fail(exc: PartnerError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(1)


def _channel_env_var(config_path: str | None, channel: str | None) -> tuple[str, str] | None:
    """(channel name, env var) its ``api_key`` references, when a channel is named."""
    if channel is None:
        return None
    try:
        cfg = load_config(config_path)
        ch = cfg.channels[channel]
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except KeyError:
        raise click.UsageError(
            f"--channel: no channel {channel!r} in the config "
            f"(known: {', '.join(sorted(cfg.channels))})"
        ) from None
    ref = ch.api_key
    if not isinstance(ref, EnvRef):
        raise click.UsageError(f"--channel: channels.{channel}.api_key is not configured")
    return channel, ref.var


def _next_steps(address: str | None, target: tuple[str, str] | None) -> list[str]:
    host = address or D360_CLOUD_BASE_URL
    if target is not None:
        name, var = target
        store = (
            f"Store the key in the environment variable {var} "
            f'(channels.{name}.api_key = "env:{var}"); never in the config file.'
        )
        webhook = f'Client.set_webhook(url, channel="{name}")'
    else:
        store = (
            "Store the key in the environment variable the channel's api_key references "
            '(api_key = "env:NAME" in the config); never in the config file.'
        )
        webhook = "Client.set_webhook(url)"
    return [
        store,
        f"Re-set the webhook for the new key: POST {host}/v1/configs/webhook "
        f'{{"url": "https://..."}} with D360-API-KEY set to the new key (or {webhook}).',
        "360dialog revokes a channel's earlier keys when a new one is generated: "
        f"restart the services that read the key, then check with `waba-migrate config check` "
        f"(${CONFIG_ENV_VAR}).",
    ]


@keys.command("create")
@_common
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Channel config (default ${CONFIG_ENV_VAR}); with --channel names the env var to set.",
)
@click.option("--channel", default=None, help="The config channel this key is for.")
def create(
    partner_id: str,
    channel_id: str,
    base_url: str,
    as_json: bool,
    config_path: str | None,
    channel: str | None,
) -> None:
    """Create a new API key for a channel and print it once."""
    target = _channel_env_var(config_path, channel)
    with _client(base_url) as client:
        try:
            key = client.create_api_key(partner_id, channel_id)
        except PartnerError as exc:
            _fail(exc)
    steps = _next_steps(key.address, target)
    if as_json:
        doc: dict[str, Any] = {
            "partner_id": partner_id,
            "channel_id": channel_id,
            **key.public(),
            "api_key": key.api_key,
            "next_steps": steps,
        }
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"Created API key {key.id} for channel {channel_id}.")
    click.echo(f"  address  {key.address or '-'}")
    click.echo(f"  app_id   {key.app_id or '-'}")
    click.echo(f"  api_key  {key.api_key}")
    click.echo("This is the only time the key is shown: store it now.")
    click.echo("Next steps:")
    for i, step in enumerate(steps, 1):
        click.echo(f"  {i}. {step}")


@keys.command("list")
@_common
def list_keys(partner_id: str, channel_id: str, base_url: str, as_json: bool) -> None:
    """List a channel's API keys (ids and hosts; the keys themselves are never shown)."""
    with _client(base_url) as client:
        try:
            found = client.list_api_keys(partner_id, channel_id)
        except PartnerError as exc:
            _fail(exc)
    if as_json:
        doc = {
            "partner_id": partner_id,
            "channel_id": channel_id,
            "api_keys": [k.public() for k in found],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    if not found:
        click.echo(f"Channel {channel_id} has no API keys.")
        return
    click.echo(f"Channel {channel_id}: {len(found)} API key(s) (values are never shown)")
    for k in found:
        click.echo(f"  {k.id}  {k.address or '-'}  app_id {k.app_id or '-'}")


@keys.command("delete")
@_common
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(partner_id: str, channel_id: str, base_url: str, as_json: bool, yes: bool) -> None:
    """Delete a channel's API key(s); services still using them stop working."""
    if not yes:
        click.confirm(
            f"Delete the API key(s) of channel {channel_id}? Callers using them stop working",
            abort=True,
            err=True,
        )
    with _client(base_url) as client:
        try:
            client.delete_api_keys(partner_id, channel_id)
        except PartnerError as exc:
            _fail(exc)
    if as_json:
        click.echo(
            json.dumps({"partner_id": partner_id, "channel_id": channel_id, "deleted": True})
        )
        return
    click.echo(f"Deleted the API key(s) of channel {channel_id}.")
    click.echo(
        "Next: create a new key (`waba-migrate keys create`) before the channel sends again."
    )

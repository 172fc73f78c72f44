"""``--state URL`` for the servers, and ``waba-migrate outcomes list|show KEY``."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from shim.config import CONFIG_ENV_VAR, Config, ConfigError, MissingStateUrlError, load_config

if TYPE_CHECKING:
    from shim.client.state import StateStore

__all__ = ["outcomes", "resolve_state_url", "state_option"]

state_option = click.option(
    "--state", "state_url", default=None, metavar="URL",
    help="Shared state (idempotency keys, outcomes, pacing, media owners): memory, "
         "sqlite:///file.db, postgresql://..., or env:NAME. Default: the config's "
         "[state] url.",
)


def resolve_state_url(config: Config | None, flag: str | None) -> str:
    """The state URL to use: ``--state`` (``env:NAME`` resolved), else ``[state] url``."""
    if flag is not None:
        if flag.startswith("env:"):
            value = os.environ.get(flag[4:])
            if not value:
                raise click.BadParameter(f"environment variable {flag[4:]} is not set",
                                         param_hint="--state")
            return value
        return flag
    if config is None or config.state is None:
        return "memory"
    try:
        return config.state.resolved_url()
    except MissingStateUrlError as exc:
        raise click.ClickException(f"{config.source}: {exc}") from None


def open_for_cli(url: str) -> StateStore:
    from shim.client.state import mask_url, open_state

    try:
        return open_state(url)
    except Exception as exc:  # connection refused, bad path: say which store, no password
        raise click.ClickException(f"cannot open the state store {mask_url(url)}: {exc}") \
            from None


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S") if stamp else "-"


@click.group()
def outcomes() -> None:
    """Idempotency keys in the shared state: unknown outcomes and how they were settled."""


_config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help=f"Config whose [state] url to read. Default: ${CONFIG_ENV_VAR}.",
)


def _open(config_path: str | None, state_url: str | None) -> tuple[StateStore, float]:
    """The store to inspect and the settle timeout (from the config when there is one)."""
    config: Config | None = None
    if state_url is None or config_path is not None or os.environ.get(CONFIG_ENV_VAR):
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            if state_url is None:
                raise click.ClickException(str(exc)) from None
    url = resolve_state_url(config, state_url)
    if url == "memory":
        raise click.ClickException(
            "no shared state: outcomes live in each process's memory (configure "
            "[state] url, or pass --state)")
    timeout = config.state.settle_timeout if config and config.state else 3600.0
    return open_for_cli(url), timeout


@outcomes.command("list")
@_config_option
@state_option
@click.option("--all", "show_all", is_flag=True, help="Also keys that simply succeeded.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
def outcomes_list(config_path: str | None, state_url: str | None, show_all: bool,
                  as_json: bool, limit: int) -> None:
    """List unknown, in-flight and settled keys, oldest first.

    Unknown keys older than [state] settle_timeout are marked OVERDUE: no
    status webhook has settled them; they are never resent by themselves.
    Exits 3 when there is an overdue key (for monitoring).
    """
    store, settle_timeout = _open(config_path, state_url)
    states = () if show_all else ("pending", "unknown", "happened", "failed")
    try:
        entries = store.entries(states, limit)
    finally:
        store.close()
    now = time.time()
    overdue = 0
    rows = []
    for entry in entries:
        late = entry.state == "unknown" and now - entry.updated_at > settle_timeout
        overdue += late
        rows.append((entry, late))
    if as_json:
        for entry, late in rows:
            click.echo(json.dumps({**entry.as_json(), "overdue": late}, ensure_ascii=False))
    elif not rows:
        click.echo("no keys")
    else:
        click.echo(f"{'STATE':<9} {'CHANNEL':<14} {'SINCE (UTC)':<19}  {'KEY':<36} MESSAGE ID")
        for entry, late in rows:
            state = "OVERDUE" if late else entry.state
            click.echo(f"{state:<9} {entry.channel[:14]:<14} {_iso(entry.updated_at):<19}  "
                       f"{entry.key[:36]:<36} {entry.message_id or '-'}")
        click.echo(f"{len(rows)} key(s), {overdue} overdue")
    if overdue:
        raise SystemExit(3)


@outcomes.command("show")
@click.argument("key")
@click.option("--channel", default=None, help="Only this channel's key.")
@_config_option
@state_option
def outcomes_show(key: str, channel: str | None, config_path: str | None,
                  state_url: str | None) -> None:
    """Show one key (JSON): its state, message id, detail and times. Exit 1 if unknown."""
    store, settle_timeout = _open(config_path, state_url)
    try:
        found = [e for e in store.find(key) if channel is None or e.channel == channel]
    finally:
        store.close()
    if not found:
        raise click.ClickException(f"no key {key!r} in the state store")
    now = time.time()
    for entry in found:
        data = entry.as_json()
        data["overdue"] = entry.state == "unknown" and now - entry.updated_at > settle_timeout
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))

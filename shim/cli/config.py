"""``waba-migrate config check FILE``: validate a channel config and show what it resolves to.

Secrets are never printed: only the environment variable each one is read
from and whether it is set. Exit 1 when the file is invalid (the errors name
the file and the key), or with ``--require-env`` when a referenced variable
is missing.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from shim.client.pacing import PAIR_BURST, PAIR_INTERVAL_S
from shim.config import CONFIG_ENV_VAR, ChannelConfig, ConfigError, load_config
from shim.mapping.hosts import Target

#: Secrets a backend cannot work without (others are optional features).
_REQUIRED_FOR_BACKEND = {"api_key", "onprem_api_key", "access_token"}


@click.group()
def config() -> None:
    """Inspect the per-channel config (TOML) used by the client, gateway and relay."""


def _describe(ch: ChannelConfig) -> dict[str, Any]:
    env: dict[str, dict[str, Any]] = {}
    for key, ref in ch.env_refs().items():
        env[key] = {"var": ref.var, "set": ref.resolve() is not None}
    out: dict[str, Any] = {
        "backend": ch.backend.value,
        "base_url": ch.resolved_base_url,
        "phone_number": ch.phone_number,
        "auth": ch.backend_secret_key,
        "mps": ch.mps,
        "retry": ch.retry.model_dump(),
        "timeouts": ch.timeouts.model_dump(),
        "env": env,
    }
    if ch.backend is Target.META:
        out["graph_api_version"] = ch.graph_api_version
        out["phone_number_id"] = ch.phone_number_id
        out["waba_id"] = ch.waba_id
    if ch.legacy_base_url:
        out["legacy_base_url"] = ch.legacy_base_url
    if ch.forward_url:
        out["forward_url"] = ch.forward_url
        out["forward_headers"] = {
            name: str(v) for name, v in ch.forward_headers.items()
        }
    if ch.webhook_secret_header:
        out["webhook_secret_header"] = ch.webhook_secret_header
    return out


def _problems(ch: ChannelConfig, info: dict[str, Any]) -> list[str]:
    notes = []
    for key, state in info["env"].items():
        if not state["set"]:
            need = (
                "needed to call the backend"
                if key in _REQUIRED_FOR_BACKEND and key == ch.backend_secret_key
                else "optional feature disabled until set"
            )
            notes.append(f"{key}: environment variable {state['var']} is not set ({need})")
    if ch.backend is Target.META and ch.waba_id is None:
        notes.append("waba_id: not set; /v1/configs/templates calls will be refused")
    return notes


def _print_human(name: str, ch: ChannelConfig, info: dict[str, Any], notes: list[str]) -> None:
    click.echo(f"channel {name}: {info['backend']} -> {info['base_url']}")
    click.echo(f"  phone_number      {info['phone_number']}")
    if ch.backend is Target.META:
        click.echo(
            f"  phone_number_id   {info['phone_number_id']}  "
            f"(Graph {info['graph_api_version']}, pinned)"
        )
        click.echo(f"  waba_id           {info['waba_id'] or '-'}")
    if ch.legacy_base_url:
        click.echo(f"  legacy_base_url   {ch.legacy_base_url}")
    r, t = ch.retry, ch.timeouts
    click.echo(
        f"  pacing            {ch.mps} msg/s; pair rate 1 per {PAIR_INTERVAL_S:g} s, "
        f"burst {PAIR_BURST}"
    )
    click.echo(
        f"  retry             {r.max_attempts} attempts, back-off "
        f"{r.backoff_base:g}s..{r.backoff_max:g}s"
    )
    click.echo(
        f"  timeouts          connect {t.connect:g}s, read {t.read:g}s, "
        f"write {t.write:g}s, pool {t.pool:g}s"
    )
    for key, state in info["env"].items():
        status = "set" if state["set"] else "MISSING"
        click.echo(f"  {key:<17} env:{state['var']} ({status}; value not shown)")
    if ch.forward_url:
        click.echo(f"  forward_url       {ch.forward_url}")
    if ch.webhook_secret_header:
        click.echo(f"  webhook secret    header {ch.webhook_secret_header}")
    for note in notes:
        click.echo(f"  warning: {note}")


@config.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report on stdout.")
@click.option(
    "--require-env",
    is_flag=True,
    help="Also fail when a referenced environment variable is not set.",
)
def check(file: str | None, as_json: bool, require_env: bool) -> None:
    """Validate FILE (default: $WABA_MIGRATE_CONFIG) and report each channel."""
    if file is None and not os.environ.get(CONFIG_ENV_VAR):
        click.echo(f"error: give FILE or set {CONFIG_ENV_VAR}", err=True)
        sys.exit(1)
    try:
        cfg = load_config(file)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            click.echo(f"error: {line}", err=True)
        sys.exit(1)
    report: dict[str, Any] = {"file": cfg.source, "valid": True, "channels": {}}
    missing = False
    for name, ch in cfg.channels.items():
        info = _describe(ch)
        notes = _problems(ch, info)
        missing |= any(not s["set"] for s in info["env"].values())
        info["warnings"] = notes
        report["channels"][name] = info
        if not as_json:
            _print_human(name, ch, info, notes)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        count = len(cfg.channels)
        click.echo(
            f"{cfg.source}: valid, {count} channel{'s' if count != 1 else ''}"
            + ("; some environment variables are not set" if missing else "")
        )
    if require_env and missing:
        sys.exit(1)

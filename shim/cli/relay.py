"""``waba-migrate relay``: run the webhook relay, or inspect and replay its dead letters."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from shim.client.outcomes import Reconciler
    from shim.config import Config
from shim.cli.state import open_for_cli, resolve_state_url, state_option
from shim.json_input import JSONInputError, read_json
from shim.relay.store import DeadLetter, Store, is_postgres, open_store
from shim.server_limits import LimitedConfig, limit_options, limits_from

DEFAULT_DB = "waba-relay.db"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType[float]):
    """Seconds, or a number with a unit: 90s, 15m, 24h, 7d."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
        if not match or float(match[1]) <= 0:
            self.fail(f"{value!r} is not a duration such as 30s, 15m, 24h or 7d", param, ctx)
        return float(match[1]) * _UNITS[match[2] or "s"]


def _open(db: str, *, exclusive: bool, instance: str | None = None) -> Store:
    if not exclusive and not is_postgres(db) and not Path(db).is_file():
        raise click.ClickException(f"no relay database at {db} (pass the relay's --db)")
    try:
        return open_store(db, exclusive=exclusive, instance=instance)
    except Exception as exc:  # connection refused, locked, bad path: say which store
        where = re.sub(r"//[^@/]*@", "//***@", db)  # never print a password in a URL
        raise click.ClickException(f"cannot open the relay store {where}: {exc}") from None


@click.group(invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Channel config (TOML). Default: $WABA_MIGRATE_CONFIG.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535))
@click.option("--db", default=DEFAULT_DB, show_default=True,
              help="SQLite file, or postgresql://... to share one queue between instances.")
@click.option("--max-age", type=Duration(), default="24h", show_default=True,
              help="Retry a delivery until it is this old, then dead-letter it.")
@click.option("--backoff-base", type=Duration(), default="1s", show_default=True,
              help="First retry delay (doubles per attempt, jittered).")
@click.option("--backoff-max", type=Duration(), default="5m", show_default=True,
              help="Longest delay between two attempts.")
@click.option("--forward-timeout", type=Duration(), default="10s", show_default=True,
              help="How long the app may take to answer one delivery (a channel's "
              "forward_timeout overrides it).")
@click.option("--breaker-cooldown", type=Duration(), default="5s", show_default=True,
              help="After 5 failed deliveries in a row to one app, send it nothing for this "
              "long, then one probe at a time (doubling up to --backoff-max).")
@click.option("--concurrency", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="Deliveries in flight at once (at most one per conversation).")
@click.option("--poll", type=Duration(), default="0.5s", show_default=True,
              help="Longest idle wait: work another process queued (dlq replay, another "
              "instance) is picked up within it. Retries wake the relay when due.")
@click.option("--insecure-skip-signature", is_flag=True,
              help="Accept channels with no app_secret/webhook_secret (local testing only).")
@click.option("--instance-id", default=None,
              help="This server's name on a shared PostgreSQL queue; a restart under the "
              "same name takes back its in-flight deliveries at once. Unique per live "
              "instance. Default: HOSTNAME:PORT.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@state_option
@limit_options
@click.pass_context
def relay(ctx: click.Context, config_path: str | None, host: str, port: int, db: str,
          max_age: float, backoff_base: float, backoff_max: float, forward_timeout: float,
          breaker_cooldown: float, concurrency: int, poll: float,
          insecure_skip_signature: bool, instance_id: str | None, log_level: str,
          state_url: str | None, header_timeout: float, read_timeout: float,
          keep_alive_timeout: float, max_connections: int) -> None:
    """Receive Cloud webhooks, acknowledge at once, deliver On-Prem bodies to the old app.

    POST /webhooks/CHANNEL is verified (X-Hub-Signature-256 or the channel's
    shared-secret header), committed, and answered 200; the worker translates,
    deduplicates and forwards each item to the channel's forward_url, retrying
    until --max-age. GET /webhooks/CHANNEL answers Meta's verify handshake;
    GET /healthz reports queue depth and the oldest pending age. SIGHUP
    reloads the config (channels, secrets, forward URLs) without dropping a
    request; an invalid file keeps the running config and logs why. With a
    shared state store (--state or [state] url, the gateways' store), status
    webhooks carrying a shim idempotency key settle that key's outcome.
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from shim.config import ConfigError, load_config
    from shim.relay.app import create_app
    from shim.relay.channels import RelayConfigError, relay_channels, scopes
    from shim.relay.routing import settling_observer
    from shim.relay.worker import DeliveryWorker, RetryPolicy, make_split

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per forward is noise
    try:
        config = load_config(config_path)
        channels = relay_channels(config, insecure_skip_signature=insecure_skip_signature)
    except (ConfigError, RelayConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    if backoff_max < backoff_base:
        raise click.BadParameter("must be >= --backoff-base", param_hint="--backoff-max")
    if insecure_skip_signature:
        click.echo("warning: --insecure-skip-signature: unauthenticated webhooks are accepted "
                   "for channels without secrets", err=True)
    state = _reconciler(config, state_url)
    store = _open(db, exclusive=True, instance=instance_id or f"{socket.gethostname()}:{port}")
    try:
        by_pnid = {c.phone_number_id: n for n, c in channels.items() if c.phone_number_id}
        observe: Any = None
        if state is not None:
            observe = settling_observer(state, by_pnid)
        worker = DeliveryWorker(
            store,
            {name: c.route for name, c in channels.items()},
            make_split(scopes(channels), observe),
            policy=RetryPolicy(backoff_base, backoff_max, max_age, forward_timeout,
                               breaker_cooldown=breaker_cooldown),
            concurrency=concurrency,
            poll=poll,
        )
        app = create_app(store, channels, worker)
        log = logging.getLogger("shim.relay")

        def reload() -> None:
            """SIGHUP: swap in the file's channels; an invalid file keeps the running ones.

            Runs on the event loop between two requests, so each request and each
            delivery sees either the old or the new channels, never a mix.
            """
            try:
                fresh = relay_channels(load_config(config_path),
                                       insecure_skip_signature=insecure_skip_signature)
            except (ConfigError, RelayConfigError) as exc:
                log.error("config reload refused, still serving the previous config: %s", exc)
                return
            by_pnid.clear()
            by_pnid.update({c.phone_number_id: n for n, c in fresh.items() if c.phone_number_id})
            worker.split = make_split(scopes(fresh), observe)
            worker.routes = {name: c.route for name, c in fresh.items()}
            channels.clear()
            channels.update(fresh)
            log.warning("config reloaded: channels %s", ", ".join(sorted(fresh)))

        class _Server(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets=sockets)
                if hasattr(signal, "SIGHUP"):
                    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)

        limits = limits_from(header_timeout, read_timeout, keep_alive_timeout, max_connections)
        server = _Server(LimitedConfig(
            app, limits=limits, host=host, port=port, log_level=log_level, access_log=False,
            lifespan="on", timeout_graceful_shutdown=10,
        ))
        server.run()
    finally:
        store.close()
        if state is not None:
            state.state.close()


def _reconciler(config: Config, state_url: str | None) -> Reconciler | None:
    """The outcome reconciler on the shared state store, or None without one."""
    from shim.client.outcomes import Reconciler

    url = resolve_state_url(config, state_url)
    if url == "memory":
        return None
    ttl = config.state.outcome_ttl if config.state else None
    store = open_for_cli(url)
    click.echo(f"settling idempotency keys in {store.where} from status webhooks", err=True)
    return Reconciler(store, ttl=ttl) if ttl else Reconciler(store)


@relay.group()
def dlq() -> None:
    """Dead letters: deliveries the relay gave up on, and events it could not translate."""


@dlq.command("list")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="The relay's store.")
@click.option("--id", "ids", type=int, multiple=True, help="Only these ids (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, with bodies.")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
def dlq_list(db: str, ids: tuple[int, ...], as_json: bool, limit: int) -> None:
    """List dead letters, oldest first."""
    store = _open(db, exclusive=False)
    try:
        letters = store.dead_letters(ids, limit)
    finally:
        store.close()
    if as_json:
        for letter in letters:
            line = json.dumps(_as_dict(letter), ensure_ascii=False)
            # A lone surrogate (a poison event's text) stays a JSON escape, not an encode error.
            click.echo(line.encode("utf-8", "backslashreplace").decode("utf-8"))
        return
    if not letters:
        click.echo("no dead letters")
        return
    click.echo(f"{'ID':>6}  {'CHANNEL':<14} {'KIND':<5} {'TRIES':>5}  {'FAILED AT (UTC)':<19}  "
               "KEY / ERROR")
    for letter in letters:
        failed = _iso(letter.failed_at) if letter.failed_at else "-"
        key = letter.dedupe_key or "-"
        click.echo(f"{letter.id:>6}  {letter.channel[:14]:<14} {letter.kind:<5} "
                   f"{letter.attempts:>5}  {failed:<19}  {key} / {letter.last_error or '-'}")
    click.echo(f"{len(letters)} dead letter(s); replay with: waba-migrate relay dlq replay "
               f"--db {db} [--id ID ...]")


@dlq.command("replay")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="The relay's store.")
@click.option("--id", "ids", type=int, multiple=True,
              help="Replay only these ids (repeatable); default: every dead letter.")
def dlq_replay(db: str, ids: tuple[int, ...]) -> None:
    """Queue dead letters for delivery again (a running relay picks them up)."""
    store = _open(db, exclusive=False)
    try:
        if ids:
            known = {letter.id for letter in store.dead_letters(ids, len(ids))}
            missing = sorted(set(ids) - known)
            if missing:
                raise click.ClickException(
                    f"no dead letter with id {', '.join(map(str, missing))} (see: relay dlq list)"
                )
        count = store.replay(ids, time.time())
    finally:
        store.close()
    click.echo(f"{count} dead letter(s) queued again")


@dlq.command("drop")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="The relay's store.")
@click.option("--id", "ids", type=int, multiple=True, required=True,
              help="Drop these dead letters (repeatable).")
def dlq_drop(db: str, ids: tuple[int, ...]) -> None:
    """Forget reviewed dead letters (e.g. refused items), so /healthz stops reporting them."""
    store = _open(db, exclusive=False)
    try:
        known = {letter.id for letter in store.dead_letters(ids, len(ids))}
        missing = sorted(set(ids) - known)
        if missing:
            raise click.ClickException(
                f"no dead letter with id {', '.join(map(str, missing))} (see: relay dlq list)")
        count = store.drop(ids)
    finally:
        store.close()
    click.echo(f"{count} dead letter(s) dropped")


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _as_dict(letter: DeadLetter) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": letter.id, "event_id": letter.event_id, "channel": letter.channel,
        "kind": letter.kind, "dedupe_key": letter.dedupe_key, "attempts": letter.attempts,
        "created_at": _iso(letter.created_at),
        "failed_at": _iso(letter.failed_at) if letter.failed_at else None,
        "error": letter.last_error,
    }
    try:
        out["body"] = read_json(letter.body)
    except JSONInputError:  # kept as received (not JSON, too deep): show it as text
        out["body"] = letter.body.decode("utf-8", "replace")
    return out

"""Which channels the relay serves, with their secrets resolved once at start-up.

Fails closed: a channel whose secrets cannot be resolved, or that has nothing
to authenticate senders with, stops the relay from starting (unless the
explicit insecure flag is given), instead of accepting unsigned events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from shim.config import ChannelConfig, Config, MissingSecretError
from shim.relay.routing import NumberScope
from shim.relay.worker import Route
from shim.webhooks.signature import InsecureConfigError, WebhookAuth

__all__ = ["RelayChannel", "RelayConfigError", "relay_channels", "scopes"]


class RelayConfigError(ValueError):
    """The config cannot run a relay; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class RelayChannel:
    name: str
    auth: WebhookAuth
    route: Route
    phone_number_id: str | None
    scope: NumberScope = field(default_factory=NumberScope)
    #: Channels serving a number whose credentials overlap ours: a POST we accept is
    #: checked against theirs too, and may be routed to those that accept it as well.
    peers: tuple[str, ...] = ()

    def accepting_peers(self, channels: Mapping[str, RelayChannel],
                        headers: Mapping[str, str], body: bytes) -> tuple[str, ...]:
        """The peers whose own credentials accept this (already accepted) POST."""
        return tuple(p for p in self.peers if channels[p].auth.check_post(headers, body).ok)


def scopes(channels: Mapping[str, RelayChannel]) -> dict[str, NumberScope]:
    return {name: c.scope for name, c in channels.items()}


def _overlap(a: WebhookAuth, b: WebhookAuth) -> bool:
    """Whether a POST ``a`` accepts could also pass ``b`` (a shared credential, or ``b``
    checks nothing at all)."""
    if not b.app_secrets and not b.header_secrets:
        return True
    if set(a.app_secrets) & set(b.app_secrets):
        return True
    return bool(a.secret_header and b.secret_header
                and a.secret_header.lower() == b.secret_header.lower()
                and set(a.header_secrets) & set(b.header_secrets))


def relay_channels(
    config: Config,
    *,
    insecure_skip_signature: bool = False,
    environ: Mapping[str, str] | None = None,
) -> dict[str, RelayChannel]:
    """Every channel with a ``forward_url``, ready to serve."""
    problems: list[str] = []
    channels: dict[str, RelayChannel] = {}
    for name, channel in config.channels.items():
        if channel.forward_url is None:
            continue
        try:
            channels[name] = _channel(channel, insecure_skip_signature, environ)
        except MissingSecretError as exc:  # already names channels.NAME.key
            problems.append(str(exc))
        except InsecureConfigError as exc:
            problems.append(f"channels.{name}: {exc}")
    if not channels and not problems:
        problems.append("no channel has a forward_url (where the relay should deliver)")
    if problems:
        raise RelayConfigError(f"{config.source}: " + f"\n{config.source}: ".join(problems))
    return {name: replace(relay, peers=tuple(
        other for other, c in channels.items()
        if other != name and c.scope.phone_number_id and _overlap(relay.auth, c.auth)))
        for name, relay in channels.items()}


def _channel(
    channel: ChannelConfig, insecure: bool, environ: Mapping[str, str] | None
) -> RelayChannel:
    for index, ref in enumerate(channel.app_secret):
        if ref.resolve(environ) is None:
            key = f"app_secret[{index}]" if len(channel.app_secret) > 1 else "app_secret"
            raise MissingSecretError(channel.name, key, ref.var)
    verify_token = None
    if channel.verify_token is not None:
        verify_token = channel.secret("verify_token", environ)
    header_secret = None
    if channel.webhook_secret is not None:
        header_secret = channel.secret("webhook_secret", environ)
    auth = WebhookAuth.build(
        app_secrets=channel.app_secrets(environ),
        verify_token=verify_token,
        secret_header=channel.webhook_secret_header,
        header_secrets=header_secret,
        insecure_skip_signature=insecure,
    )
    assert channel.forward_url is not None
    route = Route(channel.forward_url, channel.resolved_forward_headers(environ),
                  channel.forward_timeout)
    return RelayChannel(channel.name, auth, route, channel.phone_number_id,
                        NumberScope(channel.phone_number_id, channel.waba_id))

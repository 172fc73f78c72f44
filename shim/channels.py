"""Where a channel's Cloud requests go: the Graph URL and auth header, from the config.

Code that serves several WhatsApp numbers cannot use one global phone-number id.
The codemods point such code here: ``graph_target("shop")`` reads channel
``shop`` of the project's config (``$WABA_MIGRATE_CONFIG`` unless a config is
given) and returns the Graph messages URL and the Bearer header for that number.
Nothing is read at import time, so a module that uses it imports cleanly
without any configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import urlsplit

from shim.config import ChannelConfig, Config, ConfigError, load_config
from shim.mapping.hosts import (
    AUTHORIZATION_HEADER,
    D360_API_KEY_HEADER,
    META_GRAPH_BASE_URL,
    Target,
    auth_headers,
    presented_key,
)


@dataclass(frozen=True, slots=True)
class GraphTarget:
    url: str
    headers: dict[str, str]


def graph_target(channel: str | None = None, path: str = "messages", *,
                 config: Config | None = None,
                 environ: Mapping[str, str] | None = None) -> GraphTarget:
    """The Graph URL ``/{version}/{phone_number_id}/{path}`` and Bearer header of a channel.

    ``channel`` may be None when the config has exactly one channel. Raises
    :class:`shim.config.ConfigError` when the channel has no ``phone_number_id``
    and :class:`shim.config.MissingSecretError` when its token is not set.
    """
    cfg = config if config is not None else load_config()
    try:
        ch = cfg.channel(channel)
    except KeyError as exc:
        raise ConfigError(cfg.source, [("channels", str(exc.args[0]))]) from None
    if ch.phone_number_id is None:
        raise ConfigError(cfg.source, [(f"channels.{ch.name}.phone_number_id",
                                        "required to send through the Graph API")])
    token = ch.secret("access_token", environ)
    url = f"{META_GRAPH_BASE_URL}/{ch.graph_api_version}/{ch.phone_number_id}/{path.lstrip('/')}"
    return GraphTarget(url, {"Authorization": f"Bearer {token}"})


class CloudRequest(TypedDict):
    """Keyword arguments for an HTTP client call: ``requests.post(**req, json=body)``."""

    url: str
    headers: dict[str, str]


_AUTH = frozenset({D360_API_KEY_HEADER.lower(), AUTHORIZATION_HEADER.lower()})


def cloud_request(target: str, path: str, legacy_headers: Mapping[str, str] | None = None,
                  legacy_url: str | None = None, *, config: Config | None = None,
                  environ: Mapping[str, str] | None = None) -> CloudRequest:
    """The Cloud URL and headers of the channel a legacy On-Prem call was made for.

    ``waba-migrate rewrite`` points per-channel code here: the call keeps passing
    the headers (and URL) it built for On-Prem, and the channel is found the way
    the gateway finds it: the config channel whose ``legacy_api_key``/``api_key``
    equals the key those headers carry, else whose ``legacy_base_url`` has the
    URL's host, else (when the call sends no key) the only channel. ``path`` is
    the target's Cloud path (``/messages``; Meta: ``/{phone_number_id}/messages``).
    The legacy auth header is replaced by the channel's Cloud credential; other
    headers are kept.
    Raises :class:`shim.config.ConfigError` when no channel fits or the channel's
    backend is not ``target``; nothing is read at import time.
    """
    cfg = config if config is not None else load_config()
    want = Target(target)
    ch = _legacy_channel(cfg, legacy_headers, legacy_url, environ)
    if ch.backend is not want:
        raise ConfigError(cfg.source, [(f"channels.{ch.name}.backend",
                                        f"this code sends {want.value} Cloud requests; set "
                                        f'backend = "{want.value}"')])
    if want is Target.META:
        if ch.phone_number_id is None:
            raise ConfigError(cfg.source, [(f"channels.{ch.name}.phone_number_id",
                                            "required to send through the Graph API")])
        path = path.replace("{phone_number_id}", ch.phone_number_id)
    secret = ch.secret(ch.backend_secret_key, environ)
    headers = {k: v for k, v in (legacy_headers or {}).items() if k.lower() not in _AUTH}
    headers.update(auth_headers(want, secret))
    return CloudRequest(url=f"{ch.resolved_base_url}/{path.lstrip('/')}", headers=headers)


def _legacy_channel(cfg: Config, headers: Mapping[str, str] | None, url: str | None,
                    environ: Mapping[str, str] | None) -> ChannelConfig:
    tried: list[str] = []
    presented = presented_key(headers)
    if presented is not None:
        found = cfg.key_owners(presented, environ)
        if len(found) > 1:
            raise ConfigError(cfg.source, [("channels", f"the call's key belongs to several "
                                            f"channels ({', '.join(found)})")])
        if found:
            return cfg.channels[found[0]]
        tried.append("no channel's legacy_api_key or api_key equals the key the call sends")
    host = urlsplit(url).hostname if url else None
    if host:
        by_host = [ch for ch in cfg.channels.values() if ch.legacy_base_url
                   and urlsplit(ch.legacy_base_url).hostname == host]
        if len(by_host) == 1:
            return by_host[0]
        tried.append(f"{len(by_host)} channels have a legacy_base_url on {host}")
    # A key that no channel owns belongs to a number not configured here: sending
    # its call with the only channel's credentials would speak for the wrong number.
    if presented is None and len(cfg.channels) == 1:
        return next(iter(cfg.channels.values()))
    raise ConfigError(cfg.source, [("channels", "cannot tell which channel this call is for: "
                                    + "; ".join(tried or ["the call sends no key"]))])

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

from shim.config import Config, ConfigError, load_config
from shim.mapping.hosts import META_GRAPH_BASE_URL


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

"""The process-wide router the drop-ins share, loaded lazily from ``WABA_MIGRATE_CONFIG``.

Code rewritten to ``from shim.compat import requests`` has no place to pass a
config, so the drop-ins find it themselves: on the first call that might be an
On-Prem call, the file named by ``WABA_MIGRATE_CONFIG`` is loaded once and one
:class:`~shim.client.Router` plus one sync :class:`~shim.client.Dispatcher`
(one connection pool) serve every session, module function and transport in
the process. Pacing, idempotency keys and media-id origins are therefore
shared, as they must be: they belong to the WhatsApp number, not to a session.

If the variable changes (tests, a re-deployed config path), the next call
loads the new file. :func:`configure` pins a config or router explicitly.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from shim.client import Dispatcher, LegacyUrl, Router
from shim.config import CONFIG_ENV_VAR, Config, ConfigError, load_config
from shim.mapping.endpoints import is_turn_extension
from shim.mapping.hosts import ONPREM_HOSTS, ONPREM_PATH_PREFIX

__all__ = [
    "configure",
    "current_router",
    "intercept",
    "reset",
    "serving",
    "serving_call",
    "shared_dispatcher",
]

#: True while a drop-in is serving a call: the shim's own backend requests
#: (to an On-Prem backend, an On-Prem URL) must not be intercepted again.
_serving: ContextVar[bool] = ContextVar("waba_migrate_serving", default=False)


def serving() -> bool:
    return _serving.get()


@contextlib.contextmanager
def serving_call() -> Iterator[None]:
    token = _serving.set(True)
    try:
        yield
    finally:
        _serving.reset(token)

_PINNED: Final = "<configure()>"


@dataclass(frozen=True, slots=True)
class _Bound:
    source: str  # the env path it was loaded from, or _PINNED
    router: Router
    dispatcher: Dispatcher


_lock = threading.Lock()
_bound: _Bound | None = None


def configure(
    config: Config | str | os.PathLike[str] | None = None, *, router: Router | None = None
) -> Router:
    """Pin the drop-ins to a config (object or file) or a ready router.

    With neither argument the file named by ``WABA_MIGRATE_CONFIG`` is loaded
    now (handy to fail fast at start-up instead of on the first send).
    """
    global _bound
    if router is None:
        if config is None:
            config = load_config()
        elif not isinstance(config, Config):
            config = load_config(Path(config))
        router = Router(config)
    new = _Bound(_PINNED, router, Dispatcher(router))
    with _lock:
        old, _bound = _bound, new
    if old is not None:
        old.dispatcher.close()
    return router


def reset() -> None:
    """Forget the pinned or loaded router and close its connection pool."""
    global _bound
    with _lock:
        old, _bound = _bound, None
    if old is not None:
        old.dispatcher.close()


def _current() -> _Bound | None:
    global _bound
    bound = _bound  # one read: lock-free fast path
    if bound is not None and bound.source == _PINNED:
        return bound
    path = os.environ.get(CONFIG_ENV_VAR) or None
    if bound is not None and bound.source == path:
        return bound
    if path is None:
        return None
    with _lock:
        bound = _bound
        if bound is not None and bound.source in (path, _PINNED):
            return bound
        router = Router(load_config(path))
        old, _bound = bound, _Bound(path, router, Dispatcher(router))
        new = _bound
    if old is not None:
        old.dispatcher.close()
    return new


def current_router() -> Router | None:
    """The shared router, or None when nothing is configured."""
    bound = _current()
    return bound.router if bound is not None else None


def shared_dispatcher() -> Dispatcher:
    """The shared sync dispatcher (raises :class:`ConfigError` when unconfigured)."""
    bound = _current()
    if bound is None:
        raise ConfigError(
            "<no config>",
            [("", f"no channel config: set {CONFIG_ENV_VAR} or call shim.compat.configure(...)")],
        )
    return bound.dispatcher


def is_onprem_api_url(url: str) -> bool:
    """A URL on a well-known On-Prem host under ``/v1`` (no config needed to tell)."""
    parts = urlsplit(url)
    path = parts.path
    return (parts.hostname or "").lower() in ONPREM_HOSTS and (
        path == ONPREM_PATH_PREFIX or path.startswith(ONPREM_PATH_PREFIX + "/")
    )


def intercept(url: str, router: Router | None = None) -> LegacyUrl | None:
    """Should a drop-in route ``url`` through the shim? Then its On-Prem path and channel hint.

    ``router`` is an explicitly wired router; without one the shared router is
    used. Paths only Turn.io serves (contact profiles, labels, history, ...) are
    never routed: they go to the legacy host unchanged, whatever the config says.
    With no config at all, URLs on the well-known On-Prem hosts raise
    :class:`ConfigError` (sending them to the retired host would be worse) and
    every other URL is left alone.
    """
    if router is None:
        router = current_router()
    if router is None:
        if is_onprem_api_url(url) and not is_turn_extension(urlsplit(url).path):
            parts = urlsplit(url)
            raise ConfigError(
                "<no config>",
                [
                    (
                        "",
                        f"{parts.scheme}://{parts.netloc}{parts.path} is an On-Premise API URL; "
                        f"the shim needs the channel config to route it: set {CONFIG_ENV_VAR} "
                        "or call shim.compat.configure(...)",
                    )
                ],
            )
        return None
    legacy = router.match_url(url)
    if legacy is not None and is_turn_extension(legacy.path):
        return None  # Turn's own API (profiles, labels, ...): it stays on Turn, untouched
    return legacy

"""Where each API generation lives and how it authenticates.

Sources: api-mapping reference section 1 (hosts, auth) and section 5 (lookaside
host rewrite for 360dialog Cloud media downloads).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit, urlunsplit


class Target(StrEnum):
    """A backend a channel can be served by."""

    ONPREM = "onprem"
    D360 = "360dialog"
    META = "meta"


CLOUD_TARGETS: Final = (Target.D360, Target.META)

ONPREM_BASE_URL: Final = "https://waba.360dialog.io"
ONPREM_SANDBOX_BASE_URL: Final = "https://waba-sandbox.360dialog.io"
#: Hosts whose ``/v1/...`` paths are the On-Premise API (the shim and codemods
#: treat any URL on these hosts as legacy).
ONPREM_HOSTS: Final = ("waba.360dialog.io", "waba-sandbox.360dialog.io")
ONPREM_PATH_PREFIX: Final = "/v1"

D360_CLOUD_BASE_URL: Final = "https://waba-v2.360dialog.io"
D360_CLOUD_HOSTS: Final = ("waba-v2.360dialog.io",)
D360_PARTNER_BASE_URL: Final = "https://hub.360dialog.io/api/v2"

META_GRAPH_BASE_URL: Final = "https://graph.facebook.com"
META_GRAPH_HOSTS: Final = ("graph.facebook.com",)
#: Decision: the Graph version is pinned per channel and never auto-discovered;
#: this is the default a new channel gets. Bump deliberately.
DEFAULT_GRAPH_VERSION: Final = "v24.0"

D360_API_KEY_HEADER: Final = "D360-API-KEY"
AUTHORIZATION_HEADER: Final = "Authorization"
_D360_LOWER: Final = D360_API_KEY_HEADER.lower()
_AUTHORIZATION_LOWER: Final = AUTHORIZATION_HEADER.lower()

def presented_key(headers: Mapping[str, str] | None) -> str | None:
    """The credential a call sends: its D360-API-KEY, else its Bearer token.

    The one reader for the router, ``cloud_request`` and the gateway's routing, so a
    key written with spaces around it, or an empty D360 header next to a Bearer
    token, finds the same channel everywhere.
    """
    if not headers:
        return None
    d360 = auth = None
    for name, value in headers.items():
        low = name.lower()
        if low == _D360_LOWER:
            d360 = value
        elif low == _AUTHORIZATION_LOWER:
            auth = value
    if d360 is not None and d360.strip():
        return d360.strip()
    if auth is not None:
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


#: Meta's media CDN. 360dialog Cloud proxies it: replace scheme+host with the
#: 360dialog base URL, keep path and query, send D360-API-KEY.
LOOKASIDE_HOST: Final = "lookaside.fbsbx.com"

#: Cloud webhook payloads are at most 3 MB.
MAX_WEBHOOK_BYTES: Final = 3 * 1024 * 1024


def default_base_url(target: Target) -> str:
    """The production base URL of a target."""
    return {
        Target.ONPREM: ONPREM_BASE_URL,
        Target.D360: D360_CLOUD_BASE_URL,
        Target.META: META_GRAPH_BASE_URL,
    }[target]


def rewrite_lookaside_url(url: str, base_url: str = D360_CLOUD_BASE_URL) -> str:
    """Point a lookaside media URL at the 360dialog proxy (path and query kept).

    URLs on any other host are returned unchanged, so a URL already rewritten
    (or one a sandbox hands out) survives a second pass.
    """
    parts = urlsplit(url)
    if parts.hostname != LOOKASIDE_HOST:
        return url
    base = urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


def auth_headers(target: Target, secret: str) -> dict[str, str]:
    """The header a backend expects its credential in."""
    if target is Target.META:
        return {AUTHORIZATION_HEADER: f"Bearer {secret}"}
    return {D360_API_KEY_HEADER: secret}

"""360dialog Partner API: the channel API keys a migrated number needs.

A number moved from On-Prem to 360dialog Cloud needs a new ``D360-API-KEY``
(the old one does not work on waba-v2). Partners create it with the Partner
API, next to the Hub UI:

* ``POST {base}/token`` ``{username, password}`` -> ``{access_token, ...}`` (Bearer)
* ``POST|GET|DELETE {base}/partners/{partner_id}/channels/{channel_id}/api_keys``;
  create answers ``{id, address, api_key, app_id}`` (``address``: the host the
  key belongs to), list answers ``{api_keys: [...]}``.

Facts: api-mapping reference section 1. Credentials come from the environment
(:meth:`PartnerCredentials.from_env`); no secret (password, token, key) is ever
put in a ``repr``, a log line or an exception message. A created key is shown
once, by the caller that asked for it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx

from shim.client.errors import ShimError
from shim.mapping.hosts import D360_PARTNER_BASE_URL

__all__ = [
    "PARTNER_PASSWORD_ENV",
    "PARTNER_TOKEN_ENV",
    "PARTNER_USERNAME_ENV",
    "ChannelApiKey",
    "PartnerAuthError",
    "PartnerClient",
    "PartnerCredentials",
    "PartnerError",
    "PartnerOutcomeUnknown",
]

log = logging.getLogger("shim.partner")

PARTNER_USERNAME_ENV: Final = "WABA_PARTNER_USERNAME"
PARTNER_PASSWORD_ENV: Final = "WABA_PARTNER_PASSWORD"
#: A Bearer token obtained elsewhere (used instead of username/password).
PARTNER_TOKEN_ENV: Final = "WABA_PARTNER_TOKEN"

_USER_AGENT: Final = "waba-migrate/0.1 (partner keys)"
_MAX_MESSAGE: Final = 300


class PartnerError(ShimError):
    """The Partner API refused or failed a call (status and the server's own message)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class PartnerAuthError(PartnerError):
    """Missing or rejected partner credentials."""


class PartnerOutcomeUnknown(PartnerError):
    """A create call was sent but its answer was lost; the key may exist."""


@dataclass(frozen=True, slots=True)
class ChannelApiKey:
    """One API key of a channel. ``api_key`` is only known right after creation."""

    id: str
    address: str | None = None
    app_id: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: Any, where: str) -> ChannelApiKey:
        if not isinstance(data, Mapping) or data.get("id") in (None, ""):
            raise PartnerError(f"unexpected Partner API answer: {where} has no key id")

        def text(name: str) -> str | None:
            value = data.get(name)
            return None if value is None else str(value)

        return cls(str(data["id"]), text("address"), text("app_id"), text("api_key"))

    def public(self) -> dict[str, str | None]:
        """Everything but the key itself (for listings and logs)."""
        return {"id": self.id, "address": self.address, "app_id": self.app_id}


@dataclass(frozen=True, slots=True)
class PartnerCredentials:
    """A partner user's login, or a Bearer token obtained elsewhere."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.token and not (self.username and self.password):
            raise PartnerAuthError(
                f"no partner credentials: set {PARTNER_USERNAME_ENV} and {PARTNER_PASSWORD_ENV} "
                f"(a partner user's login) or {PARTNER_TOKEN_ENV} (a Bearer token)"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PartnerCredentials:
        env = os.environ if environ is None else environ
        return cls(
            username=env.get(PARTNER_USERNAME_ENV) or None,
            password=env.get(PARTNER_PASSWORD_ENV) or None,
            token=env.get(PARTNER_TOKEN_ENV) or None,
        )

    @property
    def can_login(self) -> bool:
        return bool(self.username and self.password)


def check_base_url(base_url: str) -> str:
    """The Partner API base URL, refusing plain HTTP except to loopback (credentials travel)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PartnerError(
            f"--base-url must be an http(s) URL with a host, e.g. {D360_PARTNER_BASE_URL}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise PartnerError(
            "--base-url: refusing to send partner credentials over plain http to "
            f"{parts.hostname}; use https"
        )
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _segment(value: str, name: str) -> str:
    if not value or not value.strip():
        raise PartnerError(f"{name} must not be empty")
    return quote(value.strip(), safe="")


def _server_message(response: httpx.Response) -> str:
    """The server's own explanation, short (never the request, which may hold secrets)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:_MAX_MESSAGE] if text else response.reason_phrase
    found: Any = None
    if isinstance(body, Mapping):
        meta = body.get("meta")
        if isinstance(meta, Mapping):
            found = meta.get("developer_message") or meta.get("developerMessage")
        for name in ("detail", "message", "error_description", "error", "errors"):
            if found:
                break
            found = body.get(name)
    text = found if isinstance(found, str) else str(found if found else body)
    return text[:_MAX_MESSAGE]


class PartnerClient:
    """Create, list and delete a channel's API keys through the Partner API."""

    def __init__(
        self,
        credentials: PartnerCredentials,
        *,
        base_url: str = D360_PARTNER_BASE_URL,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._credentials = credentials
        self._token: str | None = credentials.token
        self._lock = threading.Lock()
        self._own = http is None
        self._http = http or httpx.Client(timeout=timeout, follow_redirects=False)

    # -- auth ----------------------------------------------------------------

    def login(self) -> str:
        """Exchange the username/password for a Bearer token (kept for later calls)."""
        creds = self._credentials
        if not creds.can_login:
            raise PartnerAuthError(
                f"the partner token was rejected and no login is configured "
                f"({PARTNER_USERNAME_ENV}/{PARTNER_PASSWORD_ENV})"
            )
        try:
            response = self._http.post(
                f"{self.base_url}/token",
                json={"username": creds.username, "password": creds.password},
                headers={"User-Agent": _USER_AGENT},
            )
        except httpx.HTTPError as exc:
            raise PartnerError(
                f"cannot reach {self.base_url}/token: {type(exc).__name__}"
            ) from None
        if response.status_code in (400, 401, 403):
            raise PartnerAuthError(
                f"partner login refused (HTTP {response.status_code}): {_server_message(response)}",
                status=response.status_code,
            )
        if response.status_code >= 300:
            raise PartnerError(
                f"partner login failed (HTTP {response.status_code}): {_server_message(response)}",
                status=response.status_code,
            )
        try:
            token = response.json().get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise PartnerError("unexpected Partner API answer: /token returned no access_token")
        with self._lock:
            self._token = token
        log.info("partner login succeeded at %s", self.base_url)
        return token

    def _bearer(self) -> str:
        with self._lock:
            token = self._token
        return token or self.login()

    def _call(self, method: str, path: str, *, unknown_on_loss: bool = False) -> httpx.Response:
        url = f"{self.base_url}{path}"
        relogged = False
        while True:
            headers = {"Authorization": f"Bearer {self._bearer()}", "User-Agent": _USER_AGENT}
            try:
                response = self._http.request(method, url, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise PartnerError(
                    f"cannot reach {self.base_url}: {type(exc).__name__}; nothing was changed"
                ) from None
            except httpx.HTTPError as exc:
                if unknown_on_loss:
                    raise PartnerOutcomeUnknown(
                        f"{method} {path}: the answer was lost ({type(exc).__name__}); the key "
                        "may have been created. Check with `waba-migrate keys list` before "
                        "creating again (a new key revokes the channel's earlier keys)"
                    ) from None
                raise PartnerError(f"{method} {path} failed: {type(exc).__name__}") from None
            if response.status_code == 401 and not relogged and self._credentials.can_login:
                relogged = True  # an expired token: log in again once, the call was not served
                with self._lock:
                    self._token = None
                continue
            if response.status_code in (401, 403):
                raise PartnerAuthError(
                    f"{method} {path}: HTTP {response.status_code}: {_server_message(response)}",
                    status=response.status_code,
                )
            if response.status_code >= 300:
                raise PartnerError(
                    f"{method} {path}: HTTP {response.status_code}: {_server_message(response)}",
                    status=response.status_code,
                )
            return response

    # -- channel API keys ------------------------------------------------------

    @staticmethod
    def keys_path(partner_id: str, channel_id: str) -> str:
        return (
            f"/partners/{_segment(partner_id, 'partner id')}"
            f"/channels/{_segment(channel_id, 'channel id')}/api_keys"
        )

    def create_api_key(self, partner_id: str, channel_id: str) -> ChannelApiKey:
        """A new key for the channel (its ``api_key`` is shown by the Partner API only now)."""
        path = self.keys_path(partner_id, channel_id)
        response = self._call("POST", path, unknown_on_loss=True)
        try:
            data = response.json()
        except ValueError:
            raise PartnerError("unexpected Partner API answer: create returned no JSON") from None
        key = ChannelApiKey.from_json(data, "the create answer")
        if not key.api_key:
            raise PartnerError("unexpected Partner API answer: create returned no api_key")
        log.info("created API key %s for channel %s", key.id, channel_id)
        return key

    def list_api_keys(self, partner_id: str, channel_id: str) -> list[ChannelApiKey]:
        response = self._call("GET", self.keys_path(partner_id, channel_id))
        try:
            data = response.json()
        except ValueError:
            raise PartnerError("unexpected Partner API answer: list returned no JSON") from None
        items = data.get("api_keys") if isinstance(data, Mapping) else data
        if not isinstance(items, list):
            raise PartnerError("unexpected Partner API answer: no api_keys list")
        return [ChannelApiKey.from_json(item, f"api_keys[{i}]") for i, item in enumerate(items)]

    def delete_api_keys(self, partner_id: str, channel_id: str) -> None:
        """Delete the channel's API key(s); callers using them stop working."""
        self._call("DELETE", self.keys_path(partner_id, channel_id))
        log.info("deleted the API key(s) of channel %s", channel_id)

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> PartnerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

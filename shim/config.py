"""Per-channel configuration: one TOML file, one loader, shared by client, gateway and relay.

Each ``[channels.NAME]`` table says which backend serves a WhatsApp number and
with which credentials, so switching a channel from On-Prem to Cloud is a
one-line edit of ``backend``. Secrets are never written in the file: every
secret key holds an ``env:NAME`` reference that is resolved lazily, when a
request needs it, so a config can be validated (``waba-migrate config check``)
on a machine that does not hold the secrets.

Example::

    [channels.shop]
    phone_number = "+4915112345678"
    backend = "360dialog"                 # onprem | 360dialog | meta
    api_key = "env:SHOP_D360_KEY"         # the 360dialog Cloud key
    onprem_api_key = "env:SHOP_OLD_KEY"   # used only while backend = "onprem"
    legacy_api_key = "env:SHOP_OLD_KEY"   # the key existing callers still send
    mps = 80

    [channels.shop.retry]
    max_attempts = 4

    [channels.shop.timeouts]
    read = 20.0

    [state]                               # optional: share state between processes
    url = "sqlite:///waba-state.db"       # or "env:WABA_STATE_URL" for postgresql://...

Errors never echo a value from the file (it might be a pasted secret); they
name the file and the dotted key instead.
"""

from __future__ import annotations

import hmac
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shim.mapping.hosts import DEFAULT_GRAPH_VERSION, Target, default_base_url
from shim.mapping.limits import DEFAULT_MPS, MAX_MPS

__all__ = [
    "CONFIG_ENV_VAR",
    "MAX_MPS",
    "ROUTING_KEYS",
    "SECRET_KEYS",
    "ChannelConfig",
    "Config",
    "ConfigError",
    "EnvRef",
    "MissingSecretError",
    "MissingStateUrlError",
    "RetryPolicy",
    "StateConfig",
    "Timeouts",
    "load_config",
    "parse_config",
]

#: Environment variable naming the config file used when no path is given.
CONFIG_ENV_VAR: Final = "WABA_MIGRATE_CONFIG"

#: Keys that hold secrets: only ``env:NAME`` references are accepted for them.
SECRET_KEYS: Final = (
    "api_key",
    "legacy_api_key",
    "onprem_api_key",
    "access_token",
    "app_secret",
    "verify_token",
    "webhook_secret",
)

#: Keys whose value a caller presents to select its channel (D360-API-KEY / Bearer).
ROUTING_KEYS: Final = ("legacy_api_key", "api_key")

ENV_PREFIX: Final = "env:"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{4,24}")
_GRAPH_VERSION = re.compile(r"v[0-9]+\.[0-9]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the keys."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {key}: {msg}" if key else f"{source}: {msg}" for key, msg in problems]
        super().__init__("\n".join(lines))


class MissingSecretError(LookupError):
    """A secret's environment variable is not set (names the variable, never a value)."""

    def __init__(self, channel: str, key: str, var: str) -> None:
        self.channel, self.key, self.var = channel, key, var
        super().__init__(
            f"channels.{channel}.{key}: environment variable {var} is not set "
            f"(the config references it as env:{var})"
        )


@dataclass(frozen=True, slots=True)
class EnvRef:
    """A reference to an environment variable holding a secret (``env:NAME``)."""

    var: str

    def resolve(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The variable's value, or None when it is unset or empty."""
        value = (os.environ if environ is None else environ).get(self.var)
        return value or None

    def __str__(self) -> str:
        return f"{ENV_PREFIX}{self.var}"

    def __repr__(self) -> str:
        return f"EnvRef({self.var!r})"


def _parse_env_ref(value: object) -> EnvRef:
    if isinstance(value, EnvRef):
        return value
    if not isinstance(value, str):
        raise ValueError('must be a string "env:VARIABLE_NAME"')
    if not value.startswith(ENV_PREFIX):
        # Never echo the value: it is most likely a pasted secret.
        raise ValueError(
            "literal secrets are refused; store the secret in an environment variable "
            'and write "env:VARIABLE_NAME" here'
        )
    name = value[len(ENV_PREFIX) :]
    if not _ENV_NAME.fullmatch(name):
        raise ValueError('"env:" must be followed by a variable name ([A-Za-z_][A-Za-z0-9_]*)')
    return EnvRef(name)


def _parse_env_refs(value: object) -> tuple[EnvRef, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(_parse_env_ref(v) for v in value)
    return (_parse_env_ref(value),)


SecretRef = Annotated[EnvRef, BeforeValidator(_parse_env_ref)]
SecretRefs = Annotated[tuple[EnvRef, ...], BeforeValidator(_parse_env_refs)]
#: Forwarded headers usually carry the app's credentials: same rule as secrets.
HeaderValue = SecretRef


def _check_http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        credentials = "@" in parts.netloc
        hostname = parts.hostname
    except ValueError:
        raise ValueError("must be an http(s) URL with a host (this one cannot be parsed)") from None
    if credentials:
        # Never echo the URL: the part before "@" is a password.
        raise ValueError(
            "credentials in the URL (user:password@host) are refused; they would be "
            "printed and not sent. Put them in an env: reference (e.g. forward_headers "
            '"Authorization" = "env:NAME") and remove them from the URL'
        )
    if parts.scheme not in ("http", "https") or not hostname:
        raise ValueError("must be an http(s) URL with a host, e.g. https://waba-v2.360dialog.io")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return value.rstrip("/")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class RetryPolicy(_Strict):
    """How often and how patiently a safe-to-retry failure is retried."""

    max_attempts: int = Field(default=4, ge=1, le=10)
    """Total attempts including the first one (1 = never retry)."""
    backoff_base: float = Field(default=0.5, gt=0, le=60)
    """First back-off in seconds; doubles per attempt, with jitter."""
    backoff_max: float = Field(default=30.0, gt=0, le=600)
    """Upper bound for one back-off (and for an honoured Retry-After)."""

    @model_validator(mode="after")
    def _ordered(self) -> RetryPolicy:
        if self.backoff_max < self.backoff_base:
            raise ValueError("backoff_max must be >= backoff_base")
        return self


class Timeouts(_Strict):
    """httpx timeouts in seconds; every phase is bounded."""

    connect: float = Field(default=5.0, gt=0, le=300)
    read: float = Field(default=30.0, gt=0, le=600)
    write: float = Field(default=30.0, gt=0, le=600)
    pool: float = Field(default=10.0, gt=0, le=600)


class ChannelConfig(_Strict):
    """One WhatsApp number and the backend that serves it."""

    name: str
    phone_number: str
    backend: Target
    api_key: SecretRef | None = None
    legacy_api_key: SecretRef | None = None
    onprem_api_key: SecretRef | None = None
    """The On-Prem backend's key, used while ``backend = "onprem"`` (``api_key`` then holds
    the Cloud key, so switching backend is the one edit). Not a routing key: callers are
    matched on ``legacy_api_key`` / ``api_key``."""
    base_url: str | None = None
    legacy_base_url: str | None = None
    """The On-Prem URL existing code still calls (e.g. a self-hosted node); drop-ins
    intercept it and route it to this channel."""
    phone_number_id: str | None = None
    access_token: SecretRef | None = None
    graph_api_version: str = DEFAULT_GRAPH_VERSION
    waba_id: str | None = None
    mps: int = Field(default=DEFAULT_MPS, ge=1, le=MAX_MPS)
    retry: RetryPolicy = RetryPolicy()
    timeouts: Timeouts = Timeouts()
    health_cache_s: float = Field(default=300.0, ge=0, le=86400)
    """Seconds a ``GET /v1/health`` answer is reused (0: every call asks the backend).
    360dialog's On-Prem health was cached and refreshed every 5 minutes, and Cloud's
    health endpoint is rate-limited, so callers polling often cost one call per period."""
    health_shape: Literal["single", "ha"] = "single"
    """``GET /v1/health`` shape: ``single`` (``{"health": {"gateway_status"}}``) or ``ha``,
    the high-availability map with one node entry (``role: "primary_master"``)."""
    # Webhook side (relay / gateway).
    app_secret: SecretRefs = ()
    """Meta app secret(s) for X-Hub-Signature-256; several allowed for rotation."""
    verify_token: SecretRef | None = None
    forward_url: str | None = None
    forward_headers: dict[str, HeaderValue] = Field(default_factory=dict)
    """Headers added to every delivery; values are ``env:NAME`` references only."""
    forward_timeout: float | None = Field(default=None, gt=0, le=600)
    """Seconds the app may take to answer one relay delivery (default: the relay's
    --forward-timeout, 10 s)."""
    webhook_secret_header: str | None = None
    webhook_secret: SecretRef | None = None

    @field_validator("phone_number")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not _PHONE.fullmatch(value):
            raise ValueError(
                'must be a phone number in international format, e.g. "+4915112345678"'
            )
        return value

    @field_validator("base_url", "legacy_base_url", "forward_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value)

    @field_validator("graph_api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _GRAPH_VERSION.fullmatch(value):
            raise ValueError('must look like "v24.0" (pinned; never auto-discovered)')
        return value

    @field_validator("phone_number_id", "waba_id")
    @classmethod
    def _numeric_id(cls, value: str | None) -> str | None:
        if value is not None and not value.isdigit():
            raise ValueError("must be the numeric id as a string")
        return value

    @field_validator("webhook_secret_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        if value is not None and not _HEADER_NAME.fullmatch(value):
            raise ValueError("must be a valid HTTP header name")
        return value

    @field_validator("forward_headers")
    @classmethod
    def _header_names(cls, value: dict[str, EnvRef]) -> dict[str, EnvRef]:
        for name in value:
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
        return value

    @model_validator(mode="after")
    def _backend_needs(self) -> ChannelConfig:
        missing: list[str] = []
        if self.backend is Target.META:
            missing += [k for k in ("phone_number_id", "access_token") if getattr(self, k) is None]
        elif self.backend is Target.D360:
            missing += ["api_key"] if self.api_key is None else []
        elif self.onprem_api_key is None and self.api_key is None and self.access_token is None:
            missing.append("onprem_api_key (or api_key, or access_token for a self-hosted node)")
        if missing:
            raise ValueError(f"backend {self.backend.value!r} needs {', '.join(missing)}")
        if (self.webhook_secret_header is None) != (self.webhook_secret is None):
            raise ValueError("webhook_secret_header and webhook_secret go together")
        return self

    # -- derived values ---------------------------------------------------

    @property
    def target(self) -> Target:
        return self.backend

    @property
    def resolved_base_url(self) -> str:
        """Where requests go (``base_url`` override or the backend's production host).

        For Meta the pinned Graph version is appended, as the translator's Cloud
        paths are relative to ``https://graph.facebook.com/{version}``.
        """
        base = self.base_url or default_base_url(self.backend)
        if self.backend is Target.META:
            return f"{base}/{self.graph_api_version}"
        return base

    @property
    def origin(self) -> str:
        """Scheme + host of the backend (for absolute URLs such as media downloads)."""
        return self.base_url or default_base_url(self.backend)

    @property
    def wa_id(self) -> str:
        """The number as digits only (how Cloud writes ``display_phone_number``)."""
        return re.sub(r"\D", "", self.phone_number)

    @property
    def backend_secret_key(self) -> Literal["api_key", "onprem_api_key", "access_token"]:
        """Which key authenticates calls to the backend."""
        if self.backend is Target.META:
            return "access_token"
        if self.backend is Target.ONPREM and self.onprem_api_key is not None:
            return "onprem_api_key"
        return "api_key" if self.api_key is not None else "access_token"

    def env_refs(self) -> dict[str, EnvRef]:
        """Every secret reference of this channel, by dotted key (for reports)."""
        refs: dict[str, EnvRef] = {}
        for key in SECRET_KEYS:
            value = getattr(self, key)
            if isinstance(value, EnvRef):
                refs[key] = value
            elif isinstance(value, tuple):
                for i, ref in enumerate(value):
                    refs[f"{key}[{i}]" if len(value) > 1 else key] = ref
        for header, hv in self.forward_headers.items():
            refs[f"forward_headers.{header}"] = hv
        return refs

    def secret(self, key: str, environ: Mapping[str, str] | None = None) -> str:
        """Resolve one secret key now; :class:`MissingSecretError` when unset."""
        ref = getattr(self, key, None)
        if isinstance(ref, tuple):
            ref = ref[0] if ref else None
        if not isinstance(ref, EnvRef):
            raise KeyError(f"channels.{self.name}.{key} is not configured")
        value = ref.resolve(environ)
        if value is None:
            raise MissingSecretError(self.name, key, ref.var)
        return value

    def optional_secret(self, key: str, environ: Mapping[str, str] | None = None) -> str | None:
        """Resolve a secret key, None when not configured or its variable is unset."""
        ref = getattr(self, key, None)
        if isinstance(ref, tuple):
            ref = ref[0] if ref else None
        return ref.resolve(environ) if isinstance(ref, EnvRef) else None

    def app_secrets(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """All configured app secrets whose variables are set (rotation order kept)."""
        return [v for v in (ref.resolve(environ) for ref in self.app_secret) if v]

    def resolved_forward_headers(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """``forward_headers`` with env references resolved; unset ones raise."""
        out: dict[str, str] = {}
        for header, hv in self.forward_headers.items():
            value = hv.resolve(environ)
            if value is None:
                raise MissingSecretError(self.name, f"forward_headers.{header}", hv.var)
            out[header] = value
        return out


_STATE_SCHEMES: Final = ("memory", "sqlite:///", "postgresql://", "postgres://")


def _parse_state_url(value: object) -> str | EnvRef:
    if isinstance(value, EnvRef):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if value.startswith(ENV_PREFIX):
        return _parse_env_ref(value)
    if not value.startswith(_STATE_SCHEMES):
        raise ValueError('must be "memory", "sqlite:///path/to/state.db", '
                         '"postgresql://user@host/db" or "env:VARIABLE_NAME"')
    netloc = urlsplit(value).netloc if "://" in value else ""
    if "@" in netloc and ":" in netloc.rpartition("@")[0]:
        # Never echo the value: it holds a password.
        raise ValueError("a password in the URL is refused; put the whole URL in an "
                         'environment variable and write "env:VARIABLE_NAME" here')
    return value


class StateConfig(_Strict):
    """``[state]``: where clients, gateways and relays share keys, outcomes, pacing, media.

    Without it each process keeps its own state in memory.
    """

    url: Annotated[str | EnvRef, BeforeValidator(_parse_state_url)] = "memory"
    """`memory`, `sqlite:///relative.db` / `sqlite:////absolute.db` (one machine),
    `postgresql://user@host/db` (several machines), or `env:NAME` holding one of
    them (required when the URL carries a password)."""
    outcome_ttl: float = Field(default=86400.0, gt=0, le=30 * 86400)
    """Seconds a completed keyed call's answer is replayed to a retry with its key."""
    settle_timeout: float = Field(default=3600.0, gt=0, le=30 * 86400)
    """Seconds after which an outcome-unknown key no status webhook settled is
    reported as overdue (it stays unknown; it is never resent by itself)."""

    def resolved_url(self, environ: Mapping[str, str] | None = None) -> str:
        if isinstance(self.url, EnvRef):
            value = self.url.resolve(environ)
            if value is None:
                raise MissingStateUrlError(
                    f"state.url: environment variable {self.url.var} is not set "
                    f"(the config references it as env:{self.url.var})"
                )
            return value
        return self.url


class MissingStateUrlError(LookupError):
    """``[state] url`` names an environment variable that is not set."""


class Config(_Strict):
    """A validated, frozen config file."""

    channels: dict[str, ChannelConfig]
    state: StateConfig | None = None
    source: str = "<config>"

    @field_validator("channels")
    @classmethod
    def _some(cls, value: dict[str, ChannelConfig]) -> dict[str, ChannelConfig]:
        if not value:
            raise ValueError("at least one [channels.NAME] table is needed")
        return value

    @model_validator(mode="after")
    def _unambiguous_keys(self) -> Config:
        # A caller's key picks its channel: one variable for two channels would
        # route every call of one of them to the other.
        owner: dict[str, str] = {}
        for name, ch in self.channels.items():
            for key in ROUTING_KEYS:
                ref = getattr(ch, key, None)
                if not isinstance(ref, EnvRef):
                    continue
                first = owner.setdefault(ref.var, f"{name}.{key}")
                if first.partition(".")[0] != name:
                    raise ValueError(
                        f"channels.{name}.{key} and channels.{first} both use env:{ref.var}; "
                        "a routing key must select exactly one channel"
                    )
        return self

    def key_owners(self, presented: str, environ: Mapping[str, str] | None = None) -> list[str]:
        """Names of the channels whose ``legacy_api_key``/``api_key`` equals ``presented``.

        Every configured key is compared (constant time, no early exit), so the
        timing does not tell which channel or key matched. Callers refuse more
        than one owner rather than guess.
        """
        given = presented.encode()
        found = [
            name
            for name, ch in self.channels.items()
            for key in ROUTING_KEYS
            if (value := ch.optional_secret(key, environ)) is not None
            and hmac.compare_digest(given, value.encode())
        ]
        return list(dict.fromkeys(found))

    def channel(self, name: str | None = None) -> ChannelConfig:
        """The named channel, or the only one when ``name`` is None."""
        if name is None:
            if len(self.channels) == 1:
                return next(iter(self.channels.values()))
            raise KeyError(
                f"{self.source}: several channels ({', '.join(sorted(self.channels))}); name one"
            )
        try:
            return self.channels[name]
        except KeyError:
            raise KeyError(
                f"{self.source}: no channel {name!r} (known: {', '.join(sorted(self.channels))})"
            ) from None


_FRIENDLY = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


def _format_errors(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in err["loc"] if not str(part).startswith("function-")]
        # Annotated validators add the union member name to loc; drop those.
        loc = [p for p in loc if p not in ("str", "EnvRef", "tuple[EnvRef, ...]")]
        msg = _FRIENDLY.get(err["type"], err["msg"])
        msg = msg.removeprefix("Value error, ")
        problems.append((".".join(loc), msg))
    return problems


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> Config:
    """Validate an already-parsed TOML document."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, [("", "the top level must be a table")])
    problems: list[tuple[str, str]] = []
    extra = sorted(set(data) - {"channels", "state"})
    problems += [(key, "unknown key (expected [channels.NAME] tables and [state])")
                 for key in extra]
    raw_channels = data.get("channels")
    if raw_channels is None:
        problems.append(("channels", "no [channels.NAME] table found"))
        raise ConfigError(source, problems)
    if not isinstance(raw_channels, Mapping):
        problems.append(("channels", "must be a table of [channels.NAME] tables"))
        raise ConfigError(source, problems)
    channels: dict[str, Any] = {}
    for name, table in raw_channels.items():
        if not _CHANNEL_NAME.fullmatch(name):
            problems.append((f"channels.{name}", "channel names use letters, digits, _ . -"))
            continue
        if not isinstance(table, Mapping):
            problems.append((f"channels.{name}", "must be a table"))
            continue
        if "name" in table:
            problems.append((f"channels.{name}.name", "unknown key (the table name is the name)"))
            continue
        channels[name] = {**table, "name": name}
    try:
        state = data.get("state")
        config = Config.model_validate(
            {"channels": channels, "source": source,
             **({"state": state} if state is not None else {})}
        )
    except ValidationError as exc:
        problems += _format_errors(exc)
    if problems:
        raise ConfigError(source, problems)
    return config


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file (default: the file ``$WABA_MIGRATE_CONFIG`` names).

    Secrets are not resolved here; see :meth:`ChannelConfig.secret`.
    """
    if path is None:
        env_path = os.environ.get(CONFIG_ENV_VAR)
        if not env_path:
            raise ConfigError(
                "<no config>",
                [("", f"no config file given; pass a path or set {CONFIG_ENV_VAR}")],
            )
        path = env_path
    file = Path(path)
    source = str(file)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(source, [("", "file not found")]) from None
    except OSError as exc:
        raise ConfigError(source, [("", f"cannot read: {exc.strerror}")]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(source, [("", "not UTF-8 text")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [("", f"invalid TOML: {exc}")]) from None
    return parse_config(data, source)

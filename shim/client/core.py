"""The seam every On-Prem entry point goes through: :class:`Router`.

One router turns a raw On-Prem v1 request into an On-Prem-shaped response,
whatever backend the channel uses. The Python client, the drop-ins
(``shim.compat`` requests module and httpx transport) and the HTTP gateway all
call it; there is no second routing or translation path.

Use it through a driver (``shim.client.dispatch``), which owns the connection
pool and does the I/O::

    from shim.client import Dispatcher, AsyncDispatcher, Router
    router = Router(load_config(), require_key=True)       # gateway: keys must match
    with Dispatcher(router) as d:                           # sync, one pool for all
        resp = d.dispatch("POST", "/v1/messages",
                          headers={"D360-API-KEY": old_key, "Content-Type": "application/json"},
                          content=b'{"to": "4915...", "text": {"body": "hi"}}')
    async with AsyncDispatcher(router) as d:                # async, one pool for all
        resp = await d.dispatch("GET", "/v1/health", headers=...)

``dispatch(method, path, *, headers=None, content=None, json=UNSET, channel=None,
options=None) -> ShimResponse``:

* ``path`` is the On-Prem path with its query (``/v1/media/abc``,
  ``/v1/configs/templates?limit=5``); full URLs are accepted too.
  ``Router.match_url(url)`` tells a drop-in whether a URL is an On-Prem URL to
  intercept (On-Prem hosts, ``legacy_base_url`` and On-Prem ``base_url`` of the
  config) and which channel its host implies.
* The channel is, in order: ``channel=`` (trusted in-process caller); the
  channel whose ``legacy_api_key`` or ``api_key`` equals the ``D360-API-KEY`` /
  ``Authorization: Bearer`` the call carries (``hmac.compare_digest`` against
  every channel); the host hint from ``match_url``; the router's
  ``default_channel``; the only channel. A call whose key matches no channel
  is routed only by its URL's host hint (never by the default or the only
  channel: the key belongs to a number not configured here) and otherwise gets
  401 / On-Prem 1005; with ``require_key=True`` (gateway) it always does.
  In-process, a Bearer token this router minted at a login also routes (to
  the login's channel) when the URL's host names no channel.
* The caller's credentials are never forwarded: the backend gets the channel's
  own ``api_key``/``access_token`` (resolved from the environment per call).
* The result is always a :class:`ShimResponse` in On-Prem shape: translated
  backend answers, local answers (``/v1/contacts``; in-process only,
  ``POST /v1/users/login`` for a channel named by the caller or the URL's
  host: a random token, see ``shim.client.logins``), our refusals (501 for
  endpoints with no Cloud equivalent, 400 for bad bodies and foreign media ids,
  401 for unknown keys) and two outcomes without a backend answer: 503 /
  On-Prem 1011 when the backend could not be reached (retries exhausted) and
  504 / On-Prem 1000 with ``outcome == Outcome.UNKNOWN`` when the request was
  sent but its fate is unknown (never resent; the ``Idempotency-Key`` response
  header and ``.idempotency_key`` carry the key for reconciliation). Drop-ins
  should surface that as their library's read-timeout error.
* Keys, outcomes, pacing budgets and media owners live in the router's
  :class:`~shim.client.state.StateStore` (memory by default; the config's
  ``[state] url`` or ``state=`` for one shared by many processes). An explicit
  idempotency key is claimed there before the send: a repeat gets the first
  call's answer, an unknown outcome answers 504 until a status webhook settles
  it (``shim.client.outcomes``) or the call is forced
  (``RequestOptions(force=True)`` / ``X-Waba-Migrate-Force-Resend: true``).

Signatures (stable; the gateway and drop-ins build on them)::

    Router(config, *, default_channel=None, require_key=False, environ=None,
           state=None, rng=None, clock=time.monotonic, pair_limit=None)
    Router.close()  # closes the state store the router opened itself
    Router.match_url(url) -> LegacyUrl(path, channel) | None
    Router.resolve(headers, channel=None, host_hint=None) -> ChannelConfig
    Router.plan(method, path, *, headers=None, content=None, json=UNSET,
                channel=None, options=None) -> Plan
    Dispatcher(router, *, http: httpx.Client | None = None)
    AsyncDispatcher(router, *, http: httpx.AsyncClient | None = None)
    (Async)Dispatcher.dispatch(method, path, *, headers=None, content=None,
                               json=UNSET, channel=None, options=None) -> ShimResponse
    RequestOptions(idempotency_key=None, max_attempts=None, read_timeout=None,
                   pace=True, pace_pair=True, force=False)

``ShimResponse``: ``status_code``, ``headers``, ``content``, ``text``,
``json()``, ``ok``, ``raise_for_status()``, plus ``channel``, ``backend``,
``endpoint``, ``idempotency_key``, ``outcome`` (``Outcome.OK|ERROR|UNKNOWN``),
``outcome_detail``, ``warnings``, ``attempts``, ``elapsed``, ``replayed``.
Response headers ``X-Waba-Migrate-Channel``/``-Backend``/``-Warnings`` and
``Idempotency-Key`` say how the call was served.

Internally :meth:`Router.plan` returns a generator of steps (``steps.py``); the
drivers execute them. Everything but sleeping and HTTP happens here, once.
"""

from __future__ import annotations

import functools
import json as jsonlib
import logging
import os
import random
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from shim.client.errors import ChannelError, refusal
from shim.client.fleet_pacing import SharedPairLimiter, SharedRateLimiter
from shim.client.idempotency import (
    CALLBACK_FIELD,
    FORCE_HEADER,
    MAX_CALLBACK_DATA,
    key_from,
    new_key,
    stamp_callback_data,
)
from shim.client.logins import MintedTokens, onprem_time
from shim.client.media_ids import MediaOwners, check_media_ids
from shim.client.outcomes import settled_answer
from shim.client.pacing import PairLimit, PairLimiter, RateLimiter, channel_burst
from shim.client.response import JSON_CONTENT_TYPE, Outcome, ShimResponse
from shim.client.retry import SAFE_TO_REPEAT, Reason, Verdict, judge_failure, judge_response
from shim.client.state import DEFAULT_OUTCOME_TTL, Entry, SlotRequest, StateStore, open_state
from shim.client.steps import Exchange, Plan, Sleep, TransportFailure
from shim.config import ChannelConfig, Config, MissingSecretError, RetryPolicy
from shim.json_input import JSONInputError, check_depth, find_surrogate, read_json
from shim.mapping.endpoints import (
    Body,
    EndpointMatch,
    collapse_slashes,
    match_endpoint,
    match_unsupported,
)
from shim.mapping.hosts import (
    LOOKASIDE_HOST,
    ONPREM_HOSTS,
    ONPREM_PATH_PREFIX,
    Target,
    auth_headers,
    presented_key,
)
from shim.translate import (
    CloudRequest,
    OnPremResponse,
    TranslationError,
    TranslationWarning,
    UnsupportedEndpointError,
    error_response,
    health_as_ha,
    media_download_url,
    translate_error,
    translate_request,
    translate_response,
)

__all__ = ["UNSET", "LegacyUrl", "RequestOptions", "Router"]

log = logging.getLogger("shim.client")

UNSET: Final[Any] = object()
USER_AGENT: Final = "waba-migrate/0.1"

#: Response headers describing how the shim served a call.
CHANNEL_HEADER: Final = "X-Waba-Migrate-Channel"
BACKEND_HEADER: Final = "X-Waba-Migrate-Backend"
WARNINGS_HEADER: Final = "X-Waba-Migrate-Warnings"
KEY_HEADER: Final = "Idempotency-Key"
REPLAY_HEADER: Final = "X-Waba-Migrate-Replayed"

# On-Prem codes (titles and statuses live in shim.mapping.errors.ONPREM_ERRORS).
_ACCESS_DENIED: Final = 1005
_SERVICE_NOT_READY: Final = 1011
_GENERIC: Final = 1000
_NOT_FOUND: Final = 1006
_INTERNAL: Final = 1014
_NOT_VALID: Final = 1009

#: Endpoints whose Cloud answer is a media object to fetch in a second step.
_TWO_STEP: Final = frozenset({"download_media"})
#: Endpoints the webhook verify token is needed for (Meta override).
_NEEDS_VERIFY_TOKEN: Final = frozenset({"set_webhook", "set_application_webhook"})


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """Per-call overrides (Stripe-style request options)."""

    idempotency_key: str | None = None
    max_attempts: int | None = None
    read_timeout: float | None = None
    #: take a slot from the channel's rate limiter (sends only)
    pace: bool = True
    #: take a slot from the recipient's pair limiter (send_many reserves it up front)
    pace_pair: bool = True
    #: send even though an earlier call with this key has an unknown (or failed)
    #: outcome: the caller accepts the risk of a double send
    force: bool = False


@dataclass(frozen=True, slots=True)
class LegacyUrl:
    """An intercepted On-Prem URL: the path to dispatch and the channel its host implies."""

    path: str
    channel: str | None


@dataclass(slots=True)
class _Call:
    """Everything a plan needs for one On-Prem call, decided before any I/O."""

    channel: ChannelConfig
    method: str
    onprem_path: str
    endpoint: str
    #: the mapping table's row for the call (None: passed through unmapped)
    match: EndpointMatch | None
    request: httpx.Request
    safe_to_repeat: bool
    policy: RetryPolicy
    extensions: dict[str, Any]
    auth: dict[str, str]
    key: str | None = None
    key_explicit: bool = False
    #: another call holds the key: wait for its outcome before anything else
    waiting: bool = False
    lease: float = 0.0
    #: the recipient's pair slot (wall clock), leased together with the key's claim
    pair_slot: float | None = None
    #: the caller accepts a resend of a key whose outcome is unknown
    force: bool = False
    recipient: str | None = None
    pace: bool = False
    pace_pair: bool = False
    warnings: list[TranslationWarning] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Claimed:
    """A key we may send with (``waiting``: once another call's claim is resolved)."""

    waiting: bool
    slot: float | None


def _immediate(response: ShimResponse) -> Plan:
    return response
    yield  # pragma: no cover - makes this a generator


class Router:
    """Routes On-Prem v1 calls to each channel's backend (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        *,
        default_channel: str | None = None,
        require_key: bool = False,
        environ: Mapping[str, str] | None = None,
        state: StateStore | None = None,
        rng: random.Random | None = None,
        clock: Any = time.monotonic,
        pair_limit: PairLimit | None = None,
    ) -> None:
        if default_channel is not None and default_channel not in config.channels:
            raise ChannelError(
                f"{config.source}: no channel {default_channel!r} "
                f"(known: {', '.join(sorted(config.channels))})"
            )
        self.config = config
        self.default_channel = default_channel
        self.require_key = require_key
        self.environ = environ
        settings = config.state
        self.outcome_ttl = settings.outcome_ttl if settings else DEFAULT_OUTCOME_TTL
        self._own_state = state is None
        self.state: StateStore = state or open_state(
            settings.resolved_url(environ) if settings else None
        )
        #: this router's name on the ledger (claims it holds carry it)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"
        self.media_origins = MediaOwners(self.state)
        self.rng = rng or random.Random()
        self.clock = clock
        pair = pair_limit or PairLimit()
        self._limiters: dict[str, RateLimiter | SharedRateLimiter]
        self._pairs: dict[str, PairLimiter | SharedPairLimiter]
        if self.state.shared:  # the budget holds for every instance on the store
            self._limiters = {
                name: SharedRateLimiter(self.state, f"mps:{name}", ch.mps)
                for name, ch in config.channels.items()
            }
            self._pairs = {
                name: SharedPairLimiter(self.state, name, pair) for name in config.channels
            }
        else:
            self._limiters = {
                name: RateLimiter(ch.mps, channel_burst(ch.mps), clock=clock)
                for name, ch in config.channels.items()
            }
            self._pairs = {
                name: PairLimiter(pair.interval_s, pair.burst, clock=clock)
                for name in config.channels
            }
        self._extensions = {
            name: {"timeout": _timeout(ch, None).as_dict()} for name, ch in config.channels.items()
        }
        self._legacy_prefixes = self._legacy_url_prefixes()
        #: channel -> (when, answer) of the last successful GET /v1/health (health_cache_s)
        self._health: dict[str, tuple[float, ShimResponse]] = {}
        #: tokens this router answered POST /v1/users/login with (in-process only)
        self.logins = MintedTokens()

    # -- channel resolution -------------------------------------------------

    def channel(self, name: str) -> ChannelConfig:
        try:
            return self.config.channels[name]
        except KeyError:
            raise ChannelError(
                f"{self.config.source}: no channel {name!r} "
                f"(known: {', '.join(sorted(self.config.channels))})"
            ) from None

    def limiter(self, channel: str) -> RateLimiter | SharedRateLimiter:
        return self._limiters[channel]

    def pair_limiter(self, channel: str) -> PairLimiter | SharedPairLimiter:
        return self._pairs[channel]

    def close(self) -> None:
        """Close the state store the router opened itself (a database connection)."""
        if self._own_state:
            self.state.close()

    def channel_for_key(self, presented: str) -> ChannelConfig | None:
        """The channel whose ``legacy_api_key``/``api_key`` equals ``presented``.

        Compared in constant time (:meth:`Config.key_owners`). A key held by two
        channels is refused (401), never guessed.
        """
        owners = self.config.key_owners(presented, self.environ)
        if len(owners) > 1:
            # Two channels' variables hold the same key: guessing would send as the wrong number.
            raise refusal(
                401,
                _ACCESS_DENIED,
                "D360-API-KEY",
                f"the key belongs to several channels ({', '.join(owners)}); give each "
                "channel its own legacy_api_key/api_key",
            )
        return self.config.channels[owners[0]] if owners else None

    def channel_for_call(self, channel: str | None) -> ChannelConfig:
        """The channel a Python caller means (``channel`` or the default/only one).

        Raises :class:`ChannelError` instead of answering 401: in-process
        callers get an exception for a programming error, not a response.
        """
        try:
            return self.resolve(None, channel)
        except TranslationError:
            raise ChannelError(
                f"{self.config.source}: several channels "
                f"({', '.join(sorted(self.config.channels))}); pass channel=..."
            ) from None

    def resolve(
        self,
        headers: Mapping[str, str] | httpx.Headers | None,
        channel: str | None = None,
        host_hint: str | None = None,
    ) -> ChannelConfig:
        """Pick the channel for a call; raises a 401 refusal when none fits."""
        if channel is not None:
            return self.channel(channel)
        presented = presented_key(headers)
        if presented is not None:
            found = self.channel_for_key(presented)
            if found is not None:
                return found
            # A key no channel owns is another number's: only a URL that names its
            # channel may still route it, never a default, so one number's calls can
            # never go out with another number's credentials.
            if host_hint is not None and not self.require_key:
                return self.channel(host_hint)
            # ... or a token this router minted at a login routed to that channel.
            minted = None if self.require_key else self.logins.channel_of(presented)
            if minted is not None:
                return self.channel(minted)
            raise refusal(
                401,
                _ACCESS_DENIED,
                "D360-API-KEY",
                "the key does not belong to any configured channel "
                "(compared with legacy_api_key and api_key)",
            )
        elif self.require_key:
            raise refusal(
                401,
                _ACCESS_DENIED,
                "D360-API-KEY",
                "no D360-API-KEY or Authorization: Bearer header; the key selects the channel",
            )
        for name in (host_hint, self.default_channel):
            if name is not None:
                return self.channel(name)
        if len(self.config.channels) == 1:
            return next(iter(self.config.channels.values()))
        raise refusal(
            401,
            _ACCESS_DENIED,
            "D360-API-KEY",
            "several channels are configured and the call's key matches none of them; "
            "send a channel's legacy_api_key or api_key, or name the channel",
        )

    # -- URL interception (drop-ins) ---------------------------------------

    def _legacy_url_prefixes(self) -> list[tuple[str, str, str | None]]:
        """(scheme://host[:port], path prefix, channel) the drop-ins intercept."""
        prefixes: list[tuple[str, str, str | None]] = []
        for name, ch in self.config.channels.items():
            urls = [ch.legacy_base_url]
            if ch.backend is Target.ONPREM:
                urls.append(ch.base_url)
            for url in urls:
                if url:
                    parts = urlsplit(url)
                    origin = f"{parts.scheme}://{parts.netloc}".lower()
                    prefixes.append((origin, parts.path.rstrip("/"), name))
        # Longest prefix first, so a more specific base wins.
        prefixes.sort(key=lambda p: -len(p[1]))
        return prefixes

    def match_url(self, url: str | httpx.URL) -> LegacyUrl | None:
        """Is ``url`` an On-Prem API URL this router serves? Then its path and channel hint."""
        parts = urlsplit(str(url))
        hostname = parts.hostname
        if parts.scheme not in ("http", "https") or not hostname:
            return None
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        query = f"?{parts.query}" if parts.query else ""
        if "//" in parts.path:  # On-Prem's server collapsed repeated slashes; so do we
            parts = parts._replace(path=collapse_slashes(parts.path))
        candidates: list[tuple[str, str | None]] = []
        hosts_channels = {c for o, _, c in self._legacy_prefixes if o == origin}
        for pref_origin, prefix, name in self._legacy_prefixes:
            if pref_origin == origin and (
                parts.path == prefix or parts.path.startswith(prefix + "/")
            ):
                # Several channels on one legacy host: the key decides, not the host.
                candidates.append(
                    (parts.path[len(prefix) :], name if len(hosts_channels) == 1 else None)
                )
        if hostname.lower() in ONPREM_HOSTS:
            candidates.append((parts.path, None))
        for path, name in candidates:
            if path == ONPREM_PATH_PREFIX or path.startswith(ONPREM_PATH_PREFIX + "/"):
                return LegacyUrl(path + query, name)
        return None

    # -- planning ------------------------------------------------------------

    def plan(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | httpx.Headers | None = None,
        content: bytes | None = None,
        json: Any = UNSET,
        channel: str | None = None,
        options: RequestOptions | None = None,
    ) -> Plan:
        """The steps serving one On-Prem call (run it with a dispatcher)."""
        options = options or _DEFAULT_OPTIONS
        method = method.upper()
        ch: ChannelConfig | None = None
        try:
            host_hint = None
            if "://" in path.partition("?")[0]:
                legacy = self.match_url(path)
                if legacy is None:
                    raise refusal(
                        404, _NOT_FOUND, path, "not an On-Premise API v1 URL this shim serves"
                    )
                path, host_hint = legacy.path, legacy.channel
            elif not path.startswith("/"):
                path = "/" + path
            try:
                ch = self.resolve(headers, channel, host_hint)
            except TranslationError:
                # No channel for this call: an endpoint Cloud lacks still gets its
                # 501 "do this instead" (unless the caller must authenticate first).
                unsupported = match_unsupported(method, path)
                mapped = match_endpoint(method, path)
                if self.require_key or unsupported is None or (
                    mapped is not None and not mapped.endpoint.in_process_only
                ):
                    raise
                raise UnsupportedEndpointError(path.partition("?")[0], unsupported) from None
            if self._answers_login(ch, method, path, channel, host_hint):
                return _immediate(self._login(ch))
            prepared = self._prepare(ch, method, path, headers, content, json, options)
        except TranslationError as exc:
            return _immediate(self._refused(exc, ch, method, path))
        except MissingSecretError as exc:
            log.error("channel %s misconfigured: %s", exc.channel, exc)
            err = refusal(
                500, _INTERNAL, f"channels.{exc.channel}.{exc.key}", str(exc).split(": ", 1)[1]
            )
            return _immediate(self._refused(err, ch, method, path))
        if isinstance(prepared, ShimResponse):
            return _immediate(prepared)
        return self._run(prepared)

    def _answers_login(
        self, ch: ChannelConfig, method: str, path: str, named: str | None, hint: str | None
    ) -> bool:
        """Login answered here: in-process, a Cloud channel named by the caller or the host.

        A channel reached by default, by the only channel or by a key gets the
        501 of the mapping table (the gateway always does): no URL or caller chose it.
        """
        if self.require_key or ch.backend is Target.ONPREM or method != "POST":
            return False
        if named is None and (hint is None or hint != ch.name):
            return False
        match = match_endpoint(method, path.partition("?")[0])
        return match is not None and match.endpoint.in_process_only

    def _login(self, ch: ChannelConfig) -> ShimResponse:
        """On-Prem's login answer with a fresh token that routes to ``ch`` (never logged)."""
        token, expires = self.logins.mint(ch.name)
        log.info("channel %s: POST /v1/users/login answered locally (Cloud has no login)",
                 ch.name)
        body = {"users": [{"token": token, "expires_after": onprem_time(expires)}]}
        return self._respond(ch, "login", OnPremResponse(200, body), key=None, attempts=0)

    def _prepare(
        self,
        ch: ChannelConfig,
        method: str,
        path: str,
        headers: Mapping[str, str] | httpx.Headers | None,
        content: bytes | None,
        json_body: Any,
        options: RequestOptions,
    ) -> _Call | ShimResponse:
        target = ch.backend
        path_only = path.partition("?")[0]
        match = match_endpoint(method, path_only)
        content_type = _header(headers, "content-type") if headers else None
        raw_upload = match is not None and match.endpoint.onprem_body is Body.RAW
        endpoint = match.endpoint.name if match is not None else "passthrough"
        # A Cloud send body is walked by the translator anyway (nulls), and that walk
        # enforces the nesting limit: nothing here may walk it before translation.
        translator_walks = endpoint == "send_message" and target is not Target.ONPREM
        if json_body is not UNSET:
            body = json_body
            if not translator_walks and isinstance(body, dict | list):
                _check_nesting(body)
        elif raw_upload or not content:
            body = None
        else:
            body = _decode_json(content)
        if endpoint == "health":
            cached = self._cached_health(ch)
            if cached is not None:
                return cached

        safe = method == "GET" or endpoint in SAFE_TO_REPEAT
        key: str | None = None
        explicit = False
        if not safe:
            given, where = (
                (options.idempotency_key, "idempotency_key")
                if options.idempotency_key
                else key_from(lambda n: _header(headers, n) if headers else None, body)
            )
            if given is not None:
                if len(given) > MAX_CALLBACK_DATA:
                    raise TranslationError(
                        where, f"an idempotency key may have at most {MAX_CALLBACK_DATA} characters"
                    )
                key, explicit = given, True
            else:
                key = new_key()

        if not translator_walks:
            self._check_media(ch, endpoint, match, body)
        verify_token = (
            ch.optional_secret("verify_token", self.environ)
            if endpoint in _NEEDS_VERIFY_TOKEN
            else None
        )
        translated = translate_request(
            method,
            path,
            body,
            target=target,
            phone_number_id=ch.phone_number_id,
            waba_id=ch.waba_id,
            phone_number=ch.phone_number,
            verify_token=verify_token,
            content=content if raw_upload else None,
            content_type=content_type,
            match=match,
        )
        if isinstance(translated, OnPremResponse):
            return self._respond(ch, endpoint, translated, key=None, attempts=0)
        if translator_walks:  # nesting checked by now
            self._check_media(ch, endpoint, match, body)

        auth = auth_headers(target, ch.secret(ch.backend_secret_key, self.environ))
        if target is not Target.ONPREM and translated.endpoint == "send_message" and key:
            translated.body = stamp_callback_data(translated.body, key, in_place=True)
        extensions = self._extensions[ch.name]
        if options.read_timeout is not None:
            extensions = {"timeout": _timeout(ch, options.read_timeout).as_dict()}
        request = _build_request(
            ch, translated, auth, content, content_type, raw_upload, extensions
        )
        policy = ch.retry
        if options.max_attempts is not None:
            policy = policy.model_copy(update={"max_attempts": max(1, options.max_attempts)})
        is_send = endpoint == "send_message"
        recipient = body.get("to") if is_send and isinstance(body, dict) else None
        lease = _claim_lease(ch, policy) if explicit else 0.0  # only claims are leased
        waiting = False
        pair_slot = None
        force = False
        if explicit and key is not None:
            force = options.force or (_header(headers, FORCE_HEADER) or "").lower() == "true"
            pace = None
            pairs = self._pairs[ch.name]
            if is_send and options.pace and options.pace_pair and isinstance(recipient, str) \
                    and isinstance(pairs, SharedPairLimiter):
                pace = pairs.request(recipient)  # one round trip for the claim and the pair slot
            decided = self._claim(ch, endpoint, path, key, lease, force=force, to=recipient,
                                  pace=pace)
            if isinstance(decided, ShimResponse):
                return decided
            waiting, pair_slot = decided.waiting, decided.slot
        return _Call(
            channel=ch,
            method=method,
            onprem_path=path,
            endpoint=endpoint,
            match=match,
            request=request,
            safe_to_repeat=safe or translated.method == "GET",
            policy=policy,
            extensions=extensions,
            auth=auth,
            key=key,
            key_explicit=explicit,
            waiting=waiting,
            lease=lease,
            pair_slot=pair_slot,
            force=force,
            recipient=recipient if isinstance(recipient, str) else None,
            pace=is_send and options.pace,
            pace_pair=is_send and options.pace_pair,
            warnings=translated.warnings,
        )

    def _check_media(
        self, ch: ChannelConfig, endpoint: str, match: EndpointMatch | None, body: Any
    ) -> None:
        if endpoint == "send_message" and ch.backend is not Target.ONPREM \
                and not self.media_origins:
            return  # Cloud send ids are checked by format in the translator; no owners known
        check_media_ids(
            target=ch.backend,
            channel=ch.name,
            endpoint=endpoint,
            params=match.params if match is not None else {},
            body=body,
            origins=self.media_origins,
        )

    # -- execution -----------------------------------------------------------

    def _claim(
        self,
        ch: ChannelConfig,
        endpoint: str,
        path: str,
        key: str,
        lease: float,
        *,
        force: bool = False,
        to: Any = None,
        pace: SlotRequest | None = None,
    ) -> ShimResponse | _Claimed:
        """Claim ``key`` for this call: ours to send, wait for another call, or the answer."""
        try:
            claim = self.state.claim(ch.name, key, self.owner, lease, time.time(), pace)
        except Exception as exc:
            log.error("channel %s: state store %s failed: %s", ch.name, self.state.where, exc)
            err = refusal(503, _SERVICE_NOT_READY, path,
                          "the shared state store is unavailable, so the idempotency key "
                          "cannot be claimed; nothing was sent")
            return self._refused(err, ch, "POST", path, endpoint=endpoint)
        entry = claim.entry
        if claim.won or entry is None:
            return _Claimed(False, claim.slot)
        if entry.state == "pending":
            return _Claimed(True, None)
        if force and entry.state in ("unknown", "failed"):
            log.warning("channel %s: idempotency key %s was %s; sending again as the caller "
                        "forced it", ch.name, key, entry.state)
            self.state.forget(ch.name, key)
            return self._claim(ch, endpoint, path, key, lease, to=to)
        return self._answer(ch, endpoint, path, entry, to)

    def _answer(
        self, ch: ChannelConfig, endpoint: str, path: str, entry: Entry, to: Any
    ) -> ShimResponse:
        """What a call with an already-used key gets instead of a second send."""
        key = entry.key
        if entry.state == "unknown":
            return self._unknown_response(
                ch, endpoint, path, key,
                "an earlier call with this idempotency key has an unknown outcome "
                f"({entry.detail or 'no answer'}); no status webhook has settled it yet",
                0, [],
            )
        if entry.state == "ok":
            content, ctype, status = entry.content, entry.content_type, entry.status
        else:  # settled by a status webhook
            onprem = settled_answer(entry, to)
            content, ctype, status = _dumps(onprem.body), JSON_CONTENT_TYPE, onprem.status
        headers = self._headers(ch, key, [])
        headers[REPLAY_HEADER] = "true"
        headers["Content-Type"] = ctype
        log.info("channel %s: idempotency key %s already %s; not sent again",
                 ch.name, key, entry.state)
        return ShimResponse(
            status,
            content=content,
            headers=headers,
            channel=ch.name,
            backend=ch.backend.value,
            endpoint=endpoint,
            idempotency_key=key,
            replayed=True,
        )

    def _run(self, call: _Call) -> Plan:
        ch = call.channel
        poll = _WAIT_FIRST
        while call.waiting:  # another call holds the key: its outcome is ours
            yield Sleep(poll)
            poll = min(poll * 2, _WAIT_MAX)
            assert call.key is not None
            decided = self._claim(
                ch, call.endpoint, call.onprem_path, call.key, call.lease, to=call.recipient,
                force=call.force,
            )
            if isinstance(decided, ShimResponse):
                return decided
            call.waiting = decided.waiting
        retries = 0
        pair_retry = False
        request = call.request
        second_step = False
        refetched = False
        while True:
            if call.pace:
                try:
                    wait = self._pair_wait(call, pair_retry)
                except Exception as exc:  # the shared store failed: send nothing
                    return self._store_down(call, exc)
                if wait > 0:
                    yield Sleep(wait)
                try:
                    wait = self._limiters[ch.name].reserve()
                except Exception as exc:
                    return self._store_down(call, exc)
                if wait > 0:
                    yield Sleep(wait)
            # Only Meta media downloads follow redirects: httpx drops Authorization
            # on a cross-origin hop, but it would forward a D360-API-KEY header.
            result = yield Exchange(
                request, follow_redirects=second_step and ch.backend is Target.META
            )
            if result is None:
                raise RuntimeError("a dispatcher must send the outcome of every Exchange")
            if isinstance(result, TransportFailure):
                verdict = judge_failure(
                    result.kind,
                    safe_to_repeat=call.safe_to_repeat or second_step,
                    retries_done=retries,
                    policy=call.policy,
                    rng=self.rng,
                )
                if verdict.action == "retry":
                    retries += 1
                    self._log_retry(call, verdict, result.error)
                    yield Sleep(verdict.delay)
                    continue
                return self._failed(call, verdict, result, retries + 1)

            body = _decode_response(result)
            verdict = judge_response(
                result.status_code,
                body,
                result.headers,
                safe_to_repeat=call.safe_to_repeat or second_step,
                retries_done=retries,
                policy=call.policy,
                rng=self.rng,
            )
            if verdict.action == "retry":
                retries += 1
                self._log_retry(call, verdict, f"HTTP {result.status_code}")
                if verdict.reason is Reason.THROTTLE and call.pace:
                    self._limiters[ch.name].pause(verdict.delay)
                elif verdict.reason is Reason.PAIR and call.pace and call.recipient:
                    self._pairs[ch.name].penalize(call.recipient, verdict.delay)
                    pair_retry = True
                else:
                    yield Sleep(verdict.delay)
                continue
            if verdict.action == "unknown":
                return self._unknown(call, verdict.detail, retries + 1, result.status_code)
            if verdict.reason is not None:
                log.warning(
                    "channel %s: %s %s: %s (%s)",
                    ch.name,
                    call.method,
                    call.onprem_path,
                    verdict.reason.value,
                    verdict.detail,
                )

            if second_step:
                if result.status_code == 404 and not refetched and ch.backend is Target.META:
                    # Meta media URLs expire after minutes: fetch a fresh one once.
                    refetched, second_step, request = True, False, call.request
                    continue
                return self._media_bytes(call, result, body, retries + 1)
            if (
                call.endpoint in _TWO_STEP
                and ch.backend is not Target.ONPREM
                and result.status_code < 300
            ):
                try:
                    url = media_download_url(body, ch.backend, ch.origin)
                    request = self._media_request(call, url)
                except TranslationError as exc:
                    return self._refused(
                        exc, ch, call.method, call.onprem_path, status=502, endpoint=call.endpoint
                    )
                second_step, retries = True, 0
                continue
            if ch.backend is Target.ONPREM:
                return self._passthrough(call, result, body, retries + 1)
            try:
                onprem = translate_response(
                    call.method, call.onprem_path, result.status_code, body, target=ch.backend,
                    match=call.match,
                )
            except TranslationError as exc:
                return self._refused(
                    exc, ch, call.method, call.onprem_path, status=502, endpoint=call.endpoint
                )
            if call.endpoint == "health" and ch.health_shape == "ha":
                onprem.body = health_as_ha(onprem.body)
            return self._respond(
                ch, call.endpoint, onprem, key=call.key, attempts=retries + 1, call=call
            )

    def _media_request(self, call: _Call, url: str) -> httpx.Request:
        ch = call.channel
        host = (urlsplit(url).hostname or "").lower()
        trusted = {(urlsplit(ch.origin).hostname or "").lower(), LOOKASIDE_HOST}
        if host not in trusted:
            # Never hand the channel's credential to a host it does not belong to.
            raise TranslationError(
                "$.url",
                f"media URL host {host!r} is neither the "
                f"backend ({ch.origin}) nor {LOOKASIDE_HOST}; not fetched",
            )
        return httpx.Request(
            "GET", url, headers={**call.auth, "User-Agent": USER_AGENT}, extensions=call.extensions
        )

    # -- responses -------------------------------------------------------------

    def _headers(
        self, ch: ChannelConfig | None, key: str | None, warnings: list[TranslationWarning]
    ) -> dict[str, str]:
        headers: dict[str, str] = {}
        if ch is not None:
            headers[CHANNEL_HEADER] = ch.name
            headers[BACKEND_HEADER] = ch.backend.value
        if key is not None:
            headers[KEY_HEADER] = key
        if warnings:
            headers[WARNINGS_HEADER] = ",".join(dict.fromkeys(w.code for w in warnings))
        return headers

    def _respond(
        self,
        ch: ChannelConfig,
        endpoint: str,
        onprem: OnPremResponse,
        *,
        key: str | None,
        attempts: int,
        call: _Call | None = None,
    ) -> ShimResponse:
        warnings = [*(call.warnings if call else []), *onprem.warnings]
        response = ShimResponse(
            onprem.status,
            body=onprem.body,
            headers=self._headers(ch, key, warnings),
            channel=ch.name,
            backend=ch.backend.value,
            endpoint=endpoint,
            idempotency_key=key,
            warnings=warnings,
            attempts=attempts,
        )
        self._after(call, response)
        return response

    def _passthrough(
        self, call: _Call, result: httpx.Response, body: Any, attempts: int
    ) -> ShimResponse:
        ch = call.channel
        headers = self._headers(ch, call.key, call.warnings)
        ctype = result.headers.get("content-type")
        if ctype:
            headers["Content-Type"] = ctype
        response = ShimResponse(
            result.status_code,
            content=result.content,
            headers=headers,
            channel=ch.name,
            backend=ch.backend.value,
            endpoint=call.endpoint,
            idempotency_key=call.key,
            warnings=list(call.warnings),
            attempts=attempts,
        )
        self._after(call, response)
        return response

    def _media_bytes(
        self, call: _Call, result: httpx.Response, body: Any, attempts: int
    ) -> ShimResponse:
        ch = call.channel
        if result.status_code >= 300:
            onprem = translate_error(result.status_code, body)
            return self._respond(ch, call.endpoint, onprem, key=None, attempts=attempts, call=call)
        headers = self._headers(ch, None, call.warnings)
        headers["Content-Type"] = result.headers.get("content-type", "application/octet-stream")
        return ShimResponse(
            200,
            content=result.content,
            headers=headers,
            channel=ch.name,
            backend=ch.backend.value,
            endpoint=call.endpoint,
            warnings=list(call.warnings),
            attempts=attempts,
        )

    def _after(self, call: _Call | None, response: ShimResponse) -> None:
        if call is None:
            return
        ch = call.channel
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "channel %s: %s %s -> %s (%s, %d attempt(s))",
                ch.name,
                call.method,
                call.onprem_path,
                response.status_code,
                ch.backend.value,
                response.attempts,
            )
        explicit = call.key is not None and call.key_explicit
        if not response.is_success:
            if explicit:  # a definite failure: a retry with the key sends again
                self._release(call)
            return
        if call.endpoint == "health" and ch.health_cache_s > 0:
            self._health[ch.name] = (self.clock(), response)
        if call.endpoint == "upload_media":
            media_id = _first_id(response, "media")
            if media_id:
                self.media_origins.record(media_id, ch.name)
        if explicit:
            assert call.key is not None
            now = time.time()
            self._record(Entry(
                ch.name,
                call.key,
                "ok",
                self.owner,
                now,
                now,
                now + self.outcome_ttl,
                response.status_code,
                response.content,
                response.headers.get("content-type", JSON_CONTENT_TYPE),
                _first_id(response, "messages"),
            ))

    def _cached_health(self, ch: ChannelConfig) -> ShimResponse | None:
        """The channel's last health answer while younger than ``health_cache_s``."""
        hit = self._health.get(ch.name)
        if hit is None or ch.health_cache_s <= 0:
            return None
        age = self.clock() - hit[0]
        if age >= ch.health_cache_s:
            return None
        stored = hit[1]
        headers = dict(stored.headers)
        headers["Age"] = str(int(age))
        return ShimResponse(
            stored.status_code,
            content=stored.content,
            headers=headers,
            channel=ch.name,
            backend=ch.backend.value,
            endpoint="health",
            warnings=list(stored.warnings),
        )

    def _pair_wait(self, call: _Call, pair_retry: bool) -> float:
        """Seconds to wait for the recipient's pair slot (0: none needed)."""
        if call.pair_slot is not None:  # leased with the key's claim
            wait, call.pair_slot = call.pair_slot - time.time(), None
            return wait
        if call.recipient is not None and (call.pace_pair or pair_retry):
            return self._pairs[call.channel.name].reserve(call.recipient)
        return 0.0

    def _store_down(self, call: _Call, exc: Exception) -> ShimResponse:
        ch = call.channel
        log.error("channel %s: state store %s failed: %s", ch.name, self.state.where, exc)
        if call.key is not None and call.key_explicit:
            self._release(call)
        err = refusal(503, _SERVICE_NOT_READY, call.onprem_path,
                      "the shared state store is unavailable, so the send cannot be paced; "
                      "nothing was sent")
        return self._refused(err, ch, call.method, call.onprem_path, endpoint=call.endpoint)

    def _record(self, entry: Entry, *, claimed: bool = True) -> None:
        try:
            # A claimed key is not awaited: until the write lands the key stays ours
            # (pending), so nothing resends. A generated key has no claim to guard it.
            self.state.complete(entry, wait=not claimed)
        except Exception as exc:  # the claim's lease runs out: the key turns unknown
            log.error("channel %s: could not record the outcome of idempotency key %s in %s: "
                      "%s", entry.channel, entry.key, self.state.where, exc)

    def _release(self, call: _Call) -> None:
        assert call.key is not None
        try:
            self.state.release(call.channel.name, call.key, self.owner, wait=False)
        except Exception as exc:
            log.error("channel %s: could not release idempotency key %s in %s: %s",
                      call.channel.name, call.key, self.state.where, exc)

    def _refused(
        self,
        exc: TranslationError,
        ch: ChannelConfig | None,
        method: str,
        path: str,
        *,
        status: int | None = None,
        endpoint: str | None = None,
    ) -> ShimResponse:
        onprem = error_response(exc)
        log.info(
            "%s %s refused (%s): %s", method, path.partition("?")[0], onprem.status, exc.reason
        )
        return ShimResponse(
            status or onprem.status,
            body=onprem.body,
            headers=self._headers(ch, None, []),
            channel=ch.name if ch else None,
            backend=ch.backend.value if ch else None,
            endpoint=endpoint,
        )

    def _failed(
        self, call: _Call, verdict: Verdict, failure: TransportFailure, attempts: int
    ) -> ShimResponse:
        if verdict.action == "unknown":
            return self._unknown(call, f"{verdict.detail} ({failure.error})", attempts)
        ch = call.channel
        if call.key is not None and call.key_explicit:
            self._release(call)  # nothing was sent: a retry with the key may send
        status, code = (503, _SERVICE_NOT_READY) if verdict.reason else (500, _GENERIC)
        log.warning(
            "channel %s: %s %s failed: %s", ch.name, call.method, call.onprem_path, failure.error
        )
        exc = refusal(
            status,
            code,
            call.onprem_path,
            f"the {ch.backend.value} backend could not be reached "
            f"({verdict.detail or failure.error}); nothing was sent",
        )
        onprem = error_response(exc)
        return ShimResponse(
            onprem.status,
            body=onprem.body,
            headers=self._headers(ch, call.key, []),
            channel=ch.name,
            backend=ch.backend.value,
            endpoint=call.endpoint,
            idempotency_key=call.key,
            attempts=attempts,
        )

    def _unknown(
        self, call: _Call, detail: str, attempts: int, status: int | None = None
    ) -> ShimResponse:
        ch = call.channel
        key = call.key
        log.warning(
            "channel %s: outcome unknown for %s %s (idempotency key %s): %s",
            ch.name,
            call.method,
            call.onprem_path,
            key,
            detail,
        )
        if key is not None:
            now = time.time()
            self._record(Entry(ch.name, key, "unknown", self.owner, now, now, 0.0,
                               status or 0, detail=detail[:1000]), claimed=call.key_explicit)
        return self._unknown_response(
            ch, call.endpoint, call.onprem_path, key, detail, attempts, call.warnings
        )

    def _unknown_response(
        self,
        ch: ChannelConfig,
        endpoint: str,
        path: str,
        key: str | None,
        detail: str,
        attempts: int,
        warnings: list[TranslationWarning],
    ) -> ShimResponse:
        exc = refusal(
            504,
            _GENERIC,
            path,
            f"outcome unknown: {detail}. Not resent. Idempotency key {key} "
            f"(sent as {CALLBACK_FIELD}); reconcile with status webhooks",
        )
        onprem = error_response(exc)
        return ShimResponse(
            onprem.status,
            body=onprem.body,
            headers=self._headers(ch, key, warnings),
            channel=ch.name,
            backend=ch.backend.value,
            endpoint=endpoint,
            idempotency_key=key,
            outcome=Outcome.UNKNOWN,
            outcome_detail=detail,
            warnings=list(warnings),
            attempts=attempts,
        )

    def _log_retry(self, call: _Call, verdict: Verdict, what: str) -> None:
        log.info(
            "channel %s: %s %s: %s (%s); retrying in %.2fs",
            call.channel.name,
            call.method,
            call.onprem_path,
            what,
            verdict.reason.value if verdict.reason else "retry",
            verdict.delay,
        )


_DEFAULT_OPTIONS: Final = RequestOptions()
#: How often a call waiting for another call's outcome looks again (doubling to the max).
_WAIT_FIRST: Final = 0.02
_WAIT_MAX: Final = 0.5
#: Longest a claim is held without an outcome before the key counts as unknown.
_MAX_LEASE: Final = 600.0


def _claim_lease(ch: ChannelConfig, policy: RetryPolicy) -> float:
    """How long a send may take at most (every attempt, timeout and back-off), plus slack."""
    t = ch.timeouts
    per_attempt = t.pool + t.connect + t.write + t.read + policy.backoff_max
    return min(_MAX_LEASE, policy.max_attempts * per_attempt + 30.0)


def _timeout(ch: ChannelConfig, read: float | None) -> httpx.Timeout:
    t = ch.timeouts
    return httpx.Timeout(connect=t.connect, read=read or t.read, write=t.write, pool=t.pool)


def _header(headers: Mapping[str, str] | httpx.Headers | None, name: str) -> str | None:
    if headers is None:
        return None
    if isinstance(headers, httpx.Headers):
        found: str | None = headers.get(name)
        return found
    lname = name.lower()
    for key, value in headers.items():
        if key.lower() == lname:
            return value
    return None


def _decode_json(content: bytes) -> Any:
    try:
        return read_json(content, surrogates=False)
    except JSONInputError as exc:
        raise refusal(
            exc.status, _NOT_VALID, "$", f"the request body is not valid JSON ({exc})"
        ) from None


def _decode_response(result: httpx.Response) -> Any:
    content = result.content
    if not content:
        return None
    # The first byte settles most answers without a header lookup.
    if content[:1] in (b"{", b"[") or "json" in result.headers.get("content-type", ""):
        try:
            return jsonlib.loads(content)
        except ValueError:
            pass
    try:
        return content.decode("utf-8")[:1000]
    except UnicodeDecodeError:
        return None


def _build_request(
    ch: ChannelConfig,
    translated: CloudRequest,
    auth: dict[str, str],
    content: bytes | None,
    content_type: str | None,
    raw_upload: bool,
    extensions: dict[str, Any],
) -> httpx.Request:
    base = ch.resolved_base_url
    method = translated.method
    auth_items = tuple(auth.items())
    if ch.backend is Target.ONPREM:
        url = _url(base + translated.path)  # the On-Prem path with its query, unchanged
        if raw_upload:
            headers = _headers(auth_items, content_type or "application/octet-stream")
            return httpx.Request(
                method, url, headers=headers, content=content or b"", extensions=extensions
            )
        if translated.body is None and not content:
            return httpx.Request(
                method, url, headers=_headers(auth_items, None), extensions=extensions
            )
        payload = content if content else _dumps(translated.body)
        return _json_request(method, url, auth_items, payload, extensions)
    url = _url(base + translated.path_with_query)
    if translated.body_kind is Body.MULTIPART:
        assert translated.file is not None
        return httpx.Request(
            method,
            url,
            headers=_headers(auth_items, None),
            data=translated.body or {},
            files={"file": translated.file},
            extensions=extensions,
        )
    if translated.body_kind is Body.NONE or translated.body is None:
        return httpx.Request(method, url, headers=_headers(auth_items, None), extensions=extensions)
    return _json_request(method, url, auth_items, _dumps(translated.body), extensions)


def _json_request(
    method: str,
    url: httpx.URL,
    auth: tuple[tuple[str, str], ...],
    payload: bytes,
    extensions: dict[str, Any],
) -> httpx.Request:
    """The request ``httpx.Request(content=payload)`` builds, at a third of the cost.

    With ``content=`` httpx re-normalises every header to add Host and
    Content-Length; here Host comes prebuilt with the channel's headers and
    only Content-Length is added (``stream=`` adds nothing by itself).
    """
    request = httpx.Request(
        method,
        url,
        headers=_headers(auth, JSON_CONTENT_TYPE, url.netloc),
        stream=httpx.ByteStream(payload),
        extensions=extensions,
    )
    request.headers["Content-Length"] = str(len(payload))
    request.read()  # .content is readable, as after content=
    return request


# Parsing a URL and normalising headers cost more than translating a message;
# both repeat for every send of a channel, so they are built once and copied
# (httpx.Request copies the Headers it is given).
@functools.lru_cache(maxsize=4096)
def _url(url: str) -> httpx.URL:
    return httpx.URL(url)


@functools.lru_cache(maxsize=256)
def _headers(
    auth: tuple[tuple[str, str], ...], content_type: str | None, host: bytes | None = None
) -> httpx.Headers:
    """The channel's request headers; with ``host``, Host first (where httpx puts it)."""
    headers = httpx.Headers({**dict(auth), "User-Agent": USER_AGENT, "Accept": JSON_CONTENT_TYPE})
    if content_type is not None:
        headers["Content-Type"] = content_type
    if host is not None:
        headers = httpx.Headers([(b"Host", host), *headers.raw])
    return headers


def _check_nesting(body: Any) -> None:
    try:
        check_depth(body)
    except JSONInputError as exc:
        raise refusal(exc.status, _NOT_VALID, exc.where, exc.reason) from None


#: One encoder for every body (json.dumps builds a new one per call for these options).
_ENCODER: Final = jsonlib.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _dumps(body: Any) -> bytes:
    try:
        return _ENCODER.encode(body).encode()
    except UnicodeEncodeError:
        # A lone surrogate cannot travel as UTF-8; say where it is instead of crashing.
        raise TranslationError(
            find_surrogate(body) or "$",
            "the string holds a lone surrogate (\\ud800-\\udfff), not valid Unicode",
        ) from None


def _first_id(response: ShimResponse, key: str) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    items = body.get(key) if isinstance(body, dict) else None
    if isinstance(items, list) and items and isinstance(items[0], dict):
        value = items[0].get("id")
        return value if isinstance(value, str) else None
    return None

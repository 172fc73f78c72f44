"""Who may post webhooks: Meta's HMAC signature, 360dialog's shared header, the GET handshake.

Meta signs the raw body (``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app
secret, body)>``); the HMAC must be computed on the bytes as received, never on
re-serialised JSON. 360dialog does not sign messaging webhooks, so a channel can
instead require a header carrying a shared secret (set as a custom header when
registering the webhook URL). Both checks fail closed and compare in constant
time; several secrets may be valid at once so they can be rotated.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "SIGNATURE_HEADER",
    "InsecureConfigError",
    "Verdict",
    "WebhookAuth",
    "sign",
]

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


class InsecureConfigError(ValueError):
    """A webhook endpoint was configured with nothing to authenticate senders."""


def _as_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return _PREFIX + hmac.new(_as_bytes(secret), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a check: ``status`` 200 means accepted."""

    status: int
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


ACCEPTED = Verdict(200)


@dataclass(frozen=True, slots=True)
class WebhookAuth:
    """How one webhook endpoint authenticates its sender.

    ``app_secrets``: Meta app secrets (any one may match: rotation, several
    apps). ``secret_header``/``header_secrets``: a header that must carry one of
    the shared secrets (360dialog). When both are configured, both must pass.
    With neither, construction fails unless ``insecure_skip_signature=True``.
    ``verify_token``: the token the GET handshake must present; with none, the
    handshake is refused.
    """

    app_secrets: tuple[bytes, ...] = ()
    verify_token: str | None = None
    secret_header: str | None = None
    header_secrets: tuple[bytes, ...] = ()
    insecure_skip_signature: bool = False
    _header_key: str = field(init=False, default="", repr=False)

    def __post_init__(self) -> None:
        if bool(self.secret_header) != bool(self.header_secrets):
            raise InsecureConfigError(
                "a shared-secret header needs both a header name and a secret"
            )
        if not self.app_secrets and not self.header_secrets and not self.insecure_skip_signature:
            raise InsecureConfigError(
                "no app secret and no shared-secret header configured: refusing to accept "
                "unauthenticated webhooks (allow with insecure_skip_signature=True, "
                "or `waba-migrate relay --insecure-skip-signature`; for local testing only)"
            )
        object.__setattr__(self, "_header_key", (self.secret_header or "").lower())

    @classmethod
    def build(
        cls,
        *,
        app_secrets: Iterable[str | bytes] | str | bytes | None = None,
        verify_token: str | None = None,
        secret_header: str | None = None,
        header_secrets: Iterable[str | bytes] | str | bytes | None = None,
        insecure_skip_signature: bool = False,
    ) -> WebhookAuth:
        """Normalise secrets given as one value or several (empty ones ignored)."""
        return cls(
            app_secrets=_secrets(app_secrets),
            verify_token=verify_token or None,
            secret_header=secret_header or None,
            header_secrets=_secrets(header_secrets),
            insecure_skip_signature=insecure_skip_signature,
        )

    def check_post(self, headers: Mapping[str, str], body: bytes) -> Verdict:
        """Authenticate a POST; ``headers`` must be keyed by lower-case names."""
        if self.header_secrets:
            given = headers.get(self._header_key)
            if given is None:
                return Verdict(401, f"missing {self.secret_header} header")
            if not _any_equal(_as_bytes(given), self.header_secrets):
                return Verdict(403, f"{self.secret_header} does not match")
        if self.app_secrets:
            signature = headers.get(SIGNATURE_HEADER.lower())
            if signature is None:
                return Verdict(401, f"missing {SIGNATURE_HEADER} header")
            if not _signature_ok(signature, body, self.app_secrets):
                return Verdict(403, f"{SIGNATURE_HEADER} does not match the body")
        return ACCEPTED

    def check_handshake(self, query: Mapping[str, str]) -> tuple[Verdict, str]:
        """Answer Meta's GET: echo ``hub.challenge`` when mode and token match."""
        mode = query.get("hub.mode")
        token = query.get("hub.verify_token")
        challenge = query.get("hub.challenge")
        if mode is None or token is None or challenge is None:
            return Verdict(400, "expected hub.mode, hub.verify_token and hub.challenge"), ""
        if mode != "subscribe":
            return Verdict(400, f"hub.mode must be 'subscribe', got {mode[:40]!r}"), ""
        if self.verify_token is None:
            return Verdict(403, "no verify token configured for this endpoint"), ""
        if not hmac.compare_digest(token.encode(), self.verify_token.encode()):
            return Verdict(403, "hub.verify_token does not match"), ""
        return ACCEPTED, challenge


def _secrets(value: Iterable[str | bytes] | str | bytes | None) -> tuple[bytes, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        value = [value]
    return tuple(_as_bytes(s) for s in value if s)


def _any_equal(given: bytes, secrets: tuple[bytes, ...]) -> bool:
    # Compare against every secret (no early exit) so timing says nothing about which.
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(given, secret)
    return matched


def _signature_ok(header: str, body: bytes, secrets: tuple[bytes, ...]) -> bool:
    value = header.strip()
    if value[: len(_PREFIX)].lower() != _PREFIX:
        return False
    try:
        given = bytes.fromhex(value[len(_PREFIX) :])
    except ValueError:
        return False
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(given, hmac.new(secret, body, hashlib.sha256).digest())
    return matched

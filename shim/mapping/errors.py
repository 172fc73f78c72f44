"""Error codes of both API generations and the cross-walk between them.

Titles and HTTP statuses come from Meta's Cloud error-code page and the
On-Premise error list (api-mapping reference section 3.3). Meta publishes no
official cross-walk: the equivalences below are inferred from matching titles
and meanings, and each inference is marked where it is a decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final, TypeVar


class Retry(StrEnum):
    """How a client may react to a Cloud error code."""

    NEVER = "never"
    THROTTLE = "throttle"  # back off for the whole channel, then resend
    PAIR = "pair"  # back off for this recipient only, then resend
    TRANSIENT = "transient"  # server trouble; the server says it did not act, so a resend is safe


@dataclass(frozen=True, slots=True)
class CloudErrorCode:
    code: int
    title: str
    http_status: int
    retry: Retry = Retry.NEVER


@dataclass(frozen=True, slots=True)
class OnPremErrorCode:
    code: int
    title: str
    http_status: int
    decision: str | None = None


_T = TypeVar("_T", CloudErrorCode, OnPremErrorCode)


def _index(items: tuple[_T, ...]) -> Mapping[int, _T]:
    return MappingProxyType({item.code: item for item in items})


_C = CloudErrorCode
CLOUD_ERRORS: Final[Mapping[int, CloudErrorCode]] = _index(
    (
        _C(0, "AuthException", 401),
        _C(1, "API Unknown", 400, Retry.TRANSIENT),
        _C(2, "API Service", 503, Retry.TRANSIENT),
        _C(3, "API Method", 500),
        _C(4, "Too many API calls", 400, Retry.THROTTLE),
        _C(10, "Permission Denied", 403),
        _C(33, "Parameter value is not valid", 400),
        _C(100, "Invalid parameter", 400),
        _C(190, "Access token has expired", 401),
        _C(200, "API Permission", 403),
        _C(368, "Temporarily blocked for policies violations", 403),
        _C(80007, "Rate limit issues", 400, Retry.THROTTLE),
        _C(130429, "Rate limit hit", 400, Retry.THROTTLE),
        _C(130472, "User's number is part of an experiment", 400),
        _C(130497, "Business account is restricted from messaging users in this country", 403),
        _C(131000, "Something went wrong", 500, Retry.TRANSIENT),
        _C(131005, "Access denied", 403),
        _C(131008, "Required parameter is missing", 400),
        _C(131009, "Parameter value is not valid", 400),
        _C(131016, "Service unavailable", 500, Retry.TRANSIENT),
        _C(131021, "Recipient cannot be sender", 400),
        _C(131026, "Message Undeliverable", 400),
        _C(131031, "Business Account locked", 403),
        _C(131037, "WhatsApp provided number needs display name approval", 400),
        _C(131042, "Business eligibility payment issue", 400),
        _C(131045, "Incorrect certificate", 400),
        _C(
            131047,
            "Re-engagement message",
            400,
        ),
        _C(131048, "Spam rate limit hit", 400),
        _C(131049, "Meta chose not to deliver", 400),
        _C(131050, "User has stopped marketing messages", 400),
        _C(131051, "Unsupported message type", 400),
        _C(131052, "Media download error", 400),
        _C(131053, "Media upload error", 400, Retry.TRANSIENT),
        _C(131056, "(Business Account, Consumer Account) pair rate limit hit", 400, Retry.PAIR),
        _C(131057, "Account in maintenance mode", 400, Retry.THROTTLE),
        _C(131062, "Business-scoped User ID recipients are not supported for this message", 400),
        _C(132000, "Template Param Count Mismatch", 400),
        _C(132001, "Template does not exist", 404),
        _C(132005, "Template Hydrated Text Too Long", 400),
        _C(132007, "Template Format Character Policy Violated", 400),
        _C(132012, "Template Parameter Format Mismatch", 400),
        _C(132015, "Template is Paused", 400),
        _C(132016, "Template is Disabled", 400),
        _C(132068, "Flow is in blocked state", 400),
        _C(132069, "Flow is in throttled state", 400),
        _C(133004, "Server Temporarily Unavailable", 503, Retry.TRANSIENT),
        _C(133016, "Account has been registered or deregistered too many times", 400),
        _C(135000, "Generic user error", 400),
    )
)

_O = OnPremErrorCode
ONPREM_ERRORS: Final[Mapping[int, OnPremErrorCode]] = _index(
    (
        _O(400, "Media download error", 400),
        _O(402, "Business eligibility — Payment issue", 400),
        _O(408, "Message is not valid", 400),
        _O(410, "Message expired", 400),
        _O(429, "Rate limit hit", 429),
        _O(430, "Certificate unsigned", 400),
        _O(432, "Certificate ID mismatch", 400),
        _O(433, "Certificate signature invalid", 400),
        _O(470, "Re-engagement message", 400),
        _O(471, "Spam Rate limit hit", 400),
        _O(472, "User's number is part of an experiment", 400),
        _O(500, "Generic error", 500),
        _O(
            501,
            "Unsupported message type",
            501,
            decision="Title UNCONFIRMED; also used by the shim for On-Prem endpoints "
            "with no Cloud equivalent (HTTP 501).",
        ),
        _O(1000, "Generic error", 500),
        _O(1001, "Message too long", 400),
        _O(1002, "Invalid recipient type", 400),
        _O(1003, "Not a group participant", 400),
        _O(1004, "Resource already exists", 409),
        _O(1005, "Access denied", 401),
        _O(1006, "Resource not found", 404),
        _O(1007, "Recipient blocked to receive message", 400),
        _O(1008, "Required parameter is missing", 400),
        _O(1009, "Parameter value is not valid", 400),
        _O(1010, "Parameter is not required", 400),
        _O(1011, "Service not ready", 503),
        _O(1012, "Group is unknown", 400),
        _O(1013, "User is not valid", 400),
        _O(1014, "Internal error", 500),
        _O(1015, "Too many requests", 429),
        _O(1016, "System overloaded", 503),
        _O(1017, "Not Primary Master", 400),
        _O(1018, "Not Primary Coreapp", 400),
        _O(1026, "Receiver Incapable", 400),
        _O(2000, "Number of parameters does not match the expected number of params", 400),
        _O(2001, "Template missing", 404),
        _O(
            2005,
            "Template hydrated text too long",
            400,
            decision="Title UNCONFIRMED; 20xx follows Cloud's 1320xx.",
        ),
        _O(2007, "Template format character policy violated", 400, decision="Title UNCONFIRMED."),
        _O(2012, "Parameter format does not match format in the created template", 400),
        _O(2015, "Template paused", 400, decision="Title UNCONFIRMED."),
        _O(2016, "Template disabled", 400, decision="Title UNCONFIRMED."),
    )
)


@dataclass(frozen=True, slots=True)
class CodePair:
    """One row of the cross-walk: a Cloud code and its On-Prem counterpart."""

    cloud: int
    onprem: int
    both_ways: bool  # False: Cloud -> On-Prem only (several Cloud codes share one)
    basis: str


_P = CodePair
#: The cross-walk. Rows with ``both_ways`` define On-Prem -> Cloud as well.
ERROR_CODE_PAIRS: Final = (
    _P(131047, 470, True, "identical title and meaning"),
    _P(131048, 471, True, "identical title"),
    _P(130472, 472, True, "same meaning"),
    _P(130429, 429, True, "throughput limit; Cloud splits On-Prem 429 in two"),
    _P(131056, 429, False, "pair rate limit; same On-Prem code as throughput"),
    _P(4, 1015, False, "too many API calls"),
    _P(80007, 1015, False, "WABA rate limit"),
    _P(131051, 501, True, "unsupported message type"),
    _P(131008, 1008, True, "identical title"),
    _P(131009, 1009, True, "identical title"),
    _P(100, 1009, False, "invalid parameter (sync validation)"),
    _P(131005, 1005, True, "identical title"),
    _P(10, 1005, False, "permission denied"),
    _P(190, 1005, False, "expired token -> access denied"),
    _P(0, 1005, False, "auth exception -> access denied"),
    _P(200, 1005, False, "API permission -> access denied"),
    _P(131000, 1000, True, "generic error"),
    _P(131016, 1011, True, "service unavailable / not ready"),
    _P(2, 1011, False, "API service temporarily down"),
    _P(133004, 1016, False, "server temporarily unavailable"),
    _P(131052, 400, True, "identical title"),
    _P(131053, 1014, False, "media upload failure (On-Prem reported it as internal error)"),
    _P(131042, 402, True, "identical title"),
    _P(131045, 430, False, "certificate problems"),
    _P(131026, 1026, True, "undeliverable / receiver incapable"),
    _P(131021, 1013, False, "recipient is sender -> user is not valid"),
    _P(131062, 1013, False, "BSUID recipient not supported (e.g. OTP templates) -> user is "
       "not valid"),
    _P(1, 1000, False, "unknown API error"),
    _P(3, 1000, False, "API method error"),
    _P(131031, 1005, False, "account locked -> access denied"),
    _P(368, 1005, False, "temporarily blocked -> access denied"),
    _P(130497, 1005, False, "country restricted -> access denied"),
)

#: Decision: Cloud template codes 1320NN map to On-Prem 20NN and back. Only
#: 132000-132049: 132068/132069 are Flows errors, which On-Prem never had.
TEMPLATE_CLOUD_RANGE: Final = range(132000, 132050)
TEMPLATE_ONPREM_OFFSET: Final = 130000

#: Decision: a Cloud code with no row maps to On-Prem 1000 (generic); the
#: original code always stays visible in the translated error's details.
ONPREM_FALLBACK_CODE: Final = 1000

_CLOUD_TO_ONPREM: Final = MappingProxyType({p.cloud: p.onprem for p in ERROR_CODE_PAIRS})
_ONPREM_TO_CLOUD: Final = MappingProxyType(
    {p.onprem: p.cloud for p in ERROR_CODE_PAIRS if p.both_ways}
)


def cloud_to_onprem_code(code: int) -> int:
    """The On-Prem code an existing caller would have switched on."""
    if code in _CLOUD_TO_ONPREM:
        return _CLOUD_TO_ONPREM[code]
    if code in TEMPLATE_CLOUD_RANGE:
        return code - TEMPLATE_ONPREM_OFFSET
    return ONPREM_FALLBACK_CODE


def onprem_to_cloud_code(code: int) -> int | None:
    """The Cloud code an On-Prem code corresponds to, if any (1006, 410: none)."""
    if code in _ONPREM_TO_CLOUD:
        return _ONPREM_TO_CLOUD[code]
    if code + TEMPLATE_ONPREM_OFFSET in TEMPLATE_CLOUD_RANGE:
        return code + TEMPLATE_ONPREM_OFFSET
    return None


def onprem_title(code: int) -> str:
    known = ONPREM_ERRORS.get(code)
    if known:
        return known.title
    if code + TEMPLATE_ONPREM_OFFSET in TEMPLATE_CLOUD_RANGE:
        return "Template error"
    return "Error"


def cloud_retry(code: int) -> Retry:
    known = CLOUD_ERRORS.get(code)
    return known.retry if known else Retry.NEVER


#: 360dialog's own gateway errors (``{"meta": {"httpCode", "developerMessage"}}``)
#: carry an HTTP code but no WhatsApp code. Decision: map by HTTP code.
D360_GATEWAY_HTTP_TO_ONPREM: Final[Mapping[int, int]] = MappingProxyType(
    {
        400: 1009,  # API disabled / unpaid / "exceeded the limit of 1 request every * seconds"
        401: 1005,  # invalid API key
        403: 1005,  # path blocked
        404: 1006,
        429: 1015,
        500: 1000,
        502: 1011,  # "WhatsApp for Business API not available"
        503: 1011,
        504: 1011,
    }
)

#: Decision: 360dialog's gateway reuses HTTP codes loosely (an invalid key comes
#: back as 404, a rate limit as 400), so its message decides first: the first
#: phrase found (case-insensitive) wins over the HTTP-code table above.
D360_GATEWAY_MESSAGE_TO_ONPREM: Final = (
    ("api_key", 1005),
    ("api key", 1005),
    ("token expired", 1005),
    ("is blocked", 1005),
    ("rate limit", 1015),
    ("exceeded the limit", 1015),
    ("too many", 1015),
    ("not available", 1011),
)

#: Decision: a translated Cloud error keeps the backend's HTTP status (a 4xx
#: stays a 4xx, a 5xx a 5xx). The exceptions are these On-Prem codes, whose
#: HTTP status On-Prem callers branch on: rate limits answered 429 on On-Prem
#: (Cloud says 400), and clients map 429 to their rate-limit exception.
ONPREM_HTTP_STATUS_OVERRIDES: Final[Mapping[int, int]] = MappingProxyType({429: 429, 1015: 429})

#: Throttling signals a client should back off on (error codes in any envelope).
THROTTLE_CODES: Final = frozenset(
    c.code for c in CLOUD_ERRORS.values() if c.retry in (Retry.THROTTLE, Retry.PAIR)
)

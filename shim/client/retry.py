"""When a failed call may be sent again, and after how long. Pure functions.

The rule (api-mapping section 13, peers-and-reliability section 7.5): resend
only what provably was not processed, or what is harmless to repeat.

* Connect-phase failures (connect error/timeout, no free pooled connection):
  the request never left, so it is always retried.
* Explicit refusals: HTTP 429, HTTP 503, and Cloud codes the mapping marks
  ``Retry.THROTTLE`` (130429, 80007, 4, 131057: the whole channel backs off)
  or ``Retry.PAIR`` (131056: only that recipient backs off, 4^X seconds).
* Explicit transient errors: a Cloud error envelope whose code the mapping
  marks ``Retry.TRANSIENT`` (1, 2, 131000, 131016, 131053, 133004) or that
  carries ``"is_transient": true``. Decision: an error envelope produced by the
  Graph API itself is its statement that the call failed, and Meta's guidance
  for these codes is to retry, so they are resent even for sends.
* Any other 5xx (a bare 500/502/504, a proxy's HTML page, 360dialog's gateway
  envelope) on a call that is not safe to repeat is *ambiguous*: the body was
  delivered and something upstream may have acted on it. Same for a read
  timeout or a dropped connection after the request was written. Those become
  ``unknown`` outcomes and are never resent automatically.
* Calls that are safe to repeat (GETs, mark-read, setting the same webhook or
  profile again) are also retried on ambiguous failures and on any 5xx.

Waits: exponential back-off with jitter in [x/2, x] (x = base * 2^(n-1),
capped at ``backoff_max``); a server hint (``Retry-After`` or Meta's
``X-Business-Use-Case-Usage`` ``estimated_time_to_regain_access``) replaces the
back-off when longer. A hint longer than ``backoff_max`` is not slept through:
the error is returned at once so the caller can reschedule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Final, Literal

import httpx

from shim.client.pacing import pair_backoff
from shim.config import RetryPolicy
from shim.json_input import JSONInputError, read_json
from shim.mapping.errors import Retry, cloud_retry
from shim.translate import translate_error

__all__ = [
    "SAFE_TO_REPEAT",
    "FailureKind",
    "Reason",
    "Verdict",
    "backoff_delay",
    "cloud_error_code",
    "judge_failure",
    "judge_response",
    "server_wait_hint",
]

#: Non-GET operations whose repetition changes nothing (decision of the client).
SAFE_TO_REPEAT: Final = frozenset(
    {"mark_read", "set_webhook", "set_application_webhook", "set_about", "set_business_profile"}
)

RETRY_AFTER: Final = "Retry-After"
BUC_USAGE: Final = "X-Business-Use-Case-Usage"


class Reason(StrEnum):
    CONNECT = "connect"  # never left the client
    THROTTLE = "throttle"  # the channel is over a limit
    PAIR = "pair"  # this recipient is over the pair rate
    TRANSIENT = "transient"  # the API said: temporary failure
    SERVER = "server"  # 5xx on a call that is safe to repeat
    AMBIGUOUS = "ambiguous"  # lost response on a call that is safe to repeat


class FailureKind(StrEnum):
    CONNECT = "connect"  # ConnectError/ConnectTimeout/PoolTimeout: nothing was sent
    SENT = "sent"  # the request (or part of it) was written, then the exchange broke
    LOCAL = "local"  # refused by the HTTP stack itself (bad URL, protocol misuse)


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Literal["done", "retry", "unknown"]
    reason: Reason | None = None
    delay: float = 0.0
    detail: str = ""


DONE: Final = Verdict("done")


def backoff_delay(retry_number: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Jittered exponential back-off before the ``retry_number``-th retry (1-based)."""
    ceiling = min(policy.backoff_max, policy.backoff_base * 2 ** max(0, retry_number - 1))
    return rng.uniform(ceiling / 2, ceiling)


def cloud_error_code(body: Any) -> int | None:
    """``error.code`` of a Graph error envelope, if the body is one."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            if isinstance(code, int) and not isinstance(code, bool):
                return code
    return None


def _is_gateway_throttle(status: int, body: Any) -> bool:
    """360dialog's own gateway says "rate limited" with HTTP 400 and no Graph code."""
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict) or "error" in body:
        return False
    errors = translate_error(status, body).body.get("errors") or [{}]
    return bool(errors[0].get("code") in _THROTTLE_ONPREM_CODES)


#: On-Prem codes that mean "too many requests" (a gateway error mapped by the table).
_THROTTLE_ONPREM_CODES: Final = frozenset({429, 1015})


def _is_transient_flag(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("is_transient") is True


def server_wait_hint(headers: httpx.Headers) -> float | None:
    """Seconds the server asked us to wait, if it said so."""
    hints: list[float] = []
    retry_after = headers.get(RETRY_AFTER)
    if retry_after:
        hints.extend(_parse_retry_after(retry_after))
    usage = headers.get(BUC_USAGE)
    if usage:
        hints.extend(_parse_buc_usage(usage))
    return max(hints) if hints else None


def _parse_retry_after(value: str) -> list[float]:
    value = value.strip()
    try:
        return [max(0.0, float(value))]
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return []
    from datetime import UTC, datetime

    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return [max(0.0, (when - datetime.now(UTC)).total_seconds())]


def _parse_buc_usage(value: str) -> list[float]:
    # {"<business id>": [{"type": "whatsapp", "call_count": 95, ...,
    #   "estimated_time_to_regain_access": <minutes>}]}
    try:
        data = read_json(value, max_bytes=65536)
    except JSONInputError:
        return []
    found: list[float] = []
    if isinstance(data, dict):
        for entries in data.values():
            for entry in entries if isinstance(entries, list) else []:
                minutes = (
                    entry.get("estimated_time_to_regain_access")
                    if isinstance(entry, dict)
                    else None
                )
                if isinstance(minutes, int | float) and minutes > 0:
                    found.append(float(minutes) * 60)
    return found


def judge_response(
    status: int,
    body: Any,
    headers: httpx.Headers,
    *,
    safe_to_repeat: bool,
    retries_done: int,
    policy: RetryPolicy,
    rng: random.Random,
) -> Verdict:
    """What to do with a response that arrived (``retries_done`` resends so far)."""
    if status < 400:
        return DONE
    code = cloud_error_code(body)
    kind = cloud_retry(code) if code is not None else Retry.NEVER
    reason: Reason | None = None
    if kind is Retry.PAIR:
        reason = Reason.PAIR
    elif kind is Retry.THROTTLE or status == 429 or _is_gateway_throttle(status, body):
        reason = Reason.THROTTLE
    elif kind is Retry.TRANSIENT or _is_transient_flag(body) or status == 503:
        reason = Reason.TRANSIENT
    elif status >= 500:
        if not safe_to_repeat:
            return Verdict(
                "unknown",
                detail=f"HTTP {status} after the request was delivered, without an error "
                "code saying it was not processed",
            )
        reason = Reason.SERVER
    if reason is None:
        return DONE
    if retries_done + 1 >= policy.max_attempts:
        return Verdict("done", reason, detail=f"gave up after {retries_done + 1} attempts")
    next_retry = retries_done + 1
    if reason is Reason.PAIR:
        delay = pair_backoff(next_retry)
    else:
        delay = backoff_delay(next_retry, policy, rng)
    hint = server_wait_hint(headers)
    if hint is not None:
        delay = max(delay, hint)
    if delay > policy.backoff_max:
        return Verdict(
            "done", reason, delay, f"the wait ({delay:.0f}s) exceeds backoff_max; not retried"
        )
    return Verdict("retry", reason, delay)


def judge_failure(
    kind: FailureKind,
    *,
    safe_to_repeat: bool,
    retries_done: int,
    policy: RetryPolicy,
    rng: random.Random,
) -> Verdict:
    """What to do when no response arrived."""
    if kind is FailureKind.LOCAL:
        return DONE
    if kind is FailureKind.SENT and not safe_to_repeat:
        return Verdict("unknown", detail="the connection broke after the request was sent")
    reason = Reason.CONNECT if kind is FailureKind.CONNECT else Reason.AMBIGUOUS
    if retries_done + 1 >= policy.max_attempts:
        return Verdict("done", reason, detail=f"gave up after {retries_done + 1} attempts")
    return Verdict("retry", reason, backoff_delay(retries_done + 1, policy, rng))

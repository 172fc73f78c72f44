"""Which failures are resent, and after how long (pure decisions)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from shim.client.retry import (
    FailureKind,
    Reason,
    backoff_delay,
    judge_failure,
    judge_response,
    server_wait_hint,
)
from shim.config import RetryPolicy
from shim.mapping.errors import CLOUD_ERRORS, Retry

POLICY = RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_max=30.0)


def graph(code: int, **extra: object) -> dict[str, object]:
    return {"error": {"message": "x", "type": "OAuthException", "code": code, **extra}}


def judge(
    status: int,
    body: object,
    *,
    safe: bool = False,
    retries: int = 0,
    headers: dict[str, str] | None = None,
    policy: RetryPolicy = POLICY,
):  # type: ignore[no-untyped-def]
    return judge_response(
        status,
        body,
        httpx.Headers(headers or {}),
        safe_to_repeat=safe,
        retries_done=retries,
        policy=policy,
        rng=random.Random(1),
    )


@pytest.mark.parametrize(
    "code", sorted(c.code for c in CLOUD_ERRORS.values() if c.retry is Retry.THROTTLE)
)
def test_throttle_codes_are_retried_for_sends(code: int) -> None:
    verdict = judge(400, graph(code))
    assert (verdict.action, verdict.reason) == ("retry", Reason.THROTTLE)


def test_pair_limit_backs_off_four_to_the_x() -> None:
    assert judge(400, graph(131056)).delay == 1.0
    assert judge(400, graph(131056), retries=1).delay == 4.0
    assert judge(400, graph(131056), retries=2).delay == 16.0
    assert judge(400, graph(131056), retries=2).reason is Reason.PAIR


def test_plain_429_and_503_are_refusals_and_retried() -> None:
    assert judge(429, "Too Many Requests").action == "retry"
    assert judge(503, None).action == "retry"


@pytest.mark.parametrize(
    "code", sorted(c.code for c in CLOUD_ERRORS.values() if c.retry is Retry.TRANSIENT)
)
def test_explicit_transient_codes_are_retried(code: int) -> None:
    assert judge(500, graph(code)).reason is Reason.TRANSIENT


def test_is_transient_flag_counts_as_explicit() -> None:
    assert judge(500, graph(999999, is_transient=True)).action == "retry"


@pytest.mark.parametrize("status", [500, 502, 504])
def test_ambiguous_5xx_on_a_send_is_unknown_not_resent(status: int) -> None:
    verdict = judge(status, "<html>bad gateway</html>")
    assert verdict.action == "unknown"
    assert judge(status, {"meta": {"httpCode": status, "success": False}}).action == "unknown"


def test_5xx_on_a_call_safe_to_repeat_is_retried() -> None:
    assert judge(502, "bad gateway", safe=True).reason is Reason.SERVER


@pytest.mark.parametrize("code", [131047, 100, 190, 131026, 132001])
def test_permanent_errors_are_not_retried(code: int) -> None:
    assert judge(400, graph(code)) == judge(200, {})
    assert judge(400, graph(code)).action == "done"


def test_attempts_are_capped() -> None:
    verdict = judge(429, None, retries=3)
    assert verdict.action == "done" and "gave up after 4" in verdict.detail


def test_retry_after_is_honoured_and_a_too_long_wait_is_not_slept() -> None:
    assert judge(429, None, headers={"Retry-After": "7"}).delay == 7.0
    verdict = judge(429, None, headers={"Retry-After": "120"})
    assert verdict.action == "done" and "exceeds backoff_max" in verdict.detail


def test_server_wait_hints() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (server_wait_hint(httpx.Headers({"Retry-After": later})) or 0) <= 30
    buc = {"123": [{"type": "whatsapp", "call_count": 100, "estimated_time_to_regain_access": 2}]}
    headers = httpx.Headers({"X-Business-Use-Case-Usage": json.dumps(buc)})
    assert server_wait_hint(headers) == 120.0
    assert server_wait_hint(httpx.Headers({"Retry-After": "soon"})) is None
    assert server_wait_hint(httpx.Headers({"X-Business-Use-Case-Usage": "{oops"})) is None


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    rng = random.Random(7)
    for n in range(1, 12):
        ceiling = min(30.0, 0.5 * 2 ** (n - 1))
        assert ceiling / 2 <= backoff_delay(n, POLICY, rng) <= ceiling


def test_transport_failures() -> None:
    rng = random.Random(3)

    def f(kind: FailureKind, safe: bool, retries: int = 0):  # type: ignore[no-untyped-def]
        return judge_failure(
            kind, safe_to_repeat=safe, retries_done=retries, policy=POLICY, rng=rng
        )

    assert f(FailureKind.CONNECT, False).reason is Reason.CONNECT
    assert f(FailureKind.SENT, False).action == "unknown"
    assert f(FailureKind.SENT, True).reason is Reason.AMBIGUOUS
    assert f(FailureKind.LOCAL, True).action == "done"
    assert f(FailureKind.CONNECT, False, retries=3).action == "done"


def test_360dialog_gateway_rate_limit_is_a_throttle_but_a_bad_key_is_not() -> None:
    from tests.conftest import load_example

    limited = judge(400, load_example("d360-error-rate-limited"))
    assert (limited.action, limited.reason) == ("retry", Reason.THROTTLE)
    assert judge(404, load_example("d360-error-invalid-api-key")).action == "done"

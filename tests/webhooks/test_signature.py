"""Sender authentication: raw-body HMAC, rotation, shared-secret header, the GET handshake."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shim.webhooks import InsecureConfigError, WebhookAuth, sign
from tests.conftest import EXAMPLES_DIR

RAW = (EXAMPLES_DIR / "cloud-webhook-inbound-text.json").read_bytes()


def h(signature: str | None = None, **extra: str) -> dict[str, str]:
    headers = {k.replace("_", "-"): v for k, v in extra.items()}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    return headers


def test_sign_is_hex_hmac_sha256_of_the_raw_bytes() -> None:
    expected = hmac.new(b"s3cret", RAW, hashlib.sha256).hexdigest()
    assert sign("s3cret", RAW) == f"sha256={expected}"


def test_missing_is_401_and_wrong_is_403() -> None:
    auth = WebhookAuth.build(app_secrets="s3cret")
    assert auth.check_post(h(sign("s3cret", RAW)), RAW).status == 200
    assert auth.check_post(h(), RAW).status == 401
    for bad in (sign("other", RAW), sign("s3cret", RAW + b" "), "sha256=zz", "sha1=abc", "",
                sign("s3cret", RAW).replace("sha256=", "")):
        assert auth.check_post(h(bad), RAW).status == 403, bad
    assert auth.check_post(h(sign("s3cret", RAW).upper().replace("SHA256=", "sha256=")),
                           RAW).ok  # hex case does not matter


def test_any_configured_secret_is_accepted_for_rotation() -> None:
    auth = WebhookAuth.build(app_secrets=["old", "new"])
    assert auth.check_post(h(sign("old", RAW)), RAW).ok
    assert auth.check_post(h(sign("new", RAW)), RAW).ok
    assert auth.check_post(h(sign("older", RAW)), RAW).status == 403


def test_reserialised_json_does_not_verify() -> None:
    import json

    reserialised = json.dumps(json.loads(RAW)).encode()
    auth = WebhookAuth.build(app_secrets="s3cret")
    assert not auth.check_post(h(sign("s3cret", RAW)), reserialised).ok


def test_refuses_to_start_without_a_secret_unless_told_to() -> None:
    with pytest.raises(InsecureConfigError, match="insecure_skip_signature"):
        WebhookAuth.build()
    with pytest.raises(InsecureConfigError, match="header name and a secret"):
        WebhookAuth.build(secret_header="X-Token")
    open_door = WebhookAuth.build(insecure_skip_signature=True)
    assert open_door.check_post({}, RAW).ok


def test_shared_secret_header_for_360dialog() -> None:
    auth = WebhookAuth.build(secret_header="X-Relay-Token", header_secrets=["a", "b"])
    assert auth.check_post({"x-relay-token": "b"}, RAW).ok
    assert auth.check_post({}, RAW).status == 401
    assert auth.check_post({"x-relay-token": "c"}, RAW).status == 403
    both = WebhookAuth.build(app_secrets="s", secret_header="X-Relay-Token", header_secrets="a")
    assert not both.check_post({"x-relay-token": "a"}, RAW).ok  # both checks must pass
    assert both.check_post({"x-relay-token": "a", **h(sign("s", RAW))}, RAW).ok


def test_handshake() -> None:
    auth = WebhookAuth.build(app_secrets="s", verify_token="tok")
    query = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "12345"}
    verdict, challenge = auth.check_handshake(query)
    assert verdict.ok and challenge == "12345"
    assert auth.check_handshake({**query, "hub.verify_token": "no"})[0].status == 403
    assert auth.check_handshake({**query, "hub.mode": "unsubscribe"})[0].status == 400
    assert auth.check_handshake({"hub.mode": "subscribe"})[0].status == 400
    no_token = WebhookAuth.build(app_secrets="s")
    assert no_token.check_handshake(query)[0].status == 403


@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=2048),
       flip=st.integers(min_value=0))
def test_only_the_signed_bytes_verify(secret: bytes, body: bytes, flip: int) -> None:
    auth = WebhookAuth.build(app_secrets=[secret])
    assert auth.check_post(h(sign(secret, body)), body).ok
    if body:
        i = flip % len(body)
        changed = body[:i] + bytes([body[i] ^ 1]) + body[i + 1:]
        assert auth.check_post(h(sign(secret, body)), changed).status == 403


def test_a_shared_secret_matching_any_position_is_accepted() -> None:
    auth = WebhookAuth.build(secret_header="X-Relay-Token", header_secrets=["new", "old", "x"])
    for secret in ("new", "old", "x"):
        assert auth.check_post({"x-relay-token": secret}, RAW).ok, secret


@pytest.mark.parametrize(("query", "verdict"), [
    ({"hub.verify_token": "tok", "hub.challenge": "1"},
     (400, "expected hub.mode, hub.verify_token and hub.challenge")),
    ({"hub.mode": "subscribe", "hub.challenge": "1"},
     (400, "expected hub.mode, hub.verify_token and hub.challenge")),
    ({"hub.mode": "subscribe", "hub.verify_token": "tok"},
     (400, "expected hub.mode, hub.verify_token and hub.challenge")),
    ({"hub.mode": "x" * 60, "hub.verify_token": "tok", "hub.challenge": "1"},
     (400, f"hub.mode must be 'subscribe', got {'x' * 40!r}")),
    ({"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
     (403, "hub.verify_token does not match")),
])
def test_each_refused_handshake_says_why_and_echoes_nothing(
    query: dict[str, str], verdict: tuple[int, str]
) -> None:
    auth = WebhookAuth.build(app_secrets="s", verify_token="tok")
    answer, challenge = auth.check_handshake(query)
    assert (answer.status, answer.reason) == verdict
    assert challenge == ""


def test_a_handshake_without_a_configured_token_is_refused_and_echoes_nothing() -> None:
    auth = WebhookAuth.build(app_secrets="s")
    answer, challenge = auth.check_handshake(
        {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1"})
    assert (answer.status, answer.reason, challenge) == (
        403, "no verify token configured for this endpoint", "")


def test_each_refused_post_names_the_header_it_missed() -> None:
    shared = WebhookAuth.build(secret_header="X-Relay-Token", header_secrets="a")
    assert shared.check_post({}, RAW).reason == "missing X-Relay-Token header"
    assert shared.check_post({"x-relay-token": "b"}, RAW).reason == "X-Relay-Token does not match"
    signed = WebhookAuth.build(app_secrets="s3cret")
    assert signed.check_post({}, RAW).reason == "missing X-Hub-Signature-256 header"
    assert (
        signed.check_post(h(sign("other", RAW)), RAW).reason
        == "X-Hub-Signature-256 does not match the body"
    )


def test_refusing_to_start_explains_how_to_allow_it() -> None:
    with pytest.raises(InsecureConfigError) as info:
        WebhookAuth.build()
    assert str(info.value) == (
        "no app secret and no shared-secret header configured: refusing to accept "
        "unauthenticated webhooks (allow with insecure_skip_signature=True, "
        "or `waba-migrate relay --insecure-skip-signature`; for local testing only)"
    )
    with pytest.raises(InsecureConfigError) as info:
        WebhookAuth.build(header_secrets="a")
    assert str(info.value) == "a shared-secret header needs both a header name and a secret"

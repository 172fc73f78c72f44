"""/metrics, /healthz and the access log (no secret may appear in it)."""

from __future__ import annotations

import io
import logging
import re

import pytest

from shim.gateway.redaction import Redactor, configure_logging
from tests.gateway.conftest import (
    D360_KEY,
    META_TOKEN,
    SECRETS,
    TO,
    VERIFY,
    RunningGateway,
)

TEXT = {"to": TO, "type": "text", "text": {"body": "counted"}}
_SAMPLE = re.compile(r"^(waba_gateway_\w+)\{([^}]*)\} (\S+)$")


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text -> {(name, labels): value}; fails on a malformed line."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        labels = frozenset(tuple(p.split("=", 1)) for p in match[2].split(","))
        out[(match[1], frozenset((k, v.strip('"')) for k, v in labels))] = float(match[3])
    return out


def value(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_per_channel(fresh_gw: RunningGateway) -> None:
    gw = fresh_gw
    with gw.caller(gw.shop) as shop, gw.caller(gw.brand) as brand, \
            gw.caller(**{"D360-API-KEY": "nobody"}) as stranger:
        assert shop.post("/v1/messages", json=TEXT).status_code == 200
        assert shop.get("/v1/health").status_code == 200
        gw.shop.sandbox.fault(drop_after_accept=True, path="/messages")
        assert shop.post("/v1/messages", json=TEXT).status_code == 504
        assert brand.post("/v1/messages", content=b"{oops").status_code == 400
        assert brand.post("/v1/users/login").status_code == 501
        assert stranger.get("/v1/health").status_code == 401
        text = shop.get("/metrics")
        as_json = shop.get("/metrics?format=json").json()
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    m = samples(text.text)
    assert value(m, "waba_gateway_requests_total", channel="shop") == 3
    assert value(m, "waba_gateway_responses_total", channel="shop", **{"class": "2xx"}) == 2
    assert value(m, "waba_gateway_responses_total", channel="shop", **{"class": "5xx"}) == 1
    assert value(m, "waba_gateway_outcome_unknown_total", channel="shop") == 1
    assert value(m, "waba_gateway_errors_total", channel="shop", code="1000") == 1
    assert value(m, "waba_gateway_requests_total", channel="brand") == 2
    assert value(m, "waba_gateway_responses_total", channel="brand", **{"class": "4xx"}) == 1
    assert value(m, "waba_gateway_responses_total", channel="brand", **{"class": "5xx"}) == 1
    assert value(m, "waba_gateway_errors_total", channel="brand", code="1009") == 1
    assert value(m, "waba_gateway_errors_total", channel="brand", code="501") == 1
    assert value(m, "waba_gateway_outcome_unknown_total", channel="brand") == 0
    assert value(m, "waba_gateway_errors_total", channel="_none", code="1005") == 1
    assert value(m, "waba_gateway_in_flight", channel="shop") == 0
    assert value(m, "waba_gateway_request_duration_seconds_count", channel="shop") == 3
    shop_json = as_json["channels"]["shop"]
    assert shop_json["requests"] == 3 and shop_json["outcome_unknown"] == 1
    assert shop_json["responses"]["2xx"] == 2 and shop_json["errors"] == {"1000": 1}


def test_healthz_reports_each_channel_and_its_backend(
    fresh_gw: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = fresh_gw
    with gw.caller() as anyone, gw.caller(gw.shop) as shop:
        idle = anyone.get("/healthz").json()
        shop.post("/v1/messages", json=TEXT)
        ok = anyone.get("/healthz").json()
        gw.shop.sandbox.fault(drop_after_accept=True, path="/messages")
        shop.post("/v1/messages", json=TEXT)
        degraded = anyone.get("/healthz").json()
        shop.post("/v1/messages", json=TEXT)
        recovered = anyone.get("/healthz").json()
        monkeypatch.delenv("GW_META_TOKEN")
        missing = anyone.get("/healthz")
    assert idle["status"] == "ok" and set(idle["channels"]) == {"shop", "brand"}
    assert idle["channels"]["shop"]["backend"] == "360dialog"
    assert idle["channels"]["brand"]["backend"] == "meta"
    assert idle["channels"]["shop"]["base_url"] == gw.shop.sandbox.base_url
    assert idle["channels"]["shop"]["state"] == "idle"
    assert ok["channels"]["shop"]["state"] == "ok" and ok["channels"]["shop"]["requests"] == 1
    assert degraded["channels"]["shop"]["state"] == "degraded"
    assert degraded["channels"]["shop"]["outcome_unknown"] == 1
    assert recovered["channels"]["shop"]["state"] == "ok"
    assert missing.status_code == 200  # liveness: the gateway itself is fine
    brand = missing.json()["channels"]["brand"]
    assert brand["state"] == "misconfigured" and brand["backend_credential_set"] is False
    for secret in SECRETS:
        assert secret not in missing.text


MISTYPED = "mistyped-SECRET-key-4242"


def _leaky_calls(gw: RunningGateway) -> None:
    """Calls that put secrets where a naive log would print them."""
    with gw.caller(gw.shop) as shop, gw.caller(Authorization=f"Bearer {gw.brand.key}") as brand:
        assert shop.post("/v1/messages", json=TEXT).status_code == 200
        assert brand.get("/v1/health").status_code == 200
        shop.get(f"/v1/no/such/{D360_KEY}")  # a secret in the path
        shop.get("/v1/configs/templates", params={"access_token": "unknown-token-77aa",
                                                  "hub.verify_token": VERIFY})
        shop.get(f"/v1/media/{META_TOKEN}")
    with gw.caller(**{"D360-API-KEY": MISTYPED}) as typo:
        typo.get(f"/v1/health?key={MISTYPED}")


def test_access_log_has_one_line_per_call_and_no_secret(
    gw: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shim.gateway.access")
    _leaky_calls(gw)
    lines = [r.getMessage() for r in caplog.records if r.name == "shim.gateway.access"]
    assert len(lines) == 6, lines
    assert '"POST /v1/messages" 200' in lines[0] and "channel=shop backend=360dialog" in lines[0]
    assert '"GET /v1/health" 200' in lines[1] and "channel=brand backend=meta" in lines[1]
    assert "/v1/no/such/***" in lines[2]
    assert "access_token=***" in lines[3] and "unknown-token-77aa" not in lines[3]
    assert '" 401 ' in lines[5] and "channel=-" in lines[5]
    for secret in (*SECRETS, MISTYPED):
        assert secret not in caplog.text


def test_every_log_record_goes_through_the_redacting_handler(
    gw: RunningGateway, restore_logging: None
) -> None:
    """serve's logging setup: records of the client core and uvicorn are redacted too."""
    from shim.config import load_config

    stream = io.StringIO()
    configure_logging("info", Redactor.from_config(load_config(gw.config_path)), stream)
    _leaky_calls(gw)
    logging.getLogger("shim.client").warning(
        "a careless message: D360-API-KEY: %s Authorization: Bearer %s", MISTYPED, "abc123xyz"
    )
    output = stream.getvalue()
    assert "shim.gateway.access" in output
    assert "shim.client" in output and "refused" in output  # the core's own log lines
    assert "D360-API-KEY: ***" in output and "Bearer ***" in output
    for secret in (*SECRETS, MISTYPED, "abc123xyz"):
        assert secret not in output

"""``waba-migrate serve``: the On-Prem v1 HTTP surface over the client's seam.

Point an On-Prem caller's base URL at the gateway and keep its code: requests
and responses stay in On-Prem v1 shape, each caller key picks its channel and
the channel picks the backend (On-Prem, 360dialog Cloud or Meta).

Run: ``waba-migrate serve --config FILE [--host 127.0.0.1] [--port 8080]
[--workers N] [--max-json-size 1MB] [--max-media-size 64MB]
[--no-access-log] [--log-level info]``. The base URL is printed on stdout
once the server accepts connections.

Endpoints
    ``/v1/{path}``, every method: handed to :class:`shim.client.Router` as it
    arrived (percent-encoded path and query, headers, raw body). The mapping
    table decides: ``POST /v1/messages``, ``PUT /v1/messages/{id}``,
    ``POST /v1/media`` (raw bytes + Content-Type), ``GET|DELETE
    /v1/media/{id}`` (bytes), ``POST /v1/contacts`` (answered locally),
    ``GET /v1/health``, ``GET|POST /v1/configs/webhook``, ``GET|POST
    /v1/configs/templates``, ``DELETE /v1/configs/templates/{name}``, ``GET
    /v1/configs/phone_number``, ``/v1/settings/profile/about``,
    ``/v1/settings/business/profile``, ``GET /v1/settings/profile/photo?format=link``,
    ``GET|PATCH /v1/settings/application`` (``webhooks.url`` applied through the
    backend's webhook configuration; every other setting ignored with warning
    W304 in ``X-Waba-Migrate-Warnings``). Operations with no
    Cloud equivalent answer 501 naming the replacement; unknown paths 404/1006.

    ``GET /healthz``: liveness (always 200 while the process serves) and, per
    channel, its backend, base URL, whether its secrets are set, counters and
    a ``state``: ``idle`` (no call yet), ``ok``, ``degraded`` (the last backend
    failure, 5xx or unknown outcome, is newer than the last success) or
    ``misconfigured`` (the backend credential's variable is unset). It never
    calls the backends; ``GET /v1/health`` does.

    ``GET /metrics``: Prometheus text format 0.0.4 (``?format=json`` or
    ``Accept: application/json`` for JSON), per channel: ``requests_total``,
    ``responses_total{class="2xx"}``, ``errors_total{code="<On-Prem code>"}``,
    ``outcome_unknown_total``, ``in_flight``, ``request_duration_seconds``
    (summary: ``_sum``/``_count``), all prefixed ``waba_gateway_``. Calls
    whose key matches no channel count under ``channel="_none"``. Counters are
    per worker process (``start_time_seconds{pid=...}`` tells workers apart).
    Both endpoints are unauthenticated and hold no secrets; the gateway
    listens on loopback by default.

Auth
    ``D360-API-KEY`` or ``Authorization: Bearer`` must equal a channel's
    ``legacy_api_key`` or ``api_key`` (constant-time comparison against every
    channel); otherwise 401 / On-Prem 1005, before the body is read. The
    caller's key is never forwarded: the backend gets the channel's own.

Limits
    Bodies over 1 MB (JSON calls) or 64 MB (``POST /v1/media``, On-Prem's
    upload limit) answer 413 / On-Prem 1009 with ``Connection: close``; the
    rest of the body is not read.

Errors
    Everything the gateway answers is On-Prem shaped: ``{"errors": [{"code",
    "title", "details"}], "meta": {...}}``. A fault inside the gateway answers
    500 / 1014 and is logged; no traceback reaches a caller.

Logs
    One access line per call on the ``shim.gateway.access`` logger (client,
    method, path and query, status, bytes, time, channel, backend, attempts;
    the idempotency key when the outcome is unknown). Configured secret values,
    the presented key and credential-looking query parameters are masked, and
    every record reaching the gateway's handler is redacted the same way.
"""

from shim.gateway.app import OPTIONS_ENV_VAR, Gateway, GatewayOptions, app_from_env, create_app
from shim.gateway.limits import DEFAULT_JSON_LIMIT, DEFAULT_MEDIA_LIMIT, BodyLimits
from shim.gateway.redaction import Redactor

__all__ = [
    "DEFAULT_JSON_LIMIT",
    "DEFAULT_MEDIA_LIMIT",
    "OPTIONS_ENV_VAR",
    "BodyLimits",
    "Gateway",
    "GatewayOptions",
    "Redactor",
    "app_from_env",
    "create_app",
]

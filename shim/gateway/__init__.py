"""``waba-migrate serve``: the On-Prem v1 HTTP surface over the client's seam.

Point an On-Prem caller's base URL at the gateway and keep its code: requests
and responses stay in On-Prem v1 shape, each caller key picks its channel and
the channel picks the backend (On-Prem, 360dialog Cloud or Meta).
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

"""Credential checks and 360dialog's path blacklist, before routing.

360dialog's gateway answers a bad key with its own ``{"meta": …}`` envelope on
both hosts; Graph answers a bad token with code 190. Credentials are compared
in constant time and never echoed back.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shim.mapping.endpoints import match_unsupported
from shim.mapping.hosts import D360_API_KEY_HEADER, Target
from shim.sandbox.envelopes import d360_gateway_error, graph_error
from shim.sandbox.faults import CONTROL_PREFIX
from shim.sandbox.settings import SandboxSettings

__all__ = ["BLOCKED_PATH_MESSAGE", "INVALID_KEY_MESSAGE", "AuthMiddleware"]

INVALID_KEY_MESSAGE = "Invalid api_key or token expired"
BLOCKED_PATH_MESSAGE = (
    "This URL {path} is blocked. More info: https://docs.360dialog.com/whatsapp-api/whatsapp-api"
)
#: Paths 360dialog's hosted On-Prem blocked although the shim maps them for Cloud:
#: application settings (its webhook lived at /v1/configs/webhook instead).
_ALSO_BLOCKED = frozenset({"/v1/settings/application"})
_D360_HEADER = D360_API_KEY_HEADER.lower().encode("latin-1")
_AUTHORIZATION = b"authorization"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class AuthMiddleware:
    def __init__(self, app: ASGIApp, settings: SandboxSettings) -> None:
        self.app = app
        self.settings = settings
        self.is_meta = settings.api is Target.META
        self.is_onprem = settings.api is Target.ONPREM
        secret = settings.access_token if self.is_meta else settings.api_key
        self._secret = secret.encode()

    def _valid(self, presented: str | None) -> bool:
        if not presented:
            return False
        if self.settings.accept_any_key:
            return True
        return hmac.compare_digest(presented.encode(), self._secret)

    def _presented(self, scope: Scope) -> str | None:
        if not self.is_meta:
            return _header(scope, _D360_HEADER)
        auth = _header(scope, _AUTHORIZATION)
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
        query = scope.get("query_string", b"")
        if b"access_token=" in query:
            values = parse_qs(query.decode("latin-1")).get("access_token")
            return values[0] if values else None
        return None

    def _reject(self) -> Response:
        if self.is_meta:
            return graph_error(
                190, message="Invalid OAuth access token - Cannot parse access token"
            )
        return d360_gateway_error(401, INVALID_KEY_MESSAGE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        if not self._valid(self._presented(scope)):
            await self._reject()(scope, receive, send)
            return
        if self.is_onprem and (
            scope["path"].rstrip("/") in _ALSO_BLOCKED
            or match_unsupported(scope["method"], scope["path"]) is not None
        ):
            blocked = d360_gateway_error(403, BLOCKED_PATH_MESSAGE.format(path=scope["path"]))
            await blocked(scope, receive, send)
            return
        await self.app(scope, receive, send)

"""The WSGI twin of ``WebhookGuard`` for Flask/Django/any WSGI webhook endpoint.

Wrap the WSGI application (``app.wsgi_app = WSGIWebhookGuard(app.wsgi_app,
auth, paths={"/webhook"})`` in Flask, or the Django ``application``). The body
read for the check is put back as ``wsgi.input`` so the framework parses it as
usual.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from shim.mapping.hosts import MAX_WEBHOOK_BYTES
from shim.webhooks.signature import Verdict, WebhookAuth

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["WSGIWebhookGuard"]

_UNCHECKED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            411: "Length Required", 413: "Content Too Large"}


class WSGIWebhookGuard:
    """Authenticate webhook POSTs and answer the GET handshake in front of a WSGI app.

    Same rules as the ASGI ``WebhookGuard``: GET with ``hub.mode`` is answered
    here, other GET/HEAD/OPTIONS pass, anything else needs a valid signature
    or shared-secret header (401 missing, 403 wrong, 413 over ``max_body``).
    """

    def __init__(
        self,
        app: WSGIApplication,
        auth: WebhookAuth,
        *,
        paths: Iterable[str] | None = None,
        max_body: int = MAX_WEBHOOK_BYTES,
    ) -> None:
        self.app = app
        self.auth = auth
        self.paths = None if paths is None else frozenset(paths)
        self.max_body = max_body

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.paths is not None and environ.get("PATH_INFO", "") not in self.paths:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        query = environ.get("QUERY_STRING", "")
        if method in _UNCHECKED_METHODS:
            if method == "GET" and "hub.mode" in query:
                verdict, challenge = self.auth.check_handshake(dict(parse_qsl(query)))
                if verdict.ok:
                    return _answer(start_response, 200, challenge.encode(), "text/plain")
                return _refuse(start_response, verdict)
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return _refuse(start_response, Verdict(411, "Content-Length required"))
        if length > self.max_body:
            return _refuse(start_response, Verdict(413, f"body over {self.max_body} bytes"))
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        verdict = self.auth.check_post(headers, body)
        if not verdict.ok:
            return _refuse(start_response, verdict)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


def _refuse(start_response: StartResponse, verdict: Verdict) -> list[bytes]:
    body = json.dumps({"error": verdict.reason}).encode()
    return _answer(start_response, verdict.status, body, "application/json")


def _answer(start_response: StartResponse, status: int, body: bytes, ctype: str) -> list[bytes]:
    start_response(
        f"{status} {_REASONS.get(status, '')}".strip(),
        [("Content-Type", ctype), ("Content-Length", str(len(body)))],
    )
    return [body]

"""The bot as a WSGI app: ``python -m legacy_bot`` serves it (put gunicorn in front in production)."""

import json
import logging

from .webhook import webhook_view

log = logging.getLogger(__name__)


class Request:
    """The part of a Flask request the view uses."""

    def __init__(self, environ):
        self.method = environ["REQUEST_METHOD"]
        self.path = environ.get("PATH_INFO") or "/"
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.data = environ["wsgi.input"].read(length) if length else b""

    def get_json(self):
        return json.loads(self.data) if self.data else None


def application(environ, start_response):
    request = Request(environ)
    if request.path != "/webhook":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    if request.method != "POST":
        start_response("405 Method Not Allowed", [("Allow", "POST")])
        return [b""]
    try:
        body, status = webhook_view(request)
    except Exception:
        log.exception("webhook failed")
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"error"]
    start_response(f"{status} OK", [("Content-Type", "text/plain")])
    return [body.encode()]

"""A Cloud answer handed back in the On-Prem shape the calling code reads.

Migrated code that still hands a response to callers written for On-Prem (a
channel type's ``check_health`` whose caller reads ``health.gateway_status``)
cannot have those reads rewritten: they are in other modules. ``waba-migrate
rewrite`` then sends the request to Cloud and wraps the call:
``onprem_answer(requests.get(**cloud_request(...)), "GET", "/v1/health",
"360dialog")``. The answer is translated as the shim translates it (the same
table, :func:`shim.translate.response.translate_response`) and comes back as a
response of the same library, so ``.status_code``, ``.json()``, ``.text`` and
``raise_for_status()`` keep working.
"""

from __future__ import annotations

import json
from typing import TypeVar

import httpx
import requests
from requests.structures import CaseInsensitiveDict

from shim.mapping.hosts import Target
from shim.translate.error import error_response
from shim.translate.response import translate_response
from shim.translate.types import JSON, OnPremResponse, TranslationError

R = TypeVar("R", requests.Response, httpx.Response)

#: Headers that describe the old body, not the translated one.
_BODY_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding",
                           "content-type"})


def onprem_answer(response: R, method: str, onprem_path: str, target: str) -> R:
    """``response`` (from the ``target`` Cloud API) as the On-Prem ``method onprem_path``
    answered.

    A body that is not JSON (a proxy's HTML error page) is handed back as it
    came: there is nothing to translate. A JSON answer the table cannot
    translate becomes the On-Prem error the shim would give for it.
    """
    try:
        body: JSON = json.loads(response.content) if response.content else None
    except ValueError:
        return response
    try:
        out = translate_response(method.upper(), onprem_path, response.status_code, body,
                                 target=Target(target))
    except TranslationError as exc:
        out = error_response(exc)
    data = json.dumps(out.body).encode("utf-8")
    if isinstance(response, httpx.Response):
        kept: list[tuple[str, str]] = [(k, v) for k, v in response.headers.multi_items()
                                       if k.lower() not in _BODY_HEADERS]
        return httpx.Response(out.status, headers=[*kept, ("content-type", "application/json")],
                              content=data, request=response.request)
    return _requests_response(response, out, data)


def _requests_response(old: requests.Response, out: OnPremResponse, data: bytes
                       ) -> requests.Response:
    new = requests.Response()
    new.status_code = out.status
    new.headers = CaseInsensitiveDict({k: v for k, v in old.headers.items()
                                       if k.lower() not in _BODY_HEADERS})
    new.headers["Content-Type"] = "application/json"
    new._content = data
    new.encoding = "utf-8"
    new.url = old.url
    new.request = old.request
    new.reason = old.reason if out.status == old.status_code else ""
    new.history = old.history
    new.cookies = old.cookies
    new.elapsed = old.elapsed
    return new

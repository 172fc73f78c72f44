"""Reading request bodies without ever turning bad input into a 500."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

__all__ = ["BadBody", "read_json"]


class BadBody(ValueError):
    """The body is not the JSON the endpoint expects; the message names where."""


async def read_json(request: Request, *, empty_ok: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if empty_ok:
            return {}
        raise BadBody("body: empty, expected a JSON object")
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise BadBody("body: not UTF-8 encoded JSON") from exc
    except json.JSONDecodeError as exc:
        raise BadBody(
            f"body: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc

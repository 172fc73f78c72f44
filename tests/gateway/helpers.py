"""Assertions on On-Prem shaped answers."""

from __future__ import annotations

import httpx


def onprem_error(response: httpx.Response, status: int, code: int) -> str:
    """Assert an On-Prem error envelope with this status and code; return its details."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("errors"), list) and len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert error["code"] == code, body
    assert isinstance(error["title"], str) and error["title"]
    assert "Traceback" not in response.text
    details: str = error["details"]
    return details

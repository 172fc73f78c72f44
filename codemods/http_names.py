"""What makes a call an HTTP request, and one that sends a body (one place for the rules
and for the scan's ``ast`` pass, which must not miss a call the rules would see)."""

from __future__ import annotations

from typing import Final

HTTP_VERBS: Final = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
HTTP_MODULES: Final = frozenset({"requests", "httpx", "aiohttp"})
#: Keyword arguments that carry a request body.
BODY_KEYWORDS: Final = ("json", "data", "content")

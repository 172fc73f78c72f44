"""Drop-ins that keep existing On-Prem callers unchanged: ``requests``, ``httpx``, ``aiohttp``.

``from shim.compat import requests``, ``from shim.compat import httpx`` and
``from shim.compat import aiohttp`` stand in for the libraries (the codemods'
``--strategy shim`` rewrites the imports to these): On-Prem API URLs are served
by the shim's router, every other URL by the real library. For hand wiring
there are the pieces underneath: ``ShimAdapter`` (requests transport adapter),
``ShimTransport`` / ``AsyncShimTransport`` (httpx transports) and
``shim.compat.middleware.ShimMiddleware`` (an aiohttp client middleware).
aiohttp is optional (``pip install 'waba-migrate[aiohttp]'``), so
``shim.compat.aiohttp`` is imported only by code that asks for it.

For libraries that import requests/httpx themselves (On-Prem SDKs),
:func:`install` routes every On-Prem call of the process through the shim and
:func:`uninstall` undoes it (see :mod:`shim.compat.process` for its limits).

Configuration: ``WABA_MIGRATE_CONFIG`` names the channel config, loaded on
first use; :func:`configure` pins one explicitly, :func:`reset` forgets it.
"""

from __future__ import annotations

from shim.compat import httpx, requests
from shim.compat.adapter import ShimAdapter
from shim.compat.process import install, installed, uninstall
from shim.compat.runtime import configure, current_router, reset
from shim.compat.transport import AsyncShimTransport, ShimTransport

__all__ = [
    "AsyncShimTransport",
    "ShimAdapter",
    "ShimTransport",
    "configure",
    "current_router",
    "httpx",
    "install",
    "installed",
    "requests",
    "reset",
    "uninstall",
]

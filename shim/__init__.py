"""waba-migrate: keep On-Premise API v1 code running on the WhatsApp Cloud API.

The package is importable without optional pieces; ``Client``/``AsyncClient`` are
loaded on first use so that ``import shim`` stays cheap for the CLI and codemods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AsyncClient", "Client", "__version__"]

if TYPE_CHECKING:
    from shim.client import AsyncClient, Client


def __getattr__(name: str) -> Any:
    if name in ("Client", "AsyncClient"):
        from shim import client

        return getattr(client, name)
    raise AttributeError(f"module 'shim' has no attribute {name!r}")

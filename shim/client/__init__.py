"""The shim client: the On-Prem v1 interface routed per channel to On-Prem, 360dialog or Meta.

``Client``/``AsyncClient`` are the Python API; :class:`Router` with
:class:`Dispatcher`/:class:`AsyncDispatcher` is the seam the drop-ins and the
gateway call with raw requests (see :mod:`shim.client.core`).
"""

from shim.client.aio import AsyncClient
from shim.client.bulk import BulkMessage, SendResult
from shim.client.core import UNSET, LegacyUrl, RequestOptions, Router
from shim.client.dispatch import AsyncDispatcher, Dispatcher
from shim.client.errors import ApiError, ChannelError, OutcomeUnknown, ShimError
from shim.client.response import Outcome, ShimResponse
from shim.client.state import MemoryStateStore, StateStore, open_state
from shim.client.sync import Client

__all__ = [
    "UNSET",
    "ApiError",
    "AsyncClient",
    "AsyncDispatcher",
    "BulkMessage",
    "ChannelError",
    "Client",
    "Dispatcher",
    "LegacyUrl",
    "MemoryStateStore",
    "Outcome",
    "OutcomeUnknown",
    "RequestOptions",
    "Router",
    "SendResult",
    "ShimError",
    "ShimResponse",
    "StateStore",
    "open_state",
]

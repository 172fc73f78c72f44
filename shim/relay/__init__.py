"""``waba-migrate relay``: acknowledge Cloud webhooks at once, deliver On-Prem bodies durably.

Layers: ``app`` (HTTP: verify, commit, 200) -> ``store`` (SQLite or PostgreSQL
queue, group commit) -> ``worker`` (translate, dedupe, forward with retries,
dead-letter). ``channels`` resolves the config once at start-up.
"""

from shim.relay.app import create_app
from shim.relay.channels import RelayChannel, RelayConfigError, relay_channels
from shim.relay.dedupe import Item, split_bodies
from shim.relay.routing import NumberScope
from shim.relay.store import DeadLetter, Delivery, QueueStats, Store, open_store
from shim.relay.worker import DELIVERY_ID_HEADER, DeliveryWorker, RetryPolicy, Route, make_split

__all__ = [
    "DELIVERY_ID_HEADER",
    "DeadLetter",
    "Delivery",
    "DeliveryWorker",
    "Item",
    "NumberScope",
    "QueueStats",
    "RelayChannel",
    "RelayConfigError",
    "RetryPolicy",
    "Route",
    "Store",
    "create_app",
    "make_split",
    "open_store",
    "relay_channels",
    "split_bodies",
]

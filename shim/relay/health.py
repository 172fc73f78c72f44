"""What ``/healthz`` and ``/metrics`` say about the relay.

``/healthz`` answers ``degraded`` (still HTTP 200: the relay keeps accepting
and delivering) while something needs a person: dead letters are held (they
stay until replayed or dropped with ``waba-migrate relay dlq``), the worker
failed several steps in a row, or a forward target's circuit is open. Counts
of dead letters come from the store, so every instance sharing a PostgreSQL
queue reports the same; worker and breaker figures are this process's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from shim.relay.store import QueueStats

if TYPE_CHECKING:
    from shim.relay.worker import DeliveryWorker

__all__ = ["PROMETHEUS_CONTENT_TYPE", "REPEATED_ERRORS", "health_problems", "prometheus"]

PROMETHEUS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
#: Worker steps failing in a row from which the relay reports itself degraded.
REPEATED_ERRORS: Final = 3


def health_problems(stats: QueueStats, worker: DeliveryWorker | None) -> list[str]:
    """Why the relay is degraded (empty: it is not)."""
    problems: list[str] = []
    if stats.refused:
        problems.append(f"{stats.refused} item(s) refused for a number their channel does not "
                        "serve (security events; see: waba-migrate relay dlq list)")
    others = stats.dead_letters - stats.refused
    if others:
        problems.append(f"{others} dead letter(s) (see: waba-migrate relay dlq list)")
    if worker is not None:
        if worker.step_errors >= REPEATED_ERRORS:
            problems.append(f"the delivery worker failed {worker.step_errors} steps in a row")
        for target, state in worker.breakers.open_targets():
            problems.append(f"forward target {target} is failing: circuit {state}")
    return problems


def prometheus(stats: QueueStats, worker: DeliveryWorker | None,
               channels: Sequence[str]) -> str:
    """The ``/metrics`` page (Prometheus text format 0.0.4)."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP waba_relay_{name} {help_text}")
        lines.append(f"# TYPE waba_relay_{name} {kind}")

    def sample(name: str, value: float, **labels: str) -> None:
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"waba_relay_{name}{{{text}}} {value}" if text
                     else f"waba_relay_{name} {value}")

    family("queue_depth", "gauge", "Deliveries pending or in flight plus events not yet split.")
    sample("queue_depth", stats.queue_depth)
    family("dead_letters", "gauge", "Dead letters held, by channel and kind (body, event, "
           "refused).")
    for channel, kind, count in stats.dead_by:
        sample("dead_letters", count, channel=channel, kind=kind)
    family("refused_items", "gauge", "Items refused because they claim a number their "
           "channel does not serve (security events), held as dead letters.")
    refused = {ch: n for ch, kind, n in stats.dead_by if kind == "refused"}
    for channel in channels:
        sample("refused_items", refused.get(channel, 0), channel=channel)
    if worker is not None:
        family("delivered_total", "counter", "Deliveries the app answered with 2xx.")
        sample("delivered_total", worker.delivered)
        family("failed_attempts_total", "counter", "Delivery attempts that failed.")
        sample("failed_attempts_total", worker.failed_attempts)
        family("worker_errors_total", "counter", "Worker steps that raised.")
        sample("worker_errors_total", worker.step_errors_total)
        family("circuit_open", "gauge", "1 while a forward target's circuit is open or "
               "half-open.")
        for target, state in worker.breakers.states():
            sample("circuit_open", 0 if state == "closed" else 1, target=target)
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

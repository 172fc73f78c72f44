"""Per-channel counters for ``/metrics`` (Prometheus text) and ``/healthz``.

Counters live in the worker process (with ``--workers N`` each worker counts
its own calls; Prometheus sums the scrapes, or scrape each worker's ``pid``).
All updates happen on the event loop between awaits, so no lock is needed.
Calls that match no channel (unknown key) are counted under ``_none``, a name
no channel can have.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Final

from shim.client import ShimResponse
from shim.client.response import Outcome
from shim.config import Config

__all__ = ["NO_CHANNEL", "ChannelStats", "Metrics"]

NO_CHANNEL: Final = "_none"
CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")
PROMETHEUS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class ChannelStats:
    requests: int = 0
    responses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    #: On-Prem error code of the first entry in ``errors`` -> count
    errors: dict[int, int] = field(default_factory=dict)
    outcome_unknown: int = 0
    in_flight: int = 0
    seconds_total: float = 0.0
    last_status: int | None = None
    last_at: float | None = None
    last_success_at: float | None = None
    last_backend_failure_at: float | None = None


class Metrics:
    """Counters by channel, fed once per request by the gateway."""

    def __init__(self, config: Config, clock: Any = time.time) -> None:
        self.clock = clock
        self.started_at: float = clock()
        self.channels: dict[str, ChannelStats] = {name: ChannelStats() for name in config.channels}
        self.channels[NO_CHANNEL] = ChannelStats()

    def stats(self, channel: str | None) -> ChannelStats:
        name = channel or NO_CHANNEL
        found = self.channels.get(name)
        if found is None:  # not expected: channels are fixed at start-up
            found = self.channels[name] = ChannelStats()
        return found

    def started(self, channel: str | None) -> ChannelStats:
        stats = self.stats(channel)
        stats.requests += 1
        stats.in_flight += 1
        return stats

    def finished(
        self, stats: ChannelStats, response: ShimResponse, seconds: float, error_code: int | None
    ) -> None:
        status = response.status_code
        now = self.clock()
        stats.in_flight -= 1
        stats.seconds_total += seconds
        stats.responses[_status_class(status)] += 1
        stats.last_status, stats.last_at = status, now
        if error_code is not None:
            stats.errors[error_code] = stats.errors.get(error_code, 0) + 1
        if response.outcome is Outcome.UNKNOWN:
            stats.outcome_unknown += 1
        if 200 <= status < 300:
            stats.last_success_at = now
        elif status >= 500 and response.attempts > 0:
            # attempts > 0: the backend was called (not one of our own refusals).
            stats.last_backend_failure_at = now

    # -- rendering ---------------------------------------------------------------

    def prometheus(self) -> str:
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP waba_gateway_{name} {help_text}")
            lines.append(f"# TYPE waba_gateway_{name} {kind}")

        def sample(name: str, value: float | int, **labels: str) -> None:
            text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"waba_gateway_{name}{{{text}}} {value}")

        family("requests_total", "counter", "On-Prem v1 requests received.")
        for ch, s in self.channels.items():
            sample("requests_total", s.requests, channel=ch)
        family("responses_total", "counter", "Responses sent, by HTTP status class.")
        for ch, s in self.channels.items():
            for cls, n in s.responses.items():
                sample("responses_total", n, channel=ch, **{"class": cls})
        family("errors_total", "counter", "Error responses, by On-Prem error code.")
        for ch, s in self.channels.items():
            for code, n in sorted(s.errors.items()):
                sample("errors_total", n, channel=ch, code=str(code))
        family(
            "outcome_unknown_total",
            "counter",
            "Requests sent whose fate is unknown (answered 504, not resent).",
        )
        for ch, s in self.channels.items():
            sample("outcome_unknown_total", s.outcome_unknown, channel=ch)
        family("in_flight", "gauge", "Requests being served now.")
        for ch, s in self.channels.items():
            sample("in_flight", s.in_flight, channel=ch)
        family("request_duration_seconds", "summary", "Time to serve a request.")
        for ch, s in self.channels.items():
            sample("request_duration_seconds_sum", round(s.seconds_total, 6), channel=ch)
            sample("request_duration_seconds_count", sum(s.responses.values()), channel=ch)
        family("start_time_seconds", "gauge", "Unix time this worker process started.")
        sample("start_time_seconds", round(self.started_at, 3), pid=str(os.getpid()))
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "started_at": round(self.started_at, 3),
            "channels": {
                ch: {
                    "requests": s.requests,
                    "responses": dict(s.responses),
                    "errors": {str(code): n for code, n in sorted(s.errors.items())},
                    "outcome_unknown": s.outcome_unknown,
                    "in_flight": s.in_flight,
                    "seconds_total": round(s.seconds_total, 6),
                }
                for ch, s in self.channels.items()
            },
        }


def _status_class(status: int) -> str:
    return f"{min(max(status // 100, 1), 5)}xx"

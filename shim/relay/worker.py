"""The delivery worker: split stored events, forward each item, retry, dead-letter.

Forwarding is at-least-once: an item is marked done only after the app
answered 2xx, so a crash between the app's 2xx and our commit sends that one
item again on restart (the dedupe keys stop every redelivery from Meta, not
this window). Retries use exponential back-off with jitter until the item is
``max_age`` old (24 h by default, as On-Prem did), then it is dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shim.relay.breaker import Breakers, target_of
from shim.relay.forward import Forwarder, ForwardError
from shim.relay.routing import make_split
from shim.relay.store import Delivery, Outcome, Split, Store

__all__ = ["DELIVERY_ID_HEADER", "DeliveryWorker", "RetryPolicy", "Route", "make_split"]

log = logging.getLogger(__name__)

DAY = 24 * 3600.0
#: Sent with every forwarded body; the same on every attempt of that item.
DELIVERY_ID_HEADER = "X-Waba-Migrate-Delivery-Id"
#: How often a held-back delivery slot looks again whether the ack burst is over.
BURST_CHECK = 0.02
#: During an ack burst, split new events into deliveries at most this often (seconds).
BURST_EXPAND_EVERY = 0.25
#: Wake this much after the next due time, so the item is due when the claim runs.
DUE_SLACK = 0.005


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Back-off ``base * 2**(attempt-1)`` capped at ``cap``, half of it jittered."""

    base: float = 1.0
    cap: float = 300.0
    max_age: float = DAY
    timeout: float = 10.0
    #: Failures in a row that open a target's circuit, and its first cooldown (seconds;
    #: doubles per failed probe, up to ``cap``).
    breaker_threshold: int = 5
    breaker_cooldown: float = 5.0

    def delay(self, attempts: int) -> float:
        full = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        return full / 2 + random.uniform(0, full / 2)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a channel's On-Prem bodies go (the old On-Prem webhook URL and headers)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    #: How long the app may take to answer (None: the policy's ``timeout``).
    timeout: float | None = None


class DeliveryWorker:
    """Drains the store: ``concurrency`` delivery slots, at most one item per conversation.

    One runner talks to the store: each round trip records the outcomes the
    slots reported since the last one, splits new events, and claims a batch
    of due heads (``Store.step``), so a delivery costs a share of one
    transaction rather than one of its own. With nothing due the runner sleeps
    until the next retry or lease comes due, or until an acknowledged event or
    a finished delivery wakes it: an app that is down costs nothing between
    retries, however many deliveries wait behind them (it still looks every
    ``poll`` seconds for work other processes queued: a few index probes).
    Each slot owns one keep-alive connection (see ``forward``).
    """

    def __init__(
        self,
        store: Store,
        routes: Mapping[str, Route],
        split: Split,
        *,
        policy: RetryPolicy | None = None,
        concurrency: int = 16,
        poll: float = 0.5,
        batch: int = 64,
        dedupe_window: float = 7 * DAY,
    ) -> None:
        self.store = store
        self.routes = dict(routes)
        self.split = split
        self.policy = policy or RetryPolicy()
        self.concurrency = concurrency
        #: Longest idle sleep: work added by other processes (a ``dlq replay``, other
        #: instances) is seen within it. Each look is a few index probes.
        self.poll = poll
        self.batch = batch
        self.dedupe_window = dedupe_window
        self._wake = asyncio.Event()
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._outstanding = 0  # claimed and not yet reported back by a slot
        self._outcomes: list[tuple[Delivery, Outcome]] = []  # reported, not yet recorded
        self._stopping = False
        self._last_expand = 0.0
        #: Set by the app: true while many acknowledgements are being handled at once.
        self.ingest_busy: Callable[[], bool] = lambda: False
        self._runner: asyncio.Task[None] | None = None
        self._slots: list[asyncio.Task[None]] = []
        self._tls: ssl.SSLContext | None = None
        self.breakers = Breakers(threshold=self.policy.breaker_threshold,
                                 cooldown=self.policy.breaker_cooldown,
                                 max_cooldown=self.policy.cap)
        self.delivered = 0
        self.failed_attempts = 0
        self.deferred = 0
        #: Worker steps that failed in a row (reset by the next good one), and in all.
        self.step_errors = 0
        self.step_errors_total = 0
        self.steps = 0  # store round trips (for tests and benchmarks)

    @property
    def lease(self) -> float:
        """How long a claim is ours: well over the longest forward timeout (routes may be
        swapped by a config reload, so this follows them)."""
        longest = max([self.policy.timeout, *(r.timeout or 0.0 for r in self.routes.values())])
        return max(30.0, 3 * longest)

    def wake(self) -> None:
        """New work may be there (called after each acknowledged event)."""
        self._wake.set()

    async def _hold_during_burst(self) -> None:
        """While acknowledgements queue up (``ingest_busy``), only slot 0 delivers.

        Acknowledging fast is what keeps Meta from retrying and backing off;
        forwarding may lag during a burst and catches up after it (the queue
        holds it durably). Slot 0 keeps delivering, one item per
        ``BURST_CHECK`` seconds, so even a never-ending burst starves nobody.
        Other slots wait here before taking an item, never while holding one.
        """
        while self.ingest_busy():
            await asyncio.sleep(BURST_CHECK)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tls = ssl.create_default_context()  # shared: loading CA certs per client is slow
        self._runner = loop.create_task(self._run(), name="relay-worker")
        self._slots = [loop.create_task(self._slot(n), name=f"relay-slot-{n}")
                       for n in range(self.concurrency)]

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming, give started POSTs ``grace`` seconds, record their outcomes.

        Abandoned deliveries stay ``inflight`` and are retried after a restart
        (SQLite; PostgreSQL under the same instance id) or when their lease ends.
        """
        self._stopping = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        while not self._queue.empty():  # claimed, not started: leave them to the restart
            self._queue.get_nowait()
        for _ in self._slots:
            self._queue.put_nowait(_STOP)  # type: ignore[arg-type]
        if self._slots:
            _, late = await asyncio.wait(self._slots, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._outcomes:
            outcomes, self._outcomes = self._outcomes, []
            try:
                await self.store.step(outcomes, None, expand=0, claim=0, now=time.time(),
                                      lease=self.lease)
            except Exception:  # their leases bring them back (sent again: at least once)
                log.exception("could not record %d outcome(s) at shutdown", len(outcomes))

    async def _run(self) -> None:
        last_prune = 0.0
        while True:
            self._wake.clear()
            try:
                delay = await self._step()
                if time.time() - last_prune > 3600:
                    last_prune = time.time()
                    await self.store.prune(last_prune - self.dedupe_window)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.step_errors += 1
                self.step_errors_total += 1
                log.exception("relay worker step failed (%d in a row); retrying",
                              self.step_errors)
                delay = min(30.0, self.poll * 2 ** min(self.step_errors - 1, 6))
            else:
                self.step_errors = 0
            if self.ingest_busy():  # coalesce: one look per interval, not one per ack
                await asyncio.sleep(BURST_CHECK)
            elif delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()

    async def _step(self) -> float:
        """One store round trip; returns how long to sleep unless woken (0: go again)."""
        busy = self.ingest_busy()
        # Claim ahead of the free slots (up to twice the slots in all), so slots find
        # work while the next round trip is under way.
        want = 1 if busy else 2 * self.concurrency
        claim = max(0, want - self._outstanding)
        expand = 0
        if not busy or time.monotonic() - self._last_expand >= BURST_EXPAND_EVERY:
            expand = self.batch
            self._last_expand = time.monotonic()
        outcomes, self._outcomes = self._outcomes, []
        if not (outcomes or expand or claim):
            return self.poll
        try:
            step = await self.store.step(outcomes, self.split, expand=expand, claim=claim,
                                         now=time.time(), lease=self.lease)
        except BaseException:
            self._outcomes[:0] = outcomes  # not recorded: try again next time
            raise
        self.steps += 1
        self._outstanding += len(step.claimed)
        for delivery in step.claimed:
            self._queue.put_nowait(delivery)
        if expand and step.expanded >= expand:
            return 0.0 if not busy else BURST_CHECK  # more events than one batch
        if self._outstanding >= want:
            return self.poll  # slots are full: the next reported outcome wakes us
        # Fewer claimed than asked: nothing else is due before ``next_due``.
        delay = self.poll
        if step.next_due is not None:
            delay = max(0.0, step.next_due - time.time()) + DUE_SLACK
        return min(delay, self.poll)  # other processes (dlq replay, instances) add work

    async def _slot(self, index: int) -> None:
        client = Forwarder(timeout=self.policy.timeout, tls=self._tls)
        try:
            while True:
                if index > 0:
                    await self._hold_during_burst()
                delivery = await self._queue.get()
                if delivery is _STOP:
                    return
                if time.time() + self._timeout(delivery.channel) + 1 >= delivery.lease_until:
                    # waited too long in the queue: the store will hand it out again
                    self._outstanding -= 1
                    continue
                if index == 0 and self.ingest_busy():
                    await asyncio.sleep(BURST_CHECK)  # the trickle
                try:
                    outcome = await self._attempt(client, delivery)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug must cost one attempt, never the slot
                    log.exception("delivery %s failed unexpectedly", delivery.id)
                    outcome = self._failed(delivery, f"internal error: {type(exc).__name__}")
                self._outcomes.append((delivery, outcome))
                self._outstanding -= 1
                self._wake.set()
        finally:
            await client.close()

    async def _attempt(self, client: Forwarder, delivery: Delivery) -> Outcome:
        route = self.routes.get(delivery.channel)
        if route is None:
            return self._failed(
                delivery, f"channel {delivery.channel!r} is not configured with a forward_url")
        target = target_of(route.url)
        wait = self.breakers.admit(target)
        if wait is not None:
            return self._deferred(delivery, target, wait)
        headers = {**route.headers, DELIVERY_ID_HEADER: delivery.uid}
        try:
            status = await client.post(route.url, delivery.body, headers,
                                       timeout=self._timeout(delivery.channel))
        except ForwardError as exc:
            error = f"posting to the forward URL failed: {exc}"
            self.breakers.failure(target, error)
            return self._failed(delivery, error)
        except BaseException:
            self.breakers.release(target)
            raise
        if 200 <= status < 300:
            self.breakers.success(target)
            self.delivered += 1
            return Outcome.done(time.time())
        error = f"forward URL answered HTTP {status}"
        if status >= 500 or status in (408, 429):  # the app is in trouble, not this item
            self.breakers.failure(target, error)
        else:
            self.breakers.success(target)
        return self._failed(delivery, error)

    def _deferred(self, delivery: Delivery, target: str, wait: float) -> Outcome:
        """Put an item back untried while its target's circuit is open."""
        now = time.time()
        error = (f"not sent: {target} keeps failing (circuit open); last failure: "
                 f"{self.breakers.last_error(target)}")
        if now - delivery.created_at >= self.policy.max_age:
            log.warning("delivery %s dead-lettered: %s", delivery.id, error)
            return Outcome.dead(now, error)
        self.deferred += 1
        # spread the queued items over the next interval instead of all at the reopen
        return Outcome.defer(now + wait + random.uniform(0, wait / 2), error)

    def _timeout(self, channel: str) -> float:
        route = self.routes.get(channel)
        return (route.timeout if route is not None else None) or self.policy.timeout

    def _failed(self, delivery: Delivery, error: str) -> Outcome:
        self.failed_attempts += 1
        now = time.time()
        if now - delivery.created_at >= self.policy.max_age:
            log.warning("delivery %s dead-lettered after %d attempts: %s", delivery.id,
                        delivery.attempts, error)
            return Outcome.dead(now, error)
        return Outcome.retry(now + self.policy.delay(delivery.attempts), error)


_STOP = object()

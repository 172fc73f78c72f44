"""Group commit: one thread owns one database connection and commits work in batches.

Web handlers hand an operation (a function of the connection) to the writer and
await its future; the thread takes everything queued, runs it in ONE
transaction and commits once, so a burst of acknowledgements costs one fsync
instead of one each. Results go back to an event loop in one hop per batch
(not one thread-safe callback per request). A failing operation is retried
alone, so it fails only its own caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

__all__ = ["GroupCommitWriter", "WriterClosed"]

log = logging.getLogger(__name__)

C = TypeVar("C")
T = TypeVar("T")

_STOP = object()


class WriterClosed(RuntimeError):
    """The writer was closed before the operation ran."""


class _Item:
    """One queued operation and whoever waits for it (a thread or an event loop)."""

    __slots__ = ("future", "loop", "op")

    def __init__(self, op: Callable[[Any], Any], future: Future[Any] | asyncio.Future[Any],
                 loop: asyncio.AbstractEventLoop | None) -> None:
        self.op = op
        self.future = future
        self.loop = loop


class GroupCommitWriter(Generic[C]):
    """Run ``op(conn)`` calls on a dedicated thread, batching them into transactions.

    ``connect`` opens the connection (on the writer thread); ``begin`` starts a
    transaction on it; ``commit``/``rollback`` end one. ``window`` seconds is how
    long to wait for more work after the first operation of a batch (0: take
    only what is already queued, which batches naturally under load).
    """

    def __init__(
        self,
        connect: Callable[[], C],
        *,
        begin: Callable[[C], None],
        commit: Callable[[C], None],
        rollback: Callable[[C], None],
        close: Callable[[C], None],
        name: str = "writer",
        max_batch: int = 512,
        window: float = 0.0,
        healthy: Callable[[C], bool] = lambda _conn: True,
    ) -> None:
        self._connect = connect
        self._begin, self._commit, self._rollback, self._close = begin, commit, rollback, close
        self._healthy = healthy
        self._max_batch = max_batch
        self._window = window
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.result()  # raise connection errors in the caller

    def submit(self, op: Callable[[C], T]) -> Future[T]:
        """Queue ``op``; wait on the returned future from any thread."""
        future: Future[T] = Future()
        if self._closed:
            future.set_exception(WriterClosed("the store is closed"))
        else:
            self._queue.put(_Item(op, future, None))
        return future

    def run(self, op: Callable[[C], T]) -> asyncio.Future[T]:
        """Queue ``op`` from an event loop; await the returned future on that loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._closed:
            future.set_exception(WriterClosed("the store is closed"))
        else:
            self._queue.put(_Item(op, future, loop))
        return future

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()

    # -- writer thread ----------------------------------------------------

    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        stopping = False
        try:
            while not stopping:
                batch, stopping = self._take()
                if batch:
                    conn = self._run(conn, batch)
        finally:
            self._close(conn)
            leftovers = []
            while True:  # fail whatever raced in after close
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    leftovers.append((item, False, WriterClosed("the store is closed")))
            _settle(leftovers)

    def _take(self) -> tuple[list[_Item], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self._window
        while len(batch) < self._max_batch:
            try:
                remaining = deadline - time.monotonic()
                item = self._queue.get(timeout=remaining) if remaining > 0 else (
                    self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _run(self, conn: C, batch: list[_Item]) -> C:
        live = [item for item in batch if _wanted(item)]
        if not live:
            return conn
        started = time.perf_counter()
        outcomes: list[tuple[_Item, bool, Any]] = []
        try:
            self._begin(conn)
            results = [item.op(conn) for item in live]
            self._commit(conn)
        except Exception as exc:
            conn = self._recover(conn)
            if len(live) == 1:
                outcomes.append((live[0], False, exc))
            else:
                for item in live:  # isolate the failing operation
                    try:
                        self._begin(conn)
                        result = item.op(conn)
                        self._commit(conn)
                    except Exception as one:
                        conn = self._recover(conn)
                        outcomes.append((item, False, one))
                    else:
                        outcomes.append((item, True, result))
        else:
            outcomes = [(item, True, result) for item, result in zip(live, results, strict=True)]
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: %d op(s) committed in %.1f ms", self._thread.name, len(live),
                          (time.perf_counter() - started) * 1000)
        _settle(outcomes)
        return conn

    def _recover(self, conn: C) -> C:
        try:
            self._rollback(conn)
        except Exception:
            log.debug("rollback failed", exc_info=True)
        if self._healthy(conn):
            return conn
        log.warning("database connection lost; reconnecting")
        try:
            self._close(conn)
        except Exception:
            log.debug("close failed", exc_info=True)
        try:
            return self._connect()
        except Exception:
            log.exception("reconnect failed; will retry on the next batch")
            return conn


def _wanted(item: _Item) -> bool:
    """Skip operations whose thread-side caller already gave up (cancelled)."""
    if isinstance(item.future, Future):
        return item.future.set_running_or_notify_cancel()
    return True  # an event-loop caller that stopped waiting still gets its write done


def _settle(outcomes: list[tuple[_Item, bool, Any]]) -> None:
    """Resolve thread futures directly, loop futures in one call per loop."""
    per_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Item, bool, Any]]] = {}
    for outcome in outcomes:
        item = outcome[0]
        if item.loop is None:
            future = item.future
            assert isinstance(future, Future)
            if outcome[1]:
                future.set_result(outcome[2])
            else:
                future.set_exception(outcome[2])
        else:
            per_loop.setdefault(item.loop, []).append(outcome)
    for loop, group in per_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_settle_on_loop, group)


def _settle_on_loop(group: list[tuple[_Item, bool, Any]]) -> None:
    for item, ok, value in group:
        future = item.future
        if future.done():  # cancelled while waiting
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

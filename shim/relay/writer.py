"""Group commit: one thread owns one database connection and commits work in batches.

Web handlers hand an operation (a function of the connection) to the writer and
await its future; the thread takes everything queued, runs it in ONE
transaction and commits once, so a burst of acknowledgements costs one fsync
instead of one each. A failing operation is retried alone, so it fails only
its own caller.
"""

from __future__ import annotations

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
        future: Future[T] = Future()
        if self._closed:
            future.set_exception(WriterClosed("the store is closed"))
            return future
        self._queue.put((op, future))
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
            while True:  # fail whatever raced in after close
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    _fail(item[1], WriterClosed("the store is closed"))

    def _take(self) -> tuple[list[tuple[Callable[[C], Any], Future[Any]]], bool]:
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

    def _run(self, conn: C, batch: list[tuple[Callable[[C], Any], Future[Any]]]) -> C:
        live = [(op, fut) for op, fut in batch if fut.set_running_or_notify_cancel()]
        if not live:
            return conn
        started = time.perf_counter()
        try:
            self._begin(conn)
            results = [op(conn) for op, _ in live]
            self._commit(conn)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: %d op(s) committed in %.1f ms", self._thread.name, len(live),
                          (time.perf_counter() - started) * 1000)
        except Exception as exc:
            conn = self._recover(conn)
            if len(live) == 1:
                live[0][1].set_exception(exc)
                return conn
            for op, fut in live:  # isolate the failing operation
                try:
                    self._begin(conn)
                    result = op(conn)
                    self._commit(conn)
                except Exception as one:
                    conn = self._recover(conn)
                    fut.set_exception(one)
                else:
                    fut.set_result(result)
            return conn
        for (_, fut), result in zip(live, results, strict=True):
            fut.set_result(result)
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


def _fail(future: Future[Any], exc: BaseException) -> None:
    if future.set_running_or_notify_cancel():
        future.set_exception(exc)

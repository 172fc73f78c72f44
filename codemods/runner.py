"""A run over many files: discover, read, prefilter, process (in a pool), write.

The main process reads each file once for the byte prefilter and keeps no
bytes: only the paths of candidates go to the worker processes, which read
the file again themselves, as soon as it is found (the pool starts once there
are enough candidates to be worth it; fewer are processed inline). So memory
stays flat however large the tree. Workers hand back plain data, and the
original bytes only for a file they would change. Writing is done here,
atomically, and only if the file still holds the bytes that were analysed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from codemods.discover import Skipped, Unreadable, discover
from codemods.engine import FileError, Options, Outcome, process_source
from codemods.prefilter import may_match
from codemods.reading import DEFAULT_MAX_SIZE, NotRead, read_source, too_large

#: Below this many candidates a pool costs more than it saves.
POOL_MIN: Final = 8


class Progress(Protocol):
    def start(self, phase: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


@dataclass(slots=True)
class FileResult:
    path: Path
    display: str
    outcome: Outcome
    original: bytes | None = None  # kept only for a file the run would change
    candidate: bool = False


@dataclass(slots=True)
class RunResult:
    files: list[FileResult] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)

    @property
    def scanned(self) -> int:
        return len(self.files)

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.outcome.error is not None]

    @property
    def failed(self) -> bool:
        """Did anything fail (exit 2): a file, a missing path or an unlistable directory?"""
        return bool(self.errors or self.missing or self.unreadable)

    @property
    def changed(self) -> list[FileResult]:
        return [f for f in self.files if f.outcome.new_data is not None]


def _work(path: Path, options: Options, max_size: int, display: str = ""
          ) -> tuple[Outcome, bytes | None]:
    """Read and process one candidate (in a worker); the bytes only if they would change.

    ``display`` is the path as the user sees it (it says whether this is a test file).
    """
    try:
        data = read_source(path, max_size)
    except NotRead as exc:
        return Outcome(error=FileError(exc.type, exc.message)), None
    except OSError as exc:
        return Outcome(error=FileError("unreadable", exc.strerror or str(exc))), None
    out = process_source(data, options, display)
    return out, (data if out.new_data is not None else None)


class _Dispatch:
    """Hands candidates to a pool once there are POOL_MIN of them, inline otherwise."""

    def __init__(self, options: Options, max_size: int, workers: int,
                 progress: Progress | None) -> None:
        self.options = options
        self.max_size = max_size
        self.workers = workers
        self.progress = progress
        self.waiting: list[FileResult] = []
        self.pool: ProcessPoolExecutor | None = None
        self.futures: list[tuple[Future[tuple[Outcome, bytes | None]], FileResult]] = []

    def add(self, fr: FileResult) -> None:
        if self.pool is None:
            self.waiting.append(fr)
            if self.workers > 1 and len(self.waiting) >= POOL_MIN:
                self.pool = ProcessPoolExecutor(max_workers=self.workers)
                for w in self.waiting:
                    self._submit(w)
                self.waiting.clear()
        else:
            self._submit(fr)

    def _submit(self, fr: FileResult) -> None:
        assert self.pool is not None
        self.futures.append((self.pool.submit(_work, fr.path, self.options, self.max_size,
                                              fr.display),
                             fr))

    def finish(self) -> None:
        if self.progress is not None:
            self.progress.start("analysing", len(self.waiting) + len(self.futures))
        for fr in self.waiting:
            fr.outcome, fr.original = _work(fr.path, self.options, self.max_size, fr.display)
            self._advance()
        if self.pool is None:
            return
        with self.pool:
            for fut, fr in self.futures:
                try:
                    fr.outcome, fr.original = fut.result()
                except Exception as exc:  # a worker died (memory, signal)
                    fr.outcome = Outcome(error=FileError("internal-error",
                                                         f"{type(exc).__name__}: {exc}"))
                self._advance()

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.advance()


def run(
    paths: Sequence[str],
    options: Options,
    *,
    excludes: Sequence[str] = (),
    jobs: int | None = None,
    progress: Progress | None = None,
    max_file_size: int = DEFAULT_MAX_SIZE,
) -> RunResult:
    """Findings (and new bytes) for every file under ``paths``; ``max_file_size`` 0: no limit."""
    found = discover(paths, excludes)
    result = RunResult(missing=list(found.missing), skipped=list(found.skipped),
                       unreadable=list(found.unreadable))
    dispatch = _Dispatch(options, max_file_size, jobs if jobs is not None
                         else (os.cpu_count() or 1), progress)
    if progress is not None:
        progress.start("reading", len(found.files))
    for f in found.files:
        if progress is not None:
            progress.advance()
        if max_file_size and f.size > max_file_size:
            exc = too_large(f.size, max_file_size)
            result.skipped.append(Skipped(f.display, exc.type, exc.message))
            continue
        try:
            candidate = not options.prefilter or may_match(read_source(f.path, max_file_size))
        except NotRead as exc:
            result.skipped.append(Skipped(f.display, exc.type, exc.message))
            continue
        except OSError as exc:
            candidate = False
            fr = FileResult(f.path, f.display, Outcome(error=FileError(
                "unreadable", exc.strerror or str(exc))))
        else:
            fr = FileResult(f.path, f.display, Outcome(), candidate=candidate)
        result.files.append(fr)
        if candidate:
            dispatch.add(fr)
    dispatch.finish()
    # a worker may find a file swapped for a FIFO or grown past the limit since the walk
    for fr in [fr for fr in result.files if fr.outcome.error is not None
               and fr.outcome.error.type in ("too-large", "not-a-regular-file")]:
        assert fr.outcome.error is not None
        result.skipped.append(Skipped(fr.display, fr.outcome.error.type,
                                      fr.outcome.error.message))
        result.files.remove(fr)
    result.skipped.sort(key=lambda s: s.display)
    return result


def write_file(fr: FileResult) -> FileError | None:
    """Replace the file atomically with the new bytes, unless it changed meanwhile."""
    new = fr.outcome.new_data
    if new is None or fr.original is None:
        return None
    try:
        if fr.path.read_bytes() != fr.original:
            return FileError("changed-on-disk", "the file changed while it was being "
                             "rewritten; not written")
        fd, tmp = tempfile.mkstemp(prefix=f".{fr.path.name}.", suffix=".waba-migrate",
                                   dir=fr.path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(new)
            shutil.copymode(fr.path, tmp)
            os.replace(tmp, fr.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        return FileError("unwritable", exc.strerror or str(exc))
    return None

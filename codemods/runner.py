"""A run over many files: discover, read, prefilter, process (in a pool), write.

The main process only walks the tree: the paths go to the worker processes in
chunks, biggest files first, and each worker reads its files, applies the byte
prefilter and analyses the candidates (small runs are done inline). So no
process holds more than one file's bytes, and the reading and prefiltering are
spread over the workers like the analysis. Workers hand back plain data, and
the original bytes only for a file they would change. Writing is done here,
atomically, and only if the file still holds the bytes that were analysed.
"""

from __future__ import annotations

import ctypes
import gc
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from codemods.discover import Skipped, Unreadable, discover
from codemods.engine import FileError, Options, Outcome, process_source
from codemods.focus import words
from codemods.prefilter import may_match
from codemods.reading import DEFAULT_MAX_SIZE, NotRead, read_source, too_large


def _libc() -> ctypes.CDLL | None:
    """The C library this process runs on, if it has ``malloc_trim`` (glibc)."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


#: After a candidate this big, a worker returns the freed memory (see _release) ...
TRIM_MIN: Final = 100_000
#: ... and, where the process can read its own resident size, after any candidate that left
#: it this much larger than after the last release (a 50 kB module parsed whole takes 50 MB).
TRIM_GROWTH: Final = 8 * 2**20
_LIBC: Final = _libc()
#: Below this many files a pool costs more than it saves.
POOL_MIN: Final = 64
#: Files per worker task: small enough to balance the load, large enough to keep the
#: round trips (and the main process) out of the way ...
CHUNK: Final = 16
#: ... and at most this many bytes, so a big file is a task of its own.
CHUNK_BYTES: Final = 400_000


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


@dataclass(slots=True)
class _Done:
    """What a worker found for one file (plain data, cheap to send back)."""

    skipped: tuple[str, str] | None = None  # (type, message): not read on purpose
    candidate: bool = False
    outcome: Outcome = field(default_factory=Outcome)
    original: bytes | None = None  # only for a file the run would change


def _one(path: Path, display: str, size: int, options: Options, max_size: int) -> _Done:
    """Read, prefilter and (for a candidate) process one file.

    ``display`` is the path as the user sees it (it says whether this is a test file).
    """
    if max_size and size > max_size:
        exc = too_large(size, max_size)
        return _Done(skipped=(exc.type, exc.message))
    try:
        data = read_source(path, max_size)
    except NotRead as exc:
        return _Done(skipped=(exc.type, exc.message))
    except OSError as exc:
        return _Done(outcome=Outcome(error=FileError("unreadable", exc.strerror or str(exc))))
    if options.prefilter and not may_match(data):
        return _Done()
    collecting = gc.isenabled()
    gc.disable()  # the trees hold few cycles; collections while one grows cost 10 % of a scan
    try:
        out = process_source(data, options, display)
    finally:
        if collecting:
            gc.enable()
    _after_candidate(size)
    return _Done(candidate=True, outcome=out,
                 original=data if out.new_data is not None else None)


def _resident() -> int | None:
    """This process's resident bytes (Linux), else None."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: Resident bytes after this process's last release (None: not measured yet).
_floor: int | None = None


def _after_candidate(size: int) -> None:
    """Return the memory a candidate's trees took once they are gone, if it is worth it."""
    global _floor
    now = _resident()
    if now is None:
        if size >= TRIM_MIN:
            _release()
        return
    if _floor is None:
        _floor = now
    if now - _floor > TRIM_GROWTH:
        _release()
        _floor = _resident() or now


def _release() -> None:
    """Hand the memory of a big file's trees back to the system: without this a worker keeps
    its peak for the rest of the run (glibc keeps freed heap pages; elsewhere a no-op)."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _chunk(items: list[tuple[Path, str, int]], options: Options, max_size: int) -> list[_Done]:
    """One worker task: a run of consecutive files (one round trip per CHUNK files)."""
    return [_one(path, display, size, options, max_size) for path, display, size in items]


def _chunks(items: list[tuple[Path, str, int]]) -> list[list[int]]:
    """Worker tasks (indexes into ``items``), biggest files first: the longest tasks start
    early, so no worker is left with one at the end while the other idles."""
    order = sorted(range(len(items)), key=lambda i: -items[i][2])
    chunks: list[list[int]] = []
    size = 0
    for i in order:
        if not chunks or len(chunks[-1]) >= CHUNK or size + items[i][2] > CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(i)
        size += items[i][2]
    return chunks


def _pooled(items: list[tuple[Path, str, int]], options: Options, max_size: int, workers: int,
            progress: Progress | None) -> dict[int, _Done]:
    """What the workers found, by index into ``items``."""
    chunks = _chunks(items)
    done_at: dict[int, _Done] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_chunk, [items[i] for i in c], options, max_size)
                   for c in chunks]
        for fut, c in zip(futures, chunks, strict=True):
            try:
                done_at.update(zip(c, fut.result(), strict=True))
            except Exception as exc:  # a worker died (memory, signal)
                error = FileError("internal-error", f"{type(exc).__name__}: {exc}")
                done_at.update((i, _Done(candidate=True, outcome=Outcome(error=error)))
                               for i in c)
            if progress is not None:
                progress.advance(len(c))
    return done_at


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
    files = found.files
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if progress is not None:
        progress.start("analysing", len(files))
    items = [(f.path, f.display, f.size) for f in files]
    dones: list[_Done] = []
    if workers > 1 and len(files) >= POOL_MIN:
        if options.focus and not options.rewrite:
            words()  # once here, inherited by the forked workers
        # the workers' collections leave what they inherit alone, so its pages stay shared
        gc.freeze()
        try:
            done_at = _pooled(items, options, max_file_size, workers, progress)
        finally:
            gc.unfreeze()
        dones = [done_at[i] for i in range(len(items))]
    else:
        for item in items:
            dones.append(_one(*item, options, max_file_size))
            if progress is not None:
                progress.advance()
    for f, done in zip(files, dones, strict=True):
        if done.skipped is not None:
            result.skipped.append(Skipped(f.display, *done.skipped))
            continue
        result.files.append(FileResult(f.path, f.display, done.outcome, done.original,
                                       done.candidate))
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

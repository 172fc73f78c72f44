"""A run over many files: discover, read, prefilter, process (in a pool), write.

The main process reads every file and applies the byte prefilter; only
candidates are parsed, largest first, in a ``ProcessPoolExecutor`` (inline
when there are few). Workers get bytes and options and hand back plain data.
Writing is done here, atomically, and only if the file still holds the bytes
that were read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from codemods.discover import discover
from codemods.engine import FileError, Options, Outcome, process_source
from codemods.prefilter import may_match

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
    original: bytes | None = None
    candidate: bool = False


@dataclass(slots=True)
class RunResult:
    files: list[FileResult] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def scanned(self) -> int:
        return len(self.files)

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.outcome.error is not None]

    @property
    def changed(self) -> list[FileResult]:
        return [f for f in self.files if f.outcome.new_data is not None]


def _work(data: bytes, options: Options) -> Outcome:
    return process_source(data, options)


def run(
    paths: Sequence[str],
    options: Options,
    *,
    excludes: Sequence[str] = (),
    jobs: int | None = None,
    progress: Progress | None = None,
) -> RunResult:
    found = discover(paths, excludes)
    result = RunResult(missing=list(found.missing))
    candidates: list[tuple[FileResult, bytes]] = []
    if progress is not None:
        progress.start("reading", len(found.files))
    for f in found.files:
        fr = FileResult(f.path, f.display, Outcome())
        result.files.append(fr)
        try:
            data = f.path.read_bytes()
        except OSError as exc:
            fr.outcome.error = FileError("unreadable", exc.strerror or str(exc))
        else:
            fr.original = data
            if not options.prefilter or may_match(data):
                fr.candidate = True
                candidates.append((fr, data))
        if progress is not None:
            progress.advance()
    candidates.sort(key=lambda c: len(c[1]), reverse=True)
    if progress is not None:
        progress.start("analysing", len(candidates))
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if workers > 1 and len(candidates) >= POOL_MIN:
        with ProcessPoolExecutor(max_workers=min(workers, len(candidates))) as pool:
            futures = {pool.submit(_work, data, options): fr for fr, data in candidates}
            for fut in as_completed(futures):
                fr = futures[fut]
                try:
                    fr.outcome = fut.result()
                except Exception as exc:  # a worker died (memory, signal)
                    fr.outcome = Outcome(error=FileError("internal-error",
                                                         f"{type(exc).__name__}: {exc}"))
                if progress is not None:
                    progress.advance()
    else:
        for fr, data in candidates:
            fr.outcome = _work(data, options)
            if progress is not None:
                progress.advance()
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

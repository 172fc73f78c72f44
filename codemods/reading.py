"""Reading one source file without ever blocking on it or swallowing a huge one.

Discovery already stats each path, but the file may be swapped between the
walk and the read, so the open itself is non-blocking (a FIFO opened for
reading would otherwise wait for a writer forever) and the opened descriptor
is checked again before a byte is read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from codemods.discover import kind_of

#: ``--max-file-size`` default: generated or vendored blobs above this are skipped.
DEFAULT_MAX_SIZE: Final = 2_000_000
_FLAGS: Final = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                 | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


class NotRead(Exception):
    """The file is deliberately not read: ``type`` and a message for the report."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


def size_text(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.0f} kB"
    return f"{n} bytes"


def too_large(size: int, limit: int) -> NotRead:
    return NotRead("too-large", f"{size_text(size)} is over the --max-file-size limit "
                   f"({size_text(limit)})")


def read_source(path: Path, max_size: int) -> bytes:
    """The file's bytes; ``NotRead`` for a non-regular or too large file, ``OSError`` else.

    ``max_size`` 0 means no limit.
    """
    fd = os.open(path, _FLAGS)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        kind = kind_of(st.st_mode)
        if kind is not None:
            raise NotRead("not-a-regular-file", f"{kind}; only regular files are read")
        if max_size and st.st_size > max_size:
            raise too_large(st.st_size, max_size)
        data = fh.read(max_size + 1) if max_size else fh.read()
    if max_size and len(data) > max_size:  # grew after the stat
        raise too_large(len(data), max_size)
    return data


def parse_size(text: str) -> int:
    """``2MB``, ``500k``, ``1500000`` (decimal units; 0 = no limit) as a byte count."""
    raw = text.strip().lower().replace(" ", "").removesuffix("b")
    factor = 1
    for suffix, f in (("k", 1_000), ("m", 1_000_000), ("g", 1_000_000_000)):
        if raw.endswith(suffix):
            raw, factor = raw[:-1], f
            break
    value = float(raw)  # ValueError for anything else
    if value < 0:
        raise ValueError("a size cannot be negative")
    return int(value * factor)

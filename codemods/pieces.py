"""Reading a big file's top-level statements with ``ast`` a piece at a time.

``ast.parse`` holds about 75 bytes per source byte while it builds a tree (a
900 kB generated table costs 70 MB), and ``codemods.focus`` only needs a
summary of each top-level statement. So a big file is parsed in pieces of
consecutive statements, each summarised and dropped before the next is read.

A piece starts at a line that starts a statement: one beginning in column 0
with something other than a space, a comment, a closing bracket or a clause
that continues a compound statement (``else``, ``elif``, ``except``,
``finally``). Such a line may also sit inside a string or a bracket; then the
piece ending there does not parse (an unclosed string or bracket, a dangling
backslash, a lone decorator or ``try``), and it is grown. A piece that parses
ends where a statement of the whole file ends: the tokens of a prefix are the
tokens of the file, and the next line starts in column 0.

One statement larger than a piece, written ``NAME = {`` (or ``[``, ``(``) on
its own line, elements, and the closing bracket on its own line (a generated
table), is read in batches of elements: a batch ends on a line ending with a
comma, and is kept only if it parses between the brackets by itself, which
it does only when the comma closes an element of the table (an element cut
inside a string or a nested bracket leaves it unclosed).

Anything else (a coding line, a file that is not UTF-8, a syntax error) and
the caller parses the file whole.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

#: Bytes of source per ``ast.parse`` call.
PIECE: Final = 64_000
_CLAUSE: Final = re.compile(rb"(?:else|elif|except|finally)\b")
_NOT_START: Final = frozenset(b" \t\f\r\n#)]}")
_TABLE_HEAD: Final = re.compile(rb"([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*([\[{(])[ \t]*\r?\n?")
_CLOSER: Final = {b"{": b"}", b"[": b"]", b"(": b")"}
_COOKIE: Final = re.compile(rb"^[ \t\f]*#.*?coding[:=]", re.MULTILINE)


class Unsplittable(Exception):
    """The file cannot be read in pieces: parse it whole."""


@dataclass(slots=True)
class Table:
    """A big bracketed data statement: ``head`` is ``NAME = {}`` at its first line, ``parts``
    its elements a batch at a time (each an expression statement); ``place`` is where the
    whole statement is, as ``ast`` gives it."""

    head: ast.stmt
    parts: Iterator[ast.stmt]
    place: tuple[int, int, int, int, type]


def splittable(data: bytes) -> bool:
    """Does every piece mean what it means in the file? (UTF-8, no coding line, no future
    import that changes the grammar, no NUL byte)."""
    if b"\0" in data or b"barry_as_FLUFL" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    head = b"".join(data.splitlines(keepends=True)[:2])
    return _COOKIE.search(head) is None


def _starts_statement(line: bytes) -> bool:
    return bool(line) and line[0] not in _NOT_START and _CLAUSE.match(line) is None


def split(lines: list[bytes], starts: list[int], piece: int = PIECE
          ) -> Iterator[list[ast.stmt] | Table]:
    """The file's top-level statements, a parsed piece (their lines as in the file) or a
    :class:`Table` at a time; :class:`Unsplittable` when a piece will not parse."""
    data_end = len(lines)
    cands = [i for i, line in enumerate(lines) if i == 0 or _starts_statement(line)]
    cands.append(data_end)
    k = 0
    while cands[k] < data_end:
        first = cands[k]
        if starts[cands[k + 1]] - starts[first] > piece:
            table = _table(lines, starts, first, cands[k + 1], piece)
            if table is not None:
                yield table
                k += 1
                continue
        j = _grow(cands, starts, k, k + 1, piece)
        while True:
            try:
                tree = ast.parse(b"".join(lines[first:cands[j]]))
                break
            except (SyntaxError, ValueError):
                if cands[j] == data_end:
                    raise Unsplittable from None
                j = _grow(cands, starts, k, j + 1, 2 * (starts[cands[j]] - starts[first]))
        ast.increment_lineno(tree, first)
        yield tree.body
        k = j


def _grow(cands: list[int], starts: list[int], k: int, j: int, limit: int) -> int:
    """The furthest candidate end from ``j`` on whose piece holds at most ``limit`` bytes."""
    first = starts[cands[k]]
    while j + 1 < len(cands) and starts[cands[j + 1]] - first <= limit:
        j += 1
    return j


def _table(lines: list[bytes], starts: list[int], first: int, end: int,
           piece: int) -> Table | None:
    """``lines[first:end]`` as a table, if it is written as one (see the module's text)."""
    head = _TABLE_HEAD.fullmatch(lines[first])
    if head is None:
        return None
    opener = head.group(2)
    closer = _CLOSER[opener]
    close = end - 1
    while close > first and (not lines[close].strip() or lines[close].lstrip()[:1] == b"#"):
        close -= 1
    if close <= first or lines[close].strip() != closer:
        return None
    try:
        top = ast.parse(lines[first].rstrip() + closer).body
    except (SyntaxError, ValueError):
        return None
    if len(top) != 1:
        return None
    ast.increment_lineno(top[0], first)
    place = (first + 1, 0, close + 1, lines[close].index(closer) + 1, type(top[0]))
    return Table(top[0], _batches(lines, starts, first + 1, close, opener, closer, piece), place)


def _batches(lines: list[bytes], starts: list[int], begin: int, close: int, opener: bytes,
             closer: bytes, piece: int) -> Iterator[ast.stmt]:
    """The elements in ``lines[begin:close]``, parsed between the brackets a batch at a time."""
    at, size = begin, piece
    for n in range(begin, close):
        if n + 1 < close and (starts[n + 1] - starts[at] < size
                              or not lines[n].rstrip().endswith(b",")):
            continue
        try:
            body = ast.parse(opener + b"\n" + b"".join(lines[at:n + 1]) + closer).body
        except (SyntaxError, ValueError):
            if n + 1 == close:
                raise Unsplittable from None
            size = 2 * (starts[n + 1] - starts[at])  # cut inside an element: try further on
            continue
        yield from body
        at, size = n + 1, piece

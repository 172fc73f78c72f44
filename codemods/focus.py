"""Scan parses with libcst only the top-level statements a rule can look at.

libcst builds its tree about ten times slower than ``ast`` and holds some 500
bytes per source byte, so parsing every candidate file whole costs more than
``ast``-parsing a whole tree, though a rule looks at a small part of most of
them (a real module with one caller in it, a data table with "Wabash" in it).
Here ``ast`` (C speed) reads the top-level statements and keeps:

* *evidence*: a statement holding a string that is one of the rules' own words
  (the word-like string constants of the rule modules and the mapping table,
  harvested from their source, so a new rule's words count without a list to
  update), that could be part of an On-Prem URL, or that names a declared host;
  or a call that sends a body over HTTP (``codemods.http_names``: the file's
  senders decide whether its payloads reach an unknown URL);
* every import (and any statement holding one);
* where evidence flows: a statement that reads a module-level name a kept
  evidence statement binds, transitively (the call a URL constant goes to);
  a def or class whose only evidence is a plain word (``"name"``, ``"log"``)
  flows into other definitions only, not into module-level statements;
* what kept statements resolve to: a statement that binds a name a kept
  statement reads or binds, transitively (a name bound twice stays unknown).

Inside a kept statement, a literal container passed to a raised exception
(``raise Invalid(..., definition={...})``, the bulk of generated schema
validators) has its content turned into spaces: a raised value never reaches
an HTTP call. Every other statement becomes empty lines, so every kept node
keeps its line and column; the file-wide word tests still read the whole
text. A file with no evidence keeps only its imports, and with no imports
either it is not parsed at all. A file of :data:`PIECEWISE_MIN` bytes or more
is read a piece at a time (``codemods.pieces``): its statements are summarised
as each piece is parsed, so ``ast`` never holds the tree of a whole generated
table. Used by ``scan`` only (a rewrite needs the whole tree). A reduced file
whose statements ``ast`` places differently from the original is not used.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from types import CodeType
from typing import Any, Final

import codemods
from codemods import pieces
from codemods.http_names import BODY_KEYWORDS, HTTP_MODULES, HTTP_VERBS
from codemods.urls import interesting

#: Modules of the command around the rules: their strings are messages, options and file
#: names, never compared with the code being scanned.
_NOT_RULES: Final = frozenset({"cli.py", "discover.py", "engine.py", "focus.py", "parsing.py",
                               "pieces.py", "reading.py", "report.py", "rules.py", "runner.py"})
#: What ``focus`` answers for a file with nothing a rule can look at (not even an import).
NOTHING: Final = b""
#: A rule's word looks like a key, a header name, a path or a host: no inner space.
_WORD: Final = re.compile(r"[a-z0-9_.\-/{}:$]*[a-z][a-z0-9_.\-/{}:$]*")
_CALL_VERBS: Final = HTTP_VERBS | {"request"}
_BOM: Final = b"\xef\xbb\xbf"
#: Blank only when the kept statements hold less than this share of the bytes.
WORTH: Final = 0.85
_SCOPES: Final = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_IDENTIFIER: Final = re.compile(r"[a-z_][a-z0-9_]*")


@cache
def vocabulary() -> frozenset[str]:
    """Lower-case string constants of the rule modules and the mapping table (not dict values,
    not docstrings): every word a rule can compare a key, attribute or call name with."""
    import shim.mapping

    roots = (Path(codemods.__file__).parent, Path(shim.mapping.__file__).parent)
    words: set[str] = set()
    for root in roots:
        for path in sorted(root.glob("*.py")):
            if root.name == "codemods" and path.name in _NOT_RULES:
                continue
            skip: set[int] = set()  # dict values and docstrings
            for node in _nodes(ast.parse(path.read_bytes())):  # parents come before children
                kind = type(node)
                if kind is ast.Dict:
                    skip.update(id(v) for v in node.values)
                elif kind is ast.Constant:
                    if type(node.value) is str and id(node) not in skip:
                        words.add(node.value.lower())
                elif kind in _DOCUMENTED and node.body and type(node.body[0]) is ast.Expr \
                        and type(node.body[0].value) is ast.Constant:
                    skip.add(id(node.body[0].value))
    return frozenset(words)


@cache
def words() -> frozenset[str]:
    """The vocabulary's words (stripped), without message text, punctuation and single
    letters (string prefixes and loop names in the rules' code, never a key or a path)."""
    return frozenset(w.strip() for w in vocabulary()
                     if len(w.strip()) > 1 and _WORD.fullmatch(w.strip()))


_DOCUMENTED: Final = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _nodes(root: ast.AST) -> Iterator[Any]:
    """Every node below ``root`` (as ``ast.walk``, depth first, a node before its children)."""
    todo: list[object] = [root]
    while todo:
        node = todo.pop()
        kind = type(node)
        fields = _FIELDS.get(kind)
        if fields is None:
            fields = _FIELDS[kind] = _child_fields(kind)
        if not fields and not isinstance(node, ast.AST):
            continue
        for name in fields:
            value = getattr(node, name)
            if type(value) is list:
                todo.extend(value)
            elif value is not None:
                todo.append(value)
        yield node


class _Statement:
    """What one top-level statement binds, reads and holds (its string constants as written,
    not the names the compiler adds, which would make every ``def data()`` evidence)."""

    __slots__ = ("binds", "calls", "evidence", "imports", "raises", "reads", "scope", "strong")

    def __init__(self, stmt: ast.stmt, vocab: frozenset[str], hosts: frozenset[str]) -> None:
        self.binds: set[str] = set()
        self.reads: set[str] = set()
        self.calls: set[str] = set()  # names called: one imported from an HTTP module sends
        self.imports = False
        self.raises: list[ast.Raise] = []  # read by _raised_literals, then dropped
        sends = False
        strings: set[str | bytes] = set()
        scope = self.scope = isinstance(stmt, _SCOPES)
        if scope:
            self.binds.add(stmt.name)  # type: ignore[attr-defined]
        todo: list[object] = [stmt]
        pop, push, extend = todo.pop, todo.append, todo.extend
        while todo:  # every node below stmt, as ast.walk finds them, at twice its speed
            node: Any = pop()
            kind = type(node)
            fields = _FIELDS.get(kind)
            if fields is None:
                fields = _FIELDS[kind] = _child_fields(kind)
            for name in fields:
                value = getattr(node, name)
                if type(value) is list:
                    extend(value)
                elif value is not None:
                    push(value)
            if kind is ast.Name:
                if type(node.ctx) is ast.Load:
                    self.reads.add(node.id)
                elif not scope:
                    self.binds.add(node.id)
            elif kind is ast.Constant:
                value = node.value
                if type(value) is str or type(value) is bytes:
                    strings.add(value)
            elif kind is ast.Call:
                func = node.func
                if type(func) is ast.Name:
                    self.calls.add(func.id)
                elif not sends:
                    sends = _sends(node)
            elif kind is ast.Global or kind is ast.Nonlocal:
                self.binds.update(node.names)
            elif kind is ast.Import or kind is ast.ImportFrom:
                self.imports = True
            elif not scope and (kind is ast.FunctionDef or kind is ast.AsyncFunctionDef
                                or kind is ast.ClassDef):
                self.binds.add(node.name)
            elif kind is ast.Raise:
                self.raises.append(node)
        telling = [v for v in strings if _telling(v, vocab, hosts)]
        self.evidence = sends or bool(telling)
        #: evidence beyond a plain word (see _kept)
        self.strong = sends or any(not _plain(v, hosts) for v in telling)

    def merge(self, part: _Statement) -> None:
        """Add what a part of the same statement holds (see _table)."""
        self.binds |= part.binds
        self.reads |= part.reads
        self.calls |= part.calls
        self.imports |= part.imports
        self.evidence |= part.evidence
        self.strong |= part.strong


#: Per node class: the fields that may hold nodes (see _child_fields).
_FIELDS: Final[dict[type, tuple[str, ...]]] = {}
#: Fields that never hold a node a statement summary looks at: contexts, operators, names and
#: constant values (plain Python values).
_LEAF_FIELDS: Final = frozenset({"ctx", "op", "id", "attr", "arg", "name", "asname", "module",
                                 "names", "value_kind", "kind", "level", "conversion",
                                 "type_comment", "tag", "is_async", "lineno"})


def _child_fields(kind: type) -> tuple[str, ...]:
    """The fields of ``kind`` worth descending into (none for a value that is not a node)."""
    if not issubclass(kind, ast.AST):
        return ()
    names = tuple(f for f in kind._fields if f not in _LEAF_FIELDS)
    if kind is ast.Constant or kind is ast.MatchSingleton:
        return ()
    return names


def _sends(call: ast.Call) -> bool:
    """A method call that may send a body over HTTP (what ``analyze`` counts as a sender)."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in _CALL_VERBS:
        return False
    if any(kw.arg in BODY_KEYWORDS for kw in call.keywords):
        return True
    root = func.value
    while isinstance(root, ast.Attribute | ast.Call | ast.Subscript):
        root = root.func if isinstance(root, ast.Call) else root.value
    return isinstance(root, ast.Name) and root.id in HTTP_MODULES


def _telling(value: str | bytes, vocab: frozenset[str], hosts: frozenset[str]) -> bool:
    text = value if isinstance(value, str) else value.decode("latin-1")
    low = text.lower()
    return (low.strip() in vocab or interesting(text) or interesting(low)
            or any(h in low for h in hosts))


def _plain(value: str | bytes, hosts: frozenset[str]) -> bool:
    """A rule's word that is a bare identifier ("name", "log", "to"): no part of a URL, a host
    or a header by itself (an On-Prem path needs "v1", which :func:`interesting` tells)."""
    text = value if isinstance(value, str) else value.decode("latin-1")
    low = text.lower()
    return (_IDENTIFIER.fullmatch(low.strip()) is not None and not interesting(text)
            and not interesting(low) and not any(h in low for h in hosts))


def _global_names(stmt: ast.stmt) -> set[str]:
    """Names a function or class reads outside itself: its locals are not module names."""
    try:
        code = compile(ast.Module(body=[stmt], type_ignores=[]), "<stmt>", "exec",
                       dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError):
        return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
    out: set[str] = set()
    todo = [code]
    while todo:
        c = todo.pop()
        out.update(c.co_names)
        todo.extend(x for x in c.co_consts if isinstance(x, CodeType))
    return out


def _http_imports(stmts: list[ast.stmt]) -> frozenset[str]:
    """Names imported from an HTTP client module (``from requests import post``)."""
    return frozenset(alias.asname or alias.name for stmt in stmts for node in ast.walk(stmt)
                     if isinstance(node, ast.ImportFrom) and node.module
                     and node.module.split(".")[0] in HTTP_MODULES for alias in node.names)


def _kept(stmts: list[_Statement]) -> set[int]:
    """Evidence, where it flows (forward), and what the kept statements resolve to."""
    readers: dict[str, list[int]] = {}
    binders: dict[str, list[int]] = {}
    for i, s in enumerate(stmts):
        for name in s.reads:
            readers.setdefault(name, []).append(i)
        for name in s.binds:
            binders.setdefault(name, []).append(i)
    evidence = {i for i, s in enumerate(stmts) if s.evidence}
    # A def or class that is evidence only by a plain word of its own flows into other
    # definitions (a helper's callers), not into module-level statements: those would hold
    # no rule's anchor of their own (no telling string, no sender, nothing read from a value
    # that is), and the module-level uses of such functions (``DATA = tuple(_seg_0() +
    # _seg_1())``, a route table) would pull in every function they name.
    local = {i for i in evidence if stmts[i].scope and not stmts[i].strong}
    keep = _flow(stmts, readers, evidence - local, everywhere=True)
    keep |= _flow(stmts, readers, local - keep, everywhere=False, known=keep)
    todo = list(keep)
    while todo:
        s = stmts[todo.pop()]
        for name in (*s.reads, *s.binds):
            for j in binders.get(name, ()):
                if j not in keep:
                    keep.add(j)
                    todo.append(j)
    keep.update(i for i, s in enumerate(stmts) if s.imports)
    return keep


def _flow(stmts: list[_Statement], readers: dict[str, list[int]], start: set[int], *,
          everywhere: bool, known: set[int] | None = None) -> set[int]:
    """``start`` and the statements that read what they bind, transitively (only definitions
    unless ``everywhere``); statements in ``known`` are not entered again."""
    seen = set(start)
    done = known or set()
    todo = list(start)
    while todo:
        for name in stmts[todo.pop()].binds:
            for j in readers.get(name, ()):
                if j not in seen and j not in done and (everywhere or stmts[j].scope):
                    seen.add(j)
                    todo.append(j)
    return seen


def _last_line(stmt: ast.stmt) -> int:
    return stmt.end_lineno or stmt.lineno


def _first_line(stmt: ast.stmt) -> int:
    """Where a statement starts: its first decorator, if it has one."""
    decorators: list[ast.expr] = getattr(stmt, "decorator_list", None) or []
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def focus(data: bytes, hosts: Iterable[str] = ()) -> bytes | None:
    """``data`` with the statements no rule can look at blanked; None: parse it whole (nothing
    to blank, or ``ast`` cannot read it); :data:`NOTHING`: no statement is left at all."""
    declared = frozenset(h.lower() for h in hosts)
    lines = data.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    body = tops(data, lines, starts, declared)
    if not body:
        return None  # libcst reports a syntax error; an empty file has nothing to blank
    stmts = [t.st for t in body]
    http_names = frozenset().union(*(t.http for t in body))
    bound = set().union(*(st.binds for st in stmts))
    for t in body:
        st = t.st
        if st.calls & http_names:
            st.evidence = st.strong = True
        if st.scope and st.reads & bound:
            st.reads &= t.global_names()
    keep = _kept(stmts)
    if not keep:
        return NOTHING
    spans = [span for i in sorted(keep) for span in body[i].spans]
    if len(keep) == len(body) and not spans:
        return None
    kept = sum(starts[body[i].last] - starts[body[i].first - 1] for i in keep)
    kept -= sum(end - start for start, end in spans)
    if kept >= WORTH * len(data):
        return None  # too little to blank: the check would cost more than it saves
    out = _emptied(data, spans).splitlines(keepends=True) if spans else list(lines)
    drop: set[int] = set()
    for i, t in enumerate(body):
        first, last = t.first, t.last
        if i in keep or (i and body[i - 1].last >= first) or (
                i + 1 < len(body) and last >= body[i + 1].first):
            continue  # a kept statement, or one that shares a line with another
        drop.add(i)
        for n in range(first - 1, last):
            out[n] = out[n][len(out[n].rstrip(b"\r\n")):]
    if not drop and not spans:
        return None
    if lines[0].startswith(_BOM):
        out[0] = _BOM + out[0] if not out[0].startswith(_BOM) else out[0]
    reduced = b"".join(out)
    return reduced if _same_places(reduced, body, drop) else None


class Top:
    """A top-level statement as focus needs it, once its tree is gone (see codemods.pieces)."""

    __slots__ = ("first", "http", "last", "names", "node", "place", "spans", "st")

    def __init__(self, st: _Statement, place: tuple[int, int, int | None, int | None, type],
                 first: int, last: int, *, node: ast.stmt | None = None,
                 http: frozenset[str] = frozenset(), spans: list[tuple[int, int]] | None = None,
                 names: set[str] | None = None) -> None:
        self.st = st
        self.place = place
        self.first = first  # its first line (its first decorator's)
        self.last = last
        self.node = node  # kept when the whole file's tree is alive anyway
        self.http = http  # names it imports from an HTTP module
        self.spans = spans or []  # raised literals to empty if it is kept
        self.names = names  # a def or class: the names it reads outside itself

    def global_names(self) -> set[str]:
        if self.names is None:
            assert self.node is not None
            self.names = _global_names(self.node)
        return self.names


def _top(stmt: ast.stmt, vocab: frozenset[str], data: bytes, starts: list[int],
         hosts: frozenset[str], *, keep_node: bool) -> Top:
    st = _Statement(stmt, vocab, hosts)
    spans = _raised_literals(stmt, st.raises, data, starts, hosts) if st.raises else []
    st.raises = []
    names = None
    if not keep_node and st.scope and st.reads:
        names = _global_names(stmt)  # the tree is about to go
    return Top(st, _place(stmt), _first_line(stmt), _last_line(stmt),
               node=stmt if keep_node else None, spans=spans, names=names,
               http=_http_imports([stmt]) if st.imports else frozenset())


#: Files at least this big are read a piece at a time (see codemods.pieces).
PIECEWISE_MIN: Final = 200_000


def tops(data: bytes, lines: list[bytes], starts: list[int], hosts: frozenset[str], *,
         piecewise_min: int = PIECEWISE_MIN, piece: int = pieces.PIECE) -> list[Top] | None:
    """The file's top-level statements; None when ``ast`` cannot read it."""
    vocab = words()
    if len(data) >= piecewise_min and pieces.splittable(data):
        try:
            return _piecewise(data, lines, starts, vocab, hosts, piece)
        except pieces.Unsplittable:
            pass
    try:
        body = ast.parse(data).body
    except (SyntaxError, ValueError):
        return None
    return [_top(s, vocab, data, starts, hosts, keep_node=True) for s in body]


def _piecewise(data: bytes, lines: list[bytes], starts: list[int], vocab: frozenset[str],
               hosts: frozenset[str], size: int) -> list[Top]:
    out: list[Top] = []
    for piece in pieces.split(lines, starts, size):
        if isinstance(piece, pieces.Table):
            st = _Statement(piece.head, vocab, hosts)
            for part in piece.parts:
                st.merge(_Statement(part, vocab, hosts))
            out.append(Top(st, piece.place, piece.place[0], piece.place[2]))
        else:
            out.extend(_top(s, vocab, data, starts, hosts, keep_node=False) for s in piece)
    return out


def _same_places(reduced: bytes, body: list[Top], dropped: set[int]) -> bool:
    """Does ``ast`` find the other statements, and only them, where the original has them?"""
    try:
        new = ast.parse(reduced).body
    except (SyntaxError, ValueError):
        return False
    old = [t for i, t in enumerate(body) if i not in dropped]
    return len(new) == len(old) and all(_place(a) == b.place for a, b in zip(new, old, strict=True))


def _place(stmt: ast.stmt) -> tuple[int, int, int | None, int | None, type]:
    return stmt.lineno, stmt.col_offset, stmt.end_lineno, stmt.end_col_offset, type(stmt)


def _raised_literals(stmt: ast.stmt, raises: list[ast.Raise], data: bytes, starts: list[int],
                     hosts: frozenset[str]) -> list[tuple[int, int]]:
    """Byte spans of the literal containers a kept statement passes to an exception it raises
    (``raise Invalid(..., definition={...})``, schema validators' error details): a raised
    value never reaches an HTTP call (rule words in it, such as a schema's "type" or
    "content-type", are data), so they are emptied unless they hold an On-Prem URL part or a
    host."""
    if starts[_last_line(stmt)] - starts[stmt.lineno - 1] < 10 * MIN_LITERAL:
        return []
    out = []
    for node in raises:
        if type(node.exc) is not ast.Call:
            continue
        for value in (*node.exc.args, *(kw.value for kw in node.exc.keywords)):
            if type(value) not in _CONTAINERS or value.end_lineno is None \
                    or value.end_col_offset is None:
                continue
            start = starts[value.lineno - 1] + value.col_offset
            end = starts[value.end_lineno - 1] + value.end_col_offset
            if end - start < MIN_LITERAL or not data[starts[value.lineno - 1]:end].isascii() \
                    or data[start:start + 1] + data[end - 1:end] not in _PAIRS:
                continue  # small, or a column ast counts in bytes and libcst in characters
            if _pure_literal(value, hosts):
                out.append((start, end))
    return out


#: Containers whose brackets stay while their content is blanked, and those brackets.
_CONTAINERS: Final = (ast.Dict, ast.List, ast.Tuple)
_PAIRS: Final = frozenset({b"{}", b"[]", b"()"})
#: Literals shorter than this are not worth emptying.
MIN_LITERAL: Final = 200


def _pure_literal(value: ast.expr, hosts: frozenset[str]) -> bool:
    """Only constants in containers, and no string that could be part of an On-Prem URL."""
    for node in _nodes(value):
        kind = type(node)
        if kind is ast.Constant:
            v = node.value
            if (type(v) is str or type(v) is bytes) and _url_part(v, hosts):
                return False
        elif kind not in _LITERAL_NODES:
            return False
    return True


_LITERAL_NODES: Final = frozenset({ast.Dict, ast.List, ast.Tuple, ast.Set, ast.Load,
                                   ast.UnaryOp, ast.USub, ast.UAdd})


def _emptied(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    """``data`` with each span's content (between its brackets) turned into spaces, its line
    breaks kept: every other node keeps its line and column."""
    buf = bytearray(data)
    for start, end in spans:
        inner = data[start + 1:end - 1]
        buf[start + 1:end - 1] = bytes(b if b in b"\r\n" else 32 for b in inner)
    return bytes(buf)


def _url_part(value: str | bytes, hosts: frozenset[str]) -> bool:
    text = value if isinstance(value, str) else value.decode("latin-1")
    low = text.lower()
    return interesting(text) or interesting(low) or any(h in low for h in hosts)

"""Scan without parsing large data tables no rule can look at.

libcst builds its tree about ten times slower than ``ast`` and holds some 500
bytes per source byte, so one generated data module that passes the byte
prefilter (a table of place names with "Wabash" in it, a locale table with a
caller appended) costs more than parsing a whole tree with ``ast``. Here
``ast`` (C speed) splits the file into top-level statements, and a *data
statement* - ``NAME = <dict, list, tuple, set or constant>`` of
``DATA_MIN`` bytes or more, with no function, class or comprehension inside -
is blanked when nothing in it is a rule's word or part of a URL and nothing
else refers to it:

* none of its strings and names is one of the rules' own words (every string
  constant in the rule modules and the mapping table, harvested from their
  source, so a new rule's words count without a list to update), could be
  part of an On-Prem URL, or names a declared host;
* its name appears nowhere else in the file, and it reads no name that
  another statement (other than an import) defines.

A blanked statement becomes empty lines, so every other node keeps its line
and column; the file-wide word tests still read the whole text. Code is never
blanked. Used by ``scan`` only (a rewrite needs the whole tree), on files of
``FOCUS_MIN`` bytes or more. A reduced file whose statements ``ast`` places
differently from the original is not used.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from types import CodeType
from typing import Final

import codemods
from codemods.urls import interesting

#: Smaller files are parsed whole: the ``ast`` pass would cost more than it saves.
FOCUS_MIN: Final = 24_000
#: Smaller data statements are kept: checking them costs more than parsing them.
DATA_MIN: Final = 2_000

_LITERALS: Final = (ast.Dict, ast.List, ast.Tuple, ast.Set, ast.Constant)


@cache
def vocabulary() -> frozenset[str]:
    """Lower-case string constants of the rule modules and the mapping table (not dict values,
    not docstrings): every word a rule can compare a key, attribute or call name with."""
    import shim.mapping

    roots = (Path(codemods.__file__).parent, Path(shim.mapping.__file__).parent)
    words: set[str] = set()
    for root in roots:
        for path in sorted(root.glob("*.py")):
            tree = ast.parse(path.read_bytes())
            skip = {id(v) for n in ast.walk(tree) if isinstance(n, ast.Dict) for v in n.values}
            skip |= {id(d) for d in _docstrings(tree)}
            words.update(n.value.lower() for n in ast.walk(tree)
                         if isinstance(n, ast.Constant) and isinstance(n.value, str)
                         and id(n) not in skip)
    return frozenset(words)


def _docstrings(tree: ast.AST) -> Iterator[ast.Constant]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                yield body[0].value


def _target(stmt: ast.stmt) -> str | None:
    """The name a ``NAME = <literal>`` statement binds (None for any other statement)."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target: ast.expr = stmt.targets[0]
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        target = stmt.target
    else:
        return None
    if not isinstance(target, ast.Name) or not isinstance(stmt.value, _LITERALS):
        return None
    return target.id


def _strings(code: CodeType) -> Iterator[str | bytes]:
    todo: list[object] = list(code.co_consts)
    while todo:
        value = todo.pop()
        if isinstance(value, str | bytes):
            yield value
        elif isinstance(value, tuple | frozenset):
            todo.extend(value)


def _inert(stmt: ast.stmt, words: frozenset[str], hosts: frozenset[str]
           ) -> frozenset[str] | None:
    """The names a data statement reads, or None when a rule could look at it."""
    code = compile(ast.Module(body=[stmt], type_ignores=[]), "<data>", "exec")
    if any(isinstance(c, CodeType) for c in code.co_consts):
        return None  # a lambda or comprehension: code, not data
    if any(n.lower() in words for n in code.co_names if n != _target(stmt)):
        return None
    for value in _strings(code):
        text = value if isinstance(value, str) else value.decode("latin-1")
        low = text.lower()
        if low in words or interesting(text) or interesting(low) or any(
                h in low for h in hosts):
            return None
    return frozenset(code.co_names)


def _mentions(body: list[ast.stmt]) -> set[str]:
    """Every global, attribute and string these statements name, functions included."""
    out: set[str] = set()
    todo = [compile(ast.Module(body=body, type_ignores=[]), "<rest>", "exec")]
    while todo:
        code = todo.pop()
        out.update(code.co_names)
        for value in code.co_consts:
            if isinstance(value, CodeType):
                todo.append(value)
        out.update(v for v in _strings(code) if isinstance(v, str))
    return out


def focus(data: bytes, hosts: Iterable[str] = ()) -> bytes | None:
    """``data`` with its inert data statements blanked, or None (parse it whole)."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return None  # libcst reports the error
    body = tree.body
    lines = data.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    big = [i for i, s in enumerate(body) if _target(s) is not None
           and s.end_lineno is not None and starts[s.end_lineno] - starts[s.lineno - 1] >= DATA_MIN
           and (i == 0 or (body[i - 1].end_lineno or 0) < s.lineno)
           and (i + 1 == len(body) or s.end_lineno < body[i + 1].lineno)]
    if not big:
        return None
    words = vocabulary()
    declared = frozenset(h.lower() for h in hosts)
    candidates = {i: _inert(body[i], words, declared) for i in big}
    inert = {i for i, reads in candidates.items() if reads is not None}
    if not inert:
        return None
    rest = [s for i, s in enumerate(body) if i not in inert]
    named = _mentions(rest)  # any other binding or use keeps a data statement
    code_named = _mentions([s for s in rest if not isinstance(s, ast.Import | ast.ImportFrom)])
    drop: list[int] = []
    for i in sorted(inert):
        name = _target(body[i])
        reads = candidates[i]
        assert name is not None and reads is not None
        others = [j for j in inert if j != i]
        if (name in named or any(name in (candidates[j] or ()) for j in others)
                or (reads - {name}) & code_named):
            continue
        drop.append(i)
    if not drop:
        return None
    out = list(lines)
    for i in drop:
        s = body[i]
        for n in range(s.lineno - 1, s.end_lineno or s.lineno):
            out[n] = out[n][len(out[n].rstrip(b"\r\n")):]
    reduced = b"".join(out)
    return reduced if _same_places(reduced, body, set(drop)) else None


def _same_places(reduced: bytes, body: list[ast.stmt], dropped: set[int]) -> bool:
    """Does ``ast`` find the other statements, and only them, where the original has them?"""
    try:
        new = ast.parse(reduced).body
    except (SyntaxError, ValueError):
        return False
    old = [s for i, s in enumerate(body) if i not in dropped]
    return len(new) == len(old) and all(
        (a.lineno, a.col_offset, a.end_lineno, a.end_col_offset, type(a))
        == (b.lineno, b.col_offset, b.end_lineno, b.end_col_offset, type(b))
        for a, b in zip(new, old, strict=True))

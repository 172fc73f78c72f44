"""Reading a big file a piece at a time finds the statements ``ast`` finds in the whole file.

Each check compares what focus knows of every top-level statement (its place, lines, names,
strings that count as evidence, imports, raised literals) when the file is parsed whole and
when it is parsed in pieces, on tricky layouts, on the installed packages and on the fixtures;
then a big file holding tables, validators and a real caller is scanned with the same findings
as without focus, in a fraction of the memory.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from codemods import focus as F
from codemods import pieces
from codemods.engine import Options, process_source
from tests.codemods.test_focus import CALLER, _installed, same_scan, validators

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _lines(data: bytes) -> tuple[list[bytes], list[int]]:
    lines = data.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    return lines, starts


def _record(t: F.Top) -> tuple[object, ...]:
    st = t.st
    return (t.place, t.first, t.last, sorted(t.http), t.spans, sorted(st.binds),
            sorted(st.reads), sorted(st.calls), st.imports, st.evidence, st.strong, st.scope,
            sorted(t.global_names()) if st.scope and st.reads else None)


def both(data: bytes, piece: int = 200) -> list[tuple[object, ...]]:
    """The statements as the whole parse and the piecewise one see them, asserted equal."""
    lines, starts = _lines(data)
    whole = F.tops(data, lines, starts, frozenset(), piecewise_min=len(data) + 1)
    assert whole is not None
    parts = F._piecewise(data, lines, starts, F.words(), frozenset(), piece)
    records = [_record(t) for t in whole]
    assert [_record(t) for t in parts] == records
    return records


def table(rows: int = 400, value: str = "Wabash") -> str:
    return "DATA = {\n" + "".join(f" '{i:05d}': {{'en': '{value} {i}', 'zh': u('x')}},\n"
                                  for i in range(rows)) + "}\n"


TRICKY = [
    # clauses in column 0 continue the statement above
    "if X:\n    a = 1\nelif Y:\n    a = 2\nelse:\n    a = 3\n" * 30,
    "try:\n    import requests\nexcept ImportError:\n    requests = None\nfinally:\n"
    "    pass\n" * 30,
    # lines in column 0 inside strings and brackets
    '"""Doc.\n\nimport os\nX = 1\n"""\n\nTEXT = """\nwhatsapp\n}\nv1/messages\n"""\n' * 20,
    "CALL = f(\n1,\n2,\n)\nLIST = [\n'to',\n'type',\n]\n" * 40,
    "X = 1 + \\\n2\nY = X\n" * 60,
    "@decorator\n@other(\n'to'\n)\ndef f(x):\n    return x['messages']\n\n\n" * 30,
    ("class A:\n    def f(self):\n        raise E('x', details={" + ", ".join(
        f"'k{i}': 'type'" for i in range(80)) + "})\n\n\n") * 10,
    # tables: elements cut by commas inside strings and nested brackets, comments, a tail
    "T = {\n" + "".join(f" 'k{i}': (\n   'a,',\n   '''b,\n}},''',\n ),  # c,\n" for i in range(300))
    + "}\n# done\n\nY = T\n",
    "T = [\n" + "".join(f"    {{'to': '{i}',\n     'type': 'text'}},\n" for i in range(300))
    + "]\n",
    table() + CALLER,
    table().replace("\n", "\r\n") + CALLER.replace("\n", "\r\n"),
    "\ufeff" + table() + CALLER,
    validators() + table(100) + CALLER,
]


@pytest.mark.parametrize("source", TRICKY, ids=range(len(TRICKY)))
def test_tricky_layouts_read_the_same_in_pieces(source: str) -> None:
    both(source.encode())


def test_a_table_is_read_in_batches() -> None:
    data = (table(3000) + CALLER).encode()
    lines, starts = _lines(data)
    read = list(pieces.split(lines, starts, 10_000))
    tables = [p for p in read if isinstance(p, pieces.Table)]
    assert len(tables) == 1 and tables[0].place[:3] == (1, 0, 3002)
    assert sum(1 for _ in tables[0].parts) > 10


@pytest.mark.parametrize("source", [
    "X = {\n 'a': 1,\n 'b': ,\n}\n" * 100,  # a syntax error in a table
    "def f(:\n    pass\n" * 100,
])
def test_a_syntax_error_is_left_to_the_whole_parse(source: str) -> None:
    data = source.encode()
    lines, starts = _lines(data)
    with pytest.raises(pieces.Unsplittable):
        F._piecewise(data, lines, starts, F.words(), frozenset(), 200)
    assert F.tops(data, lines, starts, frozenset(), piecewise_min=0) is None


def test_files_that_pieces_could_misread_are_parsed_whole() -> None:
    assert not pieces.splittable(b"# -*- coding: latin-1 -*-\nX = 1\n")
    assert not pieces.splittable("X = 'caf\u00e9'\n".encode("latin-1"))
    assert not pieces.splittable(b"from __future__ import barry_as_FLUFL\n")
    assert pieces.splittable("X = 'caf\u00e9'\n".encode())


def test_installed_files_read_the_same_in_pieces() -> None:
    """Every 5th installed file, and every big one, in pieces of 2 kB."""
    paths = _installed()
    for path in {*paths[::5], *(p for p in paths if p.stat().st_size > 100_000)}:
        data = path.read_bytes()
        if pieces.splittable(data):
            both(data, 2_000)


def test_fixtures_read_the_same_in_pieces() -> None:
    for path in sorted(FIXTURES.rglob("*.py")):
        data = path.read_bytes()
        lines, starts = _lines(data)
        if F.tops(data, lines, starts, frozenset(), piecewise_min=len(data) + 1) is not None \
                and pieces.splittable(data):
            both(data, 100)


def big_file() -> bytes:
    """Generated tables (750 kB), schema validators, and a real caller between them."""
    return (table(8000) + validators(8) + CALLER + table(8000).replace("DATA", "MORE")
            ).encode()


def test_a_big_file_with_a_real_caller_is_found_in_little_memory() -> None:
    data = big_file()
    assert len(data) > 750_000
    found = same_scan(data)
    assert {f["rule"] for f in found} >= {"WM102"}
    caller_line = data[:data.index(b"def send(")].count(b"\n") + 1
    assert all(int(str(f["line"])) > caller_line for f in found)
    tracemalloc.start()
    try:
        assert [f.as_json() for f in process_source(data, Options()).findings] == found
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 25_000_000, peak  # parsed whole: about 70 MB

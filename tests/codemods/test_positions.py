"""Finding positions come from one statement at a time; they must equal whole-file positions."""

from __future__ import annotations

import libcst as cst
import pytest
from libcst.metadata import PositionProvider

from codemods.facts import collect
from codemods.parsing import parse_module

SOURCES = {
    "plain": 'import requests\n\nURL = "https://waba.360dialog.io/v1/messages"\n\n\n'
             'def send(k):\n    return requests.post(URL, json={"to": "1"})\n',
    "repeated statements": 'import os\nx = "a"\nimport os\nx = "a"\n\n# note\nx = "a"\n',
    "crlf and comments": '# header\r\n\r\n# above\r\nA = "x"\r\n\r\nclass C:\r\n'
                         '    b = "y"\r\n',
    "bom": '\ufeffA = "x"\nB = "y"\n',
    "decorated": '@app.route("/hook")\n@other("x")\ndef hook():\n    return "ok"\n',
    "cr only": 'A = "x"\rB = "y"\r',
    "no newline at end": 'A = "x"\nB = "y"',
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_string_is_where_the_whole_file_says(name: str) -> None:
    data = SOURCES[name].encode("utf-8")
    module = parse_module(data)
    facts = collect(module, data)
    whole = cst.MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    strings = [n for n in whole if isinstance(n, cst.SimpleString)]
    assert strings
    for node in strings:
        r = whole[node]
        assert facts.pos(node) == (r.start.line, r.start.column + 1), cst.Module([]).code_for_node(
            node)

"""The fast parse builds the same tree as libcst's checked one, and puts the checks back."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from codemods.parsing import parse_module
from tests.codemods.conftest import cases


def test_same_tree_as_the_checked_parse() -> None:
    sources = [c.read_bytes() for c in cases()]
    sources.append(Path(cst.__file__).with_name("_nodes").joinpath("expression.py").read_bytes())
    for source in sources:
        fast, checked = parse_module(source), cst.parse_module(source)
        assert fast.deep_equals(checked)
        assert fast.bytes == checked.bytes  # (libcst does not always round-trip exactly)


def test_checks_are_back_afterwards_even_after_a_syntax_error() -> None:
    with pytest.raises(cst.ParserSyntaxError):
        parse_module(b"def f(:\n")
    with pytest.raises(cst.CSTValidationError):
        cst.SimpleWhitespace("not whitespace")
    parse_module(b"x = 1\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")

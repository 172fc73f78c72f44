"""The shared JSON reader: limits and typed errors for input nobody vetted."""

from __future__ import annotations

import pytest

from shim.json_input import (
    MAX_DEPTH,
    JSONInputError,
    JSONTooDeep,
    JSONTooLarge,
    check_depth,
    find_surrogate,
    read_json,
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_limit_is_read_and_one_more_is_refused_with_its_path() -> None:
    assert read_json(nested(MAX_DEPTH)) is not None
    with pytest.raises(JSONTooDeep) as exc:
        read_json(nested(MAX_DEPTH + 1))
    assert exc.value.status == 400
    assert exc.value.where == "$" + "[0]" * MAX_DEPTH


def test_nesting_far_past_the_interpreter_limit_is_a_typed_error() -> None:
    with pytest.raises(JSONTooDeep):
        read_json(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)


def test_size_limit_is_413() -> None:
    with pytest.raises(JSONTooLarge) as exc:
        read_json(b'"' + b"x" * 100 + b'"', max_bytes=50)
    assert exc.value.status == 413


@pytest.mark.parametrize(
    ("raw", "where"),
    [(b"\xff\xfe{}", "byte 0"), (b'{"a": [,]}', "line 1, column 8"), (b"", "line 1, column 1")],
)
def test_undecodable_or_malformed_input_names_where(raw: bytes, where: str) -> None:
    with pytest.raises(JSONInputError) as exc:
        read_json(raw)
    assert exc.value.where == where and exc.value.status == 400


def test_lone_surrogates_are_kept_or_refused_by_path() -> None:
    raw = b'{"text": {"body": "\\ud800"}}'
    assert read_json(raw)["text"]["body"] == "\ud800"
    with pytest.raises(JSONInputError) as exc:
        read_json(raw, surrogates=False)
    assert exc.value.where == "$.text.body"
    # A proper pair is fine.
    assert read_json(b'"\\ud83d\\ude00"', surrogates=False) == "\U0001f600"


def test_helpers_on_python_values() -> None:
    assert find_surrogate({"a": [1, {"\udc00": 2}]}) == "$.a[1].\\udc00"
    assert find_surrogate({"a": ["ok"]}) is None
    deep: list[object] = []
    cursor = deep
    for _ in range(MAX_DEPTH + 5):
        cursor.append([])
        cursor = cursor[0]  # type: ignore[assignment]
    with pytest.raises(JSONTooDeep):
        check_depth(deep)
    check_depth({"a": {"b": [1, 2]}})

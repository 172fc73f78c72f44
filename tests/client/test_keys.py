"""Generated idempotency keys: recognisably ours, fixed length, never repeated."""

from __future__ import annotations

import pytest

from shim.client.idempotency import KEY_PREFIX, key_from, new_key, stamp_callback_data


def test_generated_keys_are_fixed_length_hex_and_distinct() -> None:
    keys = [new_key() for _ in range(2000)]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        digits = key[len(KEY_PREFIX):]
        assert len(digits) == 32 and int(digits, 16) < 2**128


def _headers(values: dict[str, str]):  # type: ignore[no-untyped-def]
    lowered = {k.lower(): v for k, v in values.items()}
    return lambda name: lowered.get(name.lower())


def test_a_caller_key_comes_from_a_header_first_then_from_callback_data() -> None:
    body = {"to": "1", "biz_opaque_callback_data": "order-77"}
    assert key_from(_headers({"Idempotency-Key": "h-1"}), body) == ("h-1", "header Idempotency-Key")
    assert key_from(_headers({"X-Idempotency-Key": "h-2"}), body) == (
        "h-2", "header X-Idempotency-Key")
    assert key_from(_headers({}), body) == ("order-77", "$.biz_opaque_callback_data")


@pytest.mark.parametrize("data", ["", 42, None, ["x"]])
def test_empty_or_non_text_callback_data_is_no_key(data: object) -> None:
    assert key_from(_headers({}), {"biz_opaque_callback_data": data}) == (None, "")
    assert key_from(_headers({}), ["not", "a", "dict"]) == (None, "")


def test_callback_data_carries_the_key_unless_the_caller_set_its_own() -> None:
    body = {"to": "49", "type": "text"}
    assert stamp_callback_data(body, "k1") == {**body, "biz_opaque_callback_data": "k1"}
    assert body == {"to": "49", "type": "text"}  # the caller's dict is not changed
    own = {**body, "biz_opaque_callback_data": "mine"}
    assert stamp_callback_data(own, "k1") == own

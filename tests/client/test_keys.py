"""Generated idempotency keys: recognisably ours, fixed length, never repeated."""

from __future__ import annotations

from shim.client.idempotency import KEY_PREFIX, new_key


def test_generated_keys_are_fixed_length_hex_and_distinct() -> None:
    keys = [new_key() for _ in range(2000)]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        digits = key[len(KEY_PREFIX):]
        assert len(digits) == 32 and int(digits, 16) < 2**128

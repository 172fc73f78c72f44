"""The login tokens a router mints: random, expiring, bounded."""

from __future__ import annotations

from shim.client.logins import MintedTokens, onprem_time


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_routes_until_it_expires_then_is_forgotten() -> None:
    clock = Clock()
    tokens = MintedTokens(lifetime_s=60, clock=clock)
    token, expires = tokens.mint("shop")
    assert expires == clock.now + 60 and tokens.channel_of(token) == "shop"
    assert tokens.channel_of(token + "x") is None
    clock.now += 59.5
    assert tokens.channel_of(token) == "shop"
    clock.now += 1
    assert tokens.channel_of(token) is None and len(tokens) == 0


def test_the_oldest_token_is_forgotten_first_at_the_limit() -> None:
    tokens = MintedTokens(limit=2)
    first, _ = tokens.mint("a")
    second, _ = tokens.mint("b")
    third, _ = tokens.mint("c")
    assert len({first, second, third}) == 3 and len(tokens) == 2
    assert tokens.channel_of(first) is None
    assert (tokens.channel_of(second), tokens.channel_of(third)) == ("b", "c")


def test_expiry_is_in_the_onprem_format() -> None:
    assert onprem_time(0) == "1970-01-01 00:00:00+00:00"
    assert onprem_time(1_800_000_000) == "2027-01-15 08:00:00+00:00"

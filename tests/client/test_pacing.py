"""Pacing math on a fake clock: channel rate limiter and per-recipient pair limiter."""

from __future__ import annotations

import itertools

import pytest

from shim.client.pacing import (
    PAIR_BURST,
    PAIR_INTERVAL_S,
    PairLimiter,
    RateLimiter,
    channel_burst,
    pair_backoff,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_at_rate(limiter: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    """Send times of n callers that each sleep exactly as told."""
    times = []
    for _ in range(n):
        wait = limiter.reserve()
        times.append(clock.now + wait)
    return times


def test_rate_limiter_spaces_sends_at_the_rate_after_a_small_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(80, burst=4, clock=clock)
    times = run_at_rate(limiter, clock, 404)
    assert times[:4] == [clock.now] * 4  # the burst goes at once
    gaps = [b - a for a, b in itertools.pairwise(times[4:])]
    assert all(gap == pytest.approx(1 / 80) for gap in gaps)
    # Over any 1-second window: at most rate + burst sends.
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i:] if t < start + 1.0)
        assert in_window <= 80 + 4


def test_rate_limiter_schedule_is_absolute_so_late_callers_do_not_lose_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock)
    first = limiter.reserve()
    second = limiter.reserve()
    assert (first, second) == (0.0, pytest.approx(0.01))
    clock.now += 0.5  # idle: no credit is banked beyond the burst
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(0.01)


def test_pause_holds_every_caller_until_it_ends() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock)
    limiter.pause(2.0)
    assert limiter.paused_for() == pytest.approx(2.0)
    assert limiter.reserve() == pytest.approx(2.0)
    assert limiter.reserve() == pytest.approx(2.001)


def test_channel_burst_is_a_twentieth_of_a_second() -> None:
    assert channel_burst(80) == 4
    assert channel_burst(1000) == 50
    assert channel_burst(1) == 1


def test_pair_limiter_allows_the_burst_then_one_per_interval() -> None:
    clock = FakeClock()
    pair = PairLimiter(clock=clock)
    waits = [pair.reserve("+49 151 1234") for _ in range(PAIR_BURST + 3)]
    assert waits[:PAIR_BURST] == [0.0] * PAIR_BURST
    assert waits[PAIR_BURST:] == [pytest.approx(PAIR_INTERVAL_S * k) for k in (1, 2, 3)]
    # Another recipient is not affected; the same number in another format is.
    assert pair.reserve("4915199") == 0.0
    assert pair.reserve("491511234") == pytest.approx(PAIR_INTERVAL_S * 4)


def test_pair_burst_comes_back_after_a_quiet_period_and_idle_entries_are_pruned() -> None:
    clock = FakeClock()
    pair = PairLimiter(interval=1.0, burst=3, clock=clock)
    assert [pair.reserve("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pair.reserve("a") == pytest.approx(1.0)
    clock.now += 10
    assert [pair.reserve("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    for i in range(5000):
        pair.reserve(f"user-{i}")
    clock.now += 10
    for i in range(5000):  # crosses a prune point with everything idle
        pair.reserve(f"other-{i}")
    assert pair.tracked() < 10_000


def test_pair_penalty_blocks_only_that_recipient() -> None:
    clock = FakeClock()
    pair = PairLimiter(clock=clock)
    pair.penalize("a", 4.0)
    assert pair.reserve("a") == pytest.approx(4.0)
    assert pair.reserve("a") == pytest.approx(4.0 + PAIR_INTERVAL_S)
    assert pair.reserve("b") == 0.0


def test_pair_backoff_is_four_to_the_x() -> None:
    assert [pair_backoff(n) for n in (1, 2, 3, 4)] == [1.0, 4.0, 16.0, 64.0]


def test_limiters_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
    with pytest.raises(ValueError):
        RateLimiter(10, burst=0)
    with pytest.raises(ValueError):
        PairLimiter(interval=0)


def test_the_client_default_stays_a_little_under_clouds_pair_rate() -> None:
    from shim.client.pacing import PairLimit

    assert PairLimit().burst == PAIR_BURST
    assert PAIR_INTERVAL_S < PairLimit().interval_s <= PAIR_INTERVAL_S * 1.05


def test_workforce_sizes_itself_from_rate_and_round_trip() -> None:
    from shim.client.bulk import (
        CALIBRATION,
        MAX_CONCURRENCY,
        MIN_CONCURRENCY,
        Queued,
        Workforce,
    )
    from shim.client.response import ShimResponse

    items = [Queued(i, {"to": str(i)}, f"k{i}", 0.0, None) for i in range(1000)]
    staff = Workforce(items, mps=1000)
    assert staff.hire() == MIN_CONCURRENCY  # nothing measured yet: start small

    def answer(seconds: float) -> ShimResponse:
        response = ShimResponse(200, body={}, attempts=1)
        response.elapsed = seconds
        return response

    for _ in range(CALIBRATION - 1):
        staff.observe(answer(0.05))
    assert staff.wanted() == MIN_CONCURRENCY  # still calibrating
    staff.observe(answer(0.05))  # a remote backend: more in flight
    assert staff.wanted() == 1000 * 0.05 * 3 + 1
    assert staff.hire() == staff.wanted() - MIN_CONCURRENCY
    # Self-inflicted queueing (answers slowing down as workers are added) asks
    # for no more workers: the estimate is the minimum round trip.
    for _ in range(64):
        staff.observe(answer(0.5))
    assert staff.wanted() == 151
    # A faster round trip lets the extras retire.
    for _ in range(3):
        staff.observe(answer(0.001))
    assert staff.wanted() == MIN_CONCURRENCY
    handed = [staff.next_item() for _ in range(151)]
    assert sum(item is None for item in handed) == 151 - MIN_CONCURRENCY
    far = Workforce(items, mps=1000)
    for _ in range(CALIBRATION):
        far.observe(answer(0.3))
    assert far.wanted() == MAX_CONCURRENCY
    assert Workforce(items, mps=1000, fixed=3).wanted() == 3


def test_workforce_hands_out_each_item_once_and_stops_after_a_failure() -> None:
    from shim.client.bulk import Queued, Workforce

    items = [Queued(i, {}, f"k{i}", 0.0, None) for i in range(10)]
    staff = Workforce(items, mps=80, fixed=2)
    assert staff.hire() == 2 and staff.hire() == 0
    taken = [staff.next_item() for _ in range(4)]
    assert [t.index for t in taken if t] == [0, 1, 2, 3]
    staff.quit()
    assert staff.next_item() is None


@pytest.mark.parametrize("used", [1, 2, 3])
def test_pruning_never_forgets_a_recipient_inside_its_burst(used: int) -> None:
    clock = FakeClock()
    pair = PairLimiter(interval=10.0, burst=3, clock=clock)
    for i in range(4000):  # idle long before the prune point: these may go
        pair.reserve(f"early-{i}")
    clock.now += 100
    assert [pair.reserve("busy") for _ in range(used)] == [0.0] * used
    clock.now += 5  # "busy" is still inside its burst window (its first slot frees at +10)
    for i in range(200):  # crosses the prune point
        pair.reserve(f"late-{i}")
    assert pair.tracked() == 201  # the early ones were pruned, "busy" and the late ones kept
    # "busy" kept its history: only the rest of its burst is immediate; its 4th send in
    # this window waits for the slot at +10 (forgotten, it would go at once).
    left = 3 - used
    waits = [pair.reserve("busy") for _ in range(left + 1)]
    assert waits[:left] == [0.0] * left
    assert waits[left] == pytest.approx(5.0)


def test_pause_reports_the_time_left_and_zero_when_over() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock)
    assert limiter.paused_for() == 0.0
    limiter.pause(2.0)
    clock.now += 0.5
    assert limiter.paused_for() == pytest.approx(1.5)
    clock.now += 5
    assert limiter.paused_for() == 0.0


def test_a_penalty_never_shortens_a_later_reservation() -> None:
    clock = FakeClock()
    pair = PairLimiter(interval=10.0, burst=2, clock=clock)
    for _ in range(6):  # booked far ahead: the next slot is 50 s away
        pair.reserve("busy")
    pair.penalize("busy", 1.0)  # a short penalty must not pull that slot closer
    assert pair.reserve("busy") == pytest.approx(50.0)
    pair.penalize("other", 30.0)
    assert pair.reserve("other") == pytest.approx(30.0)


def test_an_entry_whose_slot_is_due_now_is_pruned() -> None:
    clock = FakeClock()
    pair = PairLimiter(interval=1.0, burst=1, clock=clock)
    pair.reserve("due")  # its next slot is exactly one interval from now
    clock.now += 1.0
    for i in range(4096):  # the 4,096th reservation prunes, with "due" exactly due
        pair.reserve(f"r{i}")
    assert pair.tracked() == 4096  # r0..r4095; "due" (full burst back) was forgotten



def test_limiter_arguments_are_checked_with_a_reason() -> None:
    slow = RateLimiter(0.5)  # fractional rates are allowed (one send every 2 s)
    assert (slow.rate, slow.burst, slow.interval) == (0.5, 1, 2.0)
    with pytest.raises(ValueError, match=r"^rate must be positive$"):
        RateLimiter(0)
    with pytest.raises(ValueError, match=r"^burst must be at least 1$"):
        RateLimiter(5, burst=0)
    pair = PairLimiter(interval=6.0, burst=45)
    assert (pair.interval, pair.burst) == (6.0, 45)
    for interval, burst in ((0.0, 1), (1.0, 0)):
        with pytest.raises(ValueError, match=r"^interval must be positive and burst at least 1$"):
            PairLimiter(interval=interval, burst=burst)


def test_a_wait_of_exactly_the_float_tolerance_is_no_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1 / 1e-9, clock=clock)  # the interval is the tolerance itself
    assert [limiter.reserve() for _ in range(2)] == [0.0, 0.0]

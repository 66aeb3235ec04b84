"""The Pacer on an injected clock: exact rates and waits where mutation testing
(tests/benchmarks/mutation.py on bulk/pacing.py) found them loose."""

from __future__ import annotations

import threading

import pytest

from engage_cli.bulk import pacing
from engage_cli.errors import Interrupted


class Clock:
    """Time that moves only when the test says so, and the waits the Pacer asked for."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        return stop.is_set()


def pacer_after_a_429(clock: Clock, limit: float | None, taken: int) -> pacing.Pacer:
    """A pacer whose server took `taken` requests in the second before it said 429 (no
    Retry-After) at the clock's time."""
    pacer = pacing.Pacer(limit, clock=clock, wait=clock.wait)
    end = clock.now
    for i in range(taken):
        clock.now = end - 1 + (i + 1) / taken  # spread over the last second, the last at `end`
        pacer.answered()
    clock.now = end
    pacer.throttled(None)
    return pacer


def test_the_rate_grows_only_after_a_calm_period_since_the_last_429() -> None:
    clock = Clock(6.5)
    pacer = pacer_after_a_429(clock, None, 100)
    assert pacer.rate == pytest.approx(100 * pacing.RATE_BETA)
    for clock.now in (7.0, 10.0, 16.4):  # answers, but less than RATE_CALM after the 429
        pacer.answered()
        assert pacer.rate == pytest.approx(100 * pacing.RATE_BETA)
    clock.now = 6.5 + pacing.RATE_CALM
    pacer.answered()
    assert pacer.rate == pytest.approx(100 * pacing.RATE_BETA * (1 + pacing.RATE_PROBE))


def test_a_rate_growing_back_after_a_429_stops_at_the_rate_asked_for() -> None:
    clock = Clock(1.0)
    pacer = pacer_after_a_429(clock, 10, 10)
    # The first 429 of a run at --rate 10 that the server took: just under it, not a cut.
    assert pacer.rate == pytest.approx(10 * pacing.RATE_BETA)
    rates = []
    for _ in range(4):
        clock.now += pacing.RATE_CALM
        pacer.answered()
        rates.append(pacer.rate)
    assert rates == pytest.approx([9.797, 9.797 * 1.02, 10.0, 10.0])
    stop = threading.Event()
    assert all(pacer.wait(stop) for _ in range(3))
    # Back at --rate: 100 ms apart (after an idle pacer's first slot, RATE_SLACK back).
    slack = pacing.RATE_SLACK
    assert clock.waits == pytest.approx([0.1 - slack, 0.2 - slack])


def test_a_429_without_retry_after_adds_no_pause_only_a_slower_rate() -> None:
    clock = Clock(1.0)
    pacer = pacer_after_a_429(clock, None, 50)
    rate = 50 * pacing.RATE_BETA
    assert pacer.rate == pytest.approx(rate)
    stop = threading.Event()
    assert pacer.wait(stop) and pacer.wait(stop)
    assert clock.waits == pytest.approx([1 / rate])  # the first goes at once


def test_a_retry_wait_cut_short_by_a_stop_says_the_request_was_not_sent_again() -> None:
    stop = threading.Event()
    told: list[bool] = []
    sleep = pacing.stoppable_sleep(stop, lambda: told.append(True))
    sleep(0)  # not stopped: the wait runs out and the retry goes
    stop.set()
    with pytest.raises(Interrupted) as caught:
        sleep(60)
    assert caught.value.message == "Stopped while waiting to retry; not sent again."
    assert told == [True, True]  # the caller hears of each wait (a terminal shows it)

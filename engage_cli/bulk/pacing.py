"""The pace of a bulk run and its stop: the rate every worker shares (at most --rate, and
after a 429 a pause and an adaptive rate under the server's limit), retry waits that a stop
cuts short, and Ctrl-C or SIGTERM turned into a stop that loses no record."""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from engage_cli.errors import Interrupted

RATE_BETA = 0.97  # after a 429: this share of the rate the server was taking ...
RATE_CUT = 0.85  # ... or at most this share of the rate, if that rate drew a 429 already
RATE_MIN = 1.0  # requests a second, the slowest an adaptive rate goes
# After each RATE_CALM seconds without a 429 the rate grows: by 1% first (it is just under
# the limit that said 429), then 2%, 4% ... up to 25% a step, so that a steady limit draws a
# 429 rarely and a limit that was lowered for a while is found again within minutes.
RATE_PROBE = 0.01
RATE_GROWTH_MAX = 0.25
RATE_CALM = 10.0
RATE_SLACK = 0.03  # seconds a late worker may catch up: 3% over the rate, at most


class Pacer:
    """Spaces requests across workers: at most `limit` a second (--rate), and after a 429 a
    shared pause, then an adaptive rate just under what the server took (as aws's adaptive
    retry mode does), growing again slowly while no 429 comes. Waiting gives way to `stop`:
    `wait(stop, seconds)` is True if stop came first (Event.wait; tests inject their own)."""

    def __init__(
        self,
        limit: float | None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[threading.Event, float], bool] = threading.Event.wait,
    ) -> None:
        self.limit = limit
        self.rate = limit  # None: as fast as the workers go
        self._clock = clock
        self._wait = wait
        self._next = 0.0
        self._answers: deque[float] = deque()  # times of the answers of the last second
        self._adjusted = float("-inf")
        self._calm_steps = 0  # growth steps since the last 429
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Wait for this request's slot; False if stopped meanwhile."""
        with self._lock:
            now = self._clock()
            # A worker woken late keeps the schedule's slot (within RATE_SLACK of a second),
            # so lateness on a busy machine does not add up to a lower rate.
            slot = max(now - RATE_SLACK, self._next) if self.rate else now
            if self.rate:
                self._next = slot + 1 / self.rate
            slot = max(slot, now)
        return not self._wait(stop, slot - now) if slot > now else not stop.is_set()

    def answered(self) -> None:
        """An answer that was not a 429: the server took the request."""
        with self._lock:
            now = self._clock()
            self._answers.append(now)
            while self._answers and self._answers[0] <= now - 1:
                self._answers.popleft()
            if self.rate and now - self._adjusted >= RATE_CALM and self.rate != self.limit:
                self._calm_steps += 1
                step = min(RATE_GROWTH_MAX, RATE_PROBE * 2 ** (self._calm_steps - 1))
                grown = self.rate * (1 + step)
                self.rate = min(grown, self.limit) if self.limit else grown
                self._adjusted = now

    def throttled(self, pause: float | None) -> None:
        """A 429: every worker waits `pause` (Retry-After); the rate drops under what the
        server took in the last second, once per second however many 429s arrive. A count
        of one second can straddle two of the server's windows and overestimate its limit:
        a rate set by a 429 that draws another is cut by RATE_CUT at least."""
        with self._lock:
            now = self._clock()
            self._next = max(self._next, now + (pause or 0.0))
            if now - self._adjusted < 1:
                return
            while self._answers and self._answers[0] <= now - 1:
                self._answers.popleft()
            taken = float(len(self._answers)) or (self.rate or RATE_MIN)
            if self.rate:
                taken = min(taken, self.rate)
            rate = RATE_BETA * taken
            set_by_a_429 = self._adjusted > float("-inf") and self._calm_steps == 0
            if set_by_a_429 and self.rate:  # and it has not grown since
                rate = min(rate, RATE_CUT * self.rate)
            self._calm_steps = 0
            self.rate = max(RATE_MIN, rate)
            self._adjusted = now


def stoppable_sleep(stop: threading.Event, on_wait: Callable[[], None] | None = None) -> Any:
    """The client's wait between retries, cut short by a stop: a stopped run sends no
    retry, and the request counts as not landed (so it goes to the failures file)."""

    def sleep(seconds: float) -> None:
        if on_wait is not None:
            on_wait()
        if stop.wait(seconds):
            raise Interrupted("Stopped while waiting to retry; not sent again.")

    return sleep


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and a CI job being cancelled


@contextmanager
def stop_on_interrupt(
    stop: threading.Event, say: Callable[[], None], cancel: Callable[[], None] | None = None
) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) sets `stop` instead of raising, so no record is caught half-way
    between the reader and the queue, and `cancel`s the requests in flight, so the run ends
    within seconds, not at their timeouts: each is then accounted as any request left
    without an answer (uncertain if it was not harmless to repeat)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers live on the main thread; Runner catches KeyboardInterrupt
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            say()
        stop.set()
        if cancel is not None:
            cancel()

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, restore in previous.items():
            signal.signal(signum, restore)

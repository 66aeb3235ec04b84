"""Stage 3, send: records go out concurrently, paced, stoppable; each one is counted and
handed to the ledger when it does not land."""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from engage_cli.bulk.jobs import InvalidRecord, Job, prepare
from engage_cli.bulk.ledger import FailuresFile
from engage_cli.bulk.readers import Record
from engage_cli.endpoints import APIRequest
from engage_cli.errors import ConfigError, EngageError, Interrupted

DEFAULT_CONCURRENCY = 8
READ_AHEAD_PER_WORKER = 2  # records queued per worker: keeps workers busy, memory bounded

# --- sending ---------------------------------------------------------------------------------


class Sender(Protocol):
    def send(self, request: APIRequest) -> Any: ...


@dataclass
class Tally:
    """Where every record went: read = invalid + duplicates + ok + failed + not_sent."""

    read: int = 0
    invalid: int = 0
    duplicates: int = 0
    sent: int = 0
    ok: int = 0
    failed: int = 0
    not_sent: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.ok + self.failed

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.sent / elapsed if elapsed > 0 else 0.0


class Pacer:
    """At most `rate` requests a second across all workers; waiting gives way to `stop`."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1 / rate if rate else 0.0
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Wait for this request's slot; False if stopped meanwhile."""
        if not self._interval:
            return not stop.is_set()
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        return not stop.wait(slot - now) if slot > now else not stop.is_set()


Progress = Callable[[Tally], None]


def stoppable_sleep(stop: threading.Event) -> Callable[[float], None]:
    """The client's wait between retries, cut short by a stop: a stopped run sends no
    retry, and the request counts as not landed (so it goes to the failures file)."""

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Interrupted("Stopped while waiting to retry; not sent again.")

    return sleep


class Runner:
    """Sends records with `concurrency` threads sharing one client (so a 429's Retry-After
    pauses the whole pool), reading ahead only a few records per thread."""

    def __init__(
        self,
        job: Job,
        client: Sender,
        failures: FailuresFile,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate: float | None = None,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.job = job
        self.client = client
        self.failures = failures
        self.concurrency = concurrency
        self.tally = Tally()
        self.stop = stop or threading.Event()
        self.fatal: EngageError | None = None
        self._pacer = Pacer(rate)
        self._progress = progress
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Record, APIRequest] | None] = queue.Queue(
            maxsize=concurrency * READ_AHEAD_PER_WORKER
        )

    def run(self, records: Iterable[Record], *, drain: bool = True) -> Tally:
        """Send every record. Once stopped (Ctrl-C, or a credentials failure), the records
        not sent go to the failures file; with `drain`, so does the rest of the input."""
        workers = [
            threading.Thread(target=self._work, name=f"bulk-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for worker in workers:
            worker.start()
        seen: set[str] = set()
        try:
            for record in records:
                if self.stop.is_set():
                    if not drain:
                        break
                    self._count("read")
                    self._not_sent(record)
                    continue
                self._count("read")
                request = self._prepare(record, seen)
                if request is not None:
                    self._queue.put((record, request))
        except KeyboardInterrupt:  # only off the main thread, where no handler is installed
            self.stop.set()
        finally:
            for _ in workers:
                self._queue.put(None)
            for worker in workers:
                worker.join()
        return self.tally

    def _prepare(self, record: Record, seen: set[str]) -> APIRequest | None:
        try:
            request = prepare(self.job, record)
        except InvalidRecord as exc:  # only with --stream: the validation pass ran as we go
            self.failures.add(record, exc.message)
            self._count("invalid")
            return None
        if self.job.dedupe:
            if request.path in seen:
                self._count("duplicates")
                return None
            seen.add(request.path)
        return request

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            record, request = item
            if self.stop.is_set() or not self._pacer.wait(self.stop):
                self._not_sent(record)
                continue
            self._send(record, request)

    def _send(self, record: Record, request: APIRequest) -> None:
        self._count("sent")
        try:
            self.client.send(request)
        except EngageError as err:
            if err.status in self.job.done_statuses:
                self._count("ok")
                return
            self.failures.add(record, err.message, err.status)
            self._count("failed")
            if isinstance(err, ConfigError):  # every other request would fail the same way
                self.fatal = self.fatal or err
                self.stop.set()
        except Exception as exc:  # a bug must not lose the record or stall the pool
            self.failures.add(record, f"Unexpected failure: {type(exc).__name__}: {exc}")
            self._count("failed")
        else:
            self._count("ok")

    def _not_sent(self, record: Record) -> None:
        self.failures.add(record, "not sent: the run was stopped before this record")
        self._count("not_sent")

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.tally, name, getattr(self.tally, name) + 1)
            if self._progress is not None and name in ("ok", "failed"):
                self._progress(self.tally)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and a CI job being cancelled


@contextmanager
def stop_on_interrupt(stop: threading.Event, say: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) sets `stop` instead of raising, so no record is caught half-way
    between the reader and the queue; requests in flight finish and are counted."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers live on the main thread; Runner catches KeyboardInterrupt
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            say()
        stop.set()

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, restore in previous.items():
            signal.signal(signum, restore)

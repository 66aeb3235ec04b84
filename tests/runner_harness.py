"""Drives a bulk Runner directly, in-process and deterministic: a scripted client, ledgers
and a journal that keep what they were given, and a bound on every run so that a hang fails
the test (with what was left running) instead of the whole suite."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from engage_cli.bulk import jobs, pacing
from engage_cli.bulk import runner as running
from engage_cli.bulk.ledger import LedgerError
from engage_cli.bulk.records import Record
from engage_cli.endpoints import APIRequest

BOUND = 20.0  # seconds a run may take before the test fails as hung; runs take milliseconds


def users(n: int, prefix: str = "u", first_line: int = 2) -> list[Record]:
    return [Record(first_line + i, {"id": f"{prefix}{i}"}) for i in range(n)]


def uid(request: APIRequest) -> str:
    return jobs.route_key(request)


class Client:
    """Answers each request with `answer(request, calls)` (its result, or it raises), after
    `before(request)` if given; keeps every request with the worker thread that sent it."""

    on_rate_limit: Any = None
    on_retry: Any = None

    def __init__(self, answer: Callable[[APIRequest, int], Any] | None = None) -> None:
        self.answer = answer or (lambda request, calls: {})
        self.requests: list[APIRequest] = []
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def send(self, request: APIRequest) -> Any:
        with self._lock:
            self.requests.append(request)
            self.threads.append(threading.current_thread())
            calls = len(self.requests)
        return self.answer(request, calls)

    def sent_uids(self) -> list[str]:
        with self._lock:
            return [uid(r) for r in self.requests]


class Ledger:
    """A failures (or unknown) file that keeps (line, message, status) per record; `fail`
    makes add() raise it (a factory, so each failure is a new exception)."""

    def __init__(self, fail: Callable[[], BaseException] | None = None) -> None:
        self.entries: list[tuple[int, str, int | None]] = []
        self.fail = fail
        self.added = threading.Event()  # a record came (written or not)
        self._lock = threading.Lock()

    def add(self, record: Record, message: str, status: int | None = None) -> None:
        self.added.set()
        if self.fail is not None:
            raise self.fail()
        with self._lock:
            self.entries.append((record.line, message, status))

    def lines(self) -> list[int]:
        return sorted(line for line, _, _ in self.entries)

    def messages(self) -> dict[int, str]:
        return {line: message for line, message, _ in self.entries}


def full_disk() -> LedgerError:
    return LedgerError(Path("failures.jsonl"), OSError(errno.ENOSPC, "No space left on device"))


class Journal:
    """Keeps ("S", lines) and ("A", lines) in order; `fail_on` makes that kind raise OSError."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.events: list[tuple[str, list[int]]] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def sent(self, records: list[tuple[Record, APIRequest]], *encoded: object) -> None:
        if self.fail_on == "S":
            raise OSError(errno.ENOSPC, "No space left on device")
        with self._lock:
            self.events.append(("S", [r.line for r, _ in records]))

    def acked(self, records: list[Record]) -> None:
        if self.fail_on == "A":
            raise OSError(errno.ENOSPC, "No space left on device")
        with self._lock:
            self.events.append(("A", [r.line for r in records]))


class Outcomes:
    """The outcome callback: every call, as (line, outcome, message, status)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, str | None, int | None]] = []
        self._lock = threading.Lock()

    def __call__(
        self, record: Record, outcome: str, message: str | None, status: int | None
    ) -> None:
        with self._lock:
            self.calls.append((record.line, outcome, message, status))

    def of(self, line: int) -> list[tuple[str, str | None, int | None]]:
        return [(o, m, s) for n, o, m, s in self.calls if n == line]

    def by_outcome(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for line, outcome, _, _ in self.calls:
            found.setdefault(outcome, []).append(line)
        return {k: sorted(v) for k, v in found.items()}


class Pacer(pacing.Pacer):
    """A Pacer that never really waits: `stopped` says what each wait returns (True: as if
    the stop came first, whether or not it is set), and it keeps what it was told."""

    def __init__(self, rate: float | None = None, stopped: bool = False) -> None:
        super().__init__(rate, wait=self._no_wait)
        self.stopped = stopped
        self.answers = 0
        self.pauses: list[float | None] = []
        self.waits = 0

    def _no_wait(self, stop: threading.Event, seconds: float) -> bool:
        return self.stopped or stop.is_set()

    def wait(self, stop: threading.Event) -> bool:
        self.waits += 1
        if self.stopped:
            return False
        return super().wait(stop)

    def answered(self) -> None:
        self.answers += 1
        super().answered()

    def throttled(self, pause: float | None) -> None:
        self.pauses.append(pause)
        super().throttled(pause)


def make(
    client: Client | None = None,
    *,
    job: jobs.Job | None = None,
    failures: Ledger | None = None,
    **options: Any,
) -> running.Runner:
    """A Runner of an upsert job with the given fakes (concurrency 1 unless told)."""
    options.setdefault("concurrency", 1)
    options.setdefault("pacer", Pacer())
    return running.Runner(
        job or jobs.users_import_job("upsert"),
        client or Client(),  # type: ignore[arg-type]
        failures if failures is not None else Ledger(),  # type: ignore[arg-type]
        **options,
    )


def bounded(call: Callable[[], Any], seconds: float = BOUND) -> Any:
    """call() in a thread of its own; its result, or the test fails if it hangs."""
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(call())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="bounded", daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"hung: still running after {seconds} s"
    if error:
        raise error[0]
    return result[0]


def run(runner: running.Runner, records: Iterable[Record], *, drain: bool = True) -> Any:
    return bounded(lambda: runner.run(records, drain=drain))


def dead_thread() -> threading.Thread:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    return thread


def gated(records: list[Record], gates: dict[int, Callable[[], None]]) -> Iterator[Record]:
    """The records, running gates[i]() before yielding the i-th (0-based): what the input
    does between two records (waits for an answer, sets a stop, raises)."""
    for i, record in enumerate(records):
        if i in gates:
            gates[i]()
        yield record


def accounted(tally: running.Tally) -> int:
    """What every record read ends as: the sum that must equal tally.read."""
    return (
        tally.invalid
        + tally.duplicates
        + tally.resumed
        + tally.landed
        + tally.failed
        + tally.unknown
        + tally.not_sent
        + tally.unsaved
    )

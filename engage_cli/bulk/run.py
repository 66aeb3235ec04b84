"""The bulk driver: one call runs a whole bulk run through the stages of this package and
returns what happened. `engage users import`, `engage events import`, `engage users delete
--from` (commands/bulk.py) and `engage seed apply` call it; it imports no Typer and prints
nothing.

Contract
--------
`run(plan, connect, reporter, confirm=None) -> Result`

- `plan` (a `BulkRun`) says what to do: the `job` (record -> request, with its name, its
  statuses that still mean done and whether it dedupes) and the `source` of records: a
  `FileInput` (a path, or "-" with the stdin stream to read) or `RecordsInput` (records
  already in memory, each a `records.Record` whose `line` is its position, e.g. a plan's
  actions); then concurrency, rate, batch, resume, the failures and unknown paths, retries,
  max_errors, stream, dry_run, allow_empty.
- `connect(...)` builds the API client (`State.client` fits): once for the preflight (or the
  dry run's check), once to send, with `max_connections`, a stoppable `sleep` and
  `default_retries`.
- `reporter` (a `Reporter`) hears the run as it goes: warnings about the input, each request a
  dry run would send, the start of the send pass, progress, the Ctrl-C stop, and every
  record's outcome (landed, failed, unknown, not_sent, invalid) with its error. The record
  an outcome names has the `line` and `data` it was given (it may be a copy: match on
  `line`). Its methods must not raise; if they do, no record is counted twice (progress
  that raised is not shown again, an outcome that raised ends its worker, whose queued
  records fail).
- `confirm(total)` runs after the check pass and before anything is sent, with the number of
  records that will be sent; it refuses by raising. Its time is not counted in the run's.

Guarantees (the same for every caller): every record is checked before any is sent (unless
`stream`), then sent as checked; records with the same route key (a uid) go in order, one
request at a time (through one worker; with batch, a chunk waits for the one in flight with
that uid); a 429 pauses the whole pool and lowers a shared rate without using a retry; each
request is tried up to `retries` + 1 times; `max_errors` failed attempts in a row stop the run
(the API is down); Ctrl-C stops it cleanly. Every record read ends in exactly one of invalid,
duplicates, resumed, landed, failed, unknown, not_sent or unsaved (summary counts add up to
`read`); what did not land is in the failures file (unknown: in the unknown file), the journal
lets `resume` skip what landed.

Raises `UsageError` (exit 2) before anything is sent: unreadable or invalid input, an empty one
without `allow_empty`, an unusable failures file; `EngageError`s from the preflight (missing
credentials); `Interrupted` for a Ctrl-C during the check pass. Otherwise it returns a `Result`
(the `Summary`, and why the run stopped if it did); `bulk.outcome.raise_for_outcome` turns
that into the exit code and message a command ends with.
"""

from __future__ import annotations

import gc
import io
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from engage_cli.bulk import jobs, ledger, pacing, progress, readers
from engage_cli.bulk import runner as running
from engage_cli.bulk.jobs import Checked, Job
from engage_cli.bulk.progress import Summary
from engage_cli.bulk.readers import Source
from engage_cli.bulk.records import Record
from engage_cli.bulk.runner import Runner, Tally
from engage_cli.endpoints import APIRequest
from engage_cli.errors import EngageError, Interrupted, UsageError

if TYPE_CHECKING:
    from engage_cli.bulk.ledger import LedgerError, Resumed
    from engage_cli.bulk.spool import Spool
    from engage_cli.client import EngageClient

__all__ = [
    "BulkRun",
    "Connect",
    "FileInput",
    "RecordsInput",
    "Reporter",
    "Result",
    "run",
]


# --- what a run is given ---------------------------------------------------------------------


@dataclass(frozen=True)
class FileInput:
    """Records read from a file (CSV, JSON Lines, a JSON array), or from stdin ("-")."""

    name: str  # as the user gave it; also names this run's failures, unknown and journal files
    format: str | None = None  # csv, jsonl, json; None: from the extension, or sniffed
    stdin: IO[str] | None = None  # read when name is "-" (None: an empty stdin)


@dataclass(frozen=True)
class RecordsInput:
    """Records already in memory (a seeding plan's actions), sent in this order."""

    records: Sequence[Record]
    name: str  # names this run's failures, unknown and journal files, as a file's name would
    label: str | None = None  # how the summary and messages name the input (default: name)


@dataclass(frozen=True)
class BulkRun:
    """Everything a bulk run needs besides the client and the reporter."""

    job: Job
    source: FileInput | RecordsInput
    concurrency: int | None = None  # None: runner.DEFAULT_CONCURRENCY
    rate: float | None = None  # at most this many requests a second
    batch: bool = False  # through POST /batch
    resume: bool = False  # go on from the journal of a killed run over the same input
    failures: Path | None = None  # None: a name of this run's own beside the input
    unknown: Path | None = None  # None: a name of this run's own beside the input
    retries: int = running.BULK_RETRIES  # default retries of a request (a profile's win)
    max_errors: int | None = None  # None: runner.DEFAULT_MAX_ERRORS
    stream: bool = False  # validate each record as it is sent; invalid ones are failures
    dry_run: bool = False  # check every record, send nothing
    allow_empty: bool = False  # an input without records is no error

    @property
    def passes(self) -> int:
        """How often the input is read: checked, then sent; once with stream or dry_run."""
        return 1 if self.stream or self.dry_run else 2


class Reporter(Protocol):
    """What a run tells its caller while it goes. No method may raise."""

    def warn(self, message: str) -> None:
        """Something about the input that does not stop the run (an unknown CSV column)."""

    def would_send(self, record: Record, request: APIRequest) -> None:
        """Dry run: a request the run would send, in order."""

    def sending(self, total: int | None, failures: Path) -> None:
        """The send pass starts: `total` records (None with stream); `failures` is where
        what does not land goes."""

    def progress(self, tally: Tally) -> None:
        """A record was landed, failed or found unknown: the counts so far."""

    def stopping(self, failures: Path) -> None:
        """Ctrl-C: the requests in flight finish, the rest goes to `failures`."""

    def outcome(
        self, record: Record, outcome: str, message: str | None, status: int | None
    ) -> None:
        """One record's end: landed (message None), failed, unknown, not_sent or invalid
        (with stream), with the error's message and HTTP status. Called from the workers.
        Records skipped as duplicates, or landed by the run being resumed, are only counted
        (in the summary)."""

    def sent(self) -> None:
        """The send pass ended (before the summary is built)."""


class Connect(Protocol):
    """Builds the API client (`State.client` is one)."""

    def __call__(
        self,
        *,
        max_connections: int = ...,
        sleep: Callable[[float], None] | None = ...,
        default_retries: int | None = ...,
    ) -> EngageClient: ...


@dataclass
class Result:
    """How the run ended: the summary, and what stopped it if something did."""

    summary: Summary
    fatal: EngageError | None = None  # bad credentials: every request would have failed
    down: EngageError | None = None  # the API failed max_errors times in a row
    ledger_error: LedgerError | None = None  # the failures file could not be written
    unsaved: list[Record] = field(default_factory=list)  # records saved nowhere
    unread_after: int | None = None  # the line after which the input was not read
    too_large: int = 0  # records failed as too large for any batch: their retry has no --batch


# --- the run ---------------------------------------------------------------------------------


def run(
    plan: BulkRun,
    connect: Connect,
    reporter: Reporter,
    confirm: Callable[[int], None] | None = None,
) -> Result:
    """Check every record (unless stream), then send them all; the outcome."""
    started = time.monotonic()
    prompted = 0.0  # seconds at the confirmation prompt: not part of the run's time
    with _lean_gc(), _opened(plan) as source, ExitStack() as stack:
        if plan.dry_run:
            checked = _check(plan, source, reporter, reporter.would_send)
            _refuse_empty(checked.read, source, plan)
            return Result(progress.dry_run_summary(plan.job, source, checked, started))
        resumed = None
        if plan.resume:
            resumed = ledger.read_journal(ledger.find_journal(plan.job, source.name))
            stack.callback(resumed.release)  # held while this run resumes it
        total = None
        spool = None
        if not plan.stream:
            from engage_cli.bulk.spool import Spool

            spool = stack.enter_context(closing(Spool()))
            verify = None if resumed is None else resumed.check
            checked = _check(plan, source, reporter, verify, keep=spool.add)
            _refuse_empty(checked.read, source, plan)
            _preflight(connect, _batch_request() if plan.batch else checked.sample)
            total = checked.valid
            if confirm is not None:
                asked = time.monotonic()
                confirm(total)
                prompted = time.monotonic() - asked
        # Warnings about columns came with the check pass; stream has none.
        warn = reporter.warn if plan.stream else _silent
        runner, failures, unknown = _send(
            plan, source, connect, reporter, total, warn, resumed, spool
        )
        elapsed = time.monotonic() - started - prompted
        summary = progress.summarize(plan.job, source, runner.tally, elapsed, batch=plan.batch)
        summary.failures_file = str(failures) if failures else None
        summary.unknown_file = str(unknown) if unknown else None
    if plan.stream:
        _refuse_empty(summary.read, source, plan)
    summary.interrupted = (
        runner.stop.is_set()
        and runner.fatal is None
        and runner.down is None
        and runner.ledger_error is None
    )
    return Result(
        summary,
        runner.fatal,
        runner.down,
        runner.ledger_error,
        runner.unsaved,
        runner.unread_after,
        runner.too_large,
    )


# Net container allocations between two young-generation passes of the cyclic collector
# during a run (Python's default is 700).
GC_YOUNG_THRESHOLD = 10_000


@contextmanager
def _lean_gc() -> Iterator[None]:
    """A run allocates a few containers per record, nearly all freed by reference counting,
    yet the cyclic collector kept passing over them, and its full passes over every object
    start-up made (Typer's, httpx's): a tenth of a 10,000-user --batch import's CPU. For the
    run, what exists before it is frozen out of the collector's reach (gc.freeze) and its
    passes are rarer; both are restored when the run ends, however it ends."""
    thresholds = gc.get_threshold()
    frozen = gc.get_freeze_count()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], GC_YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen:  # a caller's own freeze is left as it was
            gc.unfreeze()


@contextmanager
def _opened(plan: BulkRun) -> Iterator[Source]:
    given = plan.source
    if isinstance(given, RecordsInput):
        yield _InMemory(given.name, given.records, given.label)
        return
    stdin = given.stdin if given.stdin is not None else io.StringIO()  # no stdin: no records
    with readers.open_source(given.name, given.format, stdin, passes=plan.passes) as source:
        yield source


class _InMemory(Source):
    """A Source whose records are already in memory: read as often as asked."""

    def __init__(self, name: str, records: Sequence[Record], label: str | None) -> None:
        super().__init__(name)
        self.records = records
        self._label = label or name

    @property
    def label(self) -> str:
        return self._label


def _records(source: Source, job: Job, warn: Callable[[str], None]) -> Iterator[Record]:
    if isinstance(source, _InMemory):
        return iter(source.records)
    return readers.read_records(source, job.schema, warn)


def _refuse_empty(read: int, source: Source, plan: BulkRun) -> None:
    """An input with no records is most often an export that went wrong upstream."""
    if read == 0 and not plan.allow_empty:
        raise UsageError(
            f"{source.label} holds no records (empty, or only a header); nothing was sent.",
            hint="Pass --allow-empty where an empty input is expected.",
        )


def _batch_request() -> APIRequest:
    return APIRequest("POST", "/batch", needs_secret=True)


def _check(
    plan: BulkRun,
    source: Source,
    reporter: Reporter,
    on_valid: Callable[[Record, APIRequest], None] | None = None,
    *,
    keep: Callable[[Record, APIRequest], None] | None = None,
) -> Checked:
    """The validation pass: every record, before anything is sent."""
    records = _records(source, plan.job, reporter.warn)
    try:
        checked = jobs.check_all(records, plan.job, on_valid, keep)
    except KeyboardInterrupt:
        raise Interrupted("Interrupted while checking the input; nothing was sent.") from None
    if checked.invalid:
        raise checked.error(source.label)
    return checked


def _preflight(connect: Connect, sample: APIRequest | None) -> None:
    """Missing credentials fail now, before a failures file holds every record."""
    if sample is not None:
        with connect() as client:
            client.check_credentials(sample)


def _send(
    plan: BulkRun,
    source: Source,
    connect: Connect,
    reporter: Reporter,
    total: int | None,
    warn: Callable[[str], None],
    resumed: Resumed | None,
    spool: Spool | None,
) -> tuple[Runner, Path | None, Path | None]:
    """Send every record; the runner, and the failures and unknown files if kept."""
    job = plan.job
    workers = plan.concurrency or running.DEFAULT_CONCURRENCY
    stamp = ledger.run_stamp()
    failures = ledger.open_failures(job, source.name, plan.failures, stamp)
    _, stem, _ = ledger.failures_plan(job, source.name, stamp)
    if plan.unknown is not None:
        unknown = ledger.RecordsFile(plan.unknown, mode="replace")
    else:
        unknown = ledger.unknown_file(stem)
    try:
        journal = ledger.Journal(stem, {"command": job.command, "input": source.label})
    except BaseException:  # it cannot be written: nothing was sent, nothing is kept
        failures.close()
        unknown.close()
        raise
    stop = threading.Event()
    clean = False
    reporter.sending(total, failures.target)
    try:
        sleep = pacing.stoppable_sleep(stop)
        client = connect(max_connections=workers, sleep=sleep, default_retries=plan.retries)
        with client:
            runner = Runner(
                job,
                client,
                failures,
                unknown=unknown,
                journal=journal,
                resumed=resumed,
                concurrency=workers,
                rate=plan.rate,
                max_errors=plan.max_errors or running.DEFAULT_MAX_ERRORS,
                batch=plan.batch,
                progress=reporter.progress,
                outcome=reporter.outcome,
                stop=stop,
            )

            def stopping() -> None:
                reporter.stopping(failures.target)

            with pacing.stop_on_interrupt(runner.stop, stopping, client.cancel):
                if spool is not None and spool.usable:  # read and checked once, sent as checked
                    runner.run_prepared(spool.items())
                else:
                    # Unread stdin cannot be saved; a file's unsent rest goes to the failures.
                    drain = source.path is not None or isinstance(source, _InMemory)
                    runner.run(_records(source, job, warn), drain=drain)
        clean = runner.ledger_error is None
    finally:
        reporter.sent()
        kept = failures.close()
        maybe = unknown.close()
        # The failures and unknown files now hold every record the journal would name.
        journal.close(keep=not clean)
    if clean and resumed is not None:
        resumed.path.unlink(missing_ok=True)  # that run is finished now
    return runner, kept, maybe


def _silent(message: str) -> None:
    pass

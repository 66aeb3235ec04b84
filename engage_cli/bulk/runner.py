"""Stage 3, send: records go out concurrently, paced, stoppable, and each one ends in exactly
one of landed, failed (the failures file), unknown (sent without an answer: the unknown
file) or not sent (the failures file). No path drops a record: a worker catches everything,
and a ledger that cannot be written stops the run and names what it could not save.

Rows for one uid go through one worker (in file order); with --batch, the chunks fill one at a
time and any worker sends the next, but a chunk naming a uid of a chunk still in flight waits
for it (so a uid's rows still land in file order). A 429 pauses the whole pool and
lowers a shared adaptive rate; it never uses up a record's retries. A run whose last
`max_errors` requests (attempts, retries included) all failed with 5xx or network errors
stops: the API is down. Short of that, each request is tried up to BULK_RETRIES + 1 times.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engage_cli.bulk.jobs import InvalidRecord, Job, batch_item, prepare, route_key
from engage_cli.bulk.ledger import Journal, LedgerError, RecordsFile, Resumed
from engage_cli.bulk.pacing import Pacer
from engage_cli.bulk.records import Record
from engage_cli.endpoints import APIRequest, EncodedJSON, encode_body
from engage_cli.errors import ConfigError, EngageError, Interrupted, LongWait, TemporaryError

# Every tunable number of a bulk run.
DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_ERRORS = 20  # consecutive failed attempts (5xx/network) that mean the API is down
# Retries of a request in a bulk run unless --retries or the profile says otherwise: a seeding
# job rides out a flaky API (a record fails only if all 9 tries do), and a down API is still
# seen after DEFAULT_MAX_ERRORS failed attempts, whoever made them.
BULK_RETRIES = 8
READ_AHEAD_PER_WORKER = 8  # records queued per worker: keeps all busy, memory bounded
BATCH_BYTES = 95_000  # a POST /batch body stays under the API's 100 KB
BATCHES_AHEAD_PER_WORKER = 1  # with --batch: full chunks queued per worker (each ~1.5 MB)
WAIT_CHECK = 0.5  # seconds between checks that the workers a hand-off waits on still live
ENVELOPE = len(b'{"data":[]}')


class Sender(Protocol):
    on_rate_limit: Callable[[float | None], None] | None
    on_retry: Callable[[str, int | None], None] | None

    def send(self, request: APIRequest) -> Any: ...


@dataclass
class Tally:
    """Where every record went: read = invalid + duplicates + resumed + landed + failed +
    unknown + not_sent (+ unsaved, when the ledger could not be written)."""

    read: int = 0
    invalid: int = 0
    duplicates: int = 0
    resumed: int = 0  # acknowledged in the run being resumed: not sent again
    sent: int = 0  # records sent
    requests: int = 0  # HTTP requests (a batch carries many records)
    landed: int = 0
    failed: int = 0
    unknown: int = 0
    not_sent: int = 0
    unsaved: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429 answers
    waiting_until: float = 0.0  # the monotonic time a 429's Retry-After pauses the run to
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.landed + self.failed + self.unknown

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        elapsed = self.elapsed()
        return self.requests / elapsed if elapsed > 0 else 0.0


Progress = Callable[[Tally], None]
# One record's end: (record, landed|failed|unknown|not_sent|invalid, error message, status).
Outcome = Callable[[Record, str, "str | None", "int | None"], None]
Item = tuple[Record, APIRequest]


@dataclass
class Chunk:
    """What one request carries: one record, or with --batch the records of one POST /batch
    (`entries` are their items, each encoded once; `size` the bytes of that body)."""

    items: list[Item] = field(default_factory=list)
    entries: list[bytes] = field(default_factory=list)
    size: int = ENVELOPE
    keys: set[str] = field(default_factory=set)  # --batch: the route keys (uids) it carries

    def body(self) -> EncodedJSON:
        return EncodedJSON(b'{"data":[' + b",".join(self.entries) + b"]}")


class Runner:
    """Sends records with `concurrency` threads sharing one client, each with its own small
    queue (a uid always maps to the same one), reading ahead only a few records per thread."""

    def __init__(
        self,
        job: Job,
        client: Sender,
        failures: RecordsFile,
        *,
        unknown: RecordsFile | None = None,
        journal: Journal | None = None,
        resumed: Resumed | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate: float | None = None,
        max_errors: int = DEFAULT_MAX_ERRORS,
        batch: bool = False,
        progress: Progress | None = None,
        outcome: Outcome | None = None,
        stop: threading.Event | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.job = job
        self.client = client
        self.failures = failures
        self.unknown = unknown or failures
        self.journal = journal
        self.resumed = resumed
        self.concurrency = concurrency
        self.max_errors = max_errors
        self.batch = batch
        self.tally = Tally()  # its clock starts when sending does
        self.stop = stop or threading.Event()
        self.fatal: EngageError | None = None  # bad credentials: every request would fail
        # The API failed max_errors times in a row, or asked for a longer pause than any run
        # waits: the run stops (exit 6), every record not landed in the failures file.
        self.down: TemporaryError | None = None
        self.ledger_error: LedgerError | None = None
        self.unsaved: list[Record] = []  # records the ledger could not take
        self.too_large = 0  # records failed as too large for any batch: retried without --batch
        self.unread_after: int | None = None  # the line after which the input was not read
        self.pacer = pacer or Pacer(rate)
        self._progress = progress
        self._outcome = outcome
        self._untold: list[BaseException] = []  # what the outcome callback raised
        self._lock = threading.Lock()
        self._errors_in_a_row = 0
        # One record at a time: a queue per worker, a uid always on the same one. With --batch:
        # one queue all the workers take from, so the first request goes as soon as one chunk
        # is full (per-worker chunks all filled at about the same time, half-way through the
        # input, and the API idled until then); _in_flight keeps a uid's chunks in order.
        self._queues: list[queue.Queue[Chunk | None]]
        if batch:
            self._queues = [queue.Queue(maxsize=BATCHES_AHEAD_PER_WORKER * concurrency)]
        else:
            self._queues = [queue.Queue(maxsize=READ_AHEAD_PER_WORKER) for _ in range(concurrency)]
        self._gathering = Chunk()  # --batch: the chunk being filled
        self._in_flight: set[str] = set()  # --batch: the uids of chunks handed, not yet done
        self._done = threading.Condition(self._lock)  # --batch: a chunk was done
        client.on_rate_limit = self._rate_limited
        client.on_retry = self._retrying

    # --- the reader (the calling thread) ---

    def run(self, records: Iterable[Record], *, drain: bool = True) -> Tally:
        """Send every record. Once stopped, the records not sent go to the failures file;
        with `drain`, so does the rest of the input (unless the ledger itself failed)."""
        return self.run_prepared(((record, None) for record in records), drain=drain)

    def run_prepared(
        self, items: Iterable[tuple[Record, APIRequest | None]], *, drain: bool = True
    ) -> Tally:
        """As run(), for records whose request the check pass already built (None: not yet)."""
        self.tally.started = time.monotonic()
        workers = [
            threading.Thread(target=self._work, args=(q,), name=f"bulk-{n}", daemon=True)
            for n, q in zip(range(self.concurrency), itertools.cycle(self._queues))
        ]
        for worker in workers:
            worker.start()
        seen: set[str] = set()
        last = 0
        try:
            for record, request in items:
                if self.stop.is_set() and (not drain or self.ledger_error is not None):
                    self.unread_after = last
                    break
                last = record.line
                self.tally.read += 1  # only this thread counts it: no lock taken per record
                if self.stop.is_set():
                    self._account(record, "not_sent", NOT_SENT)
                    continue
                item = self._prepare(record, request, seen)
                if item is not None:
                    self._queue(item, workers)
        except KeyboardInterrupt:  # only off the main thread, where no handler is installed
            self.stop.set()
        finally:
            if self._gathering.items:  # the last, partly filled chunk
                self._hand(0, workers, self._gathering)
            for n in range(self.concurrency):  # one end mark for each worker
                readers = workers if self.batch else [workers[n]]  # not waiting on another's
                self._put(self._queues[n % len(self._queues)], readers, None)
            for worker in workers:
                worker.join()
            self._left_behind()
        return self.tally

    def _prepare(self, record: Record, request: APIRequest | None, seen: set[str]) -> Item | None:
        if request is None:
            try:
                request = prepare(self.job, record)
            except InvalidRecord as exc:  # --stream: no check pass saw it
                self._account(record, "invalid", exc.message)
                return None
        if self.job.dedupe:
            if request.path in seen:
                self._count("duplicates")
                return None
            seen.add(request.path)
        if self.resumed is not None:
            if self.resumed.landed(record, request):
                self._count("resumed")
                return None
            if self.resumed.in_flight(record, request) and not request.repeatable:
                self._account(record, "unknown", IN_FLIGHT_AT_KILL)
                return None
        return record, request

    def _queue(self, item: Item, workers: list[threading.Thread]) -> None:
        """Hand the record to the worker its uid maps to, or with --batch add it to the chunk
        being filled, handed over once full."""
        key = route_key(item[1])
        if not self.batch:
            n = zlib.crc32(key.encode("utf-8", "surrogatepass")) % self.concurrency
            self._hand(n, workers, Chunk([item]))
            return
        try:
            entry = encode_body(batch_item(item[1]))
            grown = len(entry) + 1  # and its comma
        except Exception as exc:  # a bug must not lose the record
            self._account(item[0], "failed", f"Unexpected failure: {type(exc).__name__}")
            return
        if ENVELOPE + grown > BATCH_BYTES:
            with self._lock:
                self.too_large += 1
            self._account(item[0], "failed", _too_large(ENVELOPE + grown))
            return
        chunk = self._gathering
        if chunk.size + grown > BATCH_BYTES:
            self._hand(0, workers, chunk)
            chunk = self._gathering = Chunk()
        chunk.items.append(item)
        chunk.entries.append(entry)
        chunk.size += grown
        chunk.keys.add(key)

    def _hand(self, n: int, workers: list[threading.Thread], chunk: Chunk) -> None:
        """Queue the chunk for worker n (with --batch: for any worker, once no chunk in
        flight carries one of its uids)."""
        readers = workers if self.batch else [workers[n]]
        if self.batch and not self._claim(chunk, readers):
            handed = False
        else:
            handed = self._put(self._queues[n if not self.batch else 0], readers, chunk)
        if not handed:
            for record, _ in chunk.items:
                self._account(record, "failed", WORKER_ENDED)

    def _left_behind(self) -> None:
        """Fail what is still queued once the workers ended: the queue of a worker that ended
        early (its outcome callback raised), lost otherwise."""
        for q in self._queues:
            while not q.empty():
                chunk = q.get_nowait()
                for record, _ in chunk.items if chunk is not None else []:
                    self._account(record, "failed", WORKER_ENDED)

    def _claim(self, chunk: Chunk, workers: list[threading.Thread]) -> bool:
        """Wait until no chunk in flight carries a uid of this one, then mark its uids as in
        flight; False if the workers are gone."""
        with self._done:
            while not self._in_flight.isdisjoint(chunk.keys):
                if not self._done.wait(WAIT_CHECK) and not any(w.is_alive() for w in workers):
                    return False
            self._in_flight |= chunk.keys
        return True

    def _finished(self, chunk: Chunk) -> None:
        with self._done:
            self._in_flight -= chunk.keys
            self._done.notify_all()

    @staticmethod
    def _put(
        q: queue.Queue[Chunk | None], workers: list[threading.Thread], item: Chunk | None
    ) -> bool:
        """Queue the chunk, never waiting forever on workers that are gone."""
        while True:
            try:
                q.put(item, timeout=WAIT_CHECK)
                return True
            except queue.Full:
                if not any(worker.is_alive() for worker in workers):
                    return False

    # --- the workers ---

    def _work(self, q: queue.Queue[Chunk | None]) -> None:
        while True:
            chunk = q.get()
            if chunk is None:
                return
            try:
                if self.stop.is_set() or not self.pacer.wait(self.stop):
                    for record, _ in chunk.items:
                        self._account(record, "not_sent", NOT_SENT)
                    continue
                if self.batch:
                    request = APIRequest("POST", "/batch", body=chunk.body(), needs_secret=True)
                    self._send(chunk.items, request, chunk.entries)
                else:
                    self._send(chunk.items, chunk.items[0][1])
            except BaseException as exc:  # a bug must not lose the records or the worker
                if exc in self._untold:  # the caller's callback: this worker ends, and the
                    raise  # records stay as counted (run_prepared fails those it had queued)
                for record, _ in chunk.items:
                    self._account(record, "failed", f"Unexpected failure: {type(exc).__name__}")
            finally:
                if chunk.keys:
                    self._finished(chunk)

    def _send(
        self, chunk: list[Item], request: APIRequest, entries: list[bytes] | None = None
    ) -> None:
        """Send one request for the records of `chunk` (with --batch, `entries` are their
        items as encoded in it) and account for each of them."""
        if self.journal is not None:
            self._journal(lambda j: j.sent(chunk, entries))
        self._count("requests")
        self._count("sent", len(chunk))
        try:
            self.client.send(request)
        except EngageError as err:
            self._answered(err)
            if isinstance(err, LongWait):  # no run waits that long: stop, as a command does
                with self._lock:
                    self.down = self.down or err
                self.stop.set()
            if err.status in self.job.done_statuses:
                self._landed(chunk)
            elif _uncertain(err, request):
                for record, _ in chunk:
                    self._account(record, "unknown", f"may have landed: {err.message}", err.status)
            else:
                for record, _ in chunk:
                    self._account(record, "failed", err.message, err.status)
                if isinstance(err, ConfigError):  # every other request would fail the same way
                    self.fatal = self.fatal or err
                    self.stop.set()
        else:
            self._answered(None)
            self._landed(chunk)

    def _landed(self, chunk: list[Item]) -> None:
        if self.journal is not None:
            self._journal(lambda j: j.acked([r for r, _ in chunk]))
        self._count("landed", len(chunk))
        if self._outcome is not None:
            for record, _ in chunk:
                self._tell(record, "landed", None, None)

    def _journal(self, write: Callable[[Journal], None]) -> None:
        assert self.journal is not None
        try:
            write(self.journal)
        except OSError:  # without a journal the run still accounts for every record
            self.journal = None

    def _answered(self, err: EngageError | None) -> None:
        """Count failures in a row that say the API is down; any other answer resets them."""
        down = isinstance(err, TemporaryError) and (err.status is None or err.status >= 500)
        if err is None or err.status != 429:
            self.pacer.answered()
        if down:
            assert isinstance(err, TemporaryError)
            self._failed_attempt(err.message, err.status)
        else:
            with self._lock:
                self._errors_in_a_row = 0

    def _retrying(self, why: str, status: int | None) -> None:
        """The client is about to retry a failed attempt (a 5xx or a network error)."""
        self._count("retries")
        self._failed_attempt(why, status)

    def _failed_attempt(self, why: str, status: int | None) -> None:
        with self._lock:
            self._errors_in_a_row += 1
            if self._errors_in_a_row < self.max_errors or self.down is not None:
                return
            self.down = TemporaryError(
                f"Stopped: the last {self._errors_in_a_row} requests all failed; the API "
                f"looks down ({why}).",
                hint="--max-errors N to tolerate more failures in a row.",
                status=status,
                retryable=True,
            )
        self.stop.set()

    def _rate_limited(self, pause: float | None) -> None:
        """The client got a 429: pause the pool, slow down, and wait for this request's
        new slot; the request then goes again without using up one of its retries."""
        self._count("rate_limited")
        self.pacer.throttled(pause)
        if pause and self._progress is not None:  # a terminal shows that the run waits
            with self._lock:
                self.tally.waiting_until = max(self.tally.waiting_until, time.monotonic() + pause)
                self._show()
        if not self.pacer.wait(self.stop):
            raise Interrupted("Stopped while waiting out a rate limit; not sent again.")

    # --- accounting ---

    def _account(
        self, record: Record, outcome: str, message: str, status: int | None = None
    ) -> None:
        """Count the record and write it where it belongs; never raises."""
        try:
            if outcome != "landed":
                ledger = self.unknown if outcome == "unknown" else self.failures
                ledger.add(record, message, status)
            self._count(outcome)
        except LedgerError as exc:
            with self._lock:
                self.ledger_error = self.ledger_error or exc
                self.unsaved.append(record)
                self.tally.unsaved += 1
            self.stop.set()
        except BaseException:  # even so, the record is named at the end
            with self._lock:
                self.unsaved.append(record)
                self.tally.unsaved += 1
            self.stop.set()
        if self._outcome is not None:
            self._tell(record, outcome, message, status)

    def _tell(self, record: Record, outcome: str, message: str | None, status: int | None) -> None:
        """The outcome callback; what it raises is remembered, so that _work ends instead of
        failing a record counted already."""
        assert self._outcome is not None
        try:
            self._outcome(record, outcome, message, status)
        except BaseException as exc:
            with self._lock:
                self._untold.append(exc)
            raise

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.tally, name, getattr(self.tally, name) + n)
            if name in ("landed", "failed", "unknown"):
                self._show()

    def _show(self) -> None:
        """The progress callback, under the lock. A display that raises is dropped for the
        rest of the run, so that no record counted already is counted again as failed."""
        if self._progress is not None:
            try:
                self._progress(self.tally)
            except Exception:
                self._progress = None


NOT_SENT = "not sent: the run was stopped before this record"
WORKER_ENDED = "Unexpected failure: its worker ended early"


def _too_large(size: int) -> str:
    return (
        f"not sent: too large for a batch request ({size:,} bytes as a batch item; a batch "
        f"stays under {BATCH_BYTES:,}); import it without --batch"
    )


IN_FLIGHT_AT_KILL = (
    "may have landed: sent by the run that was killed, which got no answer before it ended"
)


def _uncertain(err: EngageError, request: APIRequest) -> bool:
    """Sent, and no answer says whether it acted: the client's one rule (a timeout, a dropped
    connection, a 500/502/504 or an answer that is not one, after a request that is not
    harmless to repeat: an event POST, a batch). A 503 or a 429 refused before acting."""
    return err.uncertain and not request.repeatable

"""The shared run behind the bulk commands (`commands/bulk.py`): check every record, send
them through `engage_cli.bulk`, then report and turn the outcome into an exit code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from engage_cli.commands._common import state_of
from engage_cli.errors import (
    EngageError,
    Interrupted,
    PartialFailure,
    TemporaryError,
    UsageError,
)

if TYPE_CHECKING:
    from engage_cli.bulk.jobs import Checked, Job
    from engage_cli.bulk.ledger import Resumed
    from engage_cli.bulk.progress import Summary
    from engage_cli.bulk.readers import Record, Source
    from engage_cli.bulk.runner import Runner
    from engage_cli.bulk.spool import Spool
    from engage_cli.commands.bulk import BulkOptions
    from engage_cli.context import State
    from engage_cli.endpoints import APIRequest
    from engage_cli.output import Output


@dataclass
class Outcome:
    """What the sending stage leaves: the runner (its tally and how it stopped), the files."""

    runner: Runner
    failures: Path | None
    unknown: Path | None


def run_bulk(
    ctx: typer.Context,
    job: Job,
    options: BulkOptions,
    confirm: Callable[[int], None] | None = None,
) -> None:
    """Check every record (unless --stream), then send them all and report."""
    from engage_cli.bulk import ledger, progress, readers

    state = state_of(ctx)
    out = state.choose_output(options.output)
    started = time.monotonic()
    prompted = 0.0  # seconds at the confirmation prompt: not part of the run's time
    stdin = state.streams.stdin
    opened = readers.open_source(options.file, options.format, stdin, passes=options.passes)
    with opened as source, ExitStack() as stack:
        if options.dry_run:
            _dry_run(state, out, job, source, options, started)
            return
        resumed = None
        if options.resume:
            resumed = ledger.read_journal(ledger.find_journal(job, options.file))
            stack.callback(resumed.release)  # held while this run resumes it
        total = None
        spool = None
        if not options.stream:
            from engage_cli.bulk.spool import Spool

            spool = stack.enter_context(closing(Spool()))
            verify = None if resumed is None else resumed.check
            checked = _check(job, source, out, verify, keep=spool.add)
            _refuse_empty(checked.read, source, options)
            _preflight(state, _batch_request() if options.batch else checked.sample)
            total = checked.valid
            if confirm is not None:
                asked = time.monotonic()
                confirm(total)
                prompted = time.monotonic() - asked
        # Warnings about columns came with the check pass; --stream has none.
        warn = out.warn if options.stream else _silent
        outcome = _send(state, job, source, total, options, warn, resumed, spool)
        elapsed = time.monotonic() - started - prompted
        runner = outcome.runner
        summary = progress.summarize(job, source, runner.tally, elapsed, batch=options.batch)
        summary.failures_file = str(outcome.failures) if outcome.failures else None
        summary.unknown_file = str(outcome.unknown) if outcome.unknown else None
    if options.stream:
        _refuse_empty(summary.read, source, options)
    summary.interrupted = (
        runner.stop.is_set()
        and runner.fatal is None
        and runner.down is None
        and runner.ledger_error is None
    )
    _print_summary(state, out, summary)
    resume = _resume_command(state, job, summary.failures_file, options)
    _raise_for_outcome(options.file, runner, summary, resume)


def _refuse_empty(read: int, source: Source, options: BulkOptions) -> None:
    """An input with no records is most often an export that went wrong upstream."""
    if read == 0 and not options.allow_empty:
        raise UsageError(
            f"{source.label} holds no records (empty, or only a header); nothing was sent.",
            hint="Pass --allow-empty where an empty input is expected.",
        )


def _batch_request() -> APIRequest:
    from engage_cli.endpoints import APIRequest

    return APIRequest("POST", "/batch", needs_secret=True)


def _check(
    job: Job,
    source: Source,
    out: Output,
    on_valid: Callable[[Record, APIRequest], None] | None = None,
    *,
    keep: Callable[[Record, APIRequest], None] | None = None,
) -> Checked:
    """The validation pass: every record, before anything is sent."""
    from engage_cli.bulk import jobs, readers

    records = readers.read_records(source, job.schema, out.warn)
    try:
        checked = jobs.check_all(records, job, on_valid, keep)
    except KeyboardInterrupt:
        raise Interrupted("Interrupted while checking the input; nothing was sent.") from None
    if checked.invalid:
        raise checked.error(source.label)
    return checked


def _preflight(state: State, sample: APIRequest | None) -> None:
    """Missing credentials fail now, before a failures file holds every record."""
    if sample is not None:
        with state.client() as client:
            client.check_credentials(sample)


def _dry_run(
    state: State, out: Output, job: Job, source: Source, options: BulkOptions, started: float
) -> None:
    """Check every record and send nothing; `-o ndjson` lists each request, a table shows
    the first one as a sample (thousands of them would drown a terminal)."""
    from engage_cli.bulk import progress
    from engage_cli.output import dumps

    shown = [0]  # requests met so far (a counter the callback can bump)
    with state.client() as client:

        def show(record: Record, request: APIRequest) -> None:
            if out.format == "ndjson":
                out.write(dumps(client.describe(request), indent=None) + "\n")
            elif not shown[0]:
                out.dry_run(client.describe(request))
            shown[0] += 1

        checked = _check(job, source, out, show if out.format in ("ndjson", "table") else None)
    _refuse_empty(checked.read, source, options)
    summary = progress.dry_run_summary(job, source, checked, started)
    if out.format == "ndjson":
        state.streams.stderr.write(summary.sentence() + f" Each would be {job.sends}.\n")
        return
    if out.format == "table" and shown[0] > 1:
        state.streams.stderr.write(
            f"(the first of {shown[0]} requests; -o ndjson lists every one)\n"
        )
    _print_summary(state, out, summary)


def _send(
    state: State,
    job: Job,
    source: Source,
    total: int | None,
    options: BulkOptions,
    warn: Callable[[str], None],
    resumed: Resumed | None,
    spool: Spool | None = None,
) -> Outcome:
    """Send every record; the runner, and the failures and unknown files if kept."""
    from engage_cli.bulk import ledger, pacing, progress, readers
    from engage_cli.bulk import runner as running

    workers = options.concurrency or running.DEFAULT_CONCURRENCY
    stamp = ledger.run_stamp()
    failures = ledger.open_failures(job, options.file, options.failures, stamp)
    _, stem, _ = ledger.failures_plan(job, options.file, stamp)
    unknown = ledger.unknown_file(stem)
    try:
        journal = ledger.Journal(stem, {"command": job.command, "input": source.label})
    except BaseException:
        failures.close()
        unknown.close()
        raise
    streams = state.streams
    bar = None
    if streams.stderr_isatty:
        bar = progress.TerminalProgress(streams.stderr, total, job.command, not streams.no_color)

    def say_stopping() -> None:
        streams.stderr.write(
            f"\nStopping: the requests in flight are cut short (they may have landed: see the "
            f"summary); the rest go to {failures.target}.\n"
        )
        streams.stderr.flush()

    stop = threading.Event()
    clean = False
    try:
        sleep = pacing.stoppable_sleep(stop)
        client = state.client(
            max_connections=workers, sleep=sleep, default_retries=running.BULK_RETRIES
        )
        with client:
            runner = running.Runner(
                job,
                client,
                failures,
                unknown=unknown,
                journal=journal,
                resumed=resumed,
                concurrency=workers,
                rate=options.rate,
                max_errors=options.max_errors or running.DEFAULT_MAX_ERRORS,
                batch=options.batch,
                progress=bar.update if bar else None,
                stop=stop,
            )
            with pacing.stop_on_interrupt(runner.stop, say_stopping, client.cancel):
                if spool is not None and spool.usable:  # read and checked once, sent as checked
                    runner.run_prepared(spool.items())
                else:
                    # Unread stdin cannot be saved; a file's unsent rest goes to the failures.
                    records = readers.read_records(source, job.schema, warn)
                    runner.run(records, drain=source.path is not None)
        clean = runner.ledger_error is None
    finally:
        if bar is not None:
            bar.close()
        kept = failures.close()
        maybe = unknown.close()
        # The failures and unknown files now hold every record the journal would name.
        journal.close(keep=not clean)
    if clean and resumed is not None:
        resumed.path.unlink(missing_ok=True)  # that run is finished now
    return Outcome(runner, kept, maybe)


def _silent(message: str) -> None:
    pass


def _print_summary(state: State, out: Output, summary: Summary) -> None:
    if out.format == "table":
        state.streams.stderr.write(summary.sentence() + "\n")
        state.streams.stderr.flush()
    else:
        out.object(summary.to_dict())


def _resume_command(state: State, job: Job, failures: str | None, options: BulkOptions) -> str:
    """The command that sends exactly what did not land, with this run's own options."""
    import shlex

    from engage_cli.config import mask_url

    if failures is None:
        return ""
    words = ["engage"]
    if state.sandbox:
        words.append("--sandbox")
    base_url = mask_url(state.base_url) if state.base_url else None  # never a password
    for flag, value in (("--profile", state.profile), ("--base-url", base_url)):
        if value:
            words += [flag, shlex.quote(value)]
    words.append(job.resume.format(file=shlex.quote(failures)))
    if options.concurrency is not None:
        words += ["--concurrency", str(options.concurrency)]
    if options.rate is not None:
        words += ["--rate", f"{options.rate:g}"]
    if options.batch:
        words.append("--batch")
    return " ".join(words)


def _raise_for_outcome(file: str, runner: Runner, summary: Summary, resume: str) -> None:
    """Exit 0 only when every record landed: 3 on bad credentials, 6 when the API is down,
    130 interrupted, 7 when some did not land (or may not have); each with the command that
    retries exactly what certainly did not. Records sent without an answer are never in it."""
    from engage_cli.bulk.readers import STDIN

    failures = summary.failures_file
    where = " (in the current directory, as the input was stdin)" if file == STDIN else ""
    maybe = ""
    if summary.unknown:
        maybe = (
            f" {summary.unknown} were sent without an answer and may have landed: they are in "
            f"{summary.unknown_file}; check them before sending any again."
        )
    if runner.ledger_error is not None:
        raise _unsaved(runner, maybe, "stdin" if where else file)
    stopped: EngageError | None = runner.fatal or runner.down
    if stopped is not None:
        if failures:
            stopped.message += f" The records not landed are in {failures}{where}." + maybe
            stopped.hint = f"{stopped.hint or ''} Then resume with: {resume}".strip()
        raise stopped
    if summary.interrupted:
        landed = f"Interrupted: {summary.landed} of {summary.read} records landed"
        if not failures:
            tail = "; the rest of stdin was not read." if where else "."
            raise Interrupted(landed + tail + maybe)
        raise Interrupted(
            f"{landed}; the {summary.failed + summary.not_sent + summary.invalid} others "
            f"that did not are in {failures}{where}." + maybe,
            hint=f"Resume with: {resume}",
        )
    lost = summary.failed + summary.invalid
    if lost:
        raise PartialFailure(
            f"{lost} of {summary.read} records did not land; they are in {failures}{where}."
            + maybe,
            hint=f"Retry exactly those: {resume}",
        )
    if summary.unknown:
        raise PartialFailure(maybe.strip())


def _unsaved(runner: Runner, maybe: str, source: str) -> EngageError:
    """The failures file could not be written: stop (exit 6, as a full disk is temporary)
    and say which records of the input are saved nowhere, to send again from there."""
    assert runner.ledger_error is not None
    shown = ", ".join(_named(record) for record in runner.unsaved[:20])
    more = len(runner.unsaved) - 20
    if more > 0:
        shown += f" and {more} more"
    text = (
        f"Cannot write {runner.ledger_error.path} ({runner.ledger_error.reason}): stopped. "
        f"{len(runner.unsaved)} records that did not land are saved nowhere: {shown} of "
        f"{source}."
    )
    if runner.unread_after is not None:
        text += f" The input after line {runner.unread_after} was not read."
    return TemporaryError(
        text + maybe,
        hint="Free the space (or choose --failures FILE elsewhere) and send those again.",
    )


def _named(record: Record) -> str:
    data = record.data if isinstance(record.data, dict) else {}
    key = next((data[k] for k in ("id", "uid") if isinstance(data.get(k), str)), None)
    return f"line {record.line}" + (f" ({key})" if key else "")

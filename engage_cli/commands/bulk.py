"""`engage users import`, `engage events import` and `engage users delete --from`: the bulk
commands, thin adapters over `engage_cli.bulk` (imported only when one of them runs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from engage_cli.commands._common import OutputOpt, fmt, state_of
from engage_cli.errors import EngageError, Interrupted, PartialFailure, UsageError

if TYPE_CHECKING:
    from engage_cli.bulk.jobs import Checked, Job
    from engage_cli.bulk.progress import Summary
    from engage_cli.bulk.readers import Source
    from engage_cli.bulk.runner import Runner
    from engage_cli.context import State
    from engage_cli.endpoints import APIRequest
    from engage_cli.output import Output


class Mode(str, Enum):
    upsert = "upsert"
    create = "create"


class InputFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    json = "json"


FileArg = Annotated[
    str,
    typer.Argument(
        metavar="FILE|-", help="CSV, JSON Lines or a JSON array; - reads stdin.", show_default=False
    ),
]
FormatOpt = Annotated[
    Optional[InputFormat],
    typer.Option(
        "--format",
        help="Input format (default: from the extension; sniffed for stdin).",
        show_default=False,
    ),
]
ConcurrencyOpt = Annotated[
    Optional[int],
    typer.Option(
        "--concurrency",
        "-c",
        min=1,
        max=64,
        metavar="N",
        help="Requests in flight at once (default 8).",
        show_default=False,
    ),
]
RateOpt = Annotated[
    Optional[float],
    typer.Option(
        "--rate", min=0.1, metavar="N", help="At most N requests a second.", show_default=False
    ),
]
FailuresOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--failures",
        metavar="FILE",
        help="Where records that did not land go, as JSON Lines that import reads back "
        "(default: FILE.failed.jsonl; a .failed.jsonl input is rewritten in place).",
        show_default=False,
    ),
]
BulkDryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Check every record and send nothing.")
]
StreamOpt = Annotated[
    bool,
    typer.Option(
        "--stream",
        help="Validate each record as it is sent instead of all first (unbounded stdin); "
        "invalid records go to the failures file.",
    ),
]


@dataclass(frozen=True)
class BulkOptions:
    """What a bulk command was asked for, given once to the shared run."""

    file: str
    format: str | None = None
    concurrency: int | None = None
    rate: float | None = None
    failures: Path | None = None
    stream: bool = False
    dry_run: bool = False
    output: str | None = None

    @property
    def passes(self) -> int:
        """How often the input is read: checked, then sent; once with --stream or --dry-run
        (stdin read twice is spooled to a temporary file)."""
        return 1 if self.stream or self.dry_run else 2


def import_users(
    ctx: typer.Context,
    file: FileArg,
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode",
            help="upsert: PUT /users/{uid}, safe to re-run. create: POST /users, which can "
            "carry lists.",
        ),
    ] = Mode.upsert,
    format: FormatOpt = None,
    concurrency: ConcurrencyOpt = None,
    rate: RateOpt = None,
    failures: FailuresOpt = None,
    stream: StreamOpt = False,
    dry_run: BulkDryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Create or update many users from a CSV, JSON Lines or JSON file.

    Each record is a create body as the API documents it (id, first_name, last_name, email,
    number, created_at, meta, lists). CSV columns: the field names, meta.NAME for meta (other
    columns go into meta, with a warning), a header ending in := for JSON cells (meta.age:=),
    lists as ids separated by ;. Every record is checked before any is sent. Records that do
    not land go to the failures file; exit 7 if any, 0 if all landed, 2 if the input is
    invalid.

    Example: engage users import seed.csv --concurrency 16 || engage users import
    seed.csv.failed.jsonl
    """
    from engage_cli.bulk import jobs

    options = BulkOptions(
        file, _declared(format), concurrency, rate, failures, stream, dry_run, fmt(output)
    )
    _run_bulk(ctx, jobs.users_import_job(mode.value), options)


def import_events(
    ctx: typer.Context,
    file: FileArg,
    format: FormatOpt = None,
    concurrency: ConcurrencyOpt = None,
    rate: RateOpt = None,
    failures: FailuresOpt = None,
    stream: StreamOpt = False,
    dry_run: BulkDryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Record many events from a CSV, JSON Lines or JSON file (POST /users/UID/events).

    Each record has uid, event, and optionally value, timestamp and properties (an object,
    or CSV columns properties.NAME; NAME:= for JSON cells; other columns go into properties
    with a warning). A CSV value cell reads like --value of `events add`. An event is never
    sent twice: one that may have reached the API goes to the failures file, not to a retry.

    Example: engage events import events.jsonl --rate 50
    """
    from engage_cli.bulk import jobs

    options = BulkOptions(
        file, _declared(format), concurrency, rate, failures, stream, dry_run, fmt(output)
    )
    _run_bulk(ctx, jobs.EVENTS_IMPORT, options)


def delete_users_from(ctx: typer.Context, options: BulkOptions, *, yes: bool) -> None:
    """`engage users delete --from FILE`: every uid (or id) in the file, each once; a user
    already gone counts as deleted."""
    from engage_cli.bulk import jobs, readers

    state = state_of(ctx)

    def confirm(count: int) -> None:
        if yes:
            return
        if options.file == readers.STDIN:
            raise UsageError(
                "Refusing to delete without --yes: stdin holds the uids, not an answer.",
                hint="Pass --yes to confirm.",
            )
        from engage_cli.commands._common import confirm_or_refuse

        confirm_or_refuse(
            state, f"Delete {count} users listed in {options.file}? This cannot be undone."
        )

    _run_bulk(ctx, jobs.USERS_DELETE, options, confirm=confirm)


def _declared(format: InputFormat | None) -> str | None:
    return format.value if format is not None else None


# --- the shared run ------------------------------------------------------------------------


def _run_bulk(
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
    stdin = state.streams.stdin
    with readers.open_source(options.file, options.format, stdin, passes=options.passes) as source:
        if options.dry_run:
            _dry_run(state, out, job, source, started)
            return
        total = None
        if not options.stream:
            checked = _check(job, source, out)
            _preflight(state, checked.sample)
            total = checked.valid
            if confirm is not None:
                confirm(total)
        target = options.failures or ledger.default_failures_path(job, options.file)
        # Warnings about columns came with the check pass; --stream has none.
        warn = out.warn if options.stream else _silent
        runner, kept = _send(state, job, source, target, total, options, warn)
        summary = progress.summarize(job, source, runner.tally, started, kept)
    summary.interrupted = runner.stop.is_set() and runner.fatal is None
    _print_summary(state, out, summary)
    resume = _resume_command(state, job, summary.failures_file, options)
    _raise_for_outcome(options.file, runner, summary, resume)


def _check(
    job: Job, source: Source, out: Output, on_valid: Callable[[APIRequest], None] | None = None
) -> Checked:
    """The validation pass: every record, before anything is sent."""
    from engage_cli.bulk import jobs, readers

    try:
        checked = jobs.check_all(readers.read_records(source, job.schema, out.warn), job, on_valid)
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


def _dry_run(state: State, out: Output, job: Job, source: Source, started: float) -> None:
    """Check every record and send nothing; `-o ndjson` lists each request, a table shows
    the first one as a sample (thousands of them would drown a terminal)."""
    from engage_cli.bulk import progress
    from engage_cli.output import dumps

    shown = [0]  # requests met so far (a counter the callback can bump)
    with state.client() as client:

        def show(request: APIRequest) -> None:
            if out.format == "ndjson":
                out.write(dumps(client.describe(request), indent=None) + "\n")
            elif not shown[0]:
                out.dry_run(client.describe(request))
            shown[0] += 1

        checked = _check(job, source, out, show if out.format in ("ndjson", "table") else None)
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
    target: Path,
    total: int | None,
    options: BulkOptions,
    warn: Callable[[str], None],
) -> tuple[Runner, Path | None]:
    """Send every record; return the runner (its tally) and the failures file if kept."""
    from engage_cli.bulk import ledger, progress, readers
    from engage_cli.bulk import runner as running

    workers = options.concurrency or running.DEFAULT_CONCURRENCY
    input_path = None if source.is_stdin else Path(source.name)
    failures = ledger.FailuresFile(target, input_path=input_path)
    streams = state.streams
    bar = None
    if streams.stderr_isatty:
        bar = progress.TerminalProgress(streams.stderr, total, job.command, not streams.no_color)

    def say_stopping() -> None:
        streams.stderr.write(
            f"\nStopping: waiting for the requests in flight; the rest go to {target}.\n"
        )
        streams.stderr.flush()

    stop = threading.Event()
    try:
        with state.client(max_connections=workers, sleep=running.stoppable_sleep(stop)) as client:
            runner = running.Runner(
                job,
                client,
                failures,
                concurrency=workers,
                rate=options.rate,
                progress=bar.update if bar else None,
                stop=stop,
            )
            with running.stop_on_interrupt(runner.stop, say_stopping):
                # Unread stdin cannot be saved; a file's unsent rest goes to the failures.
                records = readers.read_records(source, job.schema, warn)
                runner.run(records, drain=source.path is not None)
    finally:
        if bar is not None:
            bar.close()
        kept = failures.close()
    return runner, kept


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
    return " ".join(words)


def _raise_for_outcome(file: str, runner: Runner, summary: Summary, resume: str) -> None:
    """Exit 0 only when every record landed: 3 on bad credentials, 130 interrupted, 7 when
    some did not land; each with the command that retries exactly what did not."""
    from engage_cli.bulk.readers import STDIN

    failures = summary.failures_file
    where = " (in the current directory, as the input was stdin)" if file == STDIN else ""
    if runner.fatal is not None:
        fatal: EngageError = runner.fatal
        if failures:
            fatal.hint = f"{fatal.hint or ''} Then resume with: {resume}".strip()
        raise fatal
    if summary.interrupted:
        landed = f"Interrupted: {summary.ok} of {summary.read} records landed"
        if not failures:
            raise Interrupted(landed + ("; the rest of stdin was not read." if where else "."))
        raise Interrupted(
            f"{landed}; the {summary.failed + summary.not_sent + summary.invalid} others are "
            f"in {failures}{where}.",
            hint=f"Resume with: {resume}",
        )
    lost = summary.failed + summary.invalid
    if lost:
        raise PartialFailure(
            f"{lost} of {summary.read} records did not land; they are in {failures}{where}.",
            hint=f"Retry exactly those: {resume}",
        )

"""`engage users import`, `engage events import` and `engage users delete --from`: the bulk
commands' options and entry points. Each builds a `bulk.run.BulkRun`, confirms, hands it to
the driver (`engage_cli.bulk.run`, imported only when one of them runs) and prints what it
returns; `_bulk_report` shows the run on the terminal while it goes."""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from engage_cli.commands._common import OutputFormat, OutputOpt, fmt, state_of
from engage_cli.errors import UsageError

if TYPE_CHECKING:
    from engage_cli.bulk.run import BulkRun, FileInput


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
        metavar="FILE|-",
        help="CSV, JSON Lines or a JSON array; - reads stdin, as /dev/stdin or a pipe does "
        "(read once: spooled while it is checked).",
        show_default=False,
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


def _finite_rate(value: float | None) -> float | None:
    # Click's range compares, and every comparison with nan is false: nan passes min=0.1.
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number of requests a second.")
    return value


RateOpt = Annotated[
    Optional[float],
    typer.Option(
        "--rate",
        min=0.1,
        metavar="N",
        callback=_finite_rate,
        help="At most N requests a second (at least 0.1).",
        show_default=False,
    ),
]
FailuresOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--failures",
        metavar="FILE",
        help="Where records that did not land go, as JSON Lines that import reads back "
        "(default: FILE.TIME.failed.jsonl; TIME is when the run started, so no two runs "
        "share one; a .failed.jsonl input is rewritten in place).",
        show_default=False,
    ),
]
DeleteFailuresOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--failures",
        metavar="FILE",
        help="With --from: where uids not deleted go (default: FILE.TIME.delete-failed.jsonl; "
        "TIME is when the run started; a teardown never touches an import's).",
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
BatchOpt = Annotated[
    bool,
    typer.Option(
        "--batch",
        help="Send through POST /batch in chunks under 100 KB: far fewer requests. The API "
        "queues batch items and checks them later, so they count as queued, not confirmed.",
    ),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Go on from a run over the same FILE that was killed (even kill -9): skip what "
        "it landed, per its journal; what it had in flight goes to the unknown file.",
    ),
]
MaxErrorsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--max-errors",
        min=1,
        metavar="N",
        help="Stop (exit 6) when the last N requests (retries included) all failed with 5xx "
        "or network errors (default 20); every unsent record goes to the failures file. Short "
        "of that, a bulk run tries each request up to 9 times unless --retries says otherwise.",
        show_default=False,
    ),
]
AllowEmptyOpt = Annotated[
    bool,
    typer.Option("--allow-empty", help="An input with no records is fine (exit 0 instead of 2)."),
]


def import_users(
    ctx: typer.Context,
    file: FileArg,
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode",
            help="upsert: PUT /users/{uid}, safe to re-run. create: POST /users.",
        ),
    ] = Mode.upsert,
    format: FormatOpt = None,
    concurrency: ConcurrencyOpt = None,
    rate: RateOpt = None,
    failures: FailuresOpt = None,
    stream: StreamOpt = False,
    batch: BatchOpt = False,
    resume: ResumeOpt = False,
    max_errors: MaxErrorsOpt = None,
    allow_empty: AllowEmptyOpt = False,
    dry_run: BulkDryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Create or update many users from a CSV, JSON Lines or JSON file.

    Each record is a create body as the API documents it (id, first_name, last_name, email,
    number, created_at, meta, lists), or a user as `users list` prints it. CSV columns: the
    field names, meta.NAME for meta (other columns go into meta, with a warning), a header
    ending in := for JSON cells (meta.age:=), lists as ids separated by ;. Every record is
    checked before any is sent. Records that do not land go to the failures file; exit 7 if
    any, 0 if all landed, 2 if the input is invalid or empty, 6 if the API is down.

    Example: engage users import seed.csv --failures retry.jsonl || engage users import
    retry.jsonl
    """
    from engage_cli.bulk import jobs
    from engage_cli.bulk.run import BulkRun

    plan = BulkRun(
        jobs.users_import_job(mode.value), _input(ctx, file, format),
        concurrency=concurrency, rate=rate, failures=failures, stream=stream, batch=batch,
        resume=resume, max_errors=max_errors, allow_empty=allow_empty, dry_run=dry_run,
    )  # fmt: skip
    _run(ctx, plan, output)


def import_events(
    ctx: typer.Context,
    file: FileArg,
    format: FormatOpt = None,
    concurrency: ConcurrencyOpt = None,
    rate: RateOpt = None,
    failures: FailuresOpt = None,
    stream: StreamOpt = False,
    batch: BatchOpt = False,
    resume: ResumeOpt = False,
    max_errors: MaxErrorsOpt = None,
    allow_empty: AllowEmptyOpt = False,
    dry_run: BulkDryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Record many events from a CSV, JSON Lines or JSON file (POST /users/UID/events).

    Each record has uid, event, and optionally value, timestamp and properties (an object,
    or CSV columns properties.NAME; NAME:= for JSON cells; other columns go into properties
    with a warning). A CSV value cell reads like --value of `events add`. An event is never
    sent twice: one that may have reached the API without an answer goes to the unknown
    file, never to the retry.

    Example: engage events import events.jsonl --rate 50
    """
    from engage_cli.bulk import jobs
    from engage_cli.bulk.run import BulkRun

    plan = BulkRun(
        jobs.EVENTS_IMPORT, _input(ctx, file, format),
        concurrency=concurrency, rate=rate, failures=failures, stream=stream, batch=batch,
        resume=resume, max_errors=max_errors, allow_empty=allow_empty, dry_run=dry_run,
    )  # fmt: skip
    _run(ctx, plan, output)


def delete_users_from(
    ctx: typer.Context,
    file: str,
    format: InputFormat | None,
    *,
    concurrency: int | None,
    rate: float | None,
    failures: Path | None,
    dry_run: bool,
    output: OutputFormat | None,
    yes: bool,
    allow_empty: bool,
) -> None:
    """`engage users delete --from FILE`: every uid (or id) in the file, each once; a user
    already gone counts as deleted. A file with no uids is refused unless `allow_empty`, as
    an import's is: most often it is the wrong file."""
    from engage_cli.bulk import jobs, readers
    from engage_cli.bulk.run import BulkRun

    state = state_of(ctx)

    def confirm(count: int) -> None:
        if yes:
            return
        if readers.is_stream(file):
            where = "stdin" if file == readers.STDIN else file
            raise UsageError(
                f"Refusing to delete without --yes: {where} holds the uids, not an answer.",
                hint="Pass --yes to confirm.",
            )
        from engage_cli.commands._common import confirm_or_refuse

        confirm_or_refuse(state, f"Delete {count} users listed in {file}? This cannot be undone.")

    plan = BulkRun(
        jobs.USERS_DELETE, _input(ctx, file, format), concurrency=concurrency, rate=rate,
        failures=failures, dry_run=dry_run, allow_empty=allow_empty,
    )  # fmt: skip
    _run(ctx, plan, output, confirm=confirm)


def _input(ctx: typer.Context, file: str, format: InputFormat | None) -> FileInput:
    from engage_cli.bulk.run import FileInput

    declared = format.value if format is not None else None
    return FileInput(file, declared, state_of(ctx).streams.stdin)


def _run(
    ctx: typer.Context,
    plan: BulkRun,
    output: OutputFormat | None,
    confirm: Callable[[int], None] | None = None,
) -> None:
    """Run it through the driver, print the summary, and end as the outcome says."""
    from engage_cli.bulk import outcome
    from engage_cli.bulk import run as driver
    from engage_cli.bulk.readers import STDIN, is_stream
    from engage_cli.commands._bulk_report import TerminalReporter, print_summary, retry_command

    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    with TerminalReporter(state, out, plan.job.command) as reporter:
        result = driver.run(plan, state.client, reporter, confirm)
    summary = result.summary
    if summary.dry_run:
        if out.format == "ndjson":
            state.streams.stderr.write(summary.sentence() + f" Each would be {plan.job.sends}.\n")
            return
        if out.format == "table" and reporter.shown > 1:
            state.streams.stderr.write(
                f"(the first of {reporter.shown} requests; -o ndjson lists every one)\n"
            )
    print_summary(state, out, summary)
    if summary.dry_run:
        return
    # A record too large for any batch fails the same way in a batch again: its retry goes
    # one request a record, as its failure says.
    batch = plan.batch and not result.too_large
    retry = retry_command(state, plan, summary.failures_file, batch=batch)
    file = plan.source.name
    stream = ("stdin" if file == STDIN else file) if is_stream(file) else None
    outcome.raise_for_outcome(result, retry, from_stream=stream)

"""How a bulk command shows its run: the driver's `Reporter` for a terminal (a progress bar
on stderr when it is one, drawn by rich, imported only then; the column warnings; a dry run's
requests; the Ctrl-C notice), the summary at the end, and the command that retries what did
not land."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from engage_cli.bulk.progress import Summary
    from engage_cli.bulk.records import Record
    from engage_cli.bulk.run import BulkRun
    from engage_cli.bulk.runner import Tally
    from engage_cli.client import EngageClient
    from engage_cli.context import State
    from engage_cli.endpoints import APIRequest
    from engage_cli.output import Output


class TerminalReporter:
    """A bulk run as a command shows it; a context manager (it may open a client to show a
    dry run's requests, and closes it)."""

    def __init__(self, state: State, out: Output, label: str) -> None:
        self.state = state
        self.out = out
        self.label = label
        self.shown = 0  # dry run: the requests met so far
        self._bar: TerminalProgress | None = None
        self._client: EngageClient | None = None

    def __enter__(self) -> TerminalReporter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.sent()
        if self._client is not None:
            self._client.close()
            self._client = None

    def warn(self, message: str) -> None:
        self.out.warn(message)

    def would_send(self, record: Record, request: APIRequest) -> None:
        """`-o ndjson` lists each request; a table shows the first as a sample (thousands of
        them would drown a terminal); JSON shows only the summary."""
        if self.out.format not in ("ndjson", "table"):
            return
        if self._client is None:
            self._client = self.state.client()
        if self.out.format == "ndjson":
            from engage_cli.output import dumps

            self.out.write(dumps(self._client.describe(request), indent=None) + "\n")
        elif not self.shown:
            self.out.dry_run(self._client.describe(request))
        self.shown += 1

    def sending(self, total: int | None, failures: Path) -> None:
        streams = self.state.streams
        if streams.stderr_isatty:
            self._bar = TerminalProgress(streams.stderr, total, self.label, not streams.no_color)

    def progress(self, tally: Tally) -> None:
        if self._bar is not None:
            self._bar.update(tally)

    def stopping(self, failures: Path) -> None:
        stderr = self.state.streams.stderr
        stderr.write(
            f"\nStopping: the requests in flight are cut short (they may have landed: see the "
            f"summary); the rest go to {failures}.\n"
        )
        stderr.flush()

    def outcome(
        self, record: Record, outcome: str, message: str | None, status: int | None
    ) -> None:
        pass  # the files and the summary say it; a line per record would drown a terminal

    def sent(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def waiting(label: str, wait: float) -> str:
    """The bar's label, saying so while a 429's Retry-After pauses the run."""
    return f"{label} (rate limited: waiting {wait:.0f} s)" if wait >= 0.5 else label


class TerminalProgress:
    """A rich progress bar on stderr (done, failed, rate, time left) that fits 80 columns
    at 100% with six-digit counts; rich is imported only when stderr is a terminal."""

    def __init__(self, stream: IO[str], total: int | None, label: str, color: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        console = Console(file=stream, force_terminal=True, no_color=not color, highlight=False)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]:.0f}/s"),
            TimeRemainingColumn(),
            console=console,
            # Our own writes go to the streams we were given; rich must not swap sys.stderr.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._label = label
        self._task = self._progress.add_task(label, total=total, failed=0, rate=0.0)
        self._progress.start()

    def update(self, tally: Tally) -> None:
        wait = tally.waiting_until - time.monotonic()
        self._progress.update(
            self._task,
            description=waiting(self._label, wait),
            completed=tally.done,
            failed=tally.failed + tally.unknown,
            rate=tally.rate(),
        )

    def close(self) -> None:
        self._progress.stop()


def print_summary(state: State, out: Output, summary: Summary) -> None:
    if out.format == "table":
        state.streams.stderr.write(summary.sentence() + "\n")
        state.streams.stderr.flush()
    else:
        out.object(summary.to_dict())


def retry_command(state: State, plan: BulkRun, failures: str | None, *, batch: bool) -> str:
    """The command that sends exactly what did not land, with this run's own options
    (`batch`: with --batch, unless a record was too large for any batch)."""
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
    words.append(plan.job.resume.format(file=shlex.quote(failures)))
    if plan.concurrency is not None:
        words += ["--concurrency", str(plan.concurrency)]
    if plan.rate is not None:
        words += ["--rate", f"{plan.rate:g}"]
    if batch:
        words.append("--batch")
    return " ".join(words)

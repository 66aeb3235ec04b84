"""What the user sees of a run: the progress bar while it goes, the summary at the end."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from engage_cli.bulk.jobs import Checked, Job
from engage_cli.bulk.readers import Source
from engage_cli.bulk.runner import Tally


@dataclass
class Summary:
    """The report of a run: printed as a sentence, or as one JSON object with -o json."""

    command: str
    input: str
    read: int
    invalid: int
    sent: int
    ok: int
    failed: int
    not_sent: int
    duplicates: int
    seconds: float
    rate: float  # requests a second while sending
    failures_file: str | None = None
    interrupted: bool = False
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        if self.dry_run:
            return (
                f"{self.command} (dry run): {self.read} records read, all valid; "
                f"{self.sent} requests would be sent. Nothing was sent."
            )
        parts = [f"{self.read} read"]
        if self.invalid:
            parts.append(f"{self.invalid} invalid")
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicates skipped")
        parts += [f"{self.sent} sent", f"{self.ok} ok", f"{self.failed} failed"]
        if self.not_sent:
            parts.append(f"{self.not_sent} not sent")
        text = (
            f"{self.command}: {', '.join(parts)} in {self.seconds:.1f}s "
            f"({self.rate:.0f} requests/s)."
        )
        if self.failures_file:
            text += f" Not landed: {self.failures_file}."
        return text


def dry_run_summary(job: Job, source: Source, checked: Checked, started: float) -> Summary:
    return Summary(
        command=job.command,
        input=source.label,
        read=checked.read,
        invalid=0,
        sent=checked.valid,
        ok=0,
        failed=0,
        not_sent=0,
        duplicates=checked.duplicates,
        seconds=round(time.monotonic() - started, 3),
        rate=0.0,
        dry_run=True,
    )


def summarize(
    job: Job, source: Source, tally: Tally, started: float, failures: Path | None
) -> Summary:
    return Summary(
        command=job.command,
        input=source.label,
        read=tally.read,
        invalid=tally.invalid,
        sent=tally.sent,
        ok=tally.ok,
        failed=tally.failed,
        not_sent=tally.not_sent,
        duplicates=tally.duplicates,
        seconds=round(time.monotonic() - started, 3),
        rate=round(tally.rate(), 1),
        failures_file=str(failures) if failures else None,
    )


class TerminalProgress:
    """A rich progress bar on stderr (done, failed, rate, time left); rich is imported only
    when stderr is a terminal."""

    def __init__(self, stream: IO[str], total: int | None, label: str, color: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(file=stream, force_terminal=True, no_color=not color, highlight=False)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]:.0f}/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            # Our own writes go to the streams we were given; rich must not swap sys.stderr.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task(label, total=total, failed=0, rate=0.0)
        self._progress.start()

    def update(self, tally: Tally) -> None:
        self._progress.update(
            self._task, completed=tally.done, failed=tally.failed, rate=tally.rate()
        )

    def close(self) -> None:
        self._progress.stop()

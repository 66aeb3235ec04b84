"""Stage 5, report: the summary of a run, as a sentence or one JSON object (the commands
show the progress bar while a run goes: commands/_bulk_report.py)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from engage_cli.bulk.jobs import Checked, Job
from engage_cli.bulk.readers import Source
from engage_cli.bulk.runner import Tally


@dataclass
class Summary:
    """The report of a run: printed as a sentence, or as one JSON object with -o json.
    read = invalid + duplicates + resumed + landed + failed + unknown + not_sent + unsaved."""

    command: str
    input: str
    read: int
    invalid: int = 0
    duplicates: int = 0
    resumed: int = 0  # acknowledged before the run being resumed was killed
    sent: int = 0  # records sent
    landed: int = 0  # acknowledged (with --batch: queued by the API, checked later)
    failed: int = 0  # in the failures file
    unknown: int = 0  # sent without an answer: in the unknown file, never re-sent blindly
    not_sent: int = 0  # stopped before they were sent: in the failures file
    unsaved: int = 0  # the failures file could not be written: named in the error
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429 answers
    elapsed: float = 0.0  # seconds, the confirmation prompt excluded
    requests_per_second: float = 0.0  # while sending
    failures_file: str | None = None
    unknown_file: str | None = None
    batch: bool = False
    interrupted: bool = False
    dry_run: bool = False
    would_send: int = 0  # with --dry-run: the requests a run would send

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        if self.dry_run:
            return (
                f"{self.command} (dry run): {self.read} records read, all valid; "
                f"{self.would_send} requests would be sent. Nothing was sent."
            )
        parts = [f"{self.read} read"]
        for count, label in ((self.invalid, "invalid"), (self.duplicates, "duplicates skipped"),
                             (self.resumed, "landed before (resumed)")):  # fmt: skip
            if count:
                parts.append(f"{count} {label}")
        parts.append(f"{self.landed} {'queued' if self.batch else 'landed'}")
        parts.append(f"{self.failed} failed")
        for count, label in ((self.unknown, "unknown"), (self.not_sent, "not sent"),
                             (self.unsaved, "NOT SAVED")):  # fmt: skip
            if count:
                parts.append(f"{count} {label}")
        per = f"{self.requests_per_second:.0f} requests/s"
        if self.retries or self.rate_limited:
            per += f", {self.retries} retries, {self.rate_limited} rate-limited"
        text = f"{self.command}: {', '.join(parts)} in {self.elapsed:.1f}s ({per})."
        if self.batch and self.landed:
            text += " Batch items are queued: the API checks them later and reports nothing."
        if self.failures_file:
            text += f" Not landed: {self.failures_file}."
        if self.unknown_file:
            text += f" May have landed: {self.unknown_file}."
        return text


def dry_run_summary(job: Job, source: Source, checked: Checked, started: float) -> Summary:
    return Summary(
        command=job.command,
        input=source.label,
        read=checked.read,
        duplicates=checked.duplicates,
        elapsed=round(time.monotonic() - started, 3),
        dry_run=True,
        would_send=checked.valid,
    )


def summarize(job: Job, source: Source, tally: Tally, elapsed: float, *, batch: bool) -> Summary:
    return Summary(
        command=job.command,
        input=source.label,
        read=tally.read,
        invalid=tally.invalid,
        duplicates=tally.duplicates,
        resumed=tally.resumed,
        sent=tally.sent,
        landed=tally.landed,
        failed=tally.failed,
        unknown=tally.unknown,
        not_sent=tally.not_sent,
        unsaved=tally.unsaved,
        requests=tally.requests,
        retries=tally.retries,
        rate_limited=tally.rate_limited,
        elapsed=round(elapsed, 3),
        requests_per_second=round(tally.rate(), 1),  # while sending: no check pass, no prompt
        batch=batch,
    )

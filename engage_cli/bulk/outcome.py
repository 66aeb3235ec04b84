"""A finished run's exit: the error a bulk command ends with, from the driver's `Result`.

Exit 0 only when every record landed: 3 on bad credentials, 6 when the API is down, 130
interrupted, 7 when some did not land (or may not have); each message names the files and
the command (`retry`) that sends exactly what certainly did not land. Records sent without an
answer are never in it.
"""

from __future__ import annotations

from engage_cli.bulk.records import Record
from engage_cli.bulk.run import Result
from engage_cli.errors import EngageError, Interrupted, PartialFailure, TemporaryError

UNSAVED_SHOWN = 20  # records saved nowhere named in the error; the rest are counted


def raise_for_outcome(result: Result, retry: str, *, from_stream: str | None = None) -> None:
    """Return if every record landed; else raise the error that says what did not, and how
    to send it again with `retry` (`from_stream`: the input was that stream, stdin or a
    pipe, so the run's files went to the current directory)."""
    summary = result.summary
    failures = summary.failures_file
    where = ""
    if from_stream is not None:
        where = f" (in the current directory, as the input was {from_stream})"
    maybe = ""
    if summary.unknown:
        maybe = (
            f" {summary.unknown} were sent without an answer and may have landed: they are in "
            f"{summary.unknown_file}; check them before sending any again."
        )
    if result.ledger_error is not None:
        raise _unsaved(result, maybe)
    stopped: EngageError | None = result.fatal or result.down
    if stopped is not None:
        if failures:
            stopped.add_sentence(f"The records not landed are in {failures}{where}.{maybe}")
            stopped.hint = f"{stopped.hint or ''} Then resume with: {retry}".strip()
        raise stopped
    if summary.interrupted:
        landed = f"Interrupted: {summary.landed} of {summary.read} records landed"
        if not failures:
            tail = "; the rest of stdin was not read." if where else "."
            raise Interrupted(landed + tail + maybe)
        raise Interrupted(
            f"{landed}; the {summary.failed + summary.not_sent + summary.invalid} others "
            f"that did not are in {failures}{where}." + maybe,
            hint=f"Resume with: {retry}",
        )
    lost = summary.failed + summary.invalid
    if lost:
        raise PartialFailure(
            f"{lost} of {summary.read} records did not land; they are in {failures}{where}."
            + maybe,
            hint=f"Retry exactly those: {retry}",
        )
    if summary.unknown:
        raise PartialFailure(maybe.strip())


def _unsaved(result: Result, maybe: str) -> EngageError:
    """The failures file could not be written: stop (exit 6, as a full disk is temporary)
    and say which records of the input are saved nowhere, to send again from there."""
    assert result.ledger_error is not None
    shown = ", ".join(_named(record) for record in result.unsaved[:UNSAVED_SHOWN])
    more = len(result.unsaved) - UNSAVED_SHOWN
    if more > 0:
        shown += f" and {more} more"
    text = (
        f"Cannot write {result.ledger_error.path} ({result.ledger_error.reason}): stopped. "
        f"{len(result.unsaved)} records that did not land are saved nowhere: {shown} of "
        f"{result.summary.input}."
    )
    if result.unread_after is not None:
        text += f" The input after line {result.unread_after} was not read."
    return TemporaryError(
        text + maybe,
        hint="Free the space (or choose --failures FILE elsewhere) and send those again.",
    )


def _named(record: Record) -> str:
    data = record.data if isinstance(record.data, dict) else {}
    key = next((data[k] for k in ("id", "uid") if isinstance(data.get(k), str)), None)
    return f"line {record.line}" + (f" ({key})" if key else "")

"""Stage 4, account: where each record that did not land is written."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from engage_cli.bulk.jobs import Job
from engage_cli.bulk.readers import ERROR_KEY, STDIN, Record
from engage_cli.errors import UsageError

# --- the failures file -----------------------------------------------------------------------


def default_failures_path(job: Job, source_name: str) -> Path:
    """`<input>.failed.jsonl`; a failures file being retried is rewritten in place, so it
    always holds exactly what has not landed yet."""
    if source_name == STDIN:
        return Path(job.stdin_failures)
    if source_name.endswith(job.failures_suffix):
        return Path(source_name)
    return Path(source_name + job.failures_suffix)


def failure_entry(record: Record, message: str, status: int | None) -> dict[str, Any]:
    """The input record plus its error: `import` reads it back and drops the error."""
    error = {"message": message, "status": status, "line": record.line}
    if isinstance(record.data, dict):
        return {**record.data, ERROR_KEY: error}
    entry: dict[str, Any] = {ERROR_KEY: error}
    if record.data is not None:
        entry["_record"] = record.data  # what could not be read as a record, kept to fix
    return entry


FAILURES_HINT = "Choose another place with --failures FILE."


class FailuresFile:
    """Collects failed and unsent records as JSON Lines, written to a temporary file beside
    the target and moved over it at the end (so the target may also be the input)."""

    def __init__(self, target: Path, *, input_path: Path | None) -> None:
        self.target = target
        self.count = 0
        self._in_place = input_path is not None and _same_file(target, input_path)
        self._lock = threading.Lock()
        if target.is_dir():
            raise UsageError(f"The failures file {target} is a directory.", hint=FAILURES_HINT)
        try:
            # Unique per run, so two runs writing the same target never share it.
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            self._tmp = Path(tmp)
            # Open for the whole run, closed in close(): not a with-block's lifetime.
            self._file: IO[str] = open(fd, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(
                f"Cannot write the failures file {target}: {exc.strerror}.", hint=FAILURES_HINT
            ) from None

    def add(self, record: Record, message: str, status: int | None = None) -> None:
        line = json.dumps(failure_entry(record, message, status), ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self.count += 1

    def close(self) -> Path | None:
        """Keep the file if anything is in it (or it was the input); else remove it, and
        any stale one from an earlier run that would invite a second, doubling retry."""
        self._file.close()
        if self.count or self._in_place:
            os.replace(self._tmp, self.target)
            return self.target if self.count else None
        self._tmp.unlink()
        if _is_failures_file(self.target):
            self.target.unlink()
        return None


def _is_failures_file(path: Path) -> bool:
    """Does the file look like one this module wrote (its first line carries `_error`)?"""
    try:
        with open(path, encoding="utf-8") as fh:
            first = json.loads(fh.readline())
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and ERROR_KEY in first


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False

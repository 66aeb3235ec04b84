"""Stage 4, account: every record that did not land is written down, as its answer arrives.

- the failures file: records that certainly did not land, as JSON Lines `import` reads back;
- the unknown file: records sent without an answer (a timeout, a 5xx after an event POST),
  which may have landed: never re-sent by the printed retry command;
- the journal: which records were sent and which acknowledged, so that a run killed even by
  `kill -9` can be resumed (`--resume`) without sending twice what landed.

Every file a run writes has a name no other run uses (a time stamp, then -2, -3 ... if
taken), is created exclusively, and is written with plain os.write calls: what was written
is on disk (in the kernel) the moment the call returns, so a killed run loses nothing, and a
write that fails is known to have failed (a full disk) for the record it was for.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engage_cli.bulk import locks
from engage_cli.bulk.jobs import Job, batch_item
from engage_cli.bulk.readers import is_stream
from engage_cli.bulk.records import ERROR_KEY, Record
from engage_cli.endpoints import APIRequest, compact_json
from engage_cli.errors import TemporaryError, UsageError

FAILURES_HINT = "Choose another place with --failures FILE."
UNKNOWN_SUFFIX = ".unknown.jsonl"
JOURNAL_SUFFIX = ".journal"


class LedgerError(Exception):
    """A ledger file could not be written: the record it was for is not saved anywhere."""

    def __init__(self, path: Path, exc: OSError) -> None:
        super().__init__(f"{path}: {exc.strerror or exc}")
        self.path = path
        self.reason = exc.strerror or str(exc)


# --- names -----------------------------------------------------------------------------------


def run_stamp(now: float | None = None) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now))


def failures_plan(job: Job, source_name: str, stamp: str) -> tuple[Path, str, bool]:
    """(failures file, stem for this run's other files, rewritten in place?). A failures file
    being retried is rewritten in place, so it always holds exactly what has not landed."""
    stream = is_stream(source_name)  # no directory of its own: the run's files go in the cwd
    if not stream and source_name.endswith(job.failures_suffix):
        return Path(source_name), source_name[: -len(job.failures_suffix)], True
    stem = job.stdin_stem if stream else source_name
    return Path(f"{stem}.{stamp}{job.failures_suffix}"), f"{stem}.{stamp}", False


def claim(stem: str, suffix: str) -> tuple[Path, int]:
    """Create STEM+SUFFIX, or STEM-2+SUFFIX, -3 ... if taken: (the path, an fd to write)."""
    for n in range(1, 1000):
        candidate = Path(stem + (f"-{n}" if n > 1 else "") + suffix)
        try:
            return candidate, os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, f"no free name like {stem}{suffix}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _json_line(entry: dict[str, Any]) -> bytes:
    """One JSON line; text that is not UTF-8 (a lone surrogate) is kept as a \\u escape."""
    try:
        return (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii")


def failure_entry(record: Record, message: str, status: int | None) -> dict[str, Any]:
    """The input record plus its error: `import` reads it back and drops the error."""
    error = {"message": message, "status": status, "line": record.line}
    if isinstance(record.data, dict):
        return {**record.data, ERROR_KEY: error}
    entry: dict[str, Any] = {ERROR_KEY: error}
    if record.data is not None:
        entry["_record"] = record.data  # what could not be read as a record, kept to fix
    return entry


# --- the failures and unknown files ----------------------------------------------------------


class RecordsFile:
    """Records as JSON Lines, each written whole the moment it is added.

    Three ways to own the target: `claim` creates a fresh name (a default failures file, any
    unknown file) and is created lazily, only when a record comes; `replace` writes a
    temporary file beside the target and moves it over at the end (a file named with
    --failures, or the input itself being retried); a target that is not a regular file (a
    pipe, a device) is written directly.
    """

    def __init__(
        self, target: Path, *, mode: str, keep_empty: bool = False, suffix: str = ""
    ) -> None:
        self.target = target
        self._suffix = suffix  # with `claim`: what a -2, -3 ... goes before
        self._keep_empty = keep_empty  # it replaces the input: emptied, it says all landed
        self.count = 0
        self._mode = mode
        self._fd: int | None = None
        self._tmp: Path | None = None
        self._held: int | None = None  # `replace`: the target, locked against other runs
        self._created = False  # ... created empty to be locked: removed if left so
        self._lock = threading.Lock()
        if target.is_dir():
            raise UsageError(f"The failures file {target} is a directory.", hint=FAILURES_HINT)
        if target.exists() and not target.is_file():
            self._mode = "direct"
        try:
            if self._mode == "replace":
                self._held, self._created = locks.hold(target, "failures file")
                fd, tmp = tempfile.mkstemp(
                    prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
                )
                self._fd, self._tmp = fd, Path(tmp)
            elif self._mode == "direct":
                self._fd = os.open(target, os.O_WRONLY | os.O_APPEND)
            elif not os.access(target.parent, os.W_OK):  # claim: fail now, not at record 1
                raise PermissionError(errno.EACCES, "Permission denied")
        except OSError as exc:
            self._release()
            raise UsageError(
                f"Cannot write the failures file {target}: {exc.strerror}.", hint=FAILURES_HINT
            ) from None

    def add(self, record: Record, message: str, status: int | None = None) -> None:
        """Write the record; LedgerError if it could not be (it is then saved nowhere)."""
        line = _json_line(failure_entry(record, message, status))
        with self._lock:
            try:
                if self._fd is None:
                    stem = str(self.target)[: len(str(self.target)) - len(self._suffix)]
                    self.target, self._fd = claim(stem, self._suffix)
                _write_all(self._fd, line)
            except OSError as exc:
                raise LedgerError(self.target, exc) from None
            self.count += 1

    def close(self) -> Path | None:
        """The file, if anything is in it (or it replaced the input); else it is removed.
        Only this run's own file is ever removed."""
        if self._fd is not None:
            os.close(self._fd)
        if self._mode == "replace" and self._tmp is not None:
            try:
                if self.count or self._keep_empty:
                    os.replace(self._tmp, self.target)
                    return self.target if self.count else None
                self._tmp.unlink()
                if self._created:  # made empty only to be held: nothing is left of it
                    self.target.unlink(missing_ok=True)
                return None
            finally:
                self._release()
        if self._mode == "claim" and self._fd is not None and not self.count:
            self.target.unlink(missing_ok=True)
        return self.target if self.count else None

    def _release(self) -> None:
        if self._held is not None:
            os.close(self._held)
            self._held = None


def open_failures(job: Job, source_name: str, given: Path | None, stamp: str) -> RecordsFile:
    """The failures file of this run: --failures FILE, or a name of its own."""
    target, _, in_place = failures_plan(job, source_name, stamp)
    if given is not None:
        is_input = not is_stream(source_name) and _same_file(given, Path(source_name))
        return RecordsFile(given, mode="replace", keep_empty=is_input)
    return RecordsFile(
        target,
        mode="replace" if in_place else "claim",
        keep_empty=in_place,
        suffix=job.failures_suffix,
    )


def unknown_file(stem: str) -> RecordsFile:
    """Records sent without an answer; created only when the first one comes."""
    return RecordsFile(Path(stem + UNKNOWN_SUFFIX), mode="claim", suffix=UNKNOWN_SUFFIX)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return False


# --- the journal -----------------------------------------------------------------------------


# The journal's format. 2: a record's fingerprint is the CRC-32 of its request encoded as a
# POST /batch item, the very bytes --batch sends (so a batch run encodes each record once).
# 1 (a journal without "format"): of [method, path, body] as sorted JSON; still resumed.
FORMAT = 2

# One encoder for every format-1 fingerprint: json.dumps(..., sort_keys=True) builds a new one
# per call.
_SORTED_JSON = json.JSONEncoder(sort_keys=True)


def fingerprint(request: APIRequest, version: int = FORMAT) -> str:
    """What identifies a record's request, so that a journal is never applied to another
    input: method, path and body, as a journal of that format wrote it."""
    if version == 1:
        text = _SORTED_JSON.encode([request.method, request.path, request.body])
        return mark(text.encode("utf-8", "surrogatepass"))
    return mark(request_bytes(request))


def request_bytes(request: APIRequest) -> bytes:
    """What a format-2 fingerprint is of: the request as a POST /batch item, encoded as
    --batch sends it (the uid in it, and what the method and path mean); [method, path,
    body] for a request without a batch form (a DELETE)."""
    try:
        item: Any = batch_item(request)
    except (ValueError, TypeError):
        item = [request.method, request.path, request.body]
    return compact_json(item).encode("utf-8", "surrogatepass")


def mark(data: bytes) -> str:
    """The fingerprint of a request's bytes (request_bytes, or a --batch item as sent)."""
    return f"{zlib.crc32(data):08x}"


@dataclass
class Resumed:
    """What a killed run's journal says: lines acknowledged, lines sent without an answer."""

    path: Path
    acked: dict[int, str] = field(default_factory=dict)
    sent: dict[int, str] = field(default_factory=dict)
    # The journal, locked while this run resumes it: a second --resume refuses to.
    held: int | None = None
    format: int = FORMAT  # how its fingerprints were taken

    def release(self) -> None:
        if self.held is not None:
            os.close(self.held)
            self.held = None

    def check(self, record: Record, request: APIRequest) -> None:
        """Refuse (UsageError) a record the journal names with another request."""
        self._match(self.sent, record, request)

    def landed(self, record: Record, request: APIRequest) -> bool:
        return self._match(self.acked, record, request)

    def in_flight(self, record: Record, request: APIRequest) -> bool:
        """Sent, and no answer recorded: it may have landed."""
        return record.line not in self.acked and self._match(self.sent, record, request)

    def _match(self, lines: dict[int, str], record: Record, request: APIRequest) -> bool:
        mark = lines.get(record.line)
        if mark is None:
            return False
        if mark != fingerprint(request, self.format):
            raise UsageError(
                f"The journal {self.path} does not match this input: line {record.line} "
                "differs from what that run sent; nothing was sent.",
                hint="Resume with the same input file the killed run read.",
            )
        return True


class Journal:
    """`S LINE FP` before a record is sent, `A LINE` when the API acknowledged it. Held
    under an exclusive lock while the run lives, so `--resume` never picks a live run's."""

    def __init__(self, stem: str, header: dict[str, Any]) -> None:
        path = Path(stem + JOURNAL_SUFFIX)
        try:
            path, self._fd = claim(stem, JOURNAL_SUFFIX)
        except OSError as exc:
            raise _unwritable_journal(path, exc) from None
        self.path = path
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock = threading.Lock()
        try:
            self._write(json.dumps({"format": FORMAT, **header}) + "\n")
        except OSError as exc:  # a full disk, a file size limit: before anything is sent
            self.close(keep=False)
            raise _unwritable_journal(path, exc) from None

    def sent(
        self, records: list[tuple[Record, APIRequest]], encoded: list[bytes] | None = None
    ) -> None:
        """Before sending: each record's line and fingerprint, taken from `encoded` (each
        request's batch item as sent, in the same order) when given."""
        if encoded is None:
            marks = [fingerprint(request) for _, request in records]
        else:
            marks = [mark(data) for data in encoded]
        self._write("".join(f"S {r.line} {m}\n" for (r, _), m in zip(records, marks, strict=True)))

    def acked(self, records: list[Record]) -> None:
        self._write("".join(f"A {r.line}\n" for r in records))

    def close(self, *, keep: bool) -> None:
        os.close(self._fd)
        if not keep:
            self.path.unlink(missing_ok=True)

    def _write(self, text: str) -> None:
        with self._lock:
            _write_all(self._fd, text.encode("ascii"))


def _unwritable_journal(path: Path, exc: OSError) -> TemporaryError:
    return TemporaryError(
        f"Cannot write the journal {path} ({exc.strerror or exc}); nothing was sent.",
        hint="Free some space where the input is (the run's files go beside it), then run again.",
    )


def read_journal(path: Path) -> Resumed:
    """A killed run's journal, held (locked) by this run until `release`: UsageError if it is
    not one, or another live run writes or resumes it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise UsageError(f"Cannot read the journal {path}: {exc.strerror}.") from None
    try:
        locks.try_lock(fd, path)
        with os.fdopen(os.dup(fd), encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
        if not lines or not lines[0].startswith("{"):
            raise UsageError(f"{path} is not a journal of engage.")
        version = _format(path, lines[0])
    except locks.Held as exc:
        os.close(fd)
        raise locks.refusal("journal", exc) from None
    except BaseException:
        os.close(fd)
        raise
    resumed = Resumed(path, held=fd, format=version)
    for text in lines[1:]:
        parts = text.split()
        if len(parts) == 3 and parts[0] == "S" and parts[1].isdigit():
            resumed.sent[int(parts[1])] = parts[2]
        elif len(parts) == 2 and parts[0] == "A" and parts[1].isdigit():
            line = int(parts[1])
            resumed.acked[line] = resumed.sent.get(line, "")
        # anything else: a line cut short by the kill, ignored
    return resumed


def _format(path: Path, header: str) -> int:
    """The format of a journal from its first line (none said: 1); UsageError for one this
    engage cannot read."""
    try:
        fields = json.loads(header)
    except ValueError:
        fields = None
    version = fields.get("format", 1) if isinstance(fields, dict) else None
    if type(version) is not int or version < 1:
        raise UsageError(f"{path} is not a journal of engage.")
    if version > FORMAT:
        raise UsageError(
            f"The journal {path} was written by a newer engage (format {version}); "
            "nothing was sent.",
            hint="Resume it with the engage that wrote it, or upgrade this one.",
        )
    return version


def journal_prefix(job: Job, source_name: str) -> str:
    """What the names of the journals of runs over this input start with: "seed.csv." and
    a stamp (the dot kept, so that seed.csv2's journals are not seed.csv's), or a retried
    failures file's own stem."""
    _, stem, _ = failures_plan(job, source_name, "")
    return stem


def find_journal(job: Job, source_name: str) -> Path:
    """The journal a killed run left for this input: the newest one no live run holds."""
    prefix = Path(journal_prefix(job, source_name))
    found = []
    held: list[locks.Held] = []
    for path in prefix.parent.glob(f"{glob_escape(prefix.name)}*{JOURNAL_SUFFIX}"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            held.append(locks.Held(path, locks.holder(fd)))  # a live run's, or resumed
            continue
        finally:
            os.close(fd)
        found.append(path)
    if not found and held:
        raise locks.refusal("journal", held[0])
    if not found:
        raise UsageError(
            f"--resume: no journal of a killed run over {source_name} "
            f"(looked for {prefix}*{JOURNAL_SUFFIX}).",
            hint="A run that ended, even by Ctrl-C, leaves a failures file instead: "
            "feed that one back.",
        )
    return max(found, key=lambda p: p.stat().st_mtime)


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)

"""Bulk runs: read records from CSV, JSON Lines or JSON, validate every one, send them
concurrently, and account for each one: it landed, or it is in the failures file.

Records stream from the input (memory stays flat on any size), carry their line number, and
are validated in a first pass before anything is sent (or, with `stream`, as they go). The
commands in `engage_cli/commands/bulk.py` are thin adapters over this module.
"""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Protocol

from engage_cli import endpoints, models
from engage_cli.endpoints import APIRequest
from engage_cli.errors import ConfigError, EngageError, Interrupted, UsageError
from engage_cli.inputs import parse_scalar
from engage_cli.strict import DECODER, loads_json

# Every tunable number of a bulk run.
DEFAULT_CONCURRENCY = 8
READ_AHEAD_PER_WORKER = 2  # records queued per worker: keeps workers busy, memory bounded
CHUNK_CHARS = 64 * 1024  # how much of a JSON document is decoded at a time
MAX_PROBLEMS_SHOWN = 20  # invalid records listed in the error; the rest are counted

STDIN = "-"
ERROR_KEY = "_error"  # what a failures file adds to each record; readers drop it
FAILURES_SUFFIX = ".failed.jsonl"
EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
    ".json": "json",
}


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One input record: what was read (a dict unless the input was broken), where it
    started, and any problem found while reading it (a bad `:=` cell, broken JSON)."""

    line: int
    data: Any
    problems: tuple[str, ...] = ()


def record_from_json(line: int, value: Any) -> Record:
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else f"{json.dumps(value)[:40]}"
        return Record(line, value, (f"expected a JSON object, got {kind}",))
    return Record(line, {k: v for k, v in value.items() if k != ERROR_KEY})


# --- CSV -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvSchema:
    """How CSV columns map to a record: `fields` are top-level keys; other columns go into
    the `nested` object (`meta`, `properties`), or are dropped when `nested` is None."""

    label: str
    fields: frozenset[str]
    nested: str | None
    split: frozenset[str] = frozenset()  # cells of ids separated by `;`
    scalar: frozenset[str] = frozenset()  # cells read like `events add --value`
    ignored: frozenset[str] = frozenset()  # server-owned columns of an export


# What the API computes and an export carries, but no request may send: dropped on import.
SERVER_FIELDS = frozenset(
    {"devices", "segments", "uid_updateable", "accounts", "is_account", "archived"}
    | {"last_interaction"}
)
INTERNAL_ID = re.compile(r"[0-9a-f]{24}")  # Engage's own user id, as exports carry it

USER_CSV = CsvSchema(
    "user",
    frozenset({"id", "uid", "first_name", "last_name", "email", "number", "created_at", "lists"}),
    "meta",
    split=frozenset({"lists"}),
    ignored=SERVER_FIELDS,
)
EVENT_CSV = CsvSchema(
    "event",
    frozenset({"uid", "event", "value", "timestamp"}),
    "properties",
    scalar=frozenset({"value"}),
)
UID_CSV = CsvSchema("user", frozenset({"uid", "id"}), None)


@dataclass(frozen=True)
class Column:
    name: str  # the header as written, for messages
    path: tuple[str, ...]  # () = ignored, ("email",), ("meta", "age")
    kind: str  # text | json | list | scalar

    def parse(self, cell: str) -> Any:
        if self.kind == "json":
            try:
                return loads_json(cell)
            except ValueError:
                raise ValueError(f"{cell!r} is not a JSON literal") from None
        if self.kind == "list":
            return [part.strip() for part in cell.split(";") if part.strip()]
        if self.kind == "scalar":
            try:
                return parse_scalar(cell)
            except EngageError:  # null: an empty cell is how to send no value
                raise ValueError(f"{cell!r} cannot be a value; leave the cell empty") from None
        return cell


def csv_columns(
    header: list[str], schema: CsvSchema, warn: Callable[[str], None], where: str
) -> list[Column]:
    """Read the header row: known fields, `NESTED.NAME` columns, `:=` for JSON cells."""
    columns: list[Column] = []
    unknown: list[str] = []
    for position, raw in enumerate(header, 1):
        name = raw.strip()
        typed = name.endswith(":=")
        key = name[:-2] if typed else name
        if not key:
            raise UsageError(f"{where}: column {position} of the header has no name.")
        path = _column_path(key, schema, unknown, name)
        if path and path[-1] == "":
            raise UsageError(f"{where}: column {name!r} names no {schema.nested} key.")
        kind = "json" if typed else "text"
        if not typed and key in schema.split:
            kind = "list"
        elif not typed and key in schema.scalar:
            kind = "scalar"
        columns.append(Column(name, path, kind))
    seen: set[tuple[str, ...]] = set()
    for column in columns:
        if column.path and column.path in seen:
            raise UsageError(f"{where}: the header names {'.'.join(column.path)} twice.")
        seen.add(column.path)
    if unknown:
        warn(
            f"{where}: {', '.join(unknown)} {'is not a' if len(unknown) == 1 else 'are not'} "
            f"{schema.label} field{'' if len(unknown) == 1 else 's'}; "
            f"{'it goes' if len(unknown) == 1 else 'they go'} into {schema.nested} as text "
            f"(name the column {schema.nested}.NAME to say so, or NAME:= for JSON values)."
        )
    return columns


def _column_path(key: str, schema: CsvSchema, unknown: list[str], name: str) -> tuple[str, ...]:
    if key == ERROR_KEY or key in schema.ignored:
        return ()  # a failures file's error, or what only the server sets: not data
    if schema.nested is None:
        return (key,) if key in schema.fields else ()
    prefix = schema.nested + "."
    if key.startswith(prefix):
        return (schema.nested, key[len(prefix) :])
    if key in schema.fields or key == schema.nested:
        return (key,)
    unknown.append(name)
    return (schema.nested, key)


def csv_record(columns: list[Column], cells: list[str], line: int) -> Record:
    """One row as a record. An empty cell means the field was not given."""
    data: dict[str, Any] = {}
    problems: list[str] = []
    if len(cells) > len(columns):
        problems.append(f"{len(cells)} cells, but the header has {len(columns)} columns")
    for column, cell in zip(columns, cells, strict=False):  # short rows: the rest not given
        if cell == "" or not column.path:
            continue
        try:
            value = column.parse(cell)
        except ValueError as exc:
            problems.append(f"{column.name}: {exc}")
            continue
        if len(column.path) == 1:
            data[column.path[0]] = value
            continue
        nested = data.setdefault(column.path[0], {})
        if not isinstance(nested, dict):
            problems.append(f"{column.name}: {column.path[0]} is not an object")
            continue
        nested[column.path[1]] = value
    return Record(line, data, tuple(problems))


def read_csv(text: TextInput, schema: CsvSchema, warn: Callable[[str], None]) -> Iterator[Record]:
    reader = csv.reader(text.lines())
    columns: list[Column] | None = None
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num  # a quoted cell may span lines
            if not any(cells):
                continue  # blank lines, and the `,,,` rows spreadsheets leave at the end
            if columns is None:
                columns = csv_columns(cells, schema, warn, f"{text.name}, line {start}")
                continue
            yield csv_record(columns, cells, start)
    except csv.Error as exc:
        raise UsageError(f"{text.name}, line {reader.line_num}: not valid CSV ({exc}).") from None


# --- JSON Lines and JSON -------------------------------------------------------------------


def read_jsonl(text: TextInput, schema: CsvSchema, warn: Callable[[str], None]) -> Iterator[Record]:
    for number, line in enumerate(text.lines(), 1):
        if not line.strip():
            continue
        try:
            value = loads_json(line)
        except ValueError as exc:
            yield Record(number, line.rstrip("\r\n"), (f"not valid JSON ({exc})",))
            continue
        yield record_from_json(number, value)


_NOT_SPACE = re.compile(r"[^ \t\r\n]")


class JsonStream:
    """Decodes JSON values one at a time from a text stream, holding only the value being
    decoded in memory (json.load would hold the whole document), and knowing its line."""

    def __init__(self, read: Callable[[int], str]) -> None:
        self._read = read
        self._buf = ""
        self._pos = 0
        self._line = 1  # the line at `_counted`
        self._counted = 0
        self._eof = False
        self._decoder = DECODER

    def line(self) -> int:
        self._line += self._buf.count("\n", self._counted, self._pos)
        self._counted = self._pos
        return self._line

    def peek(self) -> str:
        """The next character that is not white space, or '' at the end."""
        while True:
            found = _NOT_SPACE.search(self._buf, self._pos)
            if found:
                self._pos = found.start()
                return self._buf[self._pos]
            self._pos = len(self._buf)
            if not self._more(CHUNK_CHARS):
                return ""

    def skip(self) -> None:
        self._pos += 1

    def value(self) -> Any:
        """Decode the value at the cursor, reading more of the stream until it is whole."""
        size = CHUNK_CHARS
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._more(size):
                    size = max(size, len(self._buf))  # grow geometrically: linear, not n**2
                    continue
                line = self.line() + self._buf.count("\n", self._pos, exc.pos)
                raise MalformedJSON(line, exc.msg) from None
            except ValueError as exc:  # NaN / Infinity
                raise MalformedJSON(self.line(), str(exc)) from None
            # A number that ends the buffer may go on in the next chunk.
            partial = end == len(self._buf) and not isinstance(value, (dict, list, str))
            if partial and self._more(size):
                continue
            self._pos = end
            return value

    def _more(self, size: int) -> bool:
        if self._eof:
            return False
        self.line()
        self._buf = self._buf[self._pos :]
        self._pos = self._counted = 0
        chunk = self._read(size)
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True


class MalformedJSON(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def read_json(text: TextInput, schema: CsvSchema, warn: Callable[[str], None]) -> Iterator[Record]:
    """A JSON array of records, streamed; also one object, or objects one after another."""
    stream = JsonStream(text.read)
    try:
        yield from _json_values(stream)
    except MalformedJSON as exc:
        # Past a syntax error nothing can be trusted: say where, and read no further.
        yield Record(
            exc.line, None, (f"not valid JSON ({exc.message}); nothing after it was read",)
        )


def _json_values(stream: JsonStream) -> Iterator[Record]:
    first = stream.peek()
    if first != "[":
        while stream.peek():
            line = stream.line()
            yield record_from_json(line, stream.value())
        return
    stream.skip()
    if stream.peek() == "]":
        stream.skip()
    else:
        while True:
            if not stream.peek():
                raise MalformedJSON(stream.line(), "the array is not closed")
            line = stream.line()
            yield record_from_json(line, stream.value())
            after = stream.peek()
            if not after:
                raise MalformedJSON(stream.line(), "the array is not closed")
            stream.skip()
            if after == "]":
                break
            if after != ",":
                raise MalformedJSON(stream.line(), f"expected ',' or ']', found {after!r}")
    if stream.peek():
        raise MalformedJSON(stream.line(), "more content after the array")


READERS = {"csv": read_csv, "jsonl": read_jsonl, "json": read_json}


# --- sources ---------------------------------------------------------------------------------


class TextInput:
    """A text stream whose first characters can be peeked to sniff the format; a leading
    byte order mark is dropped whatever the stream's encoding."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.name = name
        self._stream = stream
        self._head = ""

    def first_char(self) -> str:
        """The first character that is not white space ('' for an empty input)."""
        while True:
            char = self._stream.read(1)
            if not char:
                return ""
            if char == "\ufeff" and not self._head:
                continue
            self._head += char
            if not char.isspace():
                return char

    def read(self, size: int) -> str:
        head, self._head = self._head, ""
        if len(head) >= size > 0:
            return head
        return head + self._stream.read(size - len(head) if size > 0 else -1)

    def lines(self) -> Iterator[str]:
        head, self._head = self._head, ""
        if head:
            if not head.endswith(("\n", "\r")):
                head += self._stream.readline()
            yield from io.StringIO(head, newline="")
        yield from self._stream


@dataclass
class Source:
    """Where records come from: a file (read once per pass), or stdin read once."""

    name: str  # as the user gave it; "-" for stdin
    declared_format: str | None = None
    path: Path | None = None  # a file, or stdin spooled to a temporary file
    stdin: IO[str] | None = None  # stdin read as it comes (one pass)

    @property
    def is_stdin(self) -> bool:
        return self.name == STDIN

    @property
    def label(self) -> str:
        return "stdin" if self.is_stdin else self.name

    @contextmanager
    def open(self) -> Iterator[TextInput]:
        if self.path is not None:
            with open(self.path, encoding="utf-8-sig", newline="") as fh:
                yield TextInput(fh, self.label)
        elif self.stdin is not None:
            yield TextInput(self.stdin, self.label)
            self.stdin = None  # consumed: a second pass would silently read nothing
        else:
            raise RuntimeError("stdin can be read only once; spool it first")


def format_for(name: str, declared: str | None, first_char: str) -> str:
    """`--format` if given, else the file's extension, else sniffed from the content."""
    if declared:
        return declared
    if name != STDIN:
        fmt = EXTENSIONS.get(Path(name).suffix.lower())
        if fmt:
            return fmt
    if first_char == "[":
        return "json"
    if first_char == "{":
        return "jsonl"
    return "csv"


@contextmanager
def open_source(
    name: str, declared_format: str | None, stdin: IO[str], *, passes: int
) -> Iterator[Source]:
    """The input as a Source; stdin read twice is spooled to a temporary file first, so a
    huge stdin never sits in memory."""
    if name != STDIN:
        path = Path(name)
        if not path.is_file():
            problem = "no such file" if not path.exists() else "not a file"
            raise UsageError(f"Cannot read {name}: {problem}.")
        yield Source(name, declared_format, path=path)
        return
    text = _stdin_text(stdin)
    if passes < 2:
        yield Source(name, declared_format, stdin=text)
        return
    with tempfile.TemporaryDirectory(prefix="engage-bulk-") as tmp:
        spooled = Path(tmp) / "stdin"
        with open(spooled, "w", encoding="utf-8", newline="") as out:
            shutil.copyfileobj(text, out, CHUNK_CHARS)
        yield Source(name, declared_format, path=spooled)


def _stdin_text(stdin: IO[str]) -> IO[str]:
    # The bytes, decoded as UTF-8 whatever the locale says, line endings untouched.
    buffer = getattr(stdin, "buffer", None)
    if buffer is None:
        return stdin
    return io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="")


def read_records(
    source: Source, schema: CsvSchema, warn: Callable[[str], None] = lambda _: None
) -> Iterator[Record]:
    """Every record of the source, in order, each with its line number."""
    with source.open() as text:
        try:
            fmt = format_for(source.name, source.declared_format, text.first_char())
            yield from READERS[fmt](text, schema, warn)
        except UnicodeDecodeError:
            raise UsageError(
                f"{source.label} is not UTF-8 text.",
                hint="Save it as UTF-8 (with or without a byte order mark).",
            ) from None


# --- jobs: what each command sends for a record ----------------------------------------------


@dataclass(frozen=True)
class Job:
    """What a bulk command does with each record."""

    command: str  # "users import": the summary and messages name it
    schema: CsvSchema
    build: Callable[[dict[str, Any]], APIRequest]  # raises UsageError or ValueError
    sends: str  # "PUT /users/{uid}", for the dry-run summary
    resume: str  # the arguments that retry a failures file, "{file}" in them
    failures_suffix: str = FAILURES_SUFFIX  # delete's own, so a teardown keeps the import's
    stdin_failures: str = "engage-import.failed.jsonl"  # in the cwd, for input from stdin
    done_statuses: frozenset[int] = frozenset()  # errors that still mean done (404 on delete)
    dedupe: bool = False  # send each distinct request once


def _key(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"{name}: {'is required' if value is None else 'must be a non-empty string'}"
        )
    return value


def _user_key(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The user's id in your application (`id`, or `uid` as exports call it), and the rest.

    A user object exported by `users list` has both: `uid` is the application's id and `id`
    Engage's internal one, so such a record imports as it was exported."""
    given = [name for name in ("id", "uid") if name in data]
    if not given:
        raise ValueError("id: is required (the user's id in your application)")
    if len(given) == 2 and data["id"] != data["uid"]:
        if not INTERNAL_ID.fullmatch(str(data["id"])):
            raise ValueError("id and uid differ: give one of them")
        given = ["uid"]
    key = _key(data, given[0])
    # null is how an export says "not set": not given, as an empty CSV cell is.
    rest = {
        k: v
        for k, v in data.items()
        if k not in ("id", "uid") and k not in SERVER_FIELDS and v is not None
    }
    lists = rest.get("lists")
    if isinstance(lists, list) and all(isinstance(x, dict) and "id" in x for x in lists):
        rest["lists"] = [x["id"] for x in lists]  # the object form an export carries
    if rest.get("lists") == []:
        del rest["lists"]
    return key, rest


def build_user_create(data: dict[str, Any]) -> APIRequest:
    key, rest = _user_key(data)
    return endpoints.create_user(models.validate(models.UserCreate, {"id": key, **rest}))


def build_user_upsert(data: dict[str, Any]) -> APIRequest:
    key, rest = _user_key(data)
    if "lists" in rest:
        raise UsageError(
            "lists: only create mode subscribes users to lists (PUT /users/{uid} takes none)",
            hint="Use --mode create to send lists (POST /users; the users must not exist yet).",
        )
    return endpoints.update_user(key, models.validate(models.UserUpdate, rest))


def build_event(data: dict[str, Any]) -> APIRequest:
    uid = _key(data, "uid")
    body = {k: v for k, v in data.items() if k != "uid"}
    return endpoints.add_event(uid, models.validate(models.EventCreate, body))


def build_user_delete(data: dict[str, Any]) -> APIRequest:
    # An export from `users list` has both: uid is the application's id, id the internal one.
    return endpoints.delete_user(_key(data, "uid" if "uid" in data else "id"))


def users_import_job(mode: str) -> Job:
    create = mode == "create"
    return Job(
        command="users import",
        schema=USER_CSV,
        build=build_user_create if create else build_user_upsert,
        sends="POST /users" if create else "PUT /users/{uid}",
        resume="users import {file}" + (" --mode create" if create else ""),
    )


EVENTS_IMPORT = Job(
    command="events import",
    schema=EVENT_CSV,
    build=build_event,
    sends="POST /users/{uid}/events",
    resume="events import {file}",
)
USERS_DELETE = Job(
    command="users delete",
    schema=UID_CSV,
    build=build_user_delete,
    sends="DELETE /users/{uid}",
    resume="users delete --from {file} --yes",
    failures_suffix=".delete-failed.jsonl",
    stdin_failures="engage-delete.failed.jsonl",
    done_statuses=frozenset({404}),  # already gone is what a teardown wants
    dedupe=True,  # an events file names a user many times
)


class InvalidRecord(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def prepare(job: Job, record: Record) -> APIRequest:
    """The request for a record, or InvalidRecord saying what is wrong, with the line."""
    where = f"line {record.line}"
    if record.problems:
        raise InvalidRecord(f"{where}: " + "; ".join(record.problems) + ".")
    if not isinstance(record.data, dict):
        raise InvalidRecord(f"{where}: expected a JSON object.")
    try:
        return job.build(record.data)
    except UsageError as exc:
        message = exc.message if exc.message.endswith(".") else exc.message + "."
        raise InvalidRecord(f"{where}: {message}", exc.hint) from None
    except ValueError as exc:
        raise InvalidRecord(f"{where}: invalid {job.schema.label}: {exc}.") from None


# --- the validation pass ---------------------------------------------------------------------


@dataclass
class Checked:
    """What the validation pass found."""

    read: int = 0
    valid: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)  # the first few, for the error
    hint: str | None = None
    # The request whose credentials the run needs: the first needing the secret, if any.
    sample: APIRequest | None = None

    @property
    def invalid(self) -> int:
        return self.read - self.valid - self.duplicates

    def error(self, source: str) -> UsageError:
        shown = "\n".join(f"  {line}" for line in self.problems)
        more = self.invalid - len(self.problems)
        if more > 0:
            shown += f"\n  ... and {more} more"
        return UsageError(
            f"{self.invalid} of {self.read} records in {source} are invalid; nothing was sent:"
            f"\n{shown}",
            hint=self.hint or "Fix them and run again; --dry-run checks a file without sending.",
        )


def check_all(
    records: Iterable[Record],
    job: Job,
    on_valid: Callable[[APIRequest], None] | None = None,
) -> Checked:
    """Validate every record; keep the first problems, count the rest."""
    checked = Checked()
    seen: set[str] = set()
    for record in records:
        checked.read += 1
        try:
            request = prepare(job, record)
        except InvalidRecord as exc:
            if len(checked.problems) < MAX_PROBLEMS_SHOWN:
                checked.problems.append(exc.message)
            checked.hint = checked.hint or exc.hint
            continue
        if job.dedupe:
            if request.path in seen:
                checked.duplicates += 1
                continue
            seen.add(request.path)
        checked.valid += 1
        if checked.sample is None or (request.needs_secret and not checked.sample.needs_secret):
            checked.sample = request
        if on_valid is not None:
            on_valid(request)
    return checked


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


# --- sending ---------------------------------------------------------------------------------


class Sender(Protocol):
    def send(self, request: APIRequest) -> Any: ...


@dataclass
class Tally:
    """Where every record went: read = invalid + duplicates + ok + failed + not_sent."""

    read: int = 0
    invalid: int = 0
    duplicates: int = 0
    sent: int = 0
    ok: int = 0
    failed: int = 0
    not_sent: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.ok + self.failed

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.sent / elapsed if elapsed > 0 else 0.0


class Pacer:
    """At most `rate` requests a second across all workers; waiting gives way to `stop`."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1 / rate if rate else 0.0
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Wait for this request's slot; False if stopped meanwhile."""
        if not self._interval:
            return not stop.is_set()
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        return not stop.wait(slot - now) if slot > now else not stop.is_set()


Progress = Callable[[Tally], None]


def stoppable_sleep(stop: threading.Event) -> Callable[[float], None]:
    """The client's wait between retries, cut short by a stop: a stopped run sends no
    retry, and the request counts as not landed (so it goes to the failures file)."""

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Interrupted("Stopped while waiting to retry; not sent again.")

    return sleep


class Runner:
    """Sends records with `concurrency` threads sharing one client (so a 429's Retry-After
    pauses the whole pool), reading ahead only a few records per thread."""

    def __init__(
        self,
        job: Job,
        client: Sender,
        failures: FailuresFile,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate: float | None = None,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.job = job
        self.client = client
        self.failures = failures
        self.concurrency = concurrency
        self.tally = Tally()
        self.stop = stop or threading.Event()
        self.fatal: EngageError | None = None
        self._pacer = Pacer(rate)
        self._progress = progress
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Record, APIRequest] | None] = queue.Queue(
            maxsize=concurrency * READ_AHEAD_PER_WORKER
        )

    def run(self, records: Iterable[Record], *, drain: bool = True) -> Tally:
        """Send every record. Once stopped (Ctrl-C, or a credentials failure), the records
        not sent go to the failures file; with `drain`, so does the rest of the input."""
        workers = [
            threading.Thread(target=self._work, name=f"bulk-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for worker in workers:
            worker.start()
        seen: set[str] = set()
        try:
            for record in records:
                if self.stop.is_set():
                    if not drain:
                        break
                    self._count("read")
                    self._not_sent(record)
                    continue
                self._count("read")
                request = self._prepare(record, seen)
                if request is not None:
                    self._queue.put((record, request))
        except KeyboardInterrupt:  # only off the main thread, where no handler is installed
            self.stop.set()
        finally:
            for _ in workers:
                self._queue.put(None)
            for worker in workers:
                worker.join()
        return self.tally

    def _prepare(self, record: Record, seen: set[str]) -> APIRequest | None:
        try:
            request = prepare(self.job, record)
        except InvalidRecord as exc:  # only with --stream: the validation pass ran as we go
            self.failures.add(record, exc.message)
            self._count("invalid")
            return None
        if self.job.dedupe:
            if request.path in seen:
                self._count("duplicates")
                return None
            seen.add(request.path)
        return request

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            record, request = item
            if self.stop.is_set() or not self._pacer.wait(self.stop):
                self._not_sent(record)
                continue
            self._send(record, request)

    def _send(self, record: Record, request: APIRequest) -> None:
        self._count("sent")
        try:
            self.client.send(request)
        except EngageError as err:
            if err.status in self.job.done_statuses:
                self._count("ok")
                return
            self.failures.add(record, err.message, err.status)
            self._count("failed")
            if isinstance(err, ConfigError):  # every other request would fail the same way
                self.fatal = self.fatal or err
                self.stop.set()
        except Exception as exc:  # a bug must not lose the record or stall the pool
            self.failures.add(record, f"Unexpected failure: {type(exc).__name__}: {exc}")
            self._count("failed")
        else:
            self._count("ok")

    def _not_sent(self, record: Record) -> None:
        self.failures.add(record, "not sent: the run was stopped before this record")
        self._count("not_sent")

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.tally, name, getattr(self.tally, name) + 1)
            if self._progress is not None and name in ("ok", "failed"):
                self._progress(self.tally)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and a CI job being cancelled


@contextmanager
def stop_on_interrupt(stop: threading.Event, say: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) sets `stop` instead of raising, so no record is caught half-way
    between the reader and the queue; requests in flight finish and are counted."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers live on the main thread; Runner catches KeyboardInterrupt
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            say()
        stop.set()

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, restore in previous.items():
            signal.signal(signum, restore)


# --- the report ------------------------------------------------------------------------------


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
        )
        self._task = self._progress.add_task(label, total=total, failed=0, rate=0.0)
        self._progress.start()

    def update(self, tally: Tally) -> None:
        self._progress.update(
            self._task, completed=tally.done, failed=tally.failed, rate=tally.rate()
        )

    def close(self) -> None:
        self._progress.stop()

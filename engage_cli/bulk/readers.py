"""Stage 1, read: records stream from CSV, JSON Lines or JSON (memory stays flat on any
size), each carrying its line number and any problem found while reading it."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from engage_cli.errors import EngageError, UsageError
from engage_cli.inputs import parse_scalar
from engage_cli.strict import NestingGuard, loads_json

CHUNK_CHARS = 64 * 1024  # how much of a JSON document is decoded at a time
STDIN = "-"
ERROR_KEY = "_error"  # what a failures file adds to each record; readers drop it
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


MAX_DEPTH = 32  # objects and arrays inside a record; no Engage field nests deeper than 2
# The characters one record may take, whatever the format: a CSV row or JSON Lines line, a
# record of a JSON document. As Python's csv module caps a cell (131,072); no request the API
# takes is larger (a whole batch is under 100 KB).
MAX_RECORD_CHARS = 131_072
TOO_LARGE = f"larger than {MAX_RECORD_CHARS:,} characters, the most a record may take"


def record_from_json(
    line: int, value: Any, problems: tuple[str, ...] = (), text: str | None = None
) -> Record:
    """`text`, the JSON the value was decoded from, spares the walk of a record it shows has
    no problem (most of them: the walk was a fifth of reading a JSON Lines file)."""
    if text is None or not plainly_sound(text):
        problems += data_problems(value)
    if problems:
        return Record(line, value if isinstance(value, dict) else None, problems)
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else f"{json.dumps(value)[:40]}"
        return Record(line, value, (f"expected a JSON object, got {kind}",))
    return Record(line, {k: v for k, v in value.items() if k != ERROR_KEY})


def data_problems(value: Any) -> tuple[str, ...]:
    """What no request can carry: nesting deeper than MAX_DEPTH, text that is not text (bytes
    that were not UTF-8, a lone surrogate). Walked without recursion, so depth cannot crash it."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                return (f"nested more than {MAX_DEPTH} levels deep",)
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(key, str) and not _is_text(key):
                    return (f"the key {_shown(key)} is not UTF-8 text",)
                stack.append((child, depth + 1))
        elif isinstance(item, str) and not _is_text(item):
            return (f"{_shown(item)} is not UTF-8 text",)
    return ()


def plainly_sound(text: str) -> bool:
    """Whether JSON text can decode to nothing data_problems refuses: fewer containers than
    MAX_DEPTH (so none nests that deep), UTF-8 text itself, and no \\u escape that could be a
    lone surrogate (\\uD800-\\uDFFF all start \\uD). False only means: walk the value."""
    containers = text.count("{") + text.count("[")
    return containers < MAX_DEPTH and "\\ud" not in text and "\\uD" not in text and _is_text(text)


def _is_text(value: str) -> bool:
    if value.isascii():  # most text, and checked without encoding a copy
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: str) -> str:
    """A string with what is not text escaped: a byte that was not UTF-8 as \\xNN, a lone
    surrogate as \\uNNNN."""
    chars = []
    for char in value[:60]:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for an undecodable byte
            chars.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            chars.append(f"\\u{code:04x}")
        else:
            chars.append(char)
    return repr("".join(chars))


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
    | {"last_interaction", "member_count", "stats"}
)

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
            except RecursionError:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
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
    return Record(line, data, (*problems, *data_problems(data)))


def read_csv(text: TextInput, schema: CsvSchema, warn: Callable[[str], None]) -> Iterator[Record]:
    # strict: a quote never closed is an error, not the rest of the file read as one cell.
    reader = csv.reader(_csv_lines(text), strict=True)
    columns: list[Column] | None = None
    start = end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num  # a quoted cell may span lines
            if not any(cells):
                continue  # blank lines, and the `,,,` rows spreadsheets leave at the end
            if columns is None:
                columns = csv_columns(cells, schema, warn, f"{text.name}, line {start}")
                continue
            record = csv_record(columns, cells, start)
            if sum(map(len, cells)) > MAX_RECORD_CHARS:
                record = Record(start, None, (TOO_LARGE,))
            yield record
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise UsageError(
                f"{text.name}, line {end + 1}: a quoted cell is never closed (not valid CSV); "
                "nothing was sent.",
                hint='Close the quote; a quote inside a quoted cell is written "".',
            ) from None
        raise UsageError(f"{text.name}, line {reader.line_num}: not valid CSV ({exc}).") from None


def _csv_lines(text: TextInput) -> Iterator[str]:
    for number, line in enumerate(text.bounded_lines(MAX_RECORD_CHARS), 1):
        if line is None:  # a CSV record spans lines, so no record can be cut out of it
            raise UsageError(f"{text.name}, line {number}: {TOO_LARGE}; nothing was sent.")
        yield line


# --- JSON Lines and JSON -------------------------------------------------------------------


def read_jsonl(text: TextInput, schema: CsvSchema, warn: Callable[[str], None]) -> Iterator[Record]:
    for number, line in enumerate(text.bounded_lines(MAX_RECORD_CHARS), 1):
        if line is None:
            yield Record(number, None, (TOO_LARGE,))
            continue
        if not line.strip():
            continue
        try:
            value = loads_json(line)
        except RecursionError:
            yield Record(number, None, (f"nested more than {MAX_DEPTH} levels deep",))
            continue
        except ValueError as exc:
            yield Record(number, line.rstrip("\r\n"), (f"not valid JSON ({exc})",))
            continue
        yield record_from_json(number, value, text=line)


def read_json(text: TextInput, schema: CsvSchema, warn: Callable[[str], None]) -> Iterator[Record]:
    """A JSON array of records, streamed by ijson (only the record being built is in memory);
    also one object, or objects one after another. Past a syntax error nothing can be
    trusted: it is the last record, saying where, and nothing after it is read."""
    import ijson  # type: ignore[import-untyped]  # its C backend, imported for JSON only
    from ijson.utils import sendable_list  # type: ignore[import-untyped]

    built: Any = sendable_list()
    first = text.first_char()
    if not first:
        return
    if first == "[":
        parser = ijson.items_coro(built, "item", use_float=True)
    else:
        parser = ijson.items_coro(built, "", use_float=True, multiple_values=True)
    lines = _LineCounter()
    lone: tuple[str, ...] = ()  # a lone surrogate escape, which yajl would turn into "?"
    nesting = NestingGuard(MAX_DEPTH + (first == "["))  # the array holding the records
    unfinished = 0  # characters of the record being built
    try:
        for piece, ends_line in _pieces(text):
            unfinished += len(piece)
            too_deep = not nesting.feed(piece)
            if too_deep or unfinished > MAX_RECORD_CHARS + CHUNK_CHARS:
                # Stopped before the parser builds it; what follows cannot be trusted.
                problem = f"nested more than {MAX_DEPTH} levels deep" if too_deep else TOO_LARGE
                yield Record(lines.current, None, (f"{problem}; nothing after it was read",))
                return
            if "\\u" in piece and _LONE_SURROGATE.search(piece):
                lone = (f"line {lines.current} holds a lone surrogate escape, which is not text",)
            parser.send(piece.encode("utf-8", "surrogateescape"))
            for value in built:
                yield _sized(lines.start(), value, lone, unfinished)
                lone = ()
            lines.fed(piece, ends_line, completed=bool(built))
            if built:  # the next record may have started anywhere in this piece
                unfinished = len(piece)
            del built[:]
        parser.close()
        for value in built:
            yield _sized(lines.start(), value, (), unfinished)
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        for value in built:  # what was whole before the error
            yield _sized(lines.start(), value, (), unfinished)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if lone:  # yajl turns a lone low surrogate into bytes that then cannot be decoded
            message = lone[0]
        yield Record(
            lines.current, None, (f"not valid JSON ({message}); nothing after it was read",)
        )


def _sized(line: int, value: Any, problems: tuple[str, ...], fed: int) -> Record:
    """A record of a JSON document, refused if larger than a record may be: measured only
    when the characters fed since the last record ended (`fed`) could hold one that large."""
    if fed > MAX_RECORD_CHARS and len(json.dumps(value, ensure_ascii=False)) > MAX_RECORD_CHARS:
        return Record(line, None, (TOO_LARGE,))
    return record_from_json(line, value, problems)


_LONE_SURROGATE = re.compile(
    r"(?<!\\)\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    r"|(?<![0-9a-fA-F]{2})(?<!\\u[dD][89abAB])(?<!\\)\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _pieces(text: TextInput) -> Iterator[tuple[str, bool]]:
    """The input in pieces of at most a chunk, cut after each newline, so that what a piece
    completes is known to end on its line; a long line comes in several pieces."""
    while True:
        chunk = text.read(CHUNK_CHARS)
        if not chunk:
            return
        start = 0
        while True:
            end = chunk.find("\n", start)
            if end < 0:
                if start < len(chunk):
                    yield chunk[start:], False
                break
            yield chunk[start : end + 1], True
            start = end + 1


class _LineCounter:
    """Which line a record starts on: the first line since the last record ended that holds
    more than array punctuation, or the line it ended on."""

    def __init__(self) -> None:
        self.current = 1
        self._pending: int | None = None

    def start(self) -> int:
        line = self._pending if self._pending is not None else self.current
        self._pending = None
        return line

    def fed(self, piece: str, ends_line: bool, *, completed: bool) -> None:
        if not completed and self._pending is None and piece.strip(" \t\r\n,[]"):
            self._pending = self.current
        if ends_line:
            self.current += 1


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
        if self._head.strip():
            return self._head.strip()[0]
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

    def bounded_lines(self, limit: int) -> Iterator[str | None]:
        """Each line, or None for a line longer than `limit`, skipped without being held:
        memory stays bounded whatever the input."""
        head, self._head = self._head, ""
        while True:
            line = head + self._stream.readline(limit + 1 - len(head)) if head else ""
            line = line or self._stream.readline(limit + 1)
            head = ""
            if not line:
                return
            if len(line) <= limit or line.endswith(("\n", "\r")):
                yield line
                continue
            while True:  # the rest of the long line, read and dropped
                rest = self._stream.readline(CHUNK_CHARS)
                if not rest or rest.endswith(("\n", "\r")):
                    break
            yield None

    def lines(self) -> Iterator[str]:
        head, self._head = self._head, ""
        if head:
            if not head.endswith(("\n", "\r")):
                head += self._stream.readline()
            yield from io.StringIO(head, newline="")
        yield from self._stream


def is_stream(name: str) -> bool:
    """Whether the input can be read only once: stdin ("-"), or a path that is a pipe, a
    FIFO, a terminal or another device (`/dev/stdin`, `<(...)`), not a regular file.
    Such an input is read as stdin is: spooled when it is read twice, and the run's own
    files go to the current directory (not beside it, in /dev or /proc)."""
    if name == STDIN:
        return True
    try:
        mode = os.stat(name).st_mode
    except (OSError, ValueError):
        return False  # opening it will say what is wrong
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@dataclass
class Source:
    """Where records come from: a file (read once per pass), or a stream read once."""

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
            with open(self.path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
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
    """The input as a Source; a stream (stdin, /dev/stdin, a FIFO) read twice is spooled
    to a temporary file first, so a huge stdin never sits in memory."""
    if not is_stream(name):
        path = Path(name)
        if not path.is_file():
            problem = "no such file" if not path.exists() else "not a file"
            raise UsageError(f"Cannot read {name}: {problem}.")
        yield Source(name, declared_format, path=path)
        return
    with _open_stream(name, stdin) as text:
        if passes < 2:
            yield Source(name, declared_format, stdin=text)
            return
        with tempfile.TemporaryDirectory(prefix="engage-bulk-") as tmp:
            spooled = Path(tmp) / "stdin"
            with open(spooled, "w", encoding="utf-8", errors="surrogateescape", newline="") as out:
                shutil.copyfileobj(text, out, CHUNK_CHARS)
            yield Source(name, declared_format, path=spooled)


@contextmanager
def _open_stream(name: str, stdin: IO[str]) -> Iterator[IO[str]]:
    if name == STDIN:
        yield _stdin_text(stdin)
        return
    with ExitStack() as stack:
        try:
            raw = stack.enter_context(open(name, "rb"))
        except OSError as exc:
            raise UsageError(f"Cannot read {name}: {exc.strerror or exc}.") from None
        yield stack.enter_context(
            io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        )


def _stdin_text(stdin: IO[str]) -> IO[str]:
    # The bytes, decoded as UTF-8 whatever the locale says, line endings untouched.
    buffer = getattr(stdin, "buffer", None)
    if buffer is None:
        return stdin
    return io.TextIOWrapper(buffer, encoding="utf-8-sig", errors="surrogateescape", newline="")


def read_records(
    source: Source, schema: CsvSchema, warn: Callable[[str], None] = lambda _: None
) -> Iterator[Record]:
    """Every record of the source, in order, each with its line number."""
    # Bytes that are not UTF-8 are read as lone surrogates (surrogateescape), so the record
    # holding them is refused with its line rather than the whole input with none.
    with source.open() as text:
        fmt = format_for(source.name, source.declared_format, text.first_char())
        yield from READERS[fmt](text, schema, warn)

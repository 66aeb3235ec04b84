"""Stage 1, read: records stream from CSV, JSON Lines or JSON (memory stays flat on any
size), each carrying its line number and any problem found while reading it.

This module opens the source (a file, or a stream spooled when it is read twice), picks the
format and hands the text to its reader: csv_records or json_records, which yield the
records.Record that the later stages take."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from engage_cli.bulk.csv_records import CsvSchema, read_csv
from engage_cli.bulk.json_records import read_json, read_jsonl
from engage_cli.bulk.records import Record
from engage_cli.bulk.text_input import CHUNK_CHARS, TextInput
from engage_cli.errors import UsageError

STDIN = "-"
EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
    ".json": "json",
}
READERS = {"csv": read_csv, "jsonl": read_jsonl, "json": read_json}


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

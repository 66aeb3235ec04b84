"""Reading CSV: the header maps columns to a record's fields (a schema per kind of record),
and each row becomes a record, its problems (a bad `:=` cell, too many cells) kept with it."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from engage_cli.bulk.records import (
    ERROR_KEY,
    MAX_DEPTH,
    MAX_RECORD_CHARS,
    TOO_LARGE,
    Record,
    data_problems,
)
from engage_cli.bulk.text_input import TextInput
from engage_cli.errors import EngageError, UsageError
from engage_cli.inputs import parse_scalar
from engage_cli.strict import NestingError, loads_answer


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
            # Text that is not text (a lone surrogate escape) is kept: the record's
            # data_problems names it, as it does in a plain cell.
            try:
                return loads_answer(cell)
            except NestingError:
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

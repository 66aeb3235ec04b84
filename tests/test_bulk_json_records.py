"""The JSON Lines and JSON readers: each line, or each record of a streamed document, becomes
a record; what is wrong with one (broken JSON, too deep, too large, not text) is kept with it
and names its line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engage_cli.bulk import readers
from engage_cli.bulk.csv_records import USER_CSV
from engage_cli.bulk.records import MAX_DEPTH, Record

DEEP = "[" * 5000 + "]" * 5000  # past the decoder's recursion, under the size limit
JUST_TOO_DEEP = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
NOT_READ = "; nothing after it was read"


def read_text(text: str, fmt: str | None = None) -> list[Record]:
    source = readers.Source("-", fmt, stdin=io.StringIO(text, newline=""))
    return list(readers.read_records(source, USER_CSV))


def read_bytes(tmp_path: Path, data: bytes, suffix: str = ".json") -> list[Record]:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    return list(readers.read_records(readers.Source(str(path), path=path), USER_CSV))


# --- JSON Lines ------------------------------------------------------------------------------


@pytest.mark.parametrize("deep", [DEEP, JUST_TOO_DEEP], ids=["5000", "limit+1"])
def test_a_json_lines_record_nested_too_deep_says_so(deep: str) -> None:
    records = read_text('{"id": "u1", "x": ' + deep + '}\n{"id": "u2"}\n', "jsonl")
    assert records == [
        Record(1, None, (f"nested more than {MAX_DEPTH} levels deep",)),
        Record(2, {"id": "u2"}),
    ]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\uDBFF"])
def test_a_json_lines_lone_surrogate_escape_is_not_text(escape: str) -> None:
    (record,) = read_text('{"id": "u1", "x": "a' + escape + '"}\n', "jsonl")
    assert record.line == 1 and record.data["id"] == "u1"
    assert record.problems == (f"'a\\{escape.lower()}' is not UTF-8 text",)


def test_a_json_lines_byte_that_is_not_utf8_is_not_text(tmp_path: Path) -> None:
    records = read_bytes(tmp_path, b'{"id": "u1"}\n{"id": "caf\xe9"}\n', ".jsonl")
    assert records[0] == Record(1, {"id": "u1"})
    assert (records[1].line, records[1].problems) == (2, ("'caf\\\\xe9' is not UTF-8 text",))

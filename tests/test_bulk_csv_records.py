"""The CSV reader: the header maps columns to fields, each row is a record, and what is wrong
with a row (a bad `:=` cell, too many cells) is kept with it, naming the column."""

from __future__ import annotations

import io

import pytest

from engage_cli.bulk import readers
from engage_cli.bulk.csv_records import USER_CSV, CsvSchema
from engage_cli.bulk.records import MAX_DEPTH, Record

DEEP = "[" * 5000 + "]" * 5000  # past the decoder's recursion, under the size limit
JUST_TOO_DEEP = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)


def read_csv(text: str, schema: CsvSchema = USER_CSV) -> list[Record]:
    source = readers.Source("-", "csv", stdin=io.StringIO(text, newline=""))
    return list(readers.read_records(source, schema))


@pytest.mark.parametrize("deep", [DEEP, JUST_TOO_DEEP], ids=["5000", "limit+1"])
def test_a_json_cell_nested_too_deep_says_so(deep: str) -> None:
    (record,) = read_csv(f"id,meta.x:=\nu1,{deep}\n")
    assert record.problems == (f"meta.x:=: nested more than {MAX_DEPTH} levels deep",)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\uDBFF"])
def test_a_json_cell_with_a_lone_surrogate_escape_is_not_text(escape: str) -> None:
    (record,) = read_csv(f'id,meta.x:=\nu1,"""a{escape}"""\n')
    assert record.problems == (f"'a\\{escape.lower()}' is not UTF-8 text",)

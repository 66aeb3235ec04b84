"""The CSV reader: the header maps columns to fields, each row is a record, and what is wrong
with a row (a bad `:=` cell, too many cells) is kept with it, naming the column."""

from __future__ import annotations

import io

import pytest

from engage_cli.bulk import readers
from engage_cli.bulk.csv_records import UID_CSV, USER_CSV, CsvSchema
from engage_cli.bulk.records import MAX_DEPTH, MAX_RECORD_CHARS, TOO_LARGE, Record
from engage_cli.errors import UsageError

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


def test_a_schema_without_a_nested_object_drops_other_columns() -> None:
    assert read_csv("uid,email,id\nu1,a@b.c,x\n", UID_CSV) == [Record(2, {"uid": "u1", "id": "x"})]


@pytest.mark.parametrize(
    ("header", "warning"),
    [
        (
            "id,plan",
            "-, line 1: plan is not a user field; it goes into meta as text "
            "(name the column meta.NAME to say so, or NAME:= for JSON values).",
        ),
        (
            "id,plan,age",
            "-, line 1: plan, age are not user fields; they go into meta as text "
            "(name the column meta.NAME to say so, or NAME:= for JSON values).",
        ),
    ],
)
def test_unknown_columns_are_named_once(header: str, warning: str) -> None:
    warnings: list[str] = []
    source = readers.Source("-", "csv", stdin=io.StringIO(header + "\n", newline=""))
    assert list(readers.read_records(source, USER_CSV, warnings.append)) == []
    assert warnings == [warning.replace("-, ", "stdin, ")]


def test_empty_cells_are_not_given_and_the_rest_of_the_row_is_read() -> None:
    records = read_csv("id,first_name,last_name,meta.plan:=\nu1,,Lovelace,1\n")
    assert records == [Record(2, {"id": "u1", "last_name": "Lovelace", "meta": {"plan": 1}})]


def test_a_nested_column_under_a_plain_value_is_a_problem_and_the_row_is_read() -> None:
    records = read_csv("id,meta,meta.plan,last_name\nu1,x,pro,L\n")
    assert records == [
        Record(
            2, {"id": "u1", "meta": "x", "last_name": "L"}, ("meta.plan: meta is not an object",)
        )
    ]


def test_a_row_is_measured_by_its_cells() -> None:
    # A quoted cell spans lines: each line is under the limit, the row just at it, then over.
    fill = "x" * (MAX_RECORD_CHARS - 3)
    records = read_csv(f'id,first_name\nu1,"\n{fill}"\nu2,"y\n{fill}"\n')
    assert records == [
        Record(2, {"id": "u1", "first_name": "\n" + fill}),
        Record(4, None, (TOO_LARGE,)),
    ]


def test_a_quote_never_closed_names_its_line_and_how_to_close_it() -> None:
    with pytest.raises(UsageError) as caught:
        read_csv('id,first_name\nu1,Ada\nu2,"Bob\nu3,Cy\n')
    assert caught.value.message == (
        "stdin, line 3: a quoted cell is never closed (not valid CSV); nothing was sent."
    )
    assert caught.value.hint == 'Close the quote; a quote inside a quoted cell is written "".'


def test_other_broken_csv_names_its_line() -> None:
    with pytest.raises(UsageError) as caught:
        read_csv('id,first_name\nu1,"Ada"x\n')
    assert caught.value.message == ("stdin, line 2: not valid CSV (',' expected after '\"').")


def test_a_bad_cell_is_a_problem_and_the_rest_of_the_row_is_read() -> None:
    records = read_csv("id,meta.a:=,last_name\nu1,x,L\n")
    problem = "meta.a:=: 'x' is not a JSON literal"
    assert records == [Record(2, {"id": "u1", "last_name": "L"}, (problem,))]

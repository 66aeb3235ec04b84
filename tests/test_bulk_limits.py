"""One nesting limit and one size limit for every record format, kept while streaming
(issue 21): `[` x 100,000 then `]` x 100,000 (200 KB) took memory in the square of its depth
(24 GB, then the OOM killer); a 100 MB first_name in JSON Lines was sent as one 100 MB
request, while CSV cells stopped at 128 KB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engage_cli.bulk import readers
from engage_cli.bulk.csv_records import USER_CSV
from engage_cli.bulk.records import MAX_DEPTH, MAX_RECORD_CHARS, TOO_LARGE, Record
from engage_cli.strict import NestingGuard
from tests.harness import run

BIG = "x" * (MAX_RECORD_CHARS + 1)


def read(path: Path) -> list[Record]:
    source = readers.Source(str(path), path=path)
    return list(readers.read_records(source, USER_CSV))


@pytest.mark.parametrize(
    ("pieces", "deepest", "ok"),
    [
        (["[[[", "]]]"], 3, True),
        (["[[[["], 4, False),
        (['["[[[[[", "]]]]"]'], 1, True),  # brackets inside strings do not count
        (['["a', '[[[[[", 1]'], 1, True),  # ... nor in a string cut between two pieces
        (['["a\\', '"[[[[[", 1]'], 1, True),  # ... after an escaped quote at the cut
        (['["a\\\\', '", [[[[1]]]]]'], 5, False),  # an escaped backslash ends no string
        (['{"k": "}}}}", "v": [{}]}'], 3, True),
    ],
)
def test_the_nesting_guard_counts_only_structure(pieces: list[str], deepest: int, ok: bool) -> None:
    guard = NestingGuard(3)
    results = [guard.feed(piece) for piece in pieces]
    assert all(results) is ok


def test_a_json_document_nested_without_end_is_refused_while_streaming(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    (record,) = read(path)
    assert record.problems == (
        f"nested more than {MAX_DEPTH} levels deep; nothing after it was read",
    )
    result = run(["users", "import", str(path)])
    assert result.exit_code == 2 and result.sent == []
    assert "nested more than 32 levels deep" in result.stderr


def test_records_before_a_too_deep_one_are_read(tmp_path: Path) -> None:
    deep = '{"id": "u2", "meta": ' + "[" * 40 + "]" * 40 + "}"
    path = tmp_path / "d.json"
    path.write_text('[{"id": "u1"},\n' + deep + ",\n" + '{"id": "u3"}]')
    records = read(path)
    assert records[0].data == {"id": "u1"} and not records[0].problems
    assert records[-1].problems[0].startswith("nested more than 32 levels deep")
    assert all(r.data != {"id": "u3"} for r in records)


def test_a_record_just_at_the_depth_limit_is_read(tmp_path: Path) -> None:
    inner = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    path = tmp_path / "d.json"
    path.write_text('[{"id": "u1", "x": ' + inner + "}]")
    (record,) = read(path)
    assert record.problems == ()


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
def test_one_size_limit_for_every_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"users{suffix}"
    small = {"id": "u1", "first_name": "A"}
    huge = {"id": "u2", "first_name": BIG}
    if suffix == ".jsonl":
        path.write_text(json.dumps(small) + "\n" + json.dumps(huge) + "\n")
    elif suffix == ".json":
        path.write_text(json.dumps([small, huge]))
    else:  # two cells, each under the csv module's own cap of a cell, the row over
        half = "y" * (MAX_RECORD_CHARS // 2 + 1)
        path.write_text(f"id,first_name,last_name\nu1,A,B\nu2,{half},{half}\n")
    result = run(["users", "import", str(path)])
    assert result.exit_code == 2 and result.sent == []
    line = 3 if suffix == ".csv" else 2 if suffix == ".jsonl" else 1
    assert f"line {line}: larger than {MAX_RECORD_CHARS:,} characters" in result.stderr


def test_a_too_long_json_lines_line_is_skipped_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps({"id": "u1", "first_name": BIG * 8}) + "\n" + '{"id": "u2"}\n')
    records = read(path)
    assert records[0].problems == (TOO_LARGE,) and records[0].data is None
    assert (records[1].line, records[1].data) == (2, {"id": "u2"})


def test_a_csv_line_over_the_limit_stops_the_read_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("id,first_name\nu1,A\nu2," + BIG * 3 + "\n")
    result = run(["users", "import", str(path)])
    assert result.exit_code == 2 and result.sent == []
    assert f"{path}, line 3: larger than" in result.stderr

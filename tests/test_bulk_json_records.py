"""The JSON Lines and JSON readers: each line, or each record of a streamed document, becomes
a record; what is wrong with one (broken JSON, too deep, too large, not text) is kept with it
and names its line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from engage_cli.bulk import json_records, readers
from engage_cli.bulk.csv_records import USER_CSV
from engage_cli.bulk.records import MAX_DEPTH, MAX_RECORD_CHARS, TOO_LARGE, Record
from engage_cli.bulk.text_input import CHUNK_CHARS

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


# --- JSON documents --------------------------------------------------------------------------

LONE = "line {} holds a lone surrogate escape, which is not text"


@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\uDFFF"])
def test_a_lone_surrogate_escape_refuses_its_record_and_the_rest_is_read(escape: str) -> None:
    text = '[{"id": "u1"},\n{"id": "u2", "x": "a' + escape + '"},\n{"id": "u3"}]'
    assert read_text(text) == [
        Record(1, {"id": "u1"}),
        Record(2, None, (LONE.format(2),)),
        Record(3, {"id": "u3"}),
    ]


def test_a_lone_surrogate_escape_refuses_the_record_that_holds_it() -> None:
    records = read_text('[{"id": "u1"}, {"id": "u2", "x": "\\ud800"}]')
    assert records == [Record(1, {"id": "u1"}), Record(1, None, (LONE.format(1),))]


@pytest.mark.parametrize(
    "string",
    [
        "cafe\\udc00",  # after hex digits
        "\\\\\\ud800",  # after an escaped backslash
        "\\\\\\udc00",
        "\\ud800\\ud800\\udc00",  # a high one, then a pair
        "\\ud800\\u0041",
    ],
)
def test_every_lone_surrogate_escape_is_found(string: str) -> None:
    records = read_text('[{"id": "u1", "x": "' + string + '"},\n{"id": "u2"}]')
    assert records == [Record(1, None, (LONE.format(1),)), Record(2, {"id": "u2"})]


@pytest.mark.parametrize(
    ("string", "value"),
    [
        ("\\ud83d\\ude00", "\U0001f600"),
        ("\\uD83D\\uDE00", "\U0001f600"),
        ("\\\\ud800", "\\ud800"),  # an escaped backslash, then text
        ("\\\\\\\\ud800", "\\\\ud800"),
        ('\\u00e9\\"', '\u00e9"'),
    ],
)
def test_what_is_text_is_read_as_it_is(string: str, value: str) -> None:
    (record,) = read_text('[{"id": "u1", "x": "' + string + '"}]')
    assert record == Record(1, {"id": "u1", "x": value})


_CUT_START = '[{"id": "u1", "x": "'


def _cut_at(string: str, cut: int) -> tuple[str, str]:
    """A document whose first chunk (a file is read from its start again after the peek)
    ends `cut` characters into `string`, and the text padding it."""
    pad = "a" * (CHUNK_CHARS - len(_CUT_START) - cut)
    return _CUT_START + pad + string + '"}]', pad


@pytest.mark.parametrize(
    ("string", "value"),
    [
        ("\\ud83d\\ude00", "\U0001f600"),
        ("\\\\ud800", "\\ud800"),  # an escaped backslash, then text
        ("\\\\\\\\ud800", "\\\\ud800"),
        ("\\\\\\ud83d\\ude00", "\\\U0001f600"),
        # an escaped backslash early in the last characters: the cut goes before its first
        ("\\\\ud800" + "x" * 11, "\\ud800" + "x" * 11),
    ],
)
def test_an_escape_cut_by_the_end_of_a_chunk_is_read_whole(string: str, value: str) -> None:
    for cut in range(1, len(string)):
        text, pad = _cut_at(string, cut)
        assert read_text(text) == [Record(1, {"id": "u1", "x": pad + value})], cut


@pytest.mark.parametrize("string", ["\\ud800x", "\\\\\\udc00", "\\ud800\\u0041"])
def test_a_lone_surrogate_escape_cut_by_the_end_of_a_chunk_is_still_found(string: str) -> None:
    for cut in range(1, len(string)):
        text, _ = _cut_at(string, cut)
        assert read_text(text) == [Record(1, None, (LONE.format(1),))], cut


@pytest.mark.parametrize(
    ("chunk", "start"),
    [
        ("", 0),
        ("abc", 3),
        ("\\", 0),  # a backslash alone: the start of an escape
        ("\\ab", 0),
        ("\\n" + "a" * 20, 22),  # an escape long finished is not held
        ("x\\ty\\u12", 1),  # the first escape in the last characters
        ("zzzzzz\\ud83d\\ude00zz", 6),  # a pair's second half: held with its first
        ("zzzzz\\\\ud83d\\ude00zz", 12),  # after an escaped backslash, ud83d is text
        ("zzzzzz\\u0041\\ud8", 6),  # an escape before it that is no high surrogate
        ("abcdefgh\\u12", 8),
    ],
)
def test_a_piece_is_cut_before_an_escape_that_may_be_unfinished(chunk: str, start: int) -> None:
    assert json_records._escape_start(chunk) == start


@pytest.mark.parametrize(
    ("chunk", "backslash", "start"),
    [
        ("\\x\\", 0, 0),  # the first character: nothing before it to step back over
        ("a\\\\x", 2, 1),  # the second of an escaped backslash: the cut goes before the first
        ("a\\\\\\x", 3, 3),  # the third: an escape of its own
        ("\\\\", 1, 0),
    ],
)
def test_an_escape_starts_at_an_even_step_into_a_run_of_backslashes(
    chunk: str, backslash: int, start: int
) -> None:
    assert json_records._starting(chunk, backslash) == start


@pytest.mark.parametrize(
    ("starts_line", "ends_line", "size"),
    [(True, True, 2), (True, False, 3), (False, True, 4), (False, False, 5)],
)
def test_only_white_space_at_the_edges_of_a_line_is_not_a_records(
    starts_line: bool, ends_line: bool, size: int
) -> None:
    assert json_records._content("  ab ", starts_line, ends_line) == size


def test_white_space_between_tokens_counts_nothing_against_a_record() -> None:
    indented = "".join(f'{" " * 1000}"k{n}": {n},\n' for n in range(250))
    trailing = "".join(f'"t{n}": {n},{" " * 1000}\n' for n in range(250))
    lead = " " * 300_000  # the first line's white space before the document, in pieces
    text = lead + '[{"id": "u1",\n' + indented + trailing + '"z": 0}]'
    (record,) = read_text(text)
    assert record.problems == () and record.data is not None and len(record.data) == 502


def test_white_space_inside_a_string_counts_wherever_a_piece_starts() -> None:
    # More than the stop allows, and the first piece ends in the string's spaces: none of
    # them is white space between tokens, though they end the piece that starts the line.
    text = '[{"id": "u1", "x": "a' + " " * 250_000 + 'b"}]'
    assert read_text(text) == [Record(1, None, (TOO_LARGE + NOT_READ,))]


def test_an_error_at_the_end_names_the_line_of_a_piece_held_for_an_escape() -> None:
    records = read_text('[{"id": "u1", "x": "a\\tb"}')
    assert records[1] == Record(
        1, None, (f"not valid JSON (parse error: premature EOF){NOT_READ}",)
    )


def test_a_byte_that_is_not_utf8_in_a_document_names_its_line(tmp_path: Path) -> None:
    byte = "line 2 holds a byte that is not UTF-8 (0xe9)"
    records = read_bytes(tmp_path, b'[{"id": "u1"},\n{"id": "caf\xe9"},\n{"id": "u3"}]')
    assert records == [
        Record(1, {"id": "u1"}),
        Record(2, None, (f"not valid JSON ({byte}){NOT_READ}",)),
    ]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_record_is_measured_as_the_compact_json_sent(fmt: str) -> None:
    # Compact, the record takes just the limit; written with spaces, it takes more.
    fill = "x" * (MAX_RECORD_CHARS - len('{"id":"u1","first_name":""}'))
    spaced = json.dumps({"id": "u1", "first_name": fill})
    assert len(spaced) > MAX_RECORD_CHARS
    (record,) = read_text(f"[{spaced}]" if fmt == "json" else spaced + "\n", fmt)
    assert record == Record(1, {"id": "u1", "first_name": fill})
    (record,) = read_text(spaced.replace('"u1"', '"u12"') + "\n", fmt)
    assert record == Record(1, None, (TOO_LARGE,))


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_record_short_as_written_but_large_as_sent_is_too_large(fmt: str) -> None:
    # 1e15 is sent as 1000000000000000.0: 40,000 characters written, 152,000 sent.
    numbers = "[" + ",".join(["1e15"] * 8000) + "]"
    line = '{"id":"u1","first_name":"A","meta":{"n":' + numbers + "}}"
    text = f'[{line},\n{{"id":"u2"}}]' if fmt == "json" else f'{line}\n{{"id":"u2"}}\n'
    records = read_text(text)
    assert records == [Record(1, None, (TOO_LARGE,)), Record(2, {"id": "u2"})]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("[1]", "expected a JSON object, got an array"),
        ("42", "expected a JSON object, got 42"),
        ("null", "expected a JSON object, got null"),
        ('"' + "y" * 50 + '"', 'expected a JSON object, got "' + "y" * 39),
    ],
)
def test_a_record_that_is_not_an_object_says_what_it_is(line: str, problem: str) -> None:
    (record,) = read_text(line + "\n", "jsonl")
    assert (record.line, record.problems) == (1, (problem,))


def test_a_failures_files_error_is_dropped_and_a_bad_record_keeps_its_data() -> None:
    records = read_text('{"id": "u1", "_error": "x"}\n{"id": "u2", "k": "\\ud800"}\n', "jsonl")
    assert records[0] == Record(1, {"id": "u1"})
    assert records[1] == Record(2, {"id": "u2", "k": "\ud800"}, ("'\\\\ud800' is not UTF-8 text",))
    (record,) = read_text('["\\ud800"]\n', "jsonl")  # not an object: no data kept
    assert record == Record(1, None, ("'\\\\ud800' is not UTF-8 text",))


def test_broken_json_lines_keep_the_line_as_written() -> None:
    records = read_text('{"id": X  \r\n{"id": X\r\n', "jsonl")
    assert [(r.line, r.data) for r in records] == [(1, '{"id": X  '), (2, '{"id": X')]
    assert records[0].problems[0].startswith("not valid JSON (Expecting value")


def test_a_plain_json_lines_record_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    from engage_cli.bulk import json_records

    def walked(value: object) -> tuple[str, ...]:
        raise AssertionError("walked")

    monkeypatch.setattr(json_records, "data_problems", walked)
    assert read_text('{"id": "u1"}\n', "jsonl") == [Record(1, {"id": "u1"})]


def test_a_json_lines_line_too_long_to_hold_names_its_line() -> None:
    big = "x" * (MAX_RECORD_CHARS + CHUNK_CHARS)
    records = read_text('{"id": "u1"}\n{"id": "' + big + '"}\n{"id": "u3"}\n', "jsonl")
    assert records == [
        Record(1, {"id": "u1"}),
        Record(2, None, (TOO_LARGE,)),
        Record(3, {"id": "u3"}),
    ]


def test_a_document_record_too_large_to_hold_stops_the_read() -> None:
    big = "x" * (MAX_RECORD_CHARS + CHUNK_CHARS)
    records = read_text('[{"id": "u1"},\n{"id": "' + big + '"}, {"id": "u3"}]')
    assert records == [Record(1, {"id": "u1"}), Record(2, None, (TOO_LARGE + NOT_READ,))]


def test_records_whole_before_a_syntax_error_are_read() -> None:
    records = read_text('[{"id": "u1"}, {"id": "u2"}, x]')
    assert records[:2] == [Record(1, {"id": "u1"}), Record(1, {"id": "u2"})]
    assert records[2].line == 1 and records[2].problems[0].startswith("not valid JSON (")
    assert records[2].problems[0].endswith(NOT_READ) and len(records) == 3


def test_objects_one_after_another_and_a_value_ended_by_the_end() -> None:
    records = read_text('{"id": "u1", "meta": {"x": 1.5}}\n\n42', "json")
    assert records == [
        Record(1, {"id": "u1", "meta": {"x": 1.5}}),
        Record(3, 42, ("expected a JSON object, got 42",)),
    ]
    assert type(records[0].data["meta"]["x"]) is float

"""The readers' shared parts: the text input (peeked, read in bounded pieces), the limits
every record keeps (records), and picking and opening the source (readers)."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest

from engage_cli.bulk import readers
from engage_cli.bulk.csv_records import USER_CSV
from engage_cli.bulk.records import Record, data_problems, plainly_sound
from engage_cli.bulk.text_input import CHUNK_CHARS, TextInput


def read_text(text: str, fmt: str | None = None) -> list[Record]:
    source = readers.Source("-", fmt, stdin=io.StringIO(text, newline=""))
    return list(readers.read_records(source, USER_CSV))


def lines_of(text: str, limit: int = 100, *, peek: bool = True) -> list[str | None]:
    given = TextInput(io.StringIO(text, newline=""), "t")
    if peek:
        given.first_char()
    return list(given.bounded_lines(limit))


# --- text_input ------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("peek", [True, False])
def test_blank_lines_before_the_first_are_lines_of_their_own(newline: str, peek: bool) -> None:
    text = f"{newline}  {newline}a,b{newline}c{newline}"
    assert lines_of(text, peek=peek) == [newline, "  " + newline, "a,b" + newline, "c" + newline]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_csv_file_may_start_with_blank_lines(newline: str) -> None:
    text = newline.join(["", "", "id,email", "u1,a@b.c", ""])
    assert read_text(text) == [Record(4, {"id": "u1", "email": "a@b.c"})]


@pytest.mark.parametrize("fmt", [None, "jsonl"])
def test_a_json_lines_record_after_blank_lines_names_its_own_line(fmt: str | None) -> None:
    records = read_text('\n  \n{"id": "u1"}\n{"id": "u2"}\n', fmt)
    assert [(r.line, r.data) for r in records] == [(3, {"id": "u1"}), (4, {"id": "u2"})]


class Pipe(io.StringIO):
    """A stream that cannot be rewound, as stdin from a pipe."""

    def seekable(self) -> bool:
        return False


STREAMS = pytest.mark.parametrize("stream", [io.StringIO, Pipe], ids=["file", "pipe"])


def text_input(text: str, stream: type[io.StringIO] = io.StringIO) -> TextInput:
    return TextInput(stream(text, newline=""), "t")


@pytest.mark.parametrize(
    ("text", "first", "rest"),
    [
        ("", "", ""),
        (" \n\t ", "", " \n\t "),
        ("\ufeff  [1]", "[", "  [1]"),  # a byte order mark the stream did not drop
        ("\ufeff\ufeff{", "{", "{"),
        (" \ufeff", "\ufeff", " \ufeff"),
        ("\n\n id,x", "i", "\n\n id,x"),
        ("XY", "X", "XY"),  # only a byte order mark is dropped
        (" " * CHUNK_CHARS + "\ufeffx", "\ufeff", " " * CHUNK_CHARS + "\ufeffx"),  # not leading
        ("\ufeff" * (CHUNK_CHARS + 2) + "{", "{", "{"),  # leading, over two chunks
    ],
)
@STREAMS
def test_the_first_character_is_peeked_and_read_again(
    text: str, first: str, rest: str, stream: type[io.StringIO]
) -> None:
    given = text_input(text, stream)
    assert given.first_char() == first
    assert given.first_char() == first  # asked again: the same, nothing more read
    assert "".join(iter(lambda: given.read(3), "")) == rest


@STREAMS
def test_a_byte_order_mark_after_the_start_is_text(stream: type[io.StringIO]) -> None:
    given = text_input("ab\ufeffc", stream)
    assert given.read(2) == "ab"
    assert given.first_char() == "\ufeff"
    assert given.read(5) == "\ufeffc"


def test_a_byte_order_mark_after_the_first_line_is_text() -> None:
    given = text_input("a\n\ufeffb\n")  # a file: peeking again mid-way reads it as it is
    lines = given.bounded_lines(10)
    assert next(lines) == "a\n"
    assert given.first_char() == "\ufeff"
    assert list(lines) == ["\ufeffb\n"]


class Unknowable(io.StringIO):
    """A stream that cannot say whether it can be rewound, nor be."""

    def seekable(self) -> bool:
        raise OSError("no idea")

    def tell(self) -> int:
        raise OSError("cannot tell")

    def seek(self, offset: int, whence: int = 0) -> int:
        raise OSError("cannot seek")


def test_a_stream_that_cannot_say_it_rewinds_is_read_as_a_pipe() -> None:
    given = text_input("  \n{}", Unknowable)
    assert given.first_char() == "{"
    assert list(given.bounded_lines(10)) == ["  \n", "{}"]


def test_read_takes_at_most_size_characters() -> None:
    given = text_input("abcdefg")
    assert [given.read(3), given.read(3), given.read(3), given.read(3)] == ["abc", "def", "g", ""]


@pytest.mark.parametrize(
    ("text", "limit", "lines"),
    [
        ("abc", 3, ["abc"]),
        ("abcd", 3, [None]),
        ("abc\ndefg\nhi", 3, ["abc\n", None, "hi"]),
        ("abcd\r\nhi\r\n", 3, [None, "hi\r\n"]),
        ("abcd\rhi\r", 3, [None, "hi\r"]),
        ("  ab\ncd", 3, [None, "cd"]),  # peeked, the first line is still too long
        ("      ab\ncd", 3, [None, "cd"]),  # ... even what was peeked of it
        ("     a\ncd", 3, [None, "cd"]),
        ("abc\rde", 3, ["abc\r", "de"]),
        ("abc\r\nde", 3, ["abc\r\n", "de"]),  # a CRLF line just at the limit is one line
        ("ab\r\r\nde", 3, ["ab\r", "\r\n", "de"]),
        ("abc\r\r", 3, ["abc\r", "\r"]),
        ("abc\nde", 3, ["abc\n", "de"]),
        ("     \n{}", 3, [None, "{}"]),  # a blank line is a line like any other
        ("  \n  ", 3, ["  \n", "  "]),
        ("  \n  \n", 3, ["  \n", "  \n"]),
        (" a\n", 3, [" a\n"]),
        ("x\rabcd\nz", 3, ["x\r", None, "z"]),  # what was read past a \r counts in its line
        ("", 3, []),
    ],
)
@pytest.mark.parametrize("peek", [True, False])
@STREAMS
def test_lines_over_the_limit_are_none(
    text: str, limit: int, lines: list[str | None], peek: bool, stream: type[io.StringIO]
) -> None:
    given = text_input(text, stream)
    if peek:
        given.first_char()
    assert list(given.bounded_lines(limit)) == lines
    assert given.first_char() == ""  # all read: nothing peeked is left


def test_a_long_line_is_dropped_in_chunks_to_its_end() -> None:
    text = "x" * (3 * CHUNK_CHARS + 5) + "\nnext\n" + "y" * (CHUNK_CHARS + 1)
    assert lines_of(text, 10) == [None, "next\n", None]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json", ""])
def test_white_space_before_the_first_record_is_peeked_in_bounded_memory(
    tmp_path: Path, suffix: str
) -> None:
    first = {".csv": "id,email\nu1,a@b.c\n", ".json": '[{"id": "u1", "email": "a@b.c"}]'}
    path = tmp_path / f"input{suffix}"
    path.write_text("\r\n" * 150_000 + first.get(suffix, '{"id": "u1", "email": "a@b.c"}\n'))
    tracemalloc.start()
    try:
        records = list(readers.read_records(readers.Source(str(path), path=path), USER_CSV))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    line = 150_002 if suffix == ".csv" else 150_001
    assert records == [Record(line, {"id": "u1", "email": "a@b.c"})]
    assert peak < 1_000_000  # the 300 KB of white space is not held, nor split into lines


@pytest.mark.parametrize(
    ("first", "line"),
    [("id,email\r\nu1,a@b.c\r\n", 40_002), ('{"id": "u1", "email": "a@b.c"}', 40_001)],
)
def test_a_pipe_is_read_whole_after_the_blank_lines_peeked(first: str, line: int) -> None:
    text = "\r\n" * 40_000 + first + "\r\n"  # more than a chunk is peeked of a pipe
    source = readers.Source("-", stdin=Pipe(text, newline=""))
    records = list(readers.read_records(source, USER_CSV))
    assert records == [Record(line, {"id": "u1", "email": "a@b.c"})]


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("a" * (CHUNK_CHARS - 1) + "\rb\n", ["a" * (CHUNK_CHARS - 1) + "\r", "b\n"]),
        ("a" * CHUNK_CHARS + "\nz", [None, "z"]),  # peeked past the limit, to its newline
    ],
)
def test_a_pipe_peeked_to_the_end_of_a_chunk_keeps_its_lines(
    text: str, lines: list[str | None]
) -> None:
    given = text_input(text, Pipe)
    given.first_char()
    assert list(given.bounded_lines(CHUNK_CHARS if lines[0] else 3)) == lines


def test_a_long_crlf_line_cut_between_its_cr_and_lf_is_still_one_line() -> None:
    text = "x" * (11 + CHUNK_CHARS - 1) + "\r\nnext\r\n"  # the last chunk dropped ends at \r
    assert lines_of(text, 10) == [None, "next\r\n"]


# --- records ---------------------------------------------------------------------------------


def test_text_that_is_not_ascii_is_text() -> None:
    assert data_problems({"name": "Zoë 😀", "Zoë": ["é"]}) == ()


def test_what_is_not_text_is_shown_escaped() -> None:
    value = "a\udc80\udcff\udc7f\udd00\ud800\udfff\ue000"
    assert data_problems({"x": value}) == (
        "'a\\\\x80\\\\xff\\\\udc7f\\\\udd00\\\\ud800\\\\udfff\\ue000' is not UTF-8 text",
    )
    assert data_problems({"k\udce9": 1}) == ("the key 'k\\\\xe9' is not UTF-8 text",)


def test_what_is_not_text_is_shown_to_60_characters() -> None:
    value = "\udce9" + "x" * 58 + "yz"
    assert data_problems([value]) == (f"'\\\\xe9{'x' * 58}y' is not UTF-8 text",)


@pytest.mark.parametrize("escape", ["\\ud800", "\\uD800", "\\uDC00"])
def test_text_with_a_surrogate_escape_is_never_judged_sound(escape: str) -> None:
    assert not plainly_sound('{"x": "' + escape + '"}')
    assert plainly_sound('{"x": "\\u00e9"}')


# --- readers ---------------------------------------------------------------------------------


def read_stdin(data: bytes, fmt: str | None = None) -> list[Record]:
    # stdin as the locale would decode it: the reader takes its bytes as UTF-8 instead.
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="latin-1")
    with readers.open_source("-", fmt, stdin, passes=1) as source:
        return list(readers.read_records(source, USER_CSV))


def test_stdin_is_read_as_utf8_whatever_the_locale() -> None:
    records = read_stdin(
        b'\xef\xbb\xbfid,first_name\r\nu1,Zo\xc3\xab\r\nu2,"a\r\nb"\r\nu3,Jos\xe9\r\n'
    )
    assert records[:2] == [
        Record(2, {"id": "u1", "first_name": "Zo\u00eb"}),
        Record(3, {"id": "u2", "first_name": "a\r\nb"}),  # line endings untouched
    ]
    assert (records[2].line, records[2].problems) == (5, ("'Jos\\\\xe9' is not UTF-8 text",))


def test_the_declared_format_is_the_format() -> None:
    assert read_stdin(b"[1]\n", "jsonl") == [
        Record(1, [1], ("expected a JSON object, got an array",))
    ]

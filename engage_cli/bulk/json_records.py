"""Reading JSON Lines and JSON: a line, or a record of a streamed JSON document, becomes a
record; nesting and size are guarded before a record is built, so memory stays flat."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from engage_cli.bulk.csv_records import CsvSchema  # every reader takes the schema; JSON needs none
from engage_cli.bulk.records import (
    ERROR_KEY,
    MAX_DEPTH,
    MAX_RECORD_CHARS,
    TOO_LARGE,
    Record,
    data_problems,
    plainly_sound,
)
from engage_cli.bulk.text_input import CHUNK_CHARS, TextInput
from engage_cli.endpoints import compact_json  # as a body is sent: a record's size is sent
from engage_cli.strict import (
    SURROGATE,
    NestingError,
    NestingGuard,
    describe_surrogate,
    loads_answer,
)

# Sent, JSON text is at most 4.5 times as long as written ("1e15" is sent as
# 1000000000000000.0); text shorter than this cannot be a record too large to send.
MAY_BE_TOO_LARGE = MAX_RECORD_CHARS // 5


def record_from_json(line: int, value: Any, text: str | None = None) -> Record:
    """`text`, the JSON the value was decoded from, spares the walk of a record it shows has
    no problem (most of them: the walk was a fifth of reading a JSON Lines file)."""
    problems = data_problems(value) if text is None or not plainly_sound(text) else ()
    if problems:
        return Record(line, value if isinstance(value, dict) else None, problems)
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else f"{json.dumps(value)[:40]}"
        return Record(line, value, (f"expected a JSON object, got {kind}",))
    if ERROR_KEY in value:  # a failures file fed back: its error is not part of the record
        value = {k: v for k, v in value.items() if k != ERROR_KEY}
    return Record(line, value)


def read_jsonl(text: TextInput, schema: CsvSchema, warn: Callable[[str], None]) -> Iterator[Record]:
    # A line may be longer than the record it holds (spaces, escapes): up to a chunk longer
    # is read, and what counts is the record's size as sent.
    for number, line in enumerate(text.bounded_lines(MAX_RECORD_CHARS + CHUNK_CHARS), 1):
        if line is None:
            yield Record(number, None, (TOO_LARGE,))
            continue
        if not line.strip():
            continue
        try:  # text that is not text is kept for data_problems to name, as in any format
            value = loads_answer(line)
        except NestingError:
            yield Record(number, None, (f"nested more than {MAX_DEPTH} levels deep",))
            continue
        except ValueError as exc:
            yield Record(number, line.rstrip("\r\n"), (f"not valid JSON ({exc})",))
            continue
        if len(line) > MAY_BE_TOO_LARGE and len(compact_json(value)) > MAX_RECORD_CHARS:
            yield Record(number, None, (TOO_LARGE,))
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
    lone: tuple[str, ...] = ()  # for the next record built: it holds a lone surrogate escape
    undecodable = ""  # the first byte that was not UTF-8, which stops the parser
    nesting = NestingGuard(MAX_DEPTH + (first == "["))  # the array holding the records
    unfinished = 0  # characters of the record being built
    starts_line = True
    try:
        for piece, ends_line in _pieces(text):
            unfinished += _content(piece, starts_line, ends_line)
            starts_line = ends_line or (starts_line and piece.isspace())  # still at its start
            too_deep = not nesting.feed(piece)
            if too_deep or unfinished > MAX_RECORD_CHARS + CHUNK_CHARS:
                # Stopped before the parser builds it; what follows cannot be trusted.
                problem = f"nested more than {MAX_DEPTH} levels deep" if too_deep else TOO_LARGE
                yield Record(lines.current, None, (f"{problem}; nothing after it was read",))
                return
            if not undecodable and not piece.isascii() and (bad := SURROGATE.search(piece)):
                undecodable = f"line {lines.current} holds {describe_surrogate(bad.group())}"
            completed = False
            for part, escaped in _parts(piece):
                if escaped:  # the next record built is the one holding it
                    lone = (f"line {lines.current} {LONE_SURROGATE}",)
                parser.send(part.encode("utf-8", "surrogateescape"))
                for value in built:
                    yield _sized(lines.start(), value, lone, unfinished)
                    lone = ()
                completed = completed or bool(built)
                del built[:]
            lines.fed(piece, ends_line, completed=completed)
            if completed:  # the next record may have started anywhere in this piece
                unfinished = len(piece)
        parser.close()
        for value in built:
            yield _sized(lines.start(), value, (), unfinished)
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        for value in built:  # what was whole before the error
            yield _sized(lines.start(), value, (), unfinished)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        yield Record(
            lines.current,
            None,
            (f"not valid JSON ({undecodable or message}); nothing after it was read",),
        )


LONE_SURROGATE = "holds a lone surrogate escape, which is not text"


def _content(piece: str, starts_line: bool, ends_line: bool) -> int:
    """The characters of a piece that a record may hold: white space at either end of a line
    is between tokens (a string holds no newline), and the parser keeps none of it, so blank
    lines and indentation count for nothing against a record's size."""
    if starts_line:
        piece = piece.lstrip()
    if ends_line:
        piece = piece.rstrip()
    return len(piece)


def _parts(piece: str) -> Iterator[tuple[str, bool]]:
    """The piece cut before each lone surrogate escape, which becomes \\ufffd (yajl would
    make "?" of a high one, bytes it cannot decode of a low one): what is built from a part
    that starts with one (True) holds it. Parts are never empty."""
    if "\\u" not in piece:
        yield piece, False
        return
    start = 0
    for match in _ESCAPE.finditer(piece):
        if match.group(1) is None:
            continue
        if match.start() > start:
            yield piece[start : match.start()], False
        yield "\\ufffd", True
        start = match.end()
    if start < len(piece):
        yield piece[start:], False


def _sized(line: int, value: Any, problems: tuple[str, ...], fed: int) -> Record:
    """A record of a JSON document, refused if larger than a record may be: measured only
    when the characters fed since the last record ended (`fed`) could send one that large."""
    if problems:  # a lone surrogate escape: the value holds \ufffd in its place
        return Record(line, None, problems)
    if fed > MAY_BE_TOO_LARGE and len(compact_json(value)) > MAX_RECORD_CHARS:
        return Record(line, None, (TOO_LARGE,))
    return record_from_json(line, value)


_HIGH = r"\\u[dD][89abAB][0-9a-fA-F]{2}"  # a high surrogate escape: a pair's first half
# Every escape, left to right (so that an escaped backslash is never read as starting one): a
# surrogate pair, a lone surrogate (group 1), or any other.
_ESCAPE = re.compile(
    rf"{_HIGH}\\u[dD][c-fC-F][0-9a-fA-F]{{2}}|\\(u[dD][89a-fA-F][0-9a-fA-F]{{2}})|\\.",
    re.S,
)


def _pieces(text: TextInput) -> Iterator[tuple[str, bool]]:
    """The input in pieces of at most a chunk (and an escape), cut after each newline, so that
    what a piece completes is known to end on its line; a long line comes in several pieces.
    A piece never ends inside an escape: a surrogate pair cut in two would read as two lone
    ones, an escaped backslash cut in two as an escape starting the next piece."""
    held = ""  # the end of the last chunk, which may be the start of an escape
    while True:
        chunk = text.read(CHUNK_CHARS)
        if not chunk:
            if held:
                yield held, False
            return
        chunk, held = held + chunk, ""
        start = 0
        while True:
            end = chunk.find("\n", start)
            if end < 0:
                cut = max(_escape_start(chunk), start)
                held = chunk[cut:]
                if start < cut:
                    yield chunk[start:cut], False
                break
            yield chunk[start : end + 1], True
            start = end + 1


_LONGEST_ESCAPE = len("\\ud83d\\ude00")
_HIGH_SURROGATE = re.compile(_HIGH)


def _escape_start(chunk: str) -> int:
    """Where an escape that may be unfinished at the end of `chunk` starts (len(chunk) if
    none may be): the first escape in its last characters, or the high surrogate before it,
    its pair's first half."""
    end = len(chunk)
    first = chunk.find("\\", max(end - _LONGEST_ESCAPE, 0))
    if first < 0:
        return end
    start = _starting(chunk, first)
    pair = start - 6
    if (
        pair >= 0
        and _HIGH_SURROGATE.fullmatch(chunk, pair, start)
        and _starting(chunk, pair) == pair
    ):
        return pair
    return start


def _starting(chunk: str, backslash: int) -> int:
    """The escape start at or just before a backslash: a run of them is read by pairs from its
    first, so the cut never falls between an escaped backslash's two."""
    run = backslash
    while run > 0 and chunk[run - 1] == "\\":
        run -= 1
    return backslash - (backslash - run) % 2


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

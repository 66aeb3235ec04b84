"""Strict JSON and ISO 8601 parsing, shared by the CLI (before sending) and the sandbox
(on receiving), so that what one accepts the other accepts too. Standard library only."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

ISO_8601 = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    r"(?P<offset>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,  # \d would match any script's digits, and int() would read them
)


class NestingError(ValueError):
    """JSON nested deeper than MAX_DEPTH."""


class NumberOutOfRange(ValueError):
    """A JSON number no float can hold (1e999): valid syntax, but never sendable."""


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 parses as inf, which JSON cannot carry back out
        raise NumberOutOfRange(f"number out of range: {text}")
    return number


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every strict read: NaN, Infinity and out-of-range numbers are refused.
DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)


# Deeper than any body the API takes, and shallow enough that nothing downstream (validation,
# encoding, rendering) can run out of stack on it.
MAX_DEPTH = 32  # as bulk.records: no Engage field nests deeper than 2
SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def loads_json(text: str) -> Any:
    """json.loads, refusing NaN, Infinity, numbers too large for a float, nesting deeper
    than MAX_DEPTH and lone surrogates (text no UTF-8 encoder can send). ValueError if so."""
    bad = None if text.isascii() else SURROGATE.search(text)  # isascii() reads a flag
    if bad:
        raise ValueError(
            f"the text is not UTF-8 text: it holds {describe_surrogate(bad.group())} "
            f"at position {bad.start()}"
        )
    value = loads_answer(text)
    # A cheap test first: most documents hold no escaped surrogate.
    if _ESCAPED_SURROGATE.search(text):
        _check_strings(value)
    return value


def loads_answer(text: str) -> Any:
    """JSON as an answer from the API is read: NaN, Infinity, numbers too large for a float
    and nesting deeper than MAX_DEPTH refused (ValueError); any text kept as it came (a
    lone surrogate escape included: the output shows it escaped)."""
    try:
        value = DECODER.decode(text)
    except RecursionError:
        raise NestingError(f"nested more than {MAX_DEPTH} levels deep") from None
    # A cheap test first: most documents cannot be that deep.
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(value)
    return value


def is_utf8_text(value: str) -> bool:
    """Whether UTF-8 can carry this text: it holds no surrogate (isascii() reads a flag)."""
    return value.isascii() or SURROGATE.search(value) is None


def describe_surrogate(char: str) -> str:
    if "\udc80" <= char <= "\udcff":  # how Python carries a byte that was not UTF-8
        return f"a byte that is not UTF-8 (0x{ord(char) - 0xDC00:02x})"
    return f"a lone surrogate (\\u{ord(char):04x}), which is not valid Unicode"


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > MAX_DEPTH:
            raise NestingError(f"nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _check_strings(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            bad = SURROGATE.search(item)
            if bad:
                raise ValueError(
                    f"a string is not UTF-8 text: it holds {describe_surrogate(bad.group())}"
                )
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_iso8601(text: str) -> datetime:
    """An ISO 8601 date or date-time (YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]); no offset
    means UTC. ValueError if invalid."""
    match = ISO_8601.fullmatch(text)
    if match is None:
        raise ValueError(f"not an ISO 8601 date: {text!r}")
    part = match.groupdict()
    fraction = (part["fraction"] or "")[:6].ljust(6, "0")
    moment = datetime(
        int(part["year"]),
        int(part["month"]),
        int(part["day"]),
        int(part["hour"] or 0),
        int(part["minute"] or 0),
        int(part["second"] or 0),
        int(fraction),
        tzinfo=_offset(part["offset"]),
    )
    try:
        moment.astimezone(timezone.utc)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 has no UTC counterpart
        raise ValueError(f"out of range: {text!r}") from exc
    return moment


def _offset(text: str | None) -> timezone:
    if text is None or text in ("Z", "z"):
        return timezone.utc
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(-delta if text[0] == "-" else delta)  # ValueError past 24 hours


# --- depth while streaming ---------------------------------------------------------------------

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # inside a string, to its end
_STRING_TAIL = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*(\\?)\Z', re.S)  # no end: a dangling "\"?
_STRUCTURE = re.compile(r'[\[\]{}"]')
_HAS_STRUCTURE = re.compile(r"[\[\]{}]").search


class NestingGuard:
    """How deep a JSON document fed piece by piece is nested, watched before a parser builds
    it: a document of 100,000 `[` costs a streaming parser memory in the square of its depth
    (24 GB, then the OOM killer). Strings are skipped whole (at C speed), so a bracket inside
    one does not count; a string cut between two pieces is picked up where it left off."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.depth = 0
        self._in_string = False
        self._escaped = False

    def feed(self, piece: str) -> bool:
        """False once the document is nested deeper than the limit."""
        if not self._in_string and not _HAS_STRUCTURE(piece) and piece.endswith("\n"):
            return True  # no bracket, and no string left open: a line cannot hold one
        start = 0
        if self._in_string:
            start = 1 if self._escaped else 0
            self._escaped = False
            end = _STRING_REST.match(piece, start)
            if end is None:
                self._cut_string(piece, start)
                return True
            start, self._in_string = end.end(), False
        rest = _STRING.sub("", piece[start:]) if '"' in piece else piece[start:]
        for match in _STRUCTURE.finditer(rest):
            char = match.group()
            if char == '"':  # a string this piece does not finish
                self._in_string = True
                self._cut_string(rest, match.end())
                return True
            if char in "[{":
                self.depth += 1
                if self.depth > self.limit:
                    return False
            else:
                self.depth -= 1
        return True

    def _cut_string(self, text: str, start: int) -> None:
        tail = _STRING_TAIL.match(text, start)
        self._escaped = bool(tail and tail.group(1))

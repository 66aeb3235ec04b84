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
    r"(?P<offset>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)


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


def loads_json(text: str) -> Any:
    """json.loads, refusing NaN, Infinity and numbers too large for a float."""
    return DECODER.decode(text)


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

"""The request pipeline's policy, as pure decisions on plain values (no httpx, no I/O).

Every tunable number; when an answer or a failure is worth sending again and how long to
wait first; which typed error an answer means; whether a success has the promised shape.
client.py sends and loops; these are the small named functions its tests drive with tables.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

from engage_cli import strict
from engage_cli.config import mask_url
from engage_cli.endpoints import APIRequest
from engage_cli.errors import (
    APIRefusedError,
    ConfigError,
    EngageError,
    LongWait,
    NotFoundError,
    RedirectError,
    TemporaryError,
    UnexpectedAnswer,
)

# Every tunable number of the request pipeline.
BACKOFF_BASE = 0.5  # seconds before the first retry
BACKOFF_CAP = 8.0  # longest computed backoff
RETRY_AFTER_CAP = 60.0  # longest wait a Retry-After may ask for; longer fails at once
CONNECT_TIMEOUT = 5.0  # connecting is quick or not happening: no need to wait --timeout
MAX_REDIRECTS = 5  # 307/308 hops followed for one request
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# Answers that say the server refused before acting: resent whatever the request.
REFUSED_STATUSES = frozenset({429, 503})
MAX_POOL_CONNECTIONS = 64
MAX_RATE_LIMITED = 100  # 429s a request waits through with on_rate_limit set


class Answer(Protocol):
    """What these decisions read of an answer: plain values. An httpx.Response is one, and
    its headers are read by name in any case (as HTTP names are)."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> bytes: ...
    @property
    def encoding(self) -> str | None: ...
    @property
    def text(self) -> str: ...


# --- retry policy -------------------------------------------------------------------------


def should_retry_status(status: int, repeatable: bool) -> bool:
    """A 429 or a 503 was refused before anything happened; a 502 or 504 may have acted, so
    only a request that is harmless to repeat goes again."""
    if status in REFUSED_STATUSES:
        return True
    return status in RETRYABLE_STATUSES and repeatable


def may_have_acted(request: APIRequest, status: int | None) -> bool:
    """Uncertain: a request that is not harmless to repeat (an event POST) was sent, and no
    answer says whether the server acted on it (no answer at all: status None, a 500, 502
    or 504)."""
    if request.repeatable:
        return False
    return status is None or (status >= 500 and status not in REFUSED_STATUSES)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def retry_delay(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks to wait: `retry-after-ms` (as openai-python reads it) when it
    is a number, else `Retry-After`. Not capped: a caller refuses a wait too long to honour."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            seconds = float(millis) / 1000
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    return retry_after(headers.get("Retry-After"), now)


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: between half and all of base * 2**attempt."""
    ceiling: float = min(BACKOFF_CAP, BACKOFF_BASE * 2.0**attempt)
    return ceiling * (0.5 + rand() / 2)


# --- error mapping ------------------------------------------------------------------------


def error_text(response: Answer) -> str:
    """The server's `error` message, or the first line of a non-JSON body."""
    try:
        data = strict.loads_answer(response.content.decode(response.encoding or "utf-8"))
    except ValueError:  # UnicodeDecodeError included
        data = None
    if isinstance(data, dict):
        err = data.get("error", data.get("message"))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err:
            return str(err)
    text = re.sub(r"<[^>]+>", " ", response.text)
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())[:200]
    return response.reason_phrase or "no details"


def error_for_response(request: APIRequest, response: Answer) -> EngageError:
    """Map an HTTP failure to the typed error (and so the exit code) users see."""
    status = response.status_code
    where = f"{request.method} {request.path}"
    text = error_text(response)
    if status in (401, 403):
        return ConfigError(f"Authentication failed ({status} on {where}): {text}", status=status)
    if status == 404:
        return NotFoundError(f"Not found ({where}): {text}", status=status)
    if status == 429:
        return TemporaryError(
            f"Rate limited by the API (429 on {where}) and the retries ran out.",
            hint="Wait a little, or send fewer requests a second.",
            status=status,
            retryable=True,
        )
    if status >= 500:
        if may_have_acted(request, status):
            return TemporaryError(
                f"The API failed ({status} on {where}): {text}. {MAY_HAVE_ACTED}",
                status=status,
                uncertain=True,
            )
        return TemporaryError(
            f"The API failed ({status} on {where}): {text}", status=status, retryable=True
        )
    if 300 <= status < 400:
        location = response.headers.get("Location")
        to = f"to {mask_url(location)}" if location else "without a Location"
        return RedirectError(
            f"The API redirected {where} ({status}) {to}; it was not followed, so nothing "
            "was done.",
            status=status,
            location=location,
        )
    return APIRefusedError(f"The API refused the request ({status}): {text}", status=status)


MAY_HAVE_ACTED = (
    "The server may have acted on it all the same (an event may have been recorded): check "
    "before sending it again."
)


def error_for_long_wait(request: APIRequest, response: Answer, wait: float) -> EngageError:
    """The server asked for a longer pause than RETRY_AFTER_CAP: retrying earlier would only
    be refused again, so give up now and say how long it asked for."""
    err = error_for_response(request, response)
    err.add_sentence(f"It asked to wait {wait:g} s, longer than the {RETRY_AFTER_CAP:g} s we wait.")
    return LongWait(err.message, status=err.status, wait=wait)


# --- a success's shape --------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    return f"{json.dumps(value)[:40]}"


def parse_answer(request: APIRequest, response: Answer) -> Any:
    """The answer, checked to be what the endpoint returns: a success whose body is
    not (no body, not JSON, NaN, nested without end, a list without `data`) is an
    error, never a success with nothing in it."""
    where = f"{request.method} {request.path} ({response.status_code})"
    uncertain = not request.repeatable  # it may well have acted: a 2xx says so
    if not response.content:
        if request.answer == "any":
            return None
        raise UnexpectedAnswer(f"The API answered {where} with no body.", uncertain=uncertain)
    try:
        data = strict.loads_answer(response.content.decode(response.encoding or "utf-8"))
    except ValueError as exc:  # UnicodeDecodeError included
        detail = exc if isinstance(exc, strict.NestingError) else error_text(response)
        raise UnexpectedAnswer(
            f"The API answered {where} with something that is not JSON ({detail}).",
            uncertain=uncertain,
        ) from exc
    if request.answer == "any":
        return data
    if not isinstance(data, dict):
        raise UnexpectedAnswer(
            f"The API answered {where} with {_kind(data)}, not an object.",
            uncertain=uncertain,
        )
    if request.answer == "page" and not isinstance(data.get("data"), list):
        raise UnexpectedAnswer(
            f"The API answered {where} with no `data` array: not a page of a list.",
            uncertain=uncertain,
        )
    return data

"""The sandbox's request log (`GET|DELETE /__sandbox/requests`): the last requests answered,
oldest first, for users' tests to assert on what their code sent.

Bounded (the last MAX_REQUESTS), in memory, and cheap on the hot path: an entry keeps the raw
bytes and is decoded only when read. Headers are never kept, so credentials are never stored.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from engage_cli.sandbox.documents import JSONObject, utc_now_timestamp
from engage_cli.sandbox.routing import parse_query

__all__ = ["MAX_REQUESTS", "RequestLog"]

MAX_REQUESTS = 10_000
# A body past this is shown as its size, not itself: the log must not hold 10,000 large bodies.
MAX_LOGGED_BODY = 256 * 1024


@dataclass(frozen=True)
class _Entry:
    seq: int
    time: str
    method: str
    target: str
    status: int
    body: bytes
    answer: bytes


class RequestLog:
    """Thread-safe; `record` is called once per answered request."""

    def __init__(self, limit: int = MAX_REQUESTS) -> None:
        self._entries: deque[_Entry] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._seq = 0

    def record(self, method: str, target: str, status: int, body: bytes, answer: bytes) -> None:
        with self._lock:
            self._seq += 1
            entry = _Entry(self._seq, utc_now_timestamp(), method, target, status, body, answer)
            self._entries.append(entry)

    def clear(self) -> None:
        """Forget every entry; sequence numbers carry on, so none is ever reused."""
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[JSONObject]:
        """Every kept entry, oldest first: `{seq, time, method, path, query, status, body,
        answer}`; a body that is not JSON is shown as text."""
        with self._lock:
            kept = list(self._entries)
        return [_present(entry) for entry in kept]


def _present(entry: _Entry) -> JSONObject:
    path, _, query = entry.target.partition("?")
    return {
        "seq": entry.seq,
        "time": entry.time,
        "method": entry.method,
        "path": path,
        "query": parse_query(query),
        "status": entry.status,
        "body": _decoded(entry.body),
        "answer": _decoded(entry.answer),
    }


def _decoded(raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw) > MAX_LOGGED_BODY:
        return {"omitted": f"{len(raw)} bytes"}
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text

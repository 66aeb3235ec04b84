"""What every route module shares: the request a handler gets, the answer it gives, the error it
raises, and the messages the notes fix word for word. No routing or auth here (see app.py)."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engage_cli.sandbox.store import SandboxStore

__all__ = [
    "DUPLICATE_USER",
    "LIMIT_RANGE",
    "LIST_NOT_FOUND",
    "NEEDS_SECRET",
    "USER_NOT_FOUND",
    "WRONG_CREDENTIALS",
    "Access",
    "ApiError",
    "JSONObject",
    "Request",
    "Response",
    "Route",
    "bad_request",
    "json_answer",
]

# Messages the notes fix word for word; clients and tests match on them.
WRONG_CREDENTIALS = "Wrong authentication credentials."
NEEDS_SECRET = "This operation requires full (key and secret) authentication."
USER_NOT_FOUND = "User not found."
LIST_NOT_FOUND = "List not found."
DUPLICATE_USER = "A user with this id already exists."
LIMIT_RANGE = "limit must be between 1 and 30"

# (status, headers, body): what `SandboxAPI.handle` answers.
Response = tuple[int, dict[str, str], bytes]
JSONObject = dict[str, Any]


class ApiError(Exception):
    """An answer other than success: becomes `{"error": message}` with the status."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def json_answer(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return status, {"Content-Type": "application/json", **(headers or {})}, body


class Access(enum.Enum):
    KEY_ONLY = "key"  # "username authentication": the key with an empty password
    FULL = "full"  # key and secret


@dataclass(frozen=True)
class Request:
    """One authenticated, routed request, as a handler sees it."""

    store: SandboxStore
    access: Access
    params: dict[str, str]  # path parameters by name, percent-decoded
    query: dict[str, list[str]]  # every value of every parameter, in order
    body: bytes

    def arg(self, name: str) -> str | None:
        """The first value of a query parameter (repeats: the first wins), else None."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Route:
    """`method` on `path` (segments after the optional /v1; `{name}` matches one segment).

    `key_only`: the key alone is enough ("username authentication"); otherwise the secret too.
    """

    method: str
    path: tuple[str, ...]
    handler: Callable[[Request], Response]
    key_only: bool = False

"""The Engage users API (`/v1/users...`) as pure request -> response logic over a SandboxStore.

Every behaviour follows `reference/engage-users-api.txt` and `reference/engage-api-notes.md`;
where they are silent the choice is commented. Both the HTTP server and the in-process httpx
transport call `SandboxAPI.handle`, so they cannot disagree.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import platformdirs

from engage_cli.sandbox.store import (
    DuplicateUserError,
    SandboxStore,
    Scalar,
    StoreClosedError,
    UserChanges,
    format_timestamp,
)
from engage_cli.strict import loads_json, parse_iso8601

__all__ = [
    "DEFAULT_KEY",
    "DEFAULT_SECRET",
    "DUPLICATE_USER",
    "LIMIT_RANGE",
    "NEEDS_SECRET",
    "USER_NOT_FOUND",
    "WRONG_CREDENTIALS",
    "Response",
    "SandboxAPI",
    "default_db_path",
    "parse_timestamp",
]

DEFAULT_KEY = "sandbox-key"
DEFAULT_SECRET = "sandbox-secret"

# Messages the notes fix word for word; clients and tests match on them.
WRONG_CREDENTIALS = "Wrong authentication credentials."
NEEDS_SECRET = "This operation requires full (key and secret) authentication."
USER_NOT_FOUND = "User not found."
DUPLICATE_USER = "A user with this id already exists."
LIMIT_RANGE = "limit must be between 1 and 30"

DEFAULT_LIMIT = 10
MAX_LIMIT = 30

# (status, headers, body): what `handle` answers.
Response = tuple[int, dict[str, str], bytes]
JSONObject = dict[str, Any]

logger = logging.getLogger(__name__)


def default_db_path() -> Path:
    """`ENGAGE_SANDBOX_DB` if set, else `sandbox.sqlite3` in the user data directory."""
    override = os.environ.get("ENGAGE_SANDBOX_DB")
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path("engage") / "sandbox.sqlite3"


class ApiError(Exception):
    """An answer other than success: becomes `{"error": message}` with the status."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _bad_request(message: str) -> ApiError:
    return ApiError(400, message)


# -- parsing and validation ------------------------------------------------------------------

# Letters and digits only, ASCII: str.isalnum() would also let through "é" or "٣".
_USER_ID = re.compile(r"[A-Za-z0-9]+")
_INTERNAL_ID = re.compile(r"[0-9a-fA-F]{24}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
# ISO 8601 extended format, parsed by hand: datetime.fromisoformat accepts different inputs on
# Python 3.10 and 3.11+, and the sandbox must answer the same on both.
_CREATE_FIELDS = frozenset(
    {
        "id",
        "first_name",
        "last_name",
        "number",
        "email",
        "created_at",
        "lists",
        "meta",
        "device_token",
        "device_platform",
    }
)
# The reference's PUT takes no id (the path names the user) and no lists.
_UPDATE_FIELDS = _CREATE_FIELDS - {"id", "lists"}
_EVENT_FIELDS = frozenset({"event", "value", "properties", "timestamp"})
_DEVICE_PLATFORMS = ("android", "ios")


def _json_object(body: bytes) -> JSONObject:
    try:
        value = loads_json(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad_request("Request body must be valid JSON.") from exc
    if not isinstance(value, dict):
        raise _bad_request("Request body must be a JSON object.")
    return value


def _refuse_unknown_fields(body: JSONObject, allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if len(unknown) == 1:
        raise _bad_request(f"Unknown field: {unknown[0]}.")
    if unknown:
        raise _bad_request(f"Unknown fields: {', '.join(unknown)}.")


def _is_scalar(value: object) -> bool:
    # bool is an int subclass, so this accepts true/false as well as numbers; None, lists and
    # dicts are what it refuses. Floats are finite already (see strict.loads_json).
    return isinstance(value, (str, int, float))


def _string(body: JSONObject, name: str) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise _bad_request(f"{name} must be a string.")
    return value


def _scalar_map(value: object, name: str) -> dict[str, Scalar]:
    if not isinstance(value, dict):
        raise _bad_request(f"{name} must be an object.")
    for key, item in value.items():
        if not _is_scalar(item):
            raise _bad_request(f"{name}.{key} must be a string, number or boolean.")
    return dict(value)


def _user_id(body: JSONObject) -> str:
    if "id" not in body:
        raise _bad_request("id is required.")
    value = body["id"]
    if not isinstance(value, str) or not _USER_ID.fullmatch(value):
        raise _bad_request("id must contain only letters and digits.")
    return value


def _phone_number(value: object) -> str:
    # A JSON integer is accepted and kept as its digits: the API returns number as a string.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    raise _bad_request(
        "number must contain digits only (international format, without + or spaces)."
    )


def _email(value: object) -> str:
    if not isinstance(value, str) or not _EMAIL.fullmatch(value):
        raise _bad_request("email must be a valid email address.")
    return value


# The sandbox and the CLI's validation share one reading of ISO 8601.
parse_timestamp = parse_iso8601


def _timestamp(body: JSONObject, name: str) -> str:
    value = body[name]
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return format_timestamp(parse_timestamp(value))
    except ValueError as exc:
        raise _bad_request(f"{name} must be a valid ISO 8601 date.") from exc


def _list_ids(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad_request("lists must be an array of list ids (strings).")
    return list(value)


def _device(body: JSONObject) -> dict[str, str] | None:
    token, platform = body.get("device_token"), body.get("device_platform")
    if "device_token" not in body and "device_platform" not in body:
        return None
    if not isinstance(token, str) or not token:
        raise _bad_request("device_token must be a non-empty string given with device_platform.")
    if not isinstance(platform, str) or platform.lower() not in _DEVICE_PLATFORMS:
        raise _bad_request("device_platform must be android or ios.")
    return {"token": token, "platform": platform.lower()}


def _user_changes(body: JSONObject) -> UserChanges:
    changes: UserChanges = {}
    if "first_name" in body:
        changes["first_name"] = _string(body, "first_name")
    if "last_name" in body:
        changes["last_name"] = _string(body, "last_name")
    if "number" in body:
        changes["number"] = _phone_number(body["number"])
    if "email" in body:
        changes["email"] = _email(body["email"])
    if "created_at" in body:
        changes["created_at"] = _timestamp(body, "created_at")
    if "meta" in body:
        changes["meta"] = _scalar_map(body["meta"], "meta")
    if "lists" in body:
        changes["lists"] = _list_ids(body["lists"])
    device = _device(body)
    if device is not None:
        changes["device"] = {"token": device["token"], "platform": device["platform"]}
    return changes


def _limit(query: Mapping[str, str]) -> int:
    text = query.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"\d{1,3}", text.strip()) or not 1 <= int(text) <= MAX_LIMIT:
        raise _bad_request(LIMIT_RANGE)
    return int(text)


# Newer API editions send next_cursor/previous_cursor and accept them back as parameters;
# they mean after_id/before_id. At most one of the four may be given.
_CURSOR_PARAMETERS = {
    "after_id": "after",
    "before_id": "before",
    "next_cursor": "after",
    "previous_cursor": "before",
}


def _cursor(query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(after_id, before_id) from the query; an empty value counts as absent."""
    given = [(name, query[name]) for name in _CURSOR_PARAMETERS if query.get(name)]
    if len(given) > 1:
        raise _bad_request(f"Use only one of {given[0][0]} and {given[1][0]}.")
    if not given:
        return None, None
    name, value = given[0]
    if not _INTERNAL_ID.fullmatch(value):
        raise _bad_request(f"{name} must be a user id (24 hex digits).")
    if _CURSOR_PARAMETERS[name] == "after":
        return value.lower(), None
    return None, value.lower()


def _query(text: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        query.setdefault(name, value)  # first one wins on repeats
    return query


def _json(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return status, {"Content-Type": "application/json", **(headers or {})}, body


# -- routing ---------------------------------------------------------------------------------


class _Access(enum.Enum):
    KEY_ONLY = "key"  # "username authentication": the key with an empty password
    FULL = "full"  # key and secret


@dataclass(frozen=True)
class _Request:
    uid: str
    query: dict[str, str]
    body: bytes
    access: _Access


def _path_segment(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise _bad_request("The path is not valid percent-encoded UTF-8.") from exc


def _match(path: str) -> tuple[str, str]:
    """(route name, uid) for a raw path; the uid is percent-decoded after splitting on "/",
    so an encoded slash (%2F) stays inside the uid."""
    segments = path.split("/")
    if segments[:3] != ["", "v1", "users"]:
        raise ApiError(404, "Not found.")
    rest = segments[3:]
    if rest in ([], [""]):
        return "users", ""
    uid = _path_segment(rest[0])
    if uid and len(rest) == 1:
        return "user", uid
    if uid and rest[1:] == ["events"]:
        return "events", uid
    raise ApiError(404, "Not found.")


# Which calls need the secret besides the key ([decided] in the notes). PUT needs it only when the
# body carries an email, which the handler checks once the body is parsed.
_NEEDS_FULL_ACCESS = frozenset({("users", "GET"), ("user", "GET"), ("user", "DELETE")})


class _RateLimiter:
    """At most `limit` requests per one-second window of `clock`."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._count = 0

    def retry_after(self) -> int | None:
        """None if the request may go ahead, else the seconds to wait (at least 1)."""
        with self._lock:
            now = self._clock()
            window = math.floor(now)
            if window != self._window:
                self._window, self._count = window, 0
            if self._count >= self._limit:
                return max(1, math.ceil(window + 1 - now))
            self._count += 1
            return None


class SandboxAPI:
    """Engage-compatible answers to `/v1/users...` requests, with optional injected faults.

    Thread-safe: state lives in the store; the rate limiter and the random source are guarded.
    """

    def __init__(
        self,
        store: SandboxStore,
        key: str = DEFAULT_KEY,
        secret: str = DEFAULT_SECRET,
        latency_ms: float = 0,
        fail_rate: float = 0,
        rate_limit: int | None = None,
        rng: random.Random | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not key or not secret:
            raise ValueError("the sandbox needs a non-empty key and secret")
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0 <= fail_rate <= 1:
            raise ValueError("fail_rate must be between 0 and 1")
        if rate_limit is not None and rate_limit < 1:
            raise ValueError("rate_limit must be >= 1")
        self.store = store
        self.key = key
        self.secret = secret
        self.latency_ms = latency_ms
        self.fail_rate = fail_rate
        self.rate_limit = rate_limit
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._limiter = None if rate_limit is None else _RateLimiter(rate_limit, clock)
        self._routes: dict[str, dict[str, Callable[[_Request], Response]]] = {
            "users": {"GET": self._list_users, "POST": self._create_user},
            "user": {"GET": self._get_user, "PUT": self._update_user, "DELETE": self._delete_user},
            "events": {"POST": self._add_event},
        }

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request. `target` is the raw path with its query string."""
        try:
            lowered = {name.lower(): value for name, value in headers.items()}
            return self._dispatch(method.upper(), target, lowered, body)
        except ApiError as error:
            return _json(error.status, {"error": error.message}, error.headers)
        except StoreClosedError:
            return _json(503, {"error": "The sandbox is shutting down."})
        except Exception:
            # A bug must still produce an HTTP answer, never a dropped connection.
            logger.exception("sandbox failed on %s %s", method, target)
            return _json(500, {"error": "Internal sandbox error."})

    # -- pipeline ----------------------------------------------------------------------------

    def _dispatch(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)  # no lock held: slow answers still overlap
        self._admit()
        self._maybe_fail()
        path, _, query = target.partition("?")
        route, uid = _match(path)
        handler = self._routes[route].get(method)
        if handler is None:
            allowed = ", ".join(sorted(self._routes[route]))
            raise ApiError(405, "Method not allowed.", {"Allow": allowed})
        access = self._authenticate(headers)
        if (route, method) in _NEEDS_FULL_ACCESS and access is not _Access.FULL:
            raise ApiError(401, NEEDS_SECRET)
        return handler(_Request(uid=uid, query=_query(query), body=body, access=access))

    def _admit(self) -> None:
        if self._limiter is None:
            return
        wait = self._limiter.retry_after()
        if wait is not None:
            raise ApiError(429, "Too many requests.", {"Retry-After": str(wait)})

    def _maybe_fail(self) -> None:
        # Decided before routing, so a failed request has had no effect at all.
        if self.fail_rate <= 0:
            return
        with self._rng_lock:
            roll = self._rng.random()
        if roll < self.fail_rate:
            raise ApiError(503, "Service unavailable (simulated failure).")

    def _authenticate(self, headers: Mapping[str, str]) -> _Access:
        scheme, _, encoded = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "basic":
            raise self._wrong_credentials()
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise self._wrong_credentials() from exc
        key, _, secret = decoded.partition(":")
        if not _same(key, self.key):
            raise self._wrong_credentials()
        if not secret:
            return _Access.KEY_ONLY
        if not _same(secret, self.secret):
            raise self._wrong_credentials()
        return _Access.FULL

    @staticmethod
    def _wrong_credentials() -> ApiError:
        return ApiError(401, WRONG_CREDENTIALS, {"WWW-Authenticate": 'Basic realm="Engage"'})

    # -- handlers ----------------------------------------------------------------------------

    def _create_user(self, request: _Request) -> Response:
        body = _json_object(request.body)
        _refuse_unknown_fields(body, _CREATE_FIELDS)
        uid = _user_id(body)
        changes = _user_changes(body)
        try:
            user = self.store.create_user(uid, changes)
        except DuplicateUserError as exc:
            raise _bad_request(DUPLICATE_USER) from exc
        return _json(200, user)

    def _get_user(self, request: _Request) -> Response:
        user = self.store.get_user(request.uid)
        if user is None:
            raise ApiError(404, USER_NOT_FOUND)
        return _json(200, user)

    def _update_user(self, request: _Request) -> Response:
        body = _json_object(request.body)
        # Any email in the body needs the secret, whether or not it differs from the stored one:
        # the CLI decides from the body alone before the network, and the two must agree.
        if "email" in body and request.access is not _Access.FULL:
            raise ApiError(401, NEEDS_SECRET)
        _refuse_unknown_fields(body, _UPDATE_FIELDS)
        user, _created = self.store.upsert_user(request.uid, _user_changes(body))
        return _json(200, user)

    def _delete_user(self, request: _Request) -> Response:
        if not self.store.delete_user(request.uid):
            raise ApiError(404, USER_NOT_FOUND)
        return _json(200, {"status": "ok"})

    def _list_users(self, request: _Request) -> Response:
        limit = _limit(request.query)
        after_id, before_id = _cursor(request.query)
        email = request.query.get("email") or None
        page = self.store.list_users(limit, after_id=after_id, before_id=before_id, email=email)
        return _json(
            200,
            {
                "data": page.users,
                "has_more": page.has_more,
                "next_cursor": page.next_cursor,
                "previous_cursor": page.previous_cursor,
            },
        )

    def _add_event(self, request: _Request) -> Response:
        body = _json_object(request.body)
        _refuse_unknown_fields(body, _EVENT_FIELDS)
        event = body.get("event")
        if "event" not in body:
            raise _bad_request("event is required.")
        if not isinstance(event, str) or not event.strip():
            raise _bad_request("event must be a non-empty string.")
        value: Scalar | None = None
        if "value" in body:
            value = body["value"]
            if not _is_scalar(value):
                raise _bad_request("value must be a string, number or boolean.")
        properties = _scalar_map(body.get("properties", {}), "properties")
        timestamp = _timestamp(body, "timestamp") if "timestamp" in body else None
        self.store.add_event(
            request.uid, event, value=value, properties=properties, timestamp=timestamp
        )
        return _json(200, {"status": "ok"})


def _same(given: str, expected: str) -> bool:
    # Constant-time, so the sandbox does not teach clients a timing oracle by example.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))

"""The Engage-compatible API as pure request -> response logic over a SandboxStore.

This module is the one place for what every request goes through, in this order: injected
latency, authentication (before anything else, so a wrong key is a 401 on any path and never
spends the rate limit), the rate limiter and the simulated failures, routing (`/v1/...` and the
same path without `/v1`, as Engage's Java, PHP and Go SDKs call it), the key-only rule of the
route, and the mapping of every error to a JSON answer. What each endpoint does lives in
`routes/`, one module per resource; `store.py` (with `database.py`) holds all the SQL. Both the
HTTP server and the in-process httpx transport call `SandboxAPI.handle`, so they cannot disagree.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import parse_qsl, unquote

import platformdirs

from engage_cli.sandbox.routes import ALL_ROUTES
from engage_cli.sandbox.store import SandboxStore, StoreClosedError
from engage_cli.sandbox.web import (
    NEEDS_SECRET,
    WRONG_CREDENTIALS,
    Access,
    ApiError,
    Request,
    Response,
    Route,
    bad_request,
    json_answer,
)

__all__ = ["DEFAULT_KEY", "DEFAULT_SECRET", "SandboxAPI", "default_db_path"]

DEFAULT_KEY = "sandbox-key"
DEFAULT_SECRET = "sandbox-secret"

logger = logging.getLogger(__name__)


def default_db_path() -> Path:
    """`ENGAGE_SANDBOX_DB` if set, else `sandbox.sqlite3` in the user data directory."""
    override = os.environ.get("ENGAGE_SANDBOX_DB")
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path("engage") / "sandbox.sqlite3"


# -- routing ---------------------------------------------------------------------------------


def _path_segment(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise bad_request("The path is not valid percent-encoded UTF-8.") from exc


def _segments(path: str) -> list[str]:
    """The raw segments after `/` and an optional `v1`, without a trailing empty one."""
    segments = path.split("/")
    if segments[0] != "":
        return []
    segments = segments[1:]
    if segments[:1] == ["v1"]:
        segments = segments[1:]
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()
    return segments


class Router:
    """Finds the route for (method, path). Literal segments beat parameters, so
    `POST /users/merge` is the merge call while `GET /users/merge` still reads the user "merge".
    A path served under other methods answers 405 with `Allow`; any other path 404."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._by_path: dict[tuple[str, ...], dict[str, Route]] = {}
        for route in routes:
            methods = self._by_path.setdefault(route.path, {})
            if route.method in methods:
                raise ValueError(f"two routes for {route.method} /{'/'.join(route.path)}")
            methods[route.method] = route
        # Most literal segments first, then literals earlier in the path first.
        self._patterns = sorted(
            self._by_path, key=lambda p: [not s.startswith("{") for s in p], reverse=True
        )

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        segments = _segments(path)
        allowed: set[str] = set()
        for pattern in self._patterns:
            params = self._bind(pattern, segments)
            if params is None:
                continue
            route = self._by_path[pattern].get(method)
            if route is not None:
                return route, params
            allowed.update(self._by_path[pattern])
        if allowed:
            raise ApiError(405, "Method not allowed.", {"Allow": ", ".join(sorted(allowed))})
        raise ApiError(404, "Not found.")

    @staticmethod
    def _bind(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
        """Path parameters if the segments fit the pattern. A parameter is percent-decoded
        after the split on "/", so an encoded slash (%2F) stays inside a uid."""
        if len(pattern) != len(segments):
            return None
        params: dict[str, str] = {}
        for expected, raw in zip(pattern, segments, strict=True):
            if expected.startswith("{"):
                if not raw:
                    return None
                params[expected[1:-1]] = raw
            elif raw != expected:
                return None
        return {name: _path_segment(raw) for name, raw in params.items()}


def _query(text: str) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    return query


# -- faults ----------------------------------------------------------------------------------


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
    """Engage-compatible answers to `/v1/...` requests, with optional injected faults.

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
        self._router = Router(ALL_ROUTES)

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request. `target` is the raw path with its query string."""
        try:
            lowered = {name.lower(): value for name, value in headers.items()}
            return self._dispatch(method.upper(), target, lowered, body)
        except ApiError as error:
            return json_answer(error.status, {"error": error.message}, error.headers)
        except StoreClosedError:
            return json_answer(503, {"error": "The sandbox is shutting down."})
        except Exception:
            # A bug must still produce an HTTP answer, never a dropped connection.
            logger.exception("sandbox failed on %s %s", method, target)
            return json_answer(500, {"error": "Internal sandbox error."})

    # -- pipeline ----------------------------------------------------------------------------

    def _dispatch(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)  # no lock held: slow answers still overlap
        access = self._authenticate(headers)
        self._admit()
        self._maybe_fail()
        path, _, query = target.partition("?")
        route, params = self._router.match(method, path)
        if not route.key_only and access is not Access.FULL:
            raise ApiError(401, NEEDS_SECRET)
        request = Request(
            store=self.store, access=access, params=params, query=_query(query), body=body
        )
        return route.handler(request)

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

    def _authenticate(self, headers: Mapping[str, str]) -> Access:
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
            return Access.KEY_ONLY
        if not _same(secret, self.secret):
            raise self._wrong_credentials()
        return Access.FULL

    @staticmethod
    def _wrong_credentials() -> ApiError:
        return ApiError(401, WRONG_CREDENTIALS, {"WWW-Authenticate": 'Basic realm="Engage"'})


def _same(given: str, expected: str) -> bool:
    # Constant-time, so the sandbox does not teach clients a timing oracle by example.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))

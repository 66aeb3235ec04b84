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
from collections.abc import Callable, Mapping
from pathlib import Path

import platformdirs

from engage_cli.sandbox.control import Control, is_control
from engage_cli.sandbox.requestlog import RequestLog
from engage_cli.sandbox.routes import ALL_ROUTES
from engage_cli.sandbox.routing import Router, parse_query
from engage_cli.sandbox.store import SandboxStore, StoreClosedError
from engage_cli.sandbox.web import (
    NEEDS_SECRET,
    WRONG_CREDENTIALS,
    Access,
    ApiError,
    Request,
    Response,
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
        self.requests = RequestLog()
        self._control = Control(self.requests)

    def handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        waited: bool = False,
    ) -> Response:
        """Answer one request. `target` is the raw path with its query string. Every request
        but the control API's own is kept in the request log with its answer. `waited`: the
        caller has already waited `delay(target)` (the HTTP server does, without a thread)."""
        method = method.upper()
        if is_control(target):
            return self._answer(self._control_dispatch, method, target, headers, body)
        if not waited and self.latency_ms:
            time.sleep(self.latency_ms / 1000)  # no lock held: slow answers still overlap
        answer = self._answer(self._dispatch, method, target, headers, body)
        self.requests.record(method, target, answer[0], body, answer[2])
        return answer

    def _answer(
        self,
        dispatch: Callable[[str, str, Mapping[str, str], bytes], Response],
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Response:
        try:
            lowered = {name.lower(): value for name, value in headers.items()}
            return dispatch(method, target, lowered, body)
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
        access = self._authenticate(headers)
        self._admit()
        self._maybe_fail()
        path, _, query = target.partition("?")
        route, params = self._router.match(method, path)
        if not route.key_only and access is not Access.FULL:
            raise ApiError(401, NEEDS_SECRET)
        request = Request(
            store=self.store, access=access, params=params, query=parse_query(query), body=body
        )
        return route.handler(request)

    def delay(self, target: str) -> float:
        """Seconds of injected latency before answering `target` (none for the control API,
        which serves the test asserting on the code under test, not that code)."""
        return 0.0 if is_control(target) else self.latency_ms / 1000

    def _control_dispatch(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        # The sandbox's own key and secret; no latency, rate limit or simulated failure, which
        # are for the code under test, not for the test asserting on it.
        if self._authenticate(headers) is not Access.FULL:
            raise ApiError(401, NEEDS_SECRET)
        path, _, query = target.partition("?")
        route, params = self._control.router.match(method, path)
        request = Request(
            store=self.store, access=Access.FULL, params=params, query=parse_query(query), body=body
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

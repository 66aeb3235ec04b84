"""EngageClient: the only module that imports httpx.

Auth, timeouts, the send loop, pagination, and what only httpx can tell (which transport
failure never reached the server, where a redirect may go). The decisions it applies to
answers (retry, wait, which error, a well-formed success) are pure, in policy.py.
"""

from __future__ import annotations

import contextlib
import random
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from engage_cli import __version__
from engage_cli.config import mask_url
from engage_cli.endpoints import APIRequest, encode_body
from engage_cli.errors import (
    ConnectFailed,
    EngageError,
    Interrupted,
    MissingCredentials,
    NetworkError,
    RedirectError,
    UnexpectedAnswer,
)
from engage_cli.pagination import CURSOR_PARAMS, cursor_param, next_cursor
from engage_cli.policy import (
    CONNECT_TIMEOUT,
    MAX_POOL_CONNECTIONS,
    MAX_RATE_LIMITED,
    MAX_REDIRECTS,
    MAY_HAVE_ACTED,
    RETRY_AFTER_CAP,
    backoff,
    error_for_long_wait,
    error_for_response,
    may_have_acted,
    parse_answer,
    retry_delay,
    should_retry_status,
)

_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
USER_AGENT = f"engage-cli/{__version__} python/{_PYTHON} httpx/{httpx.__version__}"
DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}
Log = Callable[[str], None]


# --- what only httpx can tell -------------------------------------------------------------


def never_reached(exc: Exception) -> bool:
    """A transport failure that happened before the request left: no connection was made."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def should_retry_exception(exc: Exception, repeatable: bool) -> bool:
    """Connection failures never reached the server; other transport failures may have."""
    if never_reached(exc):
        return True
    return isinstance(exc, httpx.TransportError) and repeatable


def redirect_target(request: httpx.Request, response: httpx.Response) -> httpx.URL | None:
    """Where a 3xx may be followed: a 307/308 (method and body kept) to the same scheme, host
    and port (so the credentials go nowhere else); None for every other 3xx."""
    location = response.headers.get("Location")
    if response.status_code not in (307, 308) or not location:
        return None
    try:
        target = request.url.join(location)
    except httpx.InvalidURL:
        return None
    same_origin = (target.scheme, target.host, target.port) == (
        request.url.scheme,
        request.url.host,
        request.url.port,
    )
    return target if same_origin else None


def error_for_exception(
    request: APIRequest, exc: Exception, url: httpx.URL | None = None
) -> EngageError:
    where = f"{request.method} {request.path}"
    if isinstance(exc, httpx.ConnectError) and url is not None and url.host:
        # Name where it tried: the host and port that refused (or do not resolve).
        port = url.port or (443 if url.scheme == "https" else 80)
        host = f"[{url.host}]" if ":" in url.host else url.host
        return ConnectFailed(
            f"Cannot connect to {host}:{port} ({where}): {str(exc) or type(exc).__name__}.",
            host=url.host,
            port=port,
        )
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    message = f"The request {kind} ({where}): {str(exc) or type(exc).__name__}"
    if not never_reached(exc) and may_have_acted(request, None):
        return NetworkError(f"{message}. {MAY_HAVE_ACTED}", uncertain=True)
    return NetworkError(message, retryable=True)


class _Deadline(httpx.SyncByteStream):
    """An answer's body, refused (httpx.ReadTimeout) once it is still coming at the deadline."""

    def __init__(
        self, stream: Any, deadline: float, timeout: float, request: httpx.Request
    ) -> None:
        self._stream = stream
        self._deadline = deadline
        self._timeout = timeout
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            if time.monotonic() > self._deadline:
                raise httpx.ReadTimeout(
                    f"no complete answer within {self._timeout:g} s", request=self._request
                )
            yield chunk

    def close(self) -> None:
        self._stream.close()


# --- the client ---------------------------------------------------------------------------


class EngageClient:
    """Sends APIRequests: credentials checked first, then one loop of bounded attempts."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        api_secret: str | None,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        log: Log | None = None,
        sleep: Callable[[float], None] | None = None,
        rand: Callable[[], float] = random.random,
        max_connections: int = 16,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.api_secret = api_secret
        self.retries = retries
        self.timeout = timeout
        self._log = log
        self._sleep = sleep or time.sleep
        self._rand = rand
        # A 429 pauses every request of this client, not only the one that got it.
        self._pause_until = 0.0
        self._pause_lock = threading.Lock()
        # Set by a bulk run: a 429 is handed to it (it pauses and slows the whole run) and the
        # request goes again without using up one of its retries (at most MAX_RATE_LIMITED).
        self.on_rate_limit: Callable[[float | None], None] | None = None
        # Set by a bulk run: told of every failed attempt about to be retried (and why), so
        # that failures in a row across all its requests can say the API is down.
        self.on_retry: Callable[[str, int | None], None] | None = None
        # The connections this client opened, so that cancel() can cut them from another
        # thread (a bulk run stopped by Ctrl-C or SIGTERM); weak: the pool closes them.
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self._cancelled = False
        limits = httpx.Limits(
            max_connections=min(max_connections, MAX_POOL_CONNECTIONS),
            max_keepalive_connections=min(max_connections, MAX_POOL_CONNECTIONS),
        )
        # The deadline of a request in flight, for every read and write on the network.
        self._bound: Callable[[float, float], contextlib.AbstractContextManager[None]] = (
            lambda at, whole: contextlib.nullcontext()
        )
        if transport is None:
            from engage_cli.network import DeadlineTransport, deadline

            self._bound = deadline

            # Loading the CA bundle costs ~25 ms a start; a plain-http base URL (the local
            # sandbox) never uses it, and redirects are followed only to the same scheme.
            transport = DeadlineTransport(
                verify=not self.base_url.startswith("http://"), limits=limits
            )
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            limits=limits,
            headers=DEFAULT_HEADERS,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def cancel(self) -> None:
        """End every request in flight now (callable from any thread or a signal handler):
        their connections are shut down, so each fails at once instead of at its timeout,
        and no attempt starts after this. A request that was sent is then uncertain, as
        any request left without an answer."""
        self._cancelled = True
        for stream in list(self._streams):
            sock = stream.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):  # closed already
                    sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> EngageClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # What would be sent: for --dry-run and --debug.
    def target(self, request: APIRequest) -> str:
        """Where a request goes: under the base URL, or from its root (`from_root`)."""
        if not request.from_root:
            return self.base_url + request.path
        base = httpx.URL(self.base_url)
        return str(base.copy_with(raw_path=request.path.encode("ascii")))

    def url(self, request: APIRequest) -> str:
        url = httpx.URL(self.target(request))
        return mask_url(str(url.copy_with(params=request.params) if request.params else url))

    def shown_headers(self, request: APIRequest) -> dict[str, str]:
        """The headers a request carries, as --dry-run and --debug show them: the real
        Authorization is made by httpx while sending, so it is never in here to leak."""
        headers = dict(DEFAULT_HEADERS)
        if self.api_key:
            headers["Authorization"] = "Basic ****"
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def describe(self, request: APIRequest) -> dict[str, Any]:
        return {
            "method": request.method,
            "url": self.url(request),
            "headers": self.shown_headers(request),
            "body": request.body,
        }

    def check_credentials(self, request: APIRequest) -> None:
        if not self.api_key:
            raise MissingCredentials("No API key is configured.", missing="api_key")
        if request.needs_secret and not self.api_secret:
            raise MissingCredentials(
                f"{request.method} {request.path} needs the API secret, "
                "and only an API key is configured.",
                missing="api_secret",
            )

    def send(self, request: APIRequest) -> Any:
        """Send with retries; return the parsed JSON answer or raise an EngageError."""
        self.check_credentials(request)
        http_request = self._build(request, self.target(request), request.params)
        assert self.api_key is not None
        # Username authentication is the key with an empty password.
        auth = (self.api_key, self.api_secret or "")
        attempt = limited = redirects = 0
        while True:
            self._wait_for_pause()
            if self._cancelled:
                raise Interrupted(f"Cancelled before sending {request.method} {request.path}.")
            started = time.monotonic()
            self._debug_request(request, http_request)
            try:
                response = self._receive(http_request, auth, started + self.timeout)
            except httpx.TransportError as exc:
                self._debug(f"< {type(exc).__name__}: {exc}")
                if self._cancelled:
                    cut = httpx.ReadError("cancelled as the run was stopped", request=http_request)
                    raise error_for_exception(request, cut) from exc
                if attempt < self.retries and should_retry_exception(exc, request.repeatable):
                    self._retry_wait(attempt, None, f"{type(exc).__name__}")
                    attempt += 1
                    continue
                raise error_for_exception(request, exc, http_request.url) from exc
            elapsed_ms = (time.monotonic() - started) * 1000
            self._debug(f"< {response.status_code} {response.reason_phrase} ({elapsed_ms:.0f} ms)")
            if response.status_code < 300:
                return parse_answer(request, response)
            target = redirect_target(http_request, response)
            if target is not None and redirects < MAX_REDIRECTS:
                self._debug(f"  following the redirect to {mask_url(str(target))}")
                http_request = self._build(request, target, None)
                redirects += 1
                continue
            if (
                response.status_code == 429
                and self.on_rate_limit is not None
                and limited < MAX_RATE_LIMITED
            ):
                delay = retry_delay(response.headers)
                if delay is not None and delay > RETRY_AFTER_CAP:
                    raise error_for_long_wait(request, response, delay)
                limited += 1
                self._debug("  rate limited: waiting for the run's next slot")
                self.on_rate_limit(delay)
                continue
            if attempt < self.retries and should_retry_status(
                response.status_code, request.repeatable
            ):
                delay = retry_delay(response.headers)
                if delay is not None and delay > RETRY_AFTER_CAP:
                    raise error_for_long_wait(request, response, delay)
                if response.status_code == 429 and delay is not None:
                    self._pause_all(delay)
                self._retry_wait(attempt, delay, str(response.status_code), response.status_code)
                attempt += 1
                continue
            if target is not None:
                raise RedirectError(
                    f"The API redirected {request.method} {request.path} more than "
                    f"{MAX_REDIRECTS} times; the last hop was to {mask_url(str(target))}.",
                    status=response.status_code,
                    location=str(target),
                )
            raise error_for_response(request, response)

    def paginate(self, request: APIRequest, *, backward: bool = False) -> Iterator[list[Any]]:
        """Yield page after page, following `next_cursor` (or `previous_cursor` going
        backward) when the server sends one, else `has_more` with the edge item's id."""
        params = dict(request.params)
        seen = {str(v) for k, v in params.items() if k in CURSOR_PARAMS}
        while True:
            page = self.send(request.with_params(params))
            items = page.get("data") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise UnexpectedAnswer(
                    f"Unexpected list answer from {request.path}: no `data` array."
                )
            cursor = next_cursor(page, backward)
            if cursor is not None and cursor in seen:
                # The pages would loop forever; this one may hold rows shown already.
                raise UnexpectedAnswer(
                    f"The API repeated the pagination cursor {cursor!r} ({request.method} "
                    f"{request.path}): its pages loop. Stopped before showing rows twice."
                )
            yield items
            if cursor is None:
                return
            seen.add(cursor)
            params = {k: v for k, v in params.items() if k not in CURSOR_PARAMS}
            params[cursor_param(page, backward)] = cursor

    # --- internals ---

    def _build(
        self, request: APIRequest, url: str | httpx.URL, params: dict[str, Any] | None
    ) -> httpx.Request:
        return self._http.build_request(
            request.method,
            url,
            params=params or None,
            content=encode_body(request.body) if request.body is not None else None,
            headers={"Content-Type": "application/json"} if request.body is not None else None,
            extensions={"trace": self._trace},
        )

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: keep each connection opened, for cancel()."""
        if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
            self._streams.add(info["return_value"])

    def _receive(
        self, http_request: httpx.Request, auth: tuple[str, str], deadline: float
    ) -> httpx.Response:
        """The whole answer by `deadline` (the timeout bounds a request from connecting to
        its last byte, not each read: a server sending a byte a second would never end),
        or httpx.ReadTimeout. On the network every read and write is bounded so (headers
        included); any transport's body is bounded here."""
        with self._bound(deadline, self.timeout):
            response = self._http.send(http_request, auth=auth, stream=True)
            response.stream = _Deadline(response.stream, deadline, self.timeout, http_request)
            try:
                response.read()
            finally:
                response.close()
        return response

    def _retry_wait(
        self, attempt: int, delay: float | None, why: str, status: int | None = None
    ) -> None:
        wait = delay if delay is not None else backoff(attempt, self._rand)
        self._debug(f"  retrying in {wait:.2f}s after {why} (attempt {attempt + 2})")
        if self.on_retry is not None:
            self.on_retry(why, status)
        self._sleep(wait)

    def _pause_all(self, seconds: float) -> None:
        with self._pause_lock:
            self._pause_until = max(self._pause_until, time.monotonic() + seconds)

    def _wait_for_pause(self) -> None:
        remaining = self._pause_until - time.monotonic()
        if remaining > 0:
            self._sleep(remaining)

    def _debug_request(self, request: APIRequest, http_request: httpx.Request) -> None:
        if self._log is None:
            return
        self._debug(f"> {request.method} {mask_url(str(http_request.url))}")
        for name, value in self.shown_headers(request).items():
            self._debug(f"> {name}: {value}")
        if request.body is not None:
            self._debug(f"> {encode_body(request.body).decode('utf-8')}")

    def _debug(self, line: str) -> None:
        if self._log is not None:
            self._log(line)

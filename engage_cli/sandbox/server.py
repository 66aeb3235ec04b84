"""Serve a SandboxAPI over HTTP/1.1 on loopback: stdlib http.server on a bounded pool of
worker threads, with every body capped and every malformed request answered 400 in JSON."""

from __future__ import annotations

import json
import queue
import re
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import FrameType
from typing import IO, Any, Union

from engage_cli.sandbox.api import DEFAULT_KEY, DEFAULT_SECRET, SandboxAPI, default_db_path
from engage_cli.sandbox.store import SandboxStore

__all__ = [
    "SandboxHTTPServer",
    "base_url",
    "make_server",
    "run_sandbox_server",
    "serve_until_stopped",
]

# Bodies larger than this are refused (413) rather than read into memory, however framed.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Threads answering connections; connections beyond them wait in a queue, and past
# MAX_WAITING_CONNECTIONS of those a new connection is answered 503 at once.
MAX_WORKERS = 64
MAX_WAITING_CONNECTIONS = 512
# A whole request (line, headers, body) must arrive within this many seconds of its first byte
# (or of a new connection being picked up): a slow client holds a worker no longer (408).
REQUEST_TIMEOUT_SECONDS = 30.0
# A keep-alive connection idle this long is closed; it is closed at once, between two requests,
# when connections are waiting for a worker, so idle clients never starve the pool.
IDLE_TIMEOUT_SECONDS = 120.0
# An answer the client does not read within this long is abandoned.
SEND_TIMEOUT_SECONDS = 30.0
# How shutdown waits for requests already being answered before closing the store.
DRAIN_SECONDS = 5.0
# How often serve_forever checks for a stop request: the worst-case delay of a shutdown.
POLL_SECONDS = 0.05
# How long a keep-alive connection must have been idle before it is closed for a waiting one
# (a client sending its next request at that moment would see the connection drop).
IDLE_GRACE_SECONDS = 1.0
# How often a worker waiting on an idle connection looks at the queue and at shutdown.
IDLE_POLL_SECONDS = 0.1
# Longest chunk-size line (with extensions) and trailer section of a chunked body.
MAX_CHUNK_LINE = 1024
MAX_TRAILER_LINES = 32

_SignalHandler = Union[Callable[[int, Union[FrameType, None]], Any], int, None]
_DECIMAL = re.compile(r"[0-9]+")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?\r?\n")


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _SlowRequest(Exception):
    """A request did not arrive within REQUEST_TIMEOUT_SECONDS."""


class _SocketReader:
    """The handler's rfile: reads a socket with a deadline for the request being read, and
    says whether bytes are already buffered (a pipelined request) without blocking."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()
        self.deadline: float | None = None
        self.closed = False

    @property
    def buffered(self) -> bool:
        return bool(self._buf)

    def _fill(self) -> bool:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise _SlowRequest
            self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        except TimeoutError as exc:
            raise _SlowRequest from exc
        self._buf += data
        return bool(data)

    def readline(self, limit: int = -1) -> bytes:
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end >= 0:
                size = end + 1
                break
            start = len(self._buf)
            if 0 <= limit <= len(self._buf) or not self._fill():
                size = len(self._buf)
                break
        if limit >= 0:
            size = min(size, limit)
        line = bytes(self._buf[:size])
        del self._buf[:size]
        return line

    def read(self, size: int) -> bytes:
        while len(self._buf) < size and self._fill():
            pass
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def close(self) -> None:
        self.closed = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    timeout = SEND_TIMEOUT_SECONDS
    # Headers and body go out in separate writes; with Nagle on, the body would wait for the
    # client's delayed ACK (~40 ms a request on keep-alive connections).
    disable_nagle_algorithm = True
    server: SandboxHTTPServer
    rfile: _SocketReader  # type: ignore[assignment]
    raw_requestline: bytes

    def setup(self) -> None:
        super().setup()
        self.rfile = _SocketReader(self.connection)
        self._readable = selectors.DefaultSelector()
        self._readable.register(self.connection, selectors.EVENT_READ)

    def finish(self) -> None:
        self._readable.close()
        super().finish()

    def handle(self) -> None:
        """The keep-alive loop: each request must arrive in time, and an idle connection
        gives its worker up when other connections are waiting for one."""
        self.close_connection = True
        first = True
        while self._wait_for_request(first):
            first = False
            # What send_error needs when not even the request line arrives in time.
            self.command, self.requestline, self.request_version = "", "", "HTTP/1.1"
            self.rfile.deadline = time.monotonic() + self.server.request_timeout
            try:
                self.handle_one_request()
            except _SlowRequest:
                self.close_connection = True
                self.send_error(408, "The request did not arrive in time.")
            self.rfile.deadline = None
            if self.close_connection:
                return

    def _wait_for_request(self, first: bool) -> bool:
        if self.rfile.buffered:
            return True
        server = self.server
        since = time.monotonic()
        give_up = since + (server.request_timeout if first else server.idle_timeout)
        while not server.closing:
            now = time.monotonic()
            if now >= give_up:
                return False
            if not first and server.busy and now - since >= IDLE_GRACE_SECONDS:
                return False  # someone is waiting for this worker
            if self._readable.select(min(give_up - now, IDLE_POLL_SECONDS)):
                return True
        return False

    def parse_request(self) -> bool:
        # One empty line before a request line is allowed (RFC 9112, 2.2); more is garbage.
        if self.raw_requestline in (b"\r\n", b"\n"):
            self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline.strip():
            self.send_error(400, "Empty request line.")
            return False
        return bool(super().parse_request())

    def handle_expect_100(self) -> bool:
        # Refuse a body that will be refused anyway before the client sends it.
        try:
            self._body_framing()
        except _BodyError as error:
            self.send_error(error.status, error.message)
            return False
        return bool(super().handle_expect_100())

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _answer(self) -> None:
        try:
            body = self._read_body()
        except _BodyError as error:
            # The rest of the request cannot be told from the next one: close the connection.
            self.send_error(error.status, error.message)
            return
        self.rfile.deadline = None
        with self.server.tracking_request():
            status, headers, payload = self.server.api.handle(
                self.command, self.path, dict(self.headers.items()), body
            )
        self._send(status, headers, payload)

    def _body_framing(self) -> int | None:
        """The declared Content-Length, or None for a chunked body; _BodyError if the
        framing is malformed, ambiguous or declares more than the cap."""
        codings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if codings:
            if lengths:
                raise _BodyError(400, "Both Transfer-Encoding and Content-Length were sent.")
            tokens = [t.strip().lower() for value in codings for t in value.split(",")]
            if tokens != ["chunked"]:
                raise _BodyError(501, "Only the chunked Transfer-Encoding is supported.")
            return None
        values = {value.strip() for value in lengths}
        if not values:
            return 0
        if len(values) > 1:
            raise _BodyError(400, "Conflicting Content-Length headers.")
        text = values.pop()
        if not text.isascii() or not _DECIMAL.fullmatch(text):
            raise _BodyError(400, "Invalid Content-Length.")
        if len(text.lstrip("0")) > len(str(MAX_BODY_BYTES)) or int(text) > MAX_BODY_BYTES:
            raise _BodyError(413, "Request body too large.")
        return int(text)

    def _read_body(self) -> bytes:
        length = self._body_framing()
        if length is None:
            return self._read_chunked()
        body = self.rfile.read(length)
        if len(body) < length:
            raise _BodyError(400, "The request body is shorter than its Content-Length.")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            match = _CHUNK_LINE.fullmatch(self.rfile.readline(MAX_CHUNK_LINE))
            if match is None:
                raise _BodyError(400, "Invalid chunked body: bad chunk-size line.")
            size = int(match.group(1), 16)
            if size > MAX_BODY_BYTES - total:  # refused before reading a byte of it
                raise _BodyError(413, "Request body too large.")
            if size == 0:
                self._read_trailers()
                return b"".join(chunks)
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise _BodyError(400, "Invalid chunked body: it ends inside a chunk.")
            chunks.append(chunk)
            total += size
            if self.rfile.readline(2) not in (b"\r\n", b"\n"):
                raise _BodyError(400, "Invalid chunked body: a chunk is longer than its size.")

    def _read_trailers(self) -> None:
        for _ in range(MAX_TRAILER_LINES):
            line = self.rfile.readline(MAX_CHUNK_LINE)
            if line in (b"\r\n", b"\n"):
                return
            if not line.endswith(b"\n"):
                break
        raise _BodyError(400, "Invalid chunked body: bad trailer section.")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every error, the stdlib's parse errors included, as a JSON body on a closing
        connection: after a malformed request the next one cannot be found."""
        self.close_connection = True
        if message is None:
            message = self.responses.get(code, ("Error",))[0]
        self._send(code, {"Content-Type": "application/json"}, _error(message))

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # garbage still gets a status line
        if self.server.busy:
            self.close_connection = True  # this connection's worker is wanted elsewhere
        self.connection.settimeout(self.server.send_timeout)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode("utf-8")


_BUSY_BODY = _error("The sandbox is busy; retry shortly.")
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
    % (len(_BUSY_BODY), _BUSY_BODY)
)


class SandboxHTTPServer(HTTPServer):
    """An HTTPServer bound to one SandboxAPI, answering on a bounded pool of worker threads,
    and counting the requests it is answering."""

    request_queue_size = 128  # bursts of many clients connecting at once are not refused
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        api: SandboxAPI,
        *,
        verbose: bool = False,
        max_workers: int = MAX_WORKERS,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        send_timeout: float = SEND_TIMEOUT_SECONDS,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.api = api
        self.verbose = verbose
        self.max_workers = max_workers
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.send_timeout = send_timeout
        self.closing = False
        self._active = 0
        self._idle = threading.Condition()
        self._pool_lock = threading.Lock()
        self._connections: queue.SimpleQueue[tuple[socket.socket, Any] | None]
        self._connections = queue.SimpleQueue()
        self._waiting = 0  # connections accepted and not yet picked up by a worker
        self._free_workers = 0
        self._workers: list[threading.Thread] = []
        super().__init__(address, _Handler)

    @property
    def worker_count(self) -> int:
        """Worker threads started so far (never more than max_workers)."""
        return len(self._workers)

    @property
    def busy(self) -> bool:
        """Whether connections are waiting for a worker and no more can be started."""
        return self._waiting > self._free_workers and len(self._workers) >= self.max_workers

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._pool_lock:
            if self._waiting >= MAX_WAITING_CONNECTIONS:
                self._refuse(request)
                return
            self._waiting += 1
            if self._waiting > self._free_workers and len(self._workers) < self.max_workers:
                worker = threading.Thread(
                    target=self._work, name=f"sandbox-worker-{len(self._workers)}", daemon=True
                )
                self._workers.append(worker)
                worker.start()
        self._connections.put((request, client_address))

    def _work(self) -> None:
        while True:
            with self._pool_lock:
                self._free_workers += 1
            item = self._connections.get()
            with self._pool_lock:
                self._free_workers -= 1
                if item is None:  # the server closed
                    return
                self._waiting -= 1
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def _refuse(self, request: socket.socket) -> None:
        try:
            request.setblocking(False)
            request.send(_BUSY)
        except OSError:
            pass
        self.shutdown_request(request)

    def server_close(self) -> None:
        self.closing = True  # idle keep-alive connections let their workers go
        super().server_close()
        for _ in self._workers:
            self._connections.put(None)  # after the connections still queued

    @contextmanager
    def tracking_request(self) -> Iterator[None]:
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Wait for requests in progress to be answered; False if some still were at timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-answer is routine under load; anything else is worth a trace.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def make_server(
    api: SandboxAPI,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    verbose: bool = False,
    **limits: float,
) -> SandboxHTTPServer:
    """Bind (port 0 = any free port) but do not serve yet; see `serve_until_stopped`.
    `limits` are SandboxHTTPServer's max_workers and timeouts."""
    return SandboxHTTPServer((host, port), api, verbose=verbose, **limits)  # type: ignore[arg-type]


def base_url(server: SandboxHTTPServer) -> str:
    host, port = server.server_address[:2]
    if isinstance(host, bytes):
        host = host.decode()
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"http://{shown}:{port}/v1"


def serve_until_stopped(
    server: SandboxHTTPServer,
    out: IO[str],
    err: IO[str] | None = None,
    *,
    handle_signals: bool = True,
) -> int:
    """Print the banner, serve until SIGINT/SIGTERM (or `server.shutdown()`), then close.

    The first stdout line is the base URL alone, so a script that started the server with port 0
    can read where it listens; the credentials follow as `ENGAGE_API_KEY=` / `ENGAGE_API_SECRET=`
    lines. Returns the exit status (0). Signal handlers are installed only from the main thread.
    """
    # Handlers first: a script may send SIGTERM as soon as it has read the first line.
    restore = _install_stop_signals(server) if handle_signals else {}
    try:
        out.write(f"{base_url(server)}\n")
        out.write(f"ENGAGE_API_KEY={server.api.key}\n")
        out.write(f"ENGAGE_API_SECRET={server.api.secret}\n")
        out.flush()
        if err is not None:
            err.write(f"Engage sandbox, data in {server.api.store.path}. Stop it with Ctrl-C.\n")
            err.flush()
        server.serve_forever(poll_interval=POLL_SECONDS)
    finally:
        for signum, previous in restore.items():
            signal.signal(signum, previous)
        server.server_close()  # stop accepting first, then let answers in flight finish
        server.drain()
        server.api.store.close()
    return 0


def _install_stop_signals(server: SandboxHTTPServer) -> dict[int, _SignalHandler]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, and serve_forever runs in this very
        # thread: calling it here would deadlock, so another thread asks for the stop.
        threading.Thread(target=server.shutdown, name="sandbox-stop", daemon=True).start()

    previous: dict[int, _SignalHandler] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, stop)
    return previous


def run_sandbox_server(
    *,
    db_path: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    key: str = DEFAULT_KEY,
    secret: str = DEFAULT_SECRET,
    latency_ms: float = 0,
    fail_rate: float = 0,
    rate_limit: int | None = None,
    verbose: bool = False,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """What `engage sandbox serve` does: open the store, bind, print the banner, serve until
    SIGINT/SIGTERM, close. Returns the exit status (0). Raises OSError if the port is taken and
    ValueError for out-of-range fault options."""
    store = SandboxStore(db_path if db_path is not None else default_db_path())
    try:
        api = SandboxAPI(
            store,
            key=key,
            secret=secret,
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            rate_limit=rate_limit,
        )
        server = make_server(api, host, port, verbose=verbose)
    except BaseException:
        store.close()
        raise
    return serve_until_stopped(
        server, out if out is not None else sys.stdout, err if err is not None else sys.stderr
    )

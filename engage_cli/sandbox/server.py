"""Serve a SandboxAPI over HTTP/1.1 on loopback (stdlib http.server, one thread per connection)."""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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

# Bodies larger than this are refused (413) rather than read into memory.
MAX_BODY_BYTES = 10 * 1024 * 1024
# A keep-alive connection idle this long is closed, so idle clients do not pin threads forever.
IDLE_TIMEOUT_SECONDS = 120.0
# How long shutdown waits for requests already being answered before closing the store.
DRAIN_SECONDS = 5.0
# How often serve_forever checks for a stop request: the worst-case delay of a shutdown.
POLL_SECONDS = 0.05

_SignalHandler = Union[Callable[[int, Union[FrameType, None]], Any], int, None]


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    timeout = IDLE_TIMEOUT_SECONDS
    # Headers and body go out in separate writes; with Nagle on, the body would wait for the
    # client's delayed ACK (~40 ms a request on keep-alive connections).
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _answer(self) -> None:
        try:
            body = self._read_body()
        except _BodyError as error:
            # The rest of the request cannot be told from the next one: close the connection.
            self.close_connection = True
            self._send(error.status, {"Content-Type": "application/json"}, _error(error.message))
            return
        with self.server.tracking_request():
            status, headers, payload = self.server.api.handle(
                self.command, self.path, dict(self.headers.items()), body
            )
        self._send(status, headers, payload)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        if not length_text.strip().isdigit():
            raise _BodyError(400, "Invalid Content-Length.")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise _BodyError(413, "Request body too large.")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError as exc:
                raise _BodyError(400, "Invalid chunked body.") from exc
            total += size
            if total > MAX_BODY_BYTES:
                raise _BodyError(413, "Request body too large.")
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers, unused
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF closing the chunk

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
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


class SandboxHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer bound to one SandboxAPI, counting the requests it is answering."""

    daemon_threads = True  # a stuck keep-alive connection never blocks exit
    request_queue_size = 128  # bursts of many clients connecting at once are not refused
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: SandboxAPI, *, verbose: bool = False) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.api = api
        self.verbose = verbose
        self._active = 0
        self._idle = threading.Condition()
        super().__init__(address, _Handler)

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
    api: SandboxAPI, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False
) -> SandboxHTTPServer:
    """Bind (port 0 = any free port) but do not serve yet; see `serve_until_stopped`."""
    return SandboxHTTPServer((host, port), api, verbose=verbose)


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

"""Serve a SandboxAPI over HTTP/1.1 on loopback: stdlib http.server on a bounded pool of
worker threads, each answering one connection at a time (`connection.py`: deadlines, capped
bodies, malformed requests answered 400 in JSON), and a clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import queue
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from pathlib import Path
from types import FrameType
from typing import IO, Any, Union

from engage_cli.sandbox.api import DEFAULT_KEY, DEFAULT_SECRET, SandboxAPI, default_db_path
from engage_cli.sandbox.connection import (
    IDLE_TIMEOUT_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    SEND_TIMEOUT_SECONDS,
    ConnectionHandler,
    error_body,
)
from engage_cli.sandbox.store import SandboxStore

__all__ = [
    "SandboxHTTPServer",
    "base_url",
    "make_server",
    "run_sandbox_server",
    "serve_until_stopped",
]

# Threads answering connections; connections beyond them wait in a queue, and past
# MAX_WAITING_CONNECTIONS of those a new connection is answered 503 at once.
MAX_WORKERS = 64
MAX_WAITING_CONNECTIONS = 512
# How shutdown waits for requests already being answered before closing the store.
DRAIN_SECONDS = 5.0
# How often serve_forever checks for a stop request: the worst-case delay of a shutdown.
POLL_SECONDS = 0.05

_SignalHandler = Union[Callable[[int, Union[FrameType, None]], Any], int, None]


_BUSY_BODY = error_body("The sandbox is busy; retry shortly.")
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
        super().__init__(address, ConnectionHandler)

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

"""Serve a SandboxAPI over HTTP/1.1: uvicorn with h11 on one event loop (so idle, slow and
half-open connections cost a little memory, never a thread), `protocol.py`'s protections,
`asgi.py`'s adapter calling `SandboxAPI.handle` on a pool of threads, the start-up banner,
and a clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Any, Union

import uvicorn

from engage_cli.sandbox.app import DEFAULT_KEY, DEFAULT_SECRET, SandboxAPI, default_db_path
from engage_cli.sandbox.asgi import SandboxASGI
from engage_cli.sandbox.protocol import MAX_HEAD_BYTES, Limits, SandboxConfig
from engage_cli.sandbox.snapshot import load_state_file
from engage_cli.sandbox.store import SandboxStore

__all__ = ["SandboxServer", "base_url", "make_server", "run_sandbox_server", "serve_until_stopped"]

# Threads running `handle`. Writes are serialised by the store and Python code by the GIL, so
# more threads add no speed, only contention (`--latency` is waited on the event loop, holding
# no thread); a few let reads overlap a write's commit. tests/benchmarks/sandbox_load.py
# --baseline measured 4, 8 and 64 alike at 16 and 64 clients, within the machine's noise.
HANDLER_THREADS = 8
# A keep-alive connection idle this long is closed (idle connections cost no thread).
IDLE_TIMEOUT_SECONDS = 120
# How long a stop waits for answers in flight before closing the store.
DRAIN_SECONDS = 5
# Connections the kernel queues before the server accepts them: bursts are not refused.
BACKLOG = 1024

_SignalHandler = Union[Callable[[int, Union[FrameType, None]], Any], int, None]


class _Uvicorn(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would re-raise a captured SIGTERM after stopping (exit status -15): the
        # sandbox installs its own handlers (serve_until_stopped) and exits 0.
        yield


class SandboxServer:
    """A bound socket and the uvicorn server that will answer on it (see serve_until_stopped)."""

    def __init__(
        self,
        api: SandboxAPI,
        sock: socket.socket,
        *,
        verbose: bool = False,
        limits: Limits | None = None,
        handler_threads: int = HANDLER_THREADS,
    ) -> None:
        self.api = api
        self.socket = sock
        self.server_address: tuple[Any, ...] = sock.getsockname()
        self.executor = ThreadPoolExecutor(handler_threads, thread_name_prefix="sandbox-handler")
        config = SandboxConfig(
            SandboxASGI(api, self.executor),
            limits=limits or Limits(),
            lifespan="off",
            loop="asyncio",
            ws="none",
            interface="asgi3",
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=IDLE_TIMEOUT_SECONDS,
            timeout_graceful_shutdown=DRAIN_SECONDS,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            backlog=BACKLOG,
            log_config=None,
            log_level=logging.INFO if verbose else logging.CRITICAL,
            access_log=verbose,
        )
        self._uvicorn = _Uvicorn(config)
        self._stopped = threading.Event()

    def serve(self) -> None:
        """Answer until shutdown() or a stop signal; returns once the server has stopped."""
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def stop(self, *, force: bool = False) -> None:
        """Ask the server to stop (safe from a signal handler): at most ~0.1 s to notice."""
        if force:
            self._uvicorn.force_exit = True
        self._uvicorn.should_exit = True

    def shutdown(self) -> None:
        """Stop and wait until serving has ended."""
        self.stop()
        self._stopped.wait()

    def close(self) -> None:
        """After serving: let handlers in flight go, close the store (they see 503 past it)."""
        self.socket.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.api.store.close()


def make_server(
    api: SandboxAPI,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    verbose: bool = False,
    limits: Limits | None = None,
    handler_threads: int = HANDLER_THREADS,
) -> SandboxServer:
    """Bind (port 0 = any free port) but do not serve yet; see `serve_until_stopped`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said outright: asyncio turns Nagle off only on sockets whose proto says TCP
    # (accepted ones inherit it), and with Nagle on the body written after the headers waits
    # for the client's delayed ACK, ~40 ms a request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return SandboxServer(api, sock, verbose=verbose, limits=limits, handler_threads=handler_threads)


def base_url(server: SandboxServer) -> str:
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"http://{shown}:{port}/v1"


def serve_until_stopped(
    server: SandboxServer,
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
        server.serve()
    finally:
        for signum, previous in restore.items():
            signal.signal(signum, previous)
        server.close()
    return 0


def _install_stop_signals(server: SandboxServer) -> dict[int, _SignalHandler]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        # A second Ctrl-C stops without waiting for answers in flight.
        server.stop(force=stopping.is_set())
        stopping.set()

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
    state_file: str | Path | None = None,
    verbose: bool = False,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """What `engage sandbox serve` does: open the store (replacing its state with `state_file`
    if given), bind, print the banner, serve until SIGINT/SIGTERM, close. Returns the exit
    status (0). Raises OSError if the port is taken, ValueError for out-of-range fault options
    or a malformed state file."""
    store = SandboxStore(db_path if db_path is not None else default_db_path())
    try:
        if state_file is not None:
            load_state_file(store, Path(state_file))
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
    if verbose:
        handler = logging.StreamHandler(err if err is not None else sys.stderr)
        logging.getLogger("uvicorn").addHandler(handler)
    return serve_until_stopped(
        server, out if out is not None else sys.stdout, err if err is not None else sys.stderr
    )

"""The client's real network: httpx's own connection pool, with one deadline per request.

httpx bounds each read and each write by the timeout, not the request: a server sending its
headers a byte a second would hold a command for as long as it likes. Here every read and
write made while a request runs waits at most until the deadline the client set for it
(`deadline()`), from connecting to the last byte of the answer.

Only httpcore's public API is used (a network backend given to its ConnectionPool); httpx
has no option for one, so the transport below does what httpx.HTTPTransport does without
proxies (a proxy from the environment still goes through httpx's own transport).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

_local = threading.local()


@contextlib.contextmanager
def deadline(at: float, timeout: float) -> Iterator[None]:
    """Every read and write of this thread's request ends by `at` (time.monotonic());
    `timeout` is what the message names."""
    _local.deadline = (at, timeout)
    try:
        yield
    finally:
        _local.deadline = None


def _bounded(
    timeout: float | None, expired: type[httpcore.TimeoutException]
) -> tuple[float | None, str | None]:
    """The wait for one read or write, and the message to raise if it is the deadline's."""
    limit: tuple[float, float] | None = getattr(_local, "deadline", None)
    if limit is None:
        return timeout, None
    at, whole = limit
    message = f"no complete answer within {whole:g} s"
    remaining = at - time.monotonic()
    if remaining <= 0:
        raise expired(message)
    if timeout is not None and timeout < remaining:
        return timeout, None
    return remaining, message


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        wait, message = _bounded(timeout, httpcore.ReadTimeout)
        try:
            return self._stream.read(max_bytes, wait)
        except httpcore.ReadTimeout as exc:
            raise httpcore.ReadTimeout(message or str(exc)) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        wait, message = _bounded(timeout, httpcore.WriteTimeout)
        try:
            self._stream.write(buffer, wait)
        except httpcore.WriteTimeout as exc:
            raise httpcore.WriteTimeout(message or str(exc)) from exc

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait, _ = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait, _ = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_tcp(host, port, wait, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - the pool is never given a socket path
        wait, _ = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _as_httpx(exc: Exception, request: httpx.Request) -> Exception:
    """httpcore's exception as httpx's class of the same name, as httpx maps them (any other
    exception as it is)."""
    for kind in type(exc).__mro__:
        mapped: object = getattr(httpx, kind.__name__, None)
        if not kind.__module__.startswith("httpcore") or not isinstance(mapped, type):
            continue
        if issubclass(mapped, httpx.TransportError):
            return mapped(str(exc), request=request)
    return exc


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes], request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except Exception as exc:
            raise _as_httpx(exc, self._request) from exc

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class DeadlineTransport(httpx.BaseTransport):
    def __init__(self, *, verify: bool, limits: httpx.Limits) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = self._pool.handle_request(core)
        except Exception as exc:
            raise _as_httpx(exc, request) from exc
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream, request),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self._pool.close()

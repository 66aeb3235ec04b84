"""One connection to the sandbox server: each request read within a deadline, its body
framed and capped (Content-Length or chunked), and every answer, errors included, in JSON.
`server.py` runs these on its pool of worker threads."""

from __future__ import annotations

import json
import re
import selectors
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engage_cli.sandbox.server import SandboxHTTPServer

# Bodies larger than this are refused (413) rather than read into memory, however framed.
MAX_BODY_BYTES = 10 * 1024 * 1024
# A whole request (line, headers, body) must arrive within this many seconds of its first byte
# (or of a new connection being picked up): a slow client holds a worker no longer (408).
REQUEST_TIMEOUT_SECONDS = 30.0
# A keep-alive connection idle this long is closed; it is closed at once, between two requests,
# when connections are waiting for a worker, so idle clients never starve the pool.
IDLE_TIMEOUT_SECONDS = 120.0
# An answer the client does not read within this long is abandoned.
SEND_TIMEOUT_SECONDS = 30.0
# How long a keep-alive connection must have been idle before it is closed for a waiting one
# (a client sending its next request at that moment would see the connection drop).
IDLE_GRACE_SECONDS = 1.0
# How often a worker waiting on an idle connection looks at the queue and at shutdown.
IDLE_POLL_SECONDS = 0.1
# Longest chunk-size line (with extensions) and trailer section of a chunked body.
MAX_CHUNK_LINE = 1024
MAX_TRAILER_LINES = 32

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


class ConnectionHandler(BaseHTTPRequestHandler):
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
        self._send(code, {"Content-Type": "application/json"}, error_body(message))

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


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode("utf-8")

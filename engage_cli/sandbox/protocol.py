"""uvicorn's h11 protocol with the protections the sandbox promises as a network service.

h11 parses and frames HTTP/1.1; this subclass adds what neither it nor uvicorn does: every
error answered in JSON (h11's own parse errors with the status h11 suggests), a deadline for a
whole request to arrive (a slow or half-open client is closed, not waited for), bodies capped
however framed (a Content-Length or a chunk size past the cap is refused before its bytes are
read), and both Content-Length and Transfer-Encoding refused (a request smuggling vector).
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol, RequestResponseCycle

from engage_cli.sandbox.asgi import error_body

__all__ = ["MAX_BODY_BYTES", "MAX_STATE_BYTES", "Limits", "SandboxConfig", "SandboxProtocol"]

# Bodies larger than this are refused (413) rather than read into memory, however framed.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Except the one request that carries a whole sandbox (`engage sandbox import` to a server):
# a snapshot of 15,000 users is 10 MB; this one holds ~350,000 (read whole, as a snapshot is).
STATE_PATH = "/__sandbox/state"
MAX_STATE_BYTES = 256 * 1024 * 1024
# A whole request (line, headers, body) must arrive within this many seconds of its first byte,
# or of the connection being opened: a slow or silent client is closed, never waited for.
REQUEST_TIMEOUT_SECONDS = 30.0
# The request line and headers together: a longer request line is 414, longer headers 431.
MAX_HEAD_BYTES = 64 * 1024
# Longest chunk-size line (with extensions) of a chunked body.
MAX_CHUNK_LINE = 1024


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = MAX_BODY_BYTES
    max_state_bytes: int = MAX_STATE_BYTES
    request_timeout: float = REQUEST_TIMEOUT_SECONDS


class SandboxConfig(Config):
    """A uvicorn Config that carries the sandbox's limits to each connection's protocol."""

    def __init__(self, app: Any, *, limits: Limits, **options: Any) -> None:
        super().__init__(app, http=SandboxProtocol, **options)
        self.limits = limits


class _HeldWrites(asyncio.Transport):
    """A request's view of its connection: the answer it writes (uvicorn writes the head, the
    body and an empty end apart) is held until it is complete, or the connection closes, and then
    written at once. One send, not two: half the system calls and event-loop wake-ups on both
    sides, and the client reads the answer in one segment instead of waiting for the second.
    What is written before the answer starts (a 100 Continue) goes out at once."""

    def __init__(self, cycle: RequestResponseCycle) -> None:
        super().__init__()
        self._cycle = cycle
        self._transport = cycle.transport
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._held.append(bytes(data))
        if not self._cycle.response_started:
            self.flush()

    def flush(self) -> None:
        if self._held:
            data = b"".join(self._held) if len(self._held) > 1 else self._held[0]
            self._held.clear()
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class SandboxProtocol(H11Protocol):
    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: Limits = getattr(config, "limits", Limits())
        self._deadline: asyncio.TimerHandle | None = None
        self._counted: object = None  # the request whose body bytes _body_bytes counts
        self._body_bytes = 0

    # -- the request deadline ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.limits.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._request_arrived():
            return
        if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
            self.transport.close()  # not a byte of a request: nobody to answer
            return
        self.refuse(408, "The request did not arrive in time.")

    def _request_arrived(self) -> bool:
        return self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED)

    # -- one write per answer ------------------------------------------------------------------

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if cycle is not None and not isinstance(cycle.transport, _HeldWrites):
            # A request that has just begun (here or from on_response_complete, pipelined).
            held = _HeldWrites(cycle)
            cycle.transport = held
            on_response = cycle.on_response

            def answered() -> None:
                held.flush()
                on_response()

            cycle.on_response = answered

    # -- reading -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._head_too_long(data):
            return
        cycle = self.cycle
        before = len(cycle.body) if cycle is not None else 0
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle is not self._counted:
            self._counted, self._body_bytes = self.cycle, len(self.cycle.body)
            if not self._check_head():
                return
        elif self.cycle is not None:
            # The app takes body bytes only in its own task, never during this call.
            self._body_bytes += len(self.cycle.body) - before
        if self._body_bytes + self._declared_chunk() > self._cap():
            self.refuse(413, "Request body too large.")
        elif (
            self.conn.their_state is h11.SEND_BODY
            and len(self.conn.trailing_data[0]) > MAX_CHUNK_LINE
        ):
            # h11 hands body bytes over as they come, so what it keeps is a chunk-size line
            # that has not ended, and it would wait for 64 KB of it.
            self.refuse(400, "Invalid chunked body: bad chunk-size line.")
        elif self._request_arrived():
            self._disarm()
        else:
            self._arm()

    def _head_too_long(self, data: bytes) -> bool:
        """Refuse a request line or head past MAX_HEAD_BYTES: h11 limits only a head that has
        not ended yet, and takes a complete one of any size."""
        pending = self.conn.trailing_data[0] + data if self.conn.trailing_data[0] else data
        end = pending.find(b"\r\n\r\n")
        if (end if end >= 0 else len(pending)) <= MAX_HEAD_BYTES:
            return False
        line_end = pending.find(b"\n", 0, MAX_HEAD_BYTES)
        if line_end < 0:
            self.refuse(414, "The request line is too long.")
        else:
            self.refuse(431, "The request headers are too long.")
        return True

    def eof_received(self) -> None:
        # The client closed its side mid-request (a body shorter than declared, a chunked body
        # cut short): h11 is told, so the request is answered 400 rather than dropped.
        if self.conn.their_state is h11.SEND_BODY or (
            self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]
        ):
            self.conn.receive_data(b"")
            self.handle_events()

    def _check_head(self) -> bool:
        """Refuse framing that is ambiguous, or a body declared past the cap; True if fine."""
        names = [name for name, _ in self.headers]
        if b"transfer-encoding" in names and b"content-length" in names:
            self.refuse(400, "Both Transfer-Encoding and Content-Length were sent.")
            return False
        for name, value in self.headers:
            # h11 has checked it is digits; compare lengths first, so 400 digits cost nothing.
            if name == b"content-length" and (
                len(value.lstrip(b"0")) > len(str(self._cap())) or int(value) > self._cap()
            ):
                self.refuse(413, "Request body too large.")
                return False
        return True

    def _cap(self) -> int:
        """The largest body the request being read may have."""
        scope = self.cycle.scope if self.cycle is not None else None
        if scope is not None and scope["method"] == "PUT" and scope["path"] == STATE_PATH:
            return max(self.limits.max_body_bytes, self.limits.max_state_bytes)
        return self.limits.max_body_bytes

    def _declared_chunk(self) -> int:
        """Bytes of the chunk being read that have not arrived yet: h11 keeps the chunk size
        it parsed to itself, and a chunk size past the cap must be refused before its data."""
        reader = getattr(self.conn, "_reader", None)
        remaining = getattr(reader, "_bytes_in_chunk", 0)
        return remaining if isinstance(remaining, int) else 0

    # -- answering errors ----------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this inside its `except h11.RemoteProtocolError`, with only a fixed text:
        # the exception itself carries h11's reason and the status it suggests (431, 501...).
        error = sys.exc_info()[1]
        status = getattr(error, "error_status_hint", 400)
        reason = str(error) if error is not None and str(error) else "Malformed request."
        self.refuse(status, f"Malformed HTTP request: {_readable(reason)}.")

    def refuse(self, status: int, message: str) -> None:
        """Answer `status` with a JSON error and close: what follows in the stream cannot be
        told apart from the next request."""
        self._disarm()
        cycle = self.cycle
        if cycle is not None:
            if cycle.response_started:
                self.transport.close()
                return
            cycle.disconnected = True  # the app's receive() says so; its send() does nothing
            cycle.message_event.set()
        body = error_body(message)
        headers = [
            (b"content-type", b"application/json"),
            (b"connection", b"close"),
            (b"content-length", str(len(body)).encode("ascii")),
        ]
        try:
            response = h11.Response(
                status_code=status, headers=headers, reason=STATUS_PHRASES.get(status, b"")
            )
            output = self.conn.send(response) or b""
            output += self.conn.send(h11.Data(data=body)) or b""
            output += self.conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:  # h11 will frame nothing more on this connection
            output = b""
        self.transport.write(output)
        self.transport.close()


_BYTES_REPR = re.compile(r"""(?:bytearray\()?b(['"])(.*?)\1\)?""")


def _readable(reason: str) -> str:
    """h11's reasons quote what they refused as Python reprs (bytearray(b'-1\\r\\n')): show
    only the quoted text, its escapes kept, as a person reads it ('-1\\r\\n')."""
    return _BYTES_REPR.sub(r"'\2'", reason)

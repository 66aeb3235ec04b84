"""Run the CLI in-process against a scripted httpx transport, and see what it sent."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import httpx
from typer.testing import CliRunner

from engage_cli.app import app
from engage_cli.context import State
from engage_cli.streams import Streams

Handler = Callable[[httpx.Request], httpx.Response]
Reply = Union[httpx.Response, Exception, Handler]

KEY, SECRET = "key_test_0123456789", "secret_test_abcdefghij"
BASE = "https://api.test/v1"


def basic(key: str, secret: str = "") -> str:
    """The Authorization header of HTTP Basic auth with this key and secret."""
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def reply(
    status: int = 200, body: Any = None, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    if isinstance(body, (str, bytes)):
        return httpx.Response(status, content=body, headers=headers)
    return httpx.Response(status, json={} if body is None else body, headers=headers)


@dataclass
class Scripted:
    """Answers requests from a script, in order; fails the test on an unscripted request and,
    through `run`, on a scripted reply that no request used (a test that scripts four
    attempts must see four)."""

    replies: list[Reply] = field(default_factory=list)
    sent: list[httpx.Request] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # kept: the CLI may swallow the error

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.sent.append(request)
        if not self.replies:
            self.unexpected.append(f"{request.method} {request.url}")
            raise AssertionError(f"unexpected request: {request.method} {request.url}")
        item = self.replies.pop(0)
        if isinstance(item, Exception):
            raise item
        if callable(item) and not isinstance(item, httpx.Response):
            return item(request)
        return item

    def body(self, index: int = -1) -> Any:
        return json.loads(self.sent[index].content)


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    sent: list[httpx.Request]
    script: Scripted

    def json(self) -> Any:
        return json.loads(self.stdout)


def run(
    args: list[str],
    replies: list[Reply] | Handler | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    tty: bool = False,
    credentials: bool = True,
) -> Run:
    """Invoke `engage ARGS` in-process; `tty` makes stdin/stdout/stderr look like a terminal.

    The server is `replies` (answered in order), a handler called for every request (one
    that may be called from many threads at once), or a whole `transport`."""
    script = Scripted(list(replies) if isinstance(replies, list) else [])
    if transport is None:
        transport = httpx.MockTransport(_recorded(replies, script) if callable(replies) else script)
    environ = dict(os.environ)
    if credentials:
        environ.update(
            {"ENGAGE_API_KEY": KEY, "ENGAGE_API_SECRET": SECRET, "ENGAGE_BASE_URL": BASE}
        )
    environ.update(env or {})
    runner = CliRunner()

    streams = Streams(
        stdin=_Live("stdin"),
        stdout=_Live("stdout"),
        stderr=_Live("stderr"),
        stdin_isatty=tty,
        stdout_isatty=tty,
        stderr_isatty=tty,
        environ=environ,
    )
    state = State(streams=streams, transport=transport)
    result = runner.invoke(app, args, obj=state, input=stdin, env=dict(environ))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    if script.unexpected:
        raise AssertionError(
            f"requests beyond the script: {script.unexpected} (exit {result.exit_code}); "
            f"stderr:\n{result.stderr}"
        )
    if script.replies:
        raise AssertionError(
            f"{len(script.replies)} scripted replies were never requested "
            f"(exit {result.exit_code}, {len(script.sent)} requests sent); stderr:\n"
            f"{result.stderr}"
        )
    return Run(result.exit_code, result.stdout, result.stderr, script.sent, script)


def _recorded(handler: Handler, script: Scripted) -> Handler:
    """The handler, with every request it gets in `Run.sent` too (from any thread)."""
    lock = threading.Lock()

    def recording(request: httpx.Request) -> httpx.Response:
        request.read()
        with lock:
            script.sent.append(request)
        return handler(request)

    return recording


class _Live(io.TextIOBase):
    """A stream that writes to whatever sys.<name> is when used: CliRunner swaps them."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _stream(self) -> Any:
        return getattr(sys, self._name)

    def write(self, text: str) -> int:
        return int(self._stream().write(text))

    def flush(self) -> None:
        if self._name != "stdin":
            self._stream().flush()

    def close(self) -> None:
        pass  # the streams belong to CliRunner (or pytest), not to this proxy

    def read(self, size: int | None = -1) -> str:
        return str(self._stream().read(size))

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return str(self._stream().readline(size))

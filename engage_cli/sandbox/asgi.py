"""The ASGI application the HTTP server runs: a small adapter over `SandboxAPI.handle`.

It checks what only the HTTP layer can see (the method, the HTTP version, how many headers),
reads the body the server has already framed and capped, waits an injected `--latency` on the
event loop, and calls `handle` on a pool of threads, so SQLite never stalls the loop that
answers every other client. The in-process httpx transport calls the same `handle`.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Executor
from typing import Any

from engage_cli.sandbox.app import SandboxAPI

__all__ = ["MAX_HEADERS", "METHODS", "SandboxASGI", "error_body"]

# Methods the API has routes for, or answers 405 for with Allow; anything else is 501.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# More header lines than this is an abuse, not a client (431), as the stdlib server held.
MAX_HEADERS = 100

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode("utf-8")


class SandboxASGI:
    """`await app(scope, receive, send)` for each HTTP request; `handle` runs on `executor`."""

    def __init__(self, api: SandboxAPI, executor: Executor) -> None:
        self.api = api
        self._executor = executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the server runs without lifespan events
            return
        refusal = _refusal(scope)
        if refusal is not None:
            status, message = refusal
            closing = {"Content-Type": "application/json", "Connection": "close"}
            await _answer(send, status, closing, error_body(message))
            return
        body = await _read_body(receive)
        if body is None:  # the client went away, or the server refused the body itself
            return
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        delay = self.api.delay(target)
        if delay:  # waited here, so a slow answer holds no thread
            await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        handle = functools.partial(self.api.handle, waited=True)
        status, answer_headers, payload = await loop.run_in_executor(
            self._executor, handle, scope["method"], target, headers, body
        )
        await _answer(send, status, answer_headers, payload)


def _refusal(scope: Scope) -> tuple[int, str] | None:
    if scope["http_version"] not in ("1.0", "1.1"):
        return 505, "Only HTTP/1.0 and HTTP/1.1 are served."
    if scope["method"] not in METHODS:
        return 501, f"The method {scope['method']} is not served."
    if len(scope["headers"]) > MAX_HEADERS:
        return 431, f"More than {MAX_HEADERS} header lines."
    return None


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, headers: dict[str, str], payload: bytes) -> None:
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    raw.append((b"content-length", str(len(payload)).encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})

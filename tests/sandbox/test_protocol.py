"""What the HTTP protocol writes to a connection, seen on a recording transport: every write
counted, which a socket cannot show (TCP may join two sends before the client reads)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.server import ServerState

from engage_cli.sandbox.api import SandboxAPI
from engage_cli.sandbox.asgi import SandboxASGI
from engage_cli.sandbox.handlers import HandlerPool
from engage_cli.sandbox.protocol import Limits, SandboxConfig, SandboxProtocol

from .conftest import FULL


@pytest.fixture
def handlers() -> Iterator[HandlerPool]:
    pool = HandlerPool(1)
    yield pool
    pool.shutdown()


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name in ("sockname", "peername") else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _request(target: str, body: bytes = b"", extra: str = "") -> bytes:
    head = f"POST {target} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: {FULL}\r\n"
    return f"{head}Content-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def _until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the protocol never wrote what was awaited")


async def _connect(api: SandboxAPI, pool: HandlerPool) -> tuple[SandboxProtocol, Any]:
    config = SandboxConfig(SandboxASGI(api, pool), limits=Limits(), lifespan="off", log_config=None)
    config.load()
    protocol = SandboxProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


def test_each_answer_is_one_write(api: SandboxAPI, handlers: HandlerPool) -> None:
    body = json.dumps({"id": "u1", "first_name": "Ada"}).encode()

    async def exchange() -> list[bytes]:
        protocol, transport = await _connect(api, handlers)
        protocol.data_received(_request("/v1/users", body))
        await _until(lambda: transport.writes)
        protocol.data_received(_request("/v1/users/u1", b"{}").replace(b"POST", b"GET", 1))
        await _until(lambda: len(transport.writes) == 2)
        await asyncio.sleep(0.05)  # nothing more follows
        protocol.connection_lost(None)
        return list(transport.writes)

    writes = asyncio.run(exchange())
    assert len(writes) == 2, writes
    for write in writes:
        head, _, answer = write.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), write
        assert json.loads(answer)["first_name"] == "Ada"


def test_100_continue_is_written_before_the_body_arrives(
    api: SandboxAPI, handlers: HandlerPool
) -> None:
    body = json.dumps({"id": "u2"}).encode()

    async def exchange() -> list[bytes]:
        protocol, transport = await _connect(api, handlers)
        request = _request("/v1/users", body, "Expect: 100-continue\r\n")
        protocol.data_received(request[: -len(body)])
        await _until(lambda: transport.writes)
        assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        protocol.data_received(body)
        await _until(lambda: len(transport.writes) == 2)
        protocol.connection_lost(None)
        return list(transport.writes)

    writes = asyncio.run(exchange())
    assert writes[1].startswith(b"HTTP/1.1 200 ") and writes[1].endswith(b"}")

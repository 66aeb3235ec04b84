"""The handler threads the HTTP server runs `SandboxAPI.handle` on."""

from __future__ import annotations

import asyncio
import functools
import threading
import time

import pytest

from engage_cli.sandbox.handlers import HandlerPool


def _threads_named(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]


def test_many_calls_at_once_each_get_their_own_answer_off_the_loop() -> None:
    pool = HandlerPool(3, name="test-many")

    def call(n: int) -> tuple[int, str]:
        time.sleep(0.001 * (n % 3))  # settle out of order, several per hand-back
        return n * n, threading.current_thread().name

    async def main() -> list[tuple[int, str]]:
        return await asyncio.gather(*(pool.run(functools.partial(call, n)) for n in range(300)))

    try:
        answers = asyncio.run(main())
    finally:
        pool.shutdown()
    assert [square for square, _ in answers] == [n * n for n in range(300)]
    assert {name for _, name in answers} <= {f"test-many_{n}" for n in range(3)}


def test_an_exception_reaches_the_caller_and_the_pool_carries_on() -> None:
    pool = HandlerPool(1, name="test-raise")

    def fail() -> int:
        raise LookupError("no such thing")

    async def main() -> int:
        with pytest.raises(LookupError, match="no such thing"):
            await pool.run(fail)
        return await pool.run(lambda: 7)

    try:
        assert asyncio.run(main()) == 7
    finally:
        pool.shutdown()


def test_a_cancelled_caller_does_not_stop_the_others_being_answered() -> None:
    pool = HandlerPool(1, name="test-cancel")
    release = threading.Event()

    async def main() -> int:
        slow = asyncio.ensure_future(pool.run(lambda: release.wait(5)))
        after = asyncio.ensure_future(pool.run(lambda: 1))
        await asyncio.sleep(0.01)
        slow.cancel()
        release.set()
        return await after

    try:
        assert asyncio.run(main()) == 1
    finally:
        pool.shutdown()


def test_threads_start_on_the_first_call_and_end_after_shutdown() -> None:
    pool = HandlerPool(2, name="test-life")
    assert _threads_named("test-life") == []
    assert asyncio.run(pool.run(lambda: "up")) == "up"
    assert len(_threads_named("test-life")) == 2
    pool.shutdown()
    for thread in _threads_named("test-life"):
        thread.join(timeout=5)
    assert _threads_named("test-life") == []


def test_shutdown_drops_calls_not_started() -> None:
    pool = HandlerPool(1, name="test-drop")
    started = threading.Event()
    release = threading.Event()
    ran: list[int] = []

    async def main() -> None:
        def first() -> None:
            started.set()
            release.wait(5)

        calls = [asyncio.ensure_future(pool.run(first))]
        calls.append(asyncio.ensure_future(pool.run(lambda: ran.append(2))))
        await asyncio.sleep(0)
        while not started.is_set():
            await asyncio.sleep(0.001)
        pool.shutdown()
        release.set()
        for call in calls:
            call.cancel()  # the first is never handed back (the loop ends), the second never run

    asyncio.run(main())
    for thread in _threads_named("test-drop"):
        thread.join(timeout=5)
    assert ran == []
    assert _threads_named("test-drop") == []


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError):
        HandlerPool(0)

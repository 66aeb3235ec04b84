"""The threads that run `SandboxAPI.handle` for the event loop, so SQLite never stalls it.

Lighter than `loop.run_in_executor` on a ThreadPoolExecutor, which costs, per request, a
concurrent Future (a Condition and its lock), an asyncio Future chained to it, and a wake-up of
the loop through its self-pipe: here a request is an asyncio Future and a queue entry, and
answers finished while the loop was busy are handed back together, with one wake-up.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["HandlerPool"]

T = TypeVar("T")

# What a handler thread takes: the loop to answer on, the future to settle, the call to make.
_Work = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]
# A settled call: the future, and the result or the exception raised.
_Done = tuple["asyncio.Future[Any]", Any, "BaseException | None"]


class HandlerPool:
    """`await pool.run(call)` runs `call()` on one of `threads` threads, started on the first
    call. Every call comes from one event loop (the server's)."""

    def __init__(self, threads: int, name: str = "sandbox-handler") -> None:
        if threads < 1:
            raise ValueError("a handler pool needs at least one thread")
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._done: list[_Done] = []  # settled, not yet handed back to the loop
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}_{n}") for n in range(threads)
        ]
        self._started = False

    async def run(self, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        if not self._started:  # only the loop's thread gets here: no race
            self._started = True
            for thread in self._threads:
                thread.start()
        future: asyncio.Future[T] = loop.create_future()
        self._work.put((loop, future, call))
        return await future

    def shutdown(self) -> None:
        """Drop the calls not started yet and let the threads end once their call returns
        (without waiting for them). Call it once the loop has stopped."""
        try:
            while True:
                self._work.get_nowait()
        except queue.Empty:
            pass
        for _ in self._threads:
            self._work.put(None)

    def _serve(self) -> None:
        while (work := self._work.get()) is not None:
            loop, future, call = work
            try:
                settled: _Done = (future, call(), None)
            except BaseException as error:  # handed to the awaiting request, as an executor does
                settled = (future, None, error)
            with self._lock:
                self._done.append(settled)
                first = len(self._done) == 1
            if first:  # later ones ride on the wake-up already on its way
                try:
                    loop.call_soon_threadsafe(self._hand_back)
                except RuntimeError:  # the loop has closed: nobody awaits the answer
                    with self._lock:
                        self._done.clear()

    def _hand_back(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        for future, result, error in done:
            if future.cancelled():  # the request's task was cancelled (a forced stop)
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

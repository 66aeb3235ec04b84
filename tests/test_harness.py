"""The test harness itself: what `run` reports about the requests a command sent."""

from __future__ import annotations

import threading

import httpx

from tests.harness import reply, run


def test_a_handler_given_to_run_still_shows_what_was_sent() -> None:
    lock = threading.Lock()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            seen.append(request.url.path)
        return httpx.Response(200, json={"uid": "u1"})

    result = run(["users", "get", "u1", "-o", "json"], handler)
    assert result.exit_code == 0, result.stderr
    assert [r.url.path for r in result.sent] == seen == ["/v1/users/u1"]


def test_a_script_shows_what_was_sent_in_order() -> None:
    result = run(["users", "get", "u1", "-o", "json"], [reply(200, {"uid": "u1"})])
    assert [(r.method, r.url.path) for r in result.sent] == [("GET", "/v1/users/u1")]

"""The request pipeline's decisions, as tables of cases, and its loop with a fake clock."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from engage_cli import client as c
from engage_cli.endpoints import APIRequest, add_event, get_user, list_users, update_user
from engage_cli.errors import (
    APIRefusedError,
    ConfigError,
    EngageError,
    NotFoundError,
    TemporaryError,
)


@pytest.mark.parametrize(
    ("status", "repeatable", "expected"),
    [
        (429, False, True),
        (429, True, True),
        (502, True, True),
        (503, True, True),
        (504, True, True),
        (502, False, False),
        (503, False, False),
        (500, True, False),
        (400, True, False),
        (401, True, False),
        (404, True, False),
    ],
)
def test_should_retry_status(status: int, repeatable: bool, expected: bool) -> None:
    assert c.should_retry_status(status, repeatable) is expected


@pytest.mark.parametrize(
    ("exc", "repeatable", "expected"),
    [
        (httpx.ConnectError("x"), False, True),
        (httpx.ConnectTimeout("x"), False, True),
        (httpx.PoolTimeout("x"), False, True),
        (httpx.ReadTimeout("x"), True, True),
        (httpx.ReadTimeout("x"), False, False),
        (httpx.WriteTimeout("x"), False, False),
        (httpx.RemoteProtocolError("x"), True, True),
        (httpx.RemoteProtocolError("x"), False, False),
        (ValueError("x"), True, False),
    ],
)
def test_should_retry_exception(exc: Exception, repeatable: bool, expected: bool) -> None:
    assert c.should_retry_exception(exc, repeatable) is expected


NOW = datetime(2026, 11, 29, 8, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("2", 2.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("3600", c.RETRY_AFTER_CAP),
        ("Sun, 29 Nov 2026 08:00:05 GMT", 5.0),
        ("Sun, 29 Nov 2026 07:59:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after(header: str | None, expected: float | None) -> None:
    assert c.retry_after(header, now=NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [(0, 0.0, 0.25), (0, 1.0, 0.5), (1, 1.0, 1.0), (2, 0.5, 1.5), (10, 1.0, c.BACKOFF_CAP)],
)
def test_backoff(attempt: int, rand: float, expected: float) -> None:
    assert c.backoff(attempt, lambda: rand) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (400, {"error": "id: bad"}, APIRefusedError, "id: bad"),
        (401, {"error": "Wrong authentication credentials."}, ConfigError, "Wrong authentication"),
        (403, {"message": "nope"}, ConfigError, "nope"),
        (404, {"error": "User not found."}, NotFoundError, "User not found."),
        (409, {"error": {"message": "conflict"}}, APIRefusedError, "conflict"),
        (422, b"", APIRefusedError, "Unprocessable"),
        (429, {"error": "slow"}, TemporaryError, "Rate limited"),
        (
            502,
            b"<html>\n<head><title>502 Bad Gateway</title></head>\n</html>",
            TemporaryError,
            "502 Bad Gateway",
        ),
        (503, b"Service Unavailable\nmore", TemporaryError, "Service Unavailable"),
    ],
)
def test_error_for_response(status: int, body: object, kind: type[EngageError], text: str) -> None:
    if isinstance(body, bytes):
        response = httpx.Response(status, content=body)
    else:
        response = httpx.Response(status, json=body)
    err = c.error_for_response(get_user("u1"), response)
    assert type(err) is kind
    assert text in err.message
    assert err.status == status
    assert err.retryable is (status == 429 or status >= 500)


class Clock:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def make_client(
    handler: object, retries: int = 3, secret: str | None = "s"
) -> tuple[c.EngageClient, Clock]:
    clock = Clock()
    client = c.EngageClient(
        base_url="https://api.test/v1",
        api_key="k",
        api_secret=secret,
        retries=retries,
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        sleep=clock.sleep,
        rand=lambda: 1.0,
    )
    return client, clock


def sequence(*responses: httpx.Response | Exception) -> tuple[object, list[httpx.Request]]:
    queue = list(responses)
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, sent


def test_put_recovers_from_503_then_succeeds() -> None:
    handler, sent = sequence(
        httpx.Response(503), httpx.Response(503), httpx.Response(200, json={"uid": "u1"})
    )
    client, clock = make_client(handler)
    assert client.send(update_user("u1", {"first_name": "A"})) == {"uid": "u1"}
    assert len(sent) == 3
    assert clock.slept == [0.5, 1.0]


def test_retries_are_bounded() -> None:
    handler, sent = sequence(*[httpx.Response(503)] * 3)
    client, _ = make_client(handler, retries=2)
    with pytest.raises(TemporaryError):
        client.send(get_user("u1"))
    assert len(sent) == 3


def test_retry_after_is_honoured() -> None:
    handler, sent = sequence(
        httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})
    )
    client, clock = make_client(handler)
    client.send(add_event("u1", {"event": "E"}))
    assert clock.slept[0] == 7.0
    assert len(sent) == 2


def test_a_429_pauses_the_whole_client() -> None:
    handler, sent = sequence(
        httpx.Response(429, headers={"Retry-After": "30"}),
        httpx.Response(200, json={}),
        httpx.Response(200, json={}),
    )
    client, clock = make_client(handler)
    client.send(get_user("u1"))
    clock.slept.clear()
    # Another request of the same client (another worker of a bulk run) waits too.
    client.send(get_user("u2"))
    assert clock.slept and clock.slept[0] == pytest.approx(30, abs=1)
    assert len(sent) == 3


def test_post_create_is_not_repeated_after_a_timeout() -> None:
    handler, sent = sequence(httpx.ReadTimeout("slow"), httpx.Response(200, json={}))
    client, _ = make_client(handler)
    with pytest.raises(TemporaryError, match="timed out"):
        client.send(APIRequest("POST", "/users", body={"id": "u1"}))
    assert len(sent) == 1


def test_secret_checked_before_the_network() -> None:
    handler, sent = sequence()
    client, _ = make_client(handler, secret=None)
    with pytest.raises(ConfigError, match="needs the API secret"):
        client.send(get_user("u1"))
    assert sent == []


def test_paginate_follows_has_more_and_detects_loops() -> None:
    handler, sent = sequence(
        httpx.Response(200, json={"data": [{"id": "1"}], "has_more": True}),
        httpx.Response(200, json={"data": [{"id": "1"}], "has_more": True}),
    )
    client, _ = make_client(handler)
    pages = client.paginate(list_users(limit=1))
    assert next(pages) == [{"id": "1"}]
    assert next(pages) == [{"id": "1"}]
    assert sent[1].url.params["after_id"] == "1"
    with pytest.raises(EngageError, match="repeated"):
        next(pages)


def test_paginate_refuses_a_non_list_answer() -> None:
    handler, _ = sequence(httpx.Response(200, json={"users": []}))
    client, _ = make_client(handler)
    with pytest.raises(EngageError, match="no `data` array"):
        list(client.paginate(list_users()))


def test_non_json_success_is_a_clear_error() -> None:
    handler, _ = sequence(httpx.Response(200, content=b"<html>login page</html>"))
    client, _ = make_client(handler)
    with pytest.raises(EngageError, match="not JSON"):
        client.send(get_user("u1"))


def test_describe_masks_credentials() -> None:
    handler, _ = sequence()
    client, _ = make_client(handler)
    shown = client.describe(update_user("a b", {"email": "x@y.z"}))
    assert shown["url"] == "https://api.test/v1/users/a%20b"
    assert shown["headers"]["Authorization"] == "Basic ****"

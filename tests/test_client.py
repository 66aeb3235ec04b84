"""The request pipeline's decisions, as tables of cases, and its loop with a fake clock."""

from __future__ import annotations

import base64
import http.server
import io
import json
import re
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from engage_cli import client as c
from engage_cli import policy
from engage_cli.app import app
from engage_cli.context import State
from engage_cli.endpoints import (
    APIRequest,
    EncodedJSON,
    add_event,
    delete_user,
    get_user,
    list_users,
    update_user,
)
from engage_cli.errors import (
    APIRefusedError,
    ConfigError,
    ConnectFailed,
    EngageError,
    LongWait,
    MissingCredentials,
    NotFoundError,
    RedirectError,
    TemporaryError,
    UnexpectedAnswer,
)
from engage_cli.streams import Streams
from tests.harness import BASE, KEY, SECRET, Reply, reply, run


@pytest.mark.parametrize(
    ("status", "repeatable", "expected"),
    [
        (429, False, True),
        (429, True, True),
        (502, True, True),
        (503, True, True),
        (504, True, True),
        (502, False, False),
        (503, False, True),  # refused before acting: resent whatever the request
        (504, False, False),
        (500, False, False),
        (500, True, False),
        (400, True, False),
        (401, True, False),
        (404, True, False),
    ],
)
def test_should_retry_status(status: int, repeatable: bool, expected: bool) -> None:
    assert policy.should_retry_status(status, repeatable) is expected


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
        ("3600", 3600.0),  # not capped here: the client refuses a wait past the cap
        ("Sun, 29 Nov 2026 08:00:05 GMT", 5.0),
        ("Sun, 29 Nov 2026 07:59:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after(header: str | None, expected: float | None) -> None:
    assert policy.retry_after(header, now=NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [(0, 0.0, 0.25), (0, 1.0, 0.5), (1, 1.0, 1.0), (2, 0.5, 1.5), (10, 1.0, policy.BACKOFF_CAP)],
)
def test_backoff(attempt: int, rand: float, expected: float) -> None:
    assert policy.backoff(attempt, lambda: rand) == pytest.approx(expected)


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
    err = policy.error_for_response(get_user("u1"), response)
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
    # The second page leads back to where it came from: it is not shown (its rows were).
    with pytest.raises(UnexpectedAnswer, match="repeated"):
        next(pages)
    assert sent[1].url.params["after_id"] == "1"


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


# --- redirects: followed only where method, body and credentials may safely go ---------------

API = "https://api.test/v1/users/u1/events"


@pytest.mark.parametrize(
    ("status", "location", "expected"),
    [
        (307, "/v2/users/u1/events", "https://api.test/v2/users/u1/events"),
        (308, "https://api.test/v2/x", "https://api.test/v2/x"),
        (308, "https://API.test:443/v2/x", "https://api.test/v2/x"),
        (307, "https://evil.test/v1/users/u1/events", None),  # another host
        (308, "http://api.test/v1/users/u1/events", None),  # https to http
        (308, "https://api.test:8443/v1/x", None),  # another port
        (301, "/v2/users/u1/events", None),  # would turn a POST into a GET
        (302, "/v2/users/u1/events", None),
        (303, "/v2/users/u1/events", None),
        (300, "/v2", None),
        (307, None, None),  # nowhere to go
        (307, "http://[::1", None),  # unparsable
    ],
)
def test_redirect_target(status: int, location: str | None, expected: str | None) -> None:
    request = httpx.Request("POST", API)
    headers = {} if location is None else {"Location": location}
    target = c.redirect_target(request, httpx.Response(status, headers=headers))
    assert (None if target is None else str(target)) == expected


def test_a_308_to_the_same_host_is_followed_with_method_body_and_credentials() -> None:
    handler, sent = sequence(
        httpx.Response(308, headers={"Location": "/v2/users/u1/events"}),
        httpx.Response(200, json={"status": "ok"}),
    )
    client, clock = make_client(handler)
    assert client.send(add_event("u1", {"event": "Paid"})) == {"status": "ok"}
    assert [(r.method, str(r.url)) for r in sent] == [
        ("POST", API),
        ("POST", "https://api.test/v2/users/u1/events"),
    ]
    assert json.loads(sent[0].content) == json.loads(sent[1].content) == {"event": "Paid"}
    assert sent[1].headers["Authorization"] == sent[0].headers["Authorization"]
    assert clock.slept == []  # a redirect is not a retry


@pytest.mark.parametrize(
    ("status", "location"),
    [
        (301, "https://api.test/v2/users/u1"),
        (302, "/login"),
        (303, "/elsewhere"),
        (307, "https://evil.test/v1/users/u1"),
        (308, "http://api.test/v1/users/u1"),
    ],
)
def test_any_other_redirect_is_an_error_naming_the_location(status: int, location: str) -> None:
    handler, sent = sequence(httpx.Response(status, headers={"Location": location}))
    client, _ = make_client(handler)
    with pytest.raises(EngageError) as caught:
        client.send(delete_user("u1"))
    assert caught.value.exit_code != 0
    assert caught.value.status == status
    assert location in caught.value.message
    assert len(sent) == 1  # nothing went to the Location


def test_a_redirect_loop_ends() -> None:
    handler, sent = sequence(
        *[httpx.Response(307, headers={"Location": "/v1/users/u1"})] * (policy.MAX_REDIRECTS + 1)
    )
    client, _ = make_client(handler)
    with pytest.raises(EngageError, match="redirect"):
        client.send(get_user("u1"))
    assert len(sent) == policy.MAX_REDIRECTS + 1


def test_a_3xx_never_counts_as_done_in_the_cli() -> None:
    deleted = run(
        ["users", "delete", "u1", "--yes"],
        [reply(301, b"", headers={"Location": "https://api.test/v2/users/u1"})],
    )
    assert deleted.exit_code not in (0, 1), deleted.stderr
    assert "https://api.test/v2/users/u1" in deleted.stderr
    event = run(
        ["events", "add", "u1", "Paid"],
        [reply(308, b"", headers={"Location": "/v2/users/u1/events"}), reply(200, {})],
    )
    assert event.exit_code == 0, event.stderr
    assert str(event.sent[-1].url) == "https://api.test/v2/users/u1/events"


# --- Retry-After: honoured, in milliseconds too, and never cut short ----------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"retry-after-ms": "soon", "Retry-After": "9"}, 9.0),
        ({"retry-after-ms": "nan", "Retry-After": "9"}, 9.0),
        ({"retry-after-ms": "-5"}, 0.0),
        ({"Retry-After": "3600"}, 3600.0),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "1e400"}, None),
    ],
)
def test_retry_delay(headers: dict[str, str], expected: float | None) -> None:
    assert policy.retry_delay(httpx.Headers(headers), now=NOW) == expected


def test_retry_after_ms_is_honoured() -> None:
    handler, _ = sequence(
        httpx.Response(429, headers={"retry-after-ms": "250"}), httpx.Response(200, json={})
    )
    client, clock = make_client(handler)
    client.send(get_user("u1"))
    assert clock.slept[0] == 0.25


@pytest.mark.parametrize("header", ["Retry-After", "retry-after-ms"])
def test_a_wait_longer_than_the_cap_fails_instead_of_retrying_early(header: str) -> None:
    value = str(policy.RETRY_AFTER_CAP + 1) if header == "Retry-After" else "61000"
    handler, sent = sequence(httpx.Response(429, headers={header: value}))
    client, clock = make_client(handler)
    with pytest.raises(TemporaryError) as caught:
        client.send(get_user("u1"))
    assert "61" in caught.value.message
    assert len(sent) == 1 and clock.slept == []


# --- timeouts -----------------------------------------------------------------------------


@pytest.mark.parametrize(("timeout", "connect"), [(30.0, policy.CONNECT_TIMEOUT), (2.0, 2.0)])
def test_connecting_has_its_own_short_timeout(timeout: float, connect: float) -> None:
    handler, sent = sequence(httpx.Response(200, json={}))
    client = c.EngageClient(
        base_url="https://api.test/v1",
        api_key="k",
        api_secret="s",
        timeout=timeout,
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )
    client.send(get_user("u1"))
    assert sent[0].extensions["timeout"] == {
        "connect": connect,
        "read": timeout,
        "write": timeout,
        "pool": timeout,
    }


# --- TLS is verified ----------------------------------------------------------------------


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTPS server with a certificate nobody trusts; yields its URL and the
    paths it was asked for."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/v1", asked
    finally:
        server.shutdown()
        server.server_close()


def test_https_certificates_are_verified(self_signed_https: tuple[str, list[str]]) -> None:
    url, asked = self_signed_https
    client = c.EngageClient(base_url=url, api_key="k", api_secret="s", retries=0)
    with client, pytest.raises(TemporaryError, match=r"(?i)certificate"):
        client.send(get_user("u1"))
    assert asked == []  # the credentials never left


# --- the client is a library: plain facts; the CLI adds what to type ------------------------


def test_client_errors_name_no_cli_flags_or_commands() -> None:
    failures = [
        httpx.Response(401, json={"error": "Wrong credentials"}),
        httpx.Response(503),
        httpx.ConnectError("refused"),
        httpx.Response(200, content=b"<html>"),
        httpx.Response(301, headers={"Location": "/v2"}),
    ]
    errors: list[EngageError] = []
    for failure in failures:
        handler, _ = sequence(failure)
        client, _ = make_client(handler, retries=0)
        with pytest.raises(EngageError) as caught:
            client.send(get_user("u1"))
        errors.append(caught.value)
    for secret in ("s", None):
        client, _ = make_client(sequence()[0], secret=secret)
        client.api_key = None if secret else "k"
        with pytest.raises(EngageError) as caught:
            client.send(get_user("u1"))
        errors.append(caught.value)
    for err in errors:
        words = f"{err.message} {err.hint or ''}"
        assert "--" not in words and "engage " not in words and "ENGAGE_" not in words, words


@pytest.mark.parametrize(
    ("replies", "env", "expected"),
    [
        ([reply(401, {"error": "Wrong credentials"})], {}, "engage auth status"),
        ([reply(503)], {}, "--debug"),
        ([httpx.ConnectError("refused")], {}, "--base-url"),
        ([reply(200, b"<html>")], {}, "--base-url"),
        ([reply(301, b"", headers={"Location": "/v2"})], {}, "--base-url"),
        ([], {"ENGAGE_API_KEY": ""}, "engage auth login"),
        ([], {"ENGAGE_API_SECRET": ""}, "ENGAGE_API_SECRET"),
    ],
)
def test_the_cli_adds_hints_to_client_errors(
    replies: list[Reply], env: dict[str, str], expected: str
) -> None:
    result = run(["--retries", "0", "users", "get", "u1", "-o", "json"], replies, env=env)
    assert result.exit_code not in (0, 1), result.stderr
    assert expected in json.loads(result.stderr)["error"]["hint"]


# --- the global switches and pages, in-process --------------------------------------------


@pytest.mark.parametrize(("value", "on"), [("1", True), ("yes", True), ("0", False), ("", False)])
def test_engage_debug_turns_debug_on(value: str, on: bool) -> None:
    result = run(["users", "get", "u1"], [reply(200, {"uid": "u1"})], env={"ENGAGE_DEBUG": value})
    assert result.exit_code == 0
    assert ("[debug] > GET https://api.test/v1/users/u1" in result.stderr) is on


def test_every_page_asks_for_the_latest_cursor_and_no_stale_one() -> None:
    pages = [
        reply(200, {"data": [{"id": "a"}], "has_more": True}),  # the 2021 style: after_id
        reply(200, {"data": [{"id": "b"}], "next_cursor": "c2"}),  # then cursors
        reply(200, {"data": [{"id": "c"}], "next_cursor": "c3"}),
        reply(200, {"data": [{"id": "d"}], "next_cursor": None}),
    ]
    result = run(["users", "list", "--all", "-o", "ndjson"], pages)
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == list("abcd")
    cursors = [
        {k: v for k, v in r.url.params.items() if k in ("after_id", "next_cursor")}
        for r in result.sent
    ]
    assert cursors == [{}, {"after_id": "a"}, {"next_cursor": "c2"}, {"next_cursor": "c3"}]


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_went_away_is_exit_0_and_quiet() -> None:
    environ = {"ENGAGE_API_KEY": KEY, "ENGAGE_API_SECRET": SECRET, "ENGAGE_BASE_URL": BASE}
    stderr = io.StringIO()
    streams = Streams(stdin=io.StringIO(), stdout=_ClosedPipe(), stderr=stderr, environ=environ)
    handler, _ = sequence(httpx.Response(200, json={"data": [{"id": "a"}], "has_more": False}))
    state = State(streams=streams, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    result = CliRunner().invoke(app, ["users", "list", "-o", "ndjson"], obj=state, env=environ)
    assert result.exit_code == 0, (result.output, stderr.getvalue())
    assert stderr.getvalue() == ""


# --- details mutation testing found unpinned: each test fails if one of them changes -------


@pytest.mark.parametrize(
    ("header", "now", "expected"),
    [
        ("Sun, 29 Nov 2026 08:00:05 -0000", NOW, 5.0),  # no zone given: read as UTC
        ("Sun, 29 Nov 2026 09:00:05 +0100", NOW, 5.0),  # a zone given: kept
        ("Sat, 01 Jan 2000 00:00:00 GMT", None, 0.0),  # against the real clock: long past
    ],
)
def test_retry_after_dates_in_any_zone(header: str, now: datetime | None, expected: float) -> None:
    assert policy.retry_after(header, now=now) == expected


def test_retry_delay_reads_a_date_against_the_clock_it_is_given() -> None:
    headers = httpx.Headers({"Retry-After": "Sun, 29 Nov 2026 08:00:05 GMT"})
    assert policy.retry_delay(headers, now=NOW) == 5.0


@pytest.mark.parametrize(
    ("response", "text"),
    [
        (httpx.Response(400, json={"message": "nope"}), "nope"),
        (httpx.Response(409, json={"error": {"message": "conflict"}}), "conflict"),
        (httpx.Response(409, json={"error": {"code": "E1"}}), "{'code': 'E1'}"),
        (httpx.Response(502, content=b"x" * 300), "x" * 200),
        (httpx.Response(599), "no details"),
    ],
)
def test_error_text_is_the_servers_message_only(response: httpx.Response, text: str) -> None:
    assert policy.error_text(response) == text


def test_error_for_response_says_what_failed_where() -> None:
    err = policy.error_for_response(get_user("u1"), httpx.Response(401, json={"error": "Wrong."}))
    assert err.message == "Authentication failed (401 on GET /users/u1): Wrong."
    limited = policy.error_for_response(get_user("u1"), httpx.Response(429))
    assert limited.hint == "Wait a little, or send fewer requests a second."


@pytest.mark.parametrize(
    ("status", "headers", "ending"),
    [
        (300, {"Location": "/v2"}, "(300) to /v2; it was not followed, so nothing was done."),
        (302, {}, "(302) without a Location; it was not followed, so nothing was done."),
    ],
)
def test_every_3xx_is_a_redirect_error(status: int, headers: dict[str, str], ending: str) -> None:
    err = policy.error_for_response(get_user("u1"), httpx.Response(status, headers=headers))
    assert isinstance(err, RedirectError)
    assert err.message == f"The API redirected GET /users/u1 {ending}"
    assert err.location == headers.get("Location")


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("http://127.0.0.1:9/v1/users/u1", "127.0.0.1:9"),
        ("https://api.engage.so/v1/users/u1", "api.engage.so:443"),
        ("http://[::1]/users/u1", "[::1]:80"),
    ],
)
def test_a_connection_that_could_not_open_names_the_host_and_port(url: str, where: str) -> None:
    exc = httpx.ConnectError("[Errno 111] Connection refused")
    err = c.error_for_exception(get_user("u1"), exc, httpx.URL(url))
    assert isinstance(err, ConnectFailed)
    assert (
        err.message == f"Cannot connect to {where} (GET /users/u1): [Errno 111] Connection refused."
    )
    assert (err.port, err.retryable, err.exit_code) == (int(where.rsplit(":", 1)[1]), True, 6)


@pytest.mark.parametrize(
    ("base_url", "message", "hint"),
    [
        (
            "http://127.0.0.1:9/v1",
            "Cannot connect to 127.0.0.1:9 (GET /users/u1): [Errno 111] Connection refused.",
            "Is the server running? Start the local one with `engage sandbox serve --port 9`, "
            "or check --base-url (http://127.0.0.1:9/v1).",
        ),
        (
            "https://user:pw@api.test/v1",
            "Cannot connect to api.test:443 (GET /users/u1): [Errno 111] Connection refused.",
            "Check --base-url (https://user:****@api.test/v1) and the network.",
        ),
    ],
)
def test_a_refused_connection_hints_at_the_url_or_the_server_not_the_timeout(
    base_url: str, message: str, hint: str
) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    args = ["--retries", "0", "--base-url", base_url, "users", "get", "u1", "-o", "json"]
    result = run(args, [refused])
    assert result.exit_code == 6
    error = json.loads(result.stderr)["error"]
    assert (error["message"], error["hint"]) == (message, hint)
    assert "timeout" not in result.stderr


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (httpx.ReadTimeout("slow"), "The request timed out (GET /users/u1): slow"),
        (httpx.ConnectError(""), "The request failed (GET /users/u1): ConnectError"),
    ],
)
def test_error_for_exception_names_the_request_and_the_failure(
    exc: Exception, message: str
) -> None:
    err = c.error_for_exception(get_user("u1"), exc)
    assert err.message == message
    assert err.retryable is True


def test_a_wait_past_the_cap_keeps_the_status_message_and_adds_the_wait() -> None:
    handler, _ = sequence(httpx.Response(429, headers={"Retry-After": "90"}))
    client, _ = make_client(handler)
    with pytest.raises(TemporaryError) as caught:
        client.send(get_user("u1"))
    assert caught.value.message == (
        "Rate limited by the API (429 on GET /users/u1) and the retries ran out."
        " It asked to wait 90 s, longer than the 60 s we wait."
    )


def test_a_wait_past_the_cap_after_a_servers_text_without_a_full_stop() -> None:
    handler, _ = sequence(
        httpx.Response(503, headers={"Retry-After": "90"}, json={"error": "Maintenance"})
    )
    client, _ = make_client(handler)
    with pytest.raises(TemporaryError) as caught:
        client.send(get_user("u1"))
    assert caught.value.message == (
        "The API failed (503 on GET /users/u1): Maintenance. It asked to wait 90 s, longer "
        "than the 60 s we wait."
    )


def test_bodies_are_sent_as_compact_utf8_json() -> None:
    handler, sent = sequence(httpx.Response(200, json={}))
    client, _ = make_client(handler)
    client.send(update_user("u1", {"first_name": "Zoë"}))
    assert sent[0].content == '{"first_name":"Zoë"}'.encode()
    assert sent[0].headers["Content-Type"] == "application/json"


def test_only_a_request_with_a_body_says_it_sends_json() -> None:
    handler, sent = sequence(httpx.Response(200, json={}))
    client, _ = make_client(handler)
    client.send(get_user("u1"))
    assert "Content-Type" not in sent[0].headers
    assert "Content-Type" not in client.shown_headers(get_user("u1"))
    assert client.shown_headers(update_user("u1", {"first_name": "A"}))["Content-Type"] == (
        "application/json"
    )


def test_the_shown_url_carries_the_query() -> None:
    client, _ = make_client(sequence()[0])
    assert client.url(list_users(limit=5)) == "https://api.test/v1/users?limit=5"


def test_paginate_refuses_an_answer_that_is_a_bare_list() -> None:
    handler, _ = sequence(httpx.Response(200, json=[{"id": "1"}]))
    client, _ = make_client(handler)
    with pytest.raises(UnexpectedAnswer, match="with an array, not an object"):
        list(client.paginate(list_users()))


def test_debug_says_which_attempt_comes_next() -> None:
    handler, _ = sequence(httpx.Response(503), httpx.Response(200, json={}))
    lines: list[str] = []
    client, _ = make_client(handler)
    client._log = lines.append
    client.send(get_user("u1"))
    assert "  retrying in 0.50s after 503 (attempt 2)" in lines


def logging_client(
    *responses: httpx.Response | Exception, retries: int = 3
) -> tuple[c.EngageClient, Clock, list[httpx.Request], list[str]]:
    handler, sent = sequence(*responses)
    client, clock = make_client(handler, retries=retries)
    lines: list[str] = []
    client._log = lines.append
    return client, clock, sent, lines


def test_a_429_in_a_bulk_run_is_handed_to_it_and_uses_no_retry() -> None:
    client, clock, sent, lines = logging_client(
        httpx.Response(429, headers={"Retry-After": "60"}),
        httpx.Response(429),
        httpx.Response(429, headers={"retry-after-ms": "2000"}),
        httpx.Response(200, json={"ok": True}),
        retries=0,
    )
    handed: list[float | None] = []
    client.on_rate_limit = handed.append
    assert client.send(get_user("u1")) == {"ok": True}
    assert handed == [policy.RETRY_AFTER_CAP, None, 2.0]  # the run decides how to pace
    assert len(sent) == 4 and clock.slept == []
    assert lines.count("  rate limited: waiting for the run's next slot") == 3


def test_a_bulk_run_is_never_handed_a_wait_longer_than_the_cap() -> None:
    # A run waited 60 s at a time through Retry-After: 100000, silent, until killed.
    client, clock, sent, _ = logging_client(
        httpx.Response(429, headers={"Retry-After": "100000"}), retries=3
    )
    handed: list[float | None] = []
    client.on_rate_limit = handed.append
    with pytest.raises(LongWait, match="asked to wait 100000 s, longer than the 60 s") as caught:
        client.send(get_user("u1"))
    assert caught.value.wait == 100000 and caught.value.exit_code == 6
    assert handed == [] and clock.slept == [] and len(sent) == 1


def test_a_bulk_run_hands_over_at_most_max_rate_limited_429s() -> None:
    client, _, sent, _ = logging_client(
        *[httpx.Response(429)] * (policy.MAX_RATE_LIMITED + 1), retries=0
    )
    handed: list[float | None] = []
    client.on_rate_limit = handed.append
    with pytest.raises(TemporaryError, match="Rate limited"):
        client.send(get_user("u1"))
    assert len(handed) == policy.MAX_RATE_LIMITED
    assert len(sent) == policy.MAX_RATE_LIMITED + 1


def test_a_connection_failure_is_retried_and_logged() -> None:
    client, clock, sent, lines = logging_client(
        httpx.ConnectError("refused"), httpx.Response(200, json={}), retries=1
    )
    client.send(APIRequest("POST", "/users", body={"id": "u1"}))  # not repeatable, yet retried
    assert len(sent) == 2 and clock.slept == [0.5]
    assert "< ConnectError: refused" in lines
    assert "  retrying in 0.50s after ConnectError (attempt 2)" in lines


def test_only_a_429_pauses_the_other_requests() -> None:
    client, clock, _, _ = logging_client(
        httpx.Response(503, headers={"Retry-After": "30"}),
        httpx.Response(200, json={}),
        httpx.Response(200, json={}),
    )
    client.send(get_user("u1"))
    assert clock.slept == [30.0]
    client.send(get_user("u2"))
    assert clock.slept == [30.0]  # the second request did not wait


def test_a_wait_of_exactly_the_cap_is_honoured() -> None:
    client, clock, sent, _ = logging_client(
        httpx.Response(429, headers={"Retry-After": "60"}), httpx.Response(200, json={})
    )
    client.send(get_user("u1"))
    assert len(sent) == 2 and clock.slept[0] == policy.RETRY_AFTER_CAP


def test_debug_logs_each_exchange_and_redirect() -> None:
    client, _, _, lines = logging_client(
        httpx.Response(307, headers={"Location": "/v2/users/u1"}), httpx.Response(200, json={})
    )
    client.send(update_user("u1", {"first_name": "Zoë"}))
    assert lines[:5] == [
        "> PUT https://api.test/v1/users/u1",
        f"> User-Agent: {c.USER_AGENT}",
        "> Accept: application/json",
        "> Authorization: Basic ****",
        "> Content-Type: application/json",
    ]
    assert lines[5] == '> {"first_name":"Zoë"}'
    assert re.fullmatch(r"< 307 Temporary Redirect \(\d+ ms\)", lines[6])
    assert lines[7] == "  following the redirect to https://api.test/v2/users/u1"
    assert lines[8] == "> PUT https://api.test/v2/users/u1"


def test_a_redirect_loop_error_names_the_last_hop() -> None:
    client, _, _, _ = logging_client(
        *[httpx.Response(307, headers={"Location": "/v1/users/u1"})] * (policy.MAX_REDIRECTS + 1)
    )
    with pytest.raises(RedirectError) as caught:
        client.send(get_user("u1"))
    assert caught.value.message == (
        f"The API redirected GET /users/u1 more than {policy.MAX_REDIRECTS} times; "
        "the last hop was to https://api.test/v1/users/u1."
    )
    assert caught.value.status == 307
    assert caught.value.location == "https://api.test/v1/users/u1"


def test_every_request_says_who_sends_it_and_what_it_accepts() -> None:
    handler, sent = sequence(httpx.Response(200, json={}))
    client = c.EngageClient(
        base_url="https://api.test/v1/",
        api_key="k",
        api_secret=None,
        transport=httpx.MockTransport(handler),
    )
    client.send(APIRequest("GET", "/users", needs_secret=False))
    assert str(sent[0].url) == "https://api.test/v1/users"  # the trailing / is not doubled
    assert sent[0].headers["User-Agent"] == c.USER_AGENT
    assert c.USER_AGENT.startswith(f"engage-cli/{c.__version__} python/")
    assert sent[0].headers["Accept"] == "application/json"
    assert sent[0].headers["Authorization"] == "Basic " + base64.b64encode(b"k:").decode()


def test_missing_credentials_say_which_one() -> None:
    client, _ = make_client(sequence()[0], secret=None)
    with pytest.raises(MissingCredentials) as no_secret:
        client.send(get_user("u1"))
    assert no_secret.value.message == (
        "GET /users/u1 needs the API secret, and only an API key is configured."
    )
    assert no_secret.value.missing == "api_secret"
    client.api_key = None
    with pytest.raises(MissingCredentials) as no_key:
        client.send(get_user("u1"))
    assert no_key.value.message == "No API key is configured."
    assert no_key.value.missing == "api_key"


def test_a_body_already_encoded_is_sent_as_is() -> None:
    handler, sent = sequence(httpx.Response(200, json={}))
    client, _ = make_client(handler)
    encoded = EncodedJSON(b'[{"id": "u1"},{"id":"u2"}]')
    client.send(APIRequest("POST", "/users/batch", body=encoded))
    assert sent[0].content == bytes(encoded)
    assert sent[0].headers["Content-Type"] == "application/json"


def test_a_bulk_run_is_told_of_every_retry_and_why() -> None:
    client, _, _, _ = logging_client(
        httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200, json={})
    )
    told: list[tuple[str, int | None]] = []
    client.on_retry = lambda why, status: told.append((why, status))
    client.send(get_user("u1"))
    assert told == [("ConnectError", None), ("503", 503)]


def test_a_read_timeout_is_retried_only_where_repeating_is_harmless() -> None:
    client, clock, sent, _ = logging_client(
        httpx.ReadTimeout("slow"), httpx.Response(200, json={}), retries=1
    )
    client.send(get_user("u1"))
    assert len(sent) == 2 and clock.slept == [0.5]


def test_transport_retries_back_off_and_are_bounded() -> None:
    client, clock, sent, _ = logging_client(*[httpx.ConnectError("refused")] * 3, retries=2)
    with pytest.raises(TemporaryError, match="refused"):
        client.send(get_user("u1"))
    assert len(sent) == 3 and clock.slept == [0.5, 1.0]


def test_debug_gives_each_exchanges_time_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([100.0, 100.0, 102.0])  # the pause check, the send, the answer

    class FakeTime:
        @staticmethod
        def monotonic() -> float:
            return next(ticks)

    monkeypatch.setattr(c, "time", FakeTime)
    client, _, _, lines = logging_client(httpx.Response(200, json={}))
    client.send(get_user("u1"))
    assert "< 200 OK (2000 ms)" in lines


def test_a_300_is_no_success() -> None:
    client, _, sent, _ = logging_client(httpx.Response(300, headers={"Location": "/v2"}))
    with pytest.raises(RedirectError):
        client.send(get_user("u1"))
    assert len(sent) == 1


def test_a_request_without_a_body_sends_none() -> None:
    client, _, sent, lines = logging_client(httpx.Response(200, json={}))
    client.send(get_user("u1"))
    assert sent[0].content == b""
    assert not any(line.startswith("> {") or line == "> null" for line in lines)


def test_a_library_client_defaults_to_30_s_and_3_retries() -> None:
    handler, sent = sequence(*[httpx.Response(503)] * 4)
    client = c.EngageClient(
        base_url="https://api.test/v1",
        api_key="k",
        api_secret="s",
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        sleep=Clock().sleep,
    )
    with pytest.raises(TemporaryError):
        client.send(get_user("u1"))
    assert len(sent) == 4
    assert sent[0].extensions["timeout"]["read"] == 30.0


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://api.test/v1/", "https://api.test/v1/users/u1"),
        ("https://api.test/v1//", "https://api.test/v1/users/u1"),
        ("https://api.test/X/", "https://api.test/X/users/u1"),
    ],
)
def test_trailing_slashes_of_the_base_url_are_dropped(base_url: str, url: str) -> None:
    client = c.EngageClient(base_url=base_url, api_key="k", api_secret="s")
    with client:
        assert client.url(get_user("u1")) == url


def test_a_pause_shorter_than_a_second_is_waited_too(monkeypatch: pytest.MonkeyPatch) -> None:
    class FrozenTime:  # the fake clock sleeps, so the real one must not move either
        @staticmethod
        def monotonic() -> float:
            return 100.0

    monkeypatch.setattr(c, "time", FrozenTime)
    client, clock, sent, _ = logging_client(
        httpx.Response(429, headers={"Retry-After": "0.5"}), httpx.Response(200, json={})
    )
    client.send(get_user("u1"))
    assert clock.slept == [0.5, 0.5]  # the retry's own wait, then the client-wide pause
    assert len(sent) == 2

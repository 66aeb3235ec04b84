"""The client at the edges found by trying hard: answers that may or may not have acted,
refusals that are safe to resend, a body that never ends, and 2xx answers that are not what
the endpoint returns. Each was a bug: a retryable event POST recorded twice, 503s set apart
as unknown, a 2-second timeout running 45 s, `null` printed with exit 0."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from engage_cli import client as c
from engage_cli.endpoints import add_event, get_list, get_user, list_users, raw, update_user
from engage_cli.errors import Interrupted, NetworkError, TemporaryError, UnexpectedAnswer
from tests.harness import reply, run
from tests.test_client import make_client, sequence

EVENT = add_event("u1", {"event": "Paid"})

# --- uncertain: sent, and the server may have acted ------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.WriteTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(504),
    ],
)
def test_an_event_post_without_an_answer_is_uncertain_and_not_retryable(
    failure: httpx.Response | Exception,
) -> None:
    handler, sent = sequence(failure)
    client, _ = make_client(handler)
    with pytest.raises(TemporaryError) as caught:
        client.send(EVENT)
    err = caught.value
    assert len(sent) == 1  # never sent twice
    assert err.uncertain is True and err.retryable is False
    assert "may have acted on it all the same (an event may have been recorded)" in err.message
    assert err.to_dict()["error"]["retryable"] is False


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route")]
)
def test_an_event_post_that_never_left_is_retryable(failure: Exception) -> None:
    handler, _ = sequence(failure)
    client, _ = make_client(handler, retries=0)
    with pytest.raises(NetworkError) as caught:
        client.send(EVENT)
    assert caught.value.retryable is True and caught.value.uncertain is False
    assert "may have" not in caught.value.message


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.Response(500)])
def test_a_repeatable_request_without_an_answer_stays_retryable(
    failure: httpx.Response | Exception,
) -> None:
    handler, _ = sequence(failure)
    client, _ = make_client(handler, retries=0)
    with pytest.raises(TemporaryError) as caught:
        client.send(update_user("u1", {"first_name": "A"}))
    assert caught.value.retryable is True and caught.value.uncertain is False


@pytest.mark.parametrize("status", [429, 503])
def test_a_refusal_is_resent_for_every_request_within_the_budget(status: int) -> None:
    handler, sent = sequence(
        httpx.Response(status), httpx.Response(status), httpx.Response(200, json={})
    )
    client, clock = make_client(handler)
    assert client.send(EVENT) == {}
    assert len(sent) == 3 and len(clock.slept) == 2


def test_a_503_to_an_event_post_after_the_retries_is_retryable_not_uncertain() -> None:
    handler, sent = sequence(*[httpx.Response(503)] * 3)
    client, _ = make_client(handler, retries=2)
    with pytest.raises(TemporaryError) as caught:
        client.send(EVENT)
    assert len(sent) == 3
    assert caught.value.retryable is True and caught.value.uncertain is False


def test_events_add_timing_out_says_the_event_may_be_recorded() -> None:
    result = run(
        ["--retries", "3", "events", "add", "u1", "Paid", "-o", "json"],
        [httpx.ReadTimeout("timed out")],
    )
    assert result.exit_code == 6
    error = json.loads(result.stderr)["error"]
    assert error["retryable"] is False
    assert "may have been recorded" in error["message"]
    assert "raise --timeout" not in error.get("hint", "")
    assert len(result.sent) == 1


# --- --timeout bounds the whole request ------------------------------------------------------


class FakeTime:
    """A clock that moves only when the drip below sends a byte."""

    now = 100.0

    @classmethod
    def monotonic(cls) -> float:
        return cls.now


class Drip(httpx.SyncByteStream):
    """A body sent a byte a second, for a minute."""

    def __iter__(self) -> Iterator[bytes]:
        for byte in b'{"uid": "u1", "pad": "' + b"x" * 60 + b'"}':
            FakeTime.now += 1
            yield bytes([byte])


def test_timeout_bounds_the_whole_request_not_each_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c, "time", FakeTime)
    FakeTime.now = 100.0
    handler, _ = sequence(httpx.Response(200, stream=Drip()))
    client, _ = make_client(handler, retries=0)
    client.timeout = 2.0
    with pytest.raises(NetworkError, match=r"timed out \(GET /users/u1\): no complete answer "
                       r"within 2 s"):  # fmt: skip
        client.send(get_user("u1"))
    assert FakeTime.now <= 103  # it stopped reading at the deadline, not after 60 bytes


class SlowPeer:
    """A real server on loopback that answers a byte at a time (`drip`: a status line, then
    a header growing a byte every 50 ms for 20 s) or reads a request's body a kilobyte at a
    time (`sip`): every read or write of the client makes progress, none ever waits long."""

    def __init__(self, mode: str) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/v1"
        self.mode = mode
        self.steps = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.settimeout(5)
            try:
                if self.mode == "sip":  # a small receive buffer: the client's writes block
                    while not self.stop.wait(0.05) and conn.recv(1024):
                        self.steps += 1
                    return
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
                while self.steps < 400 and not self.stop.wait(0.05):
                    conn.sendall(b"x")
                    self.steps += 1
            except OSError:
                return  # the client hung up: what the tests want

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.server.close()


@pytest.mark.parametrize("mode", ["drip", "sip"])
def test_timeout_bounds_a_real_request_from_its_first_to_its_last_byte(mode: str) -> None:
    # httpx bounds each read and write, not the request: headers arriving a byte at a time
    # held `--timeout 1` for as long as the server liked. A body read a kilobyte at a time is
    # bounded too (before, only because a body left in one write, bounded as a whole).
    peer = SlowPeer(mode)
    client = c.EngageClient(base_url=peer.url, api_key="k", api_secret="s", timeout=1.0, retries=0)
    request = get_user("u1") if mode == "drip" else update_user("u1", {"pad": "x" * 4_000_000})
    try:
        with pytest.raises(NetworkError, match=r"no complete answer within 1 s"):
            client.send(request)
    finally:
        client.close()
        peer.close()
    assert peer.steps < 400  # it gave up at its deadline (about 20 steps), not the server's


# --- a 2xx that is not what the endpoint returns ---------------------------------------------


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (httpx.Response(204), "with no body"),
        (httpx.Response(200, content=b""), "with no body"),
        (httpx.Response(200, content=b"null"), "with null, not an object"),
        (httpx.Response(200, content=b'["u1"]'), "with an array, not an object"),
        (httpx.Response(200, content=b'{"id": NaN}'), "not JSON"),
        (httpx.Response(200, content=b'{"id": 1e999}'), "not JSON"),
        (httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000), "nested more than"),
    ],
)
def test_a_success_that_is_not_the_endpoints_answer_is_an_error(
    answer: httpx.Response, words: str
) -> None:
    handler, _ = sequence(answer)
    client, _ = make_client(handler)
    with pytest.raises(UnexpectedAnswer, match=words) as caught:
        client.send(get_user("u1"))
    assert caught.value.exit_code == 6 and caught.value.uncertain is False


def test_a_page_without_its_data_array_is_an_error() -> None:
    handler, _ = sequence(httpx.Response(200, json={"users": []}))
    client, _ = make_client(handler)
    with pytest.raises(UnexpectedAnswer, match="no `data` array"):
        client.send(list_users())


def test_a_bad_answer_to_an_event_post_says_it_may_have_acted() -> None:
    handler, _ = sequence(httpx.Response(200, content=b"null"))
    client, _ = make_client(handler)
    with pytest.raises(UnexpectedAnswer) as caught:
        client.send(EVENT)
    assert caught.value.uncertain is True and caught.value.retryable is False


def test_the_raw_api_call_takes_any_json_or_none() -> None:
    handler, _ = sequence(httpx.Response(204), httpx.Response(200, json=[1]))
    client, _ = make_client(handler)
    assert client.send(raw("HEAD", "/users", {}, None)) is None
    assert client.send(raw("GET", "/x", {}, None)) == [1]


def test_a_deeply_nested_error_body_is_still_an_error_of_its_status() -> None:
    handler, _ = sequence(httpx.Response(400, content=b"[" * 50_000 + b"]" * 50_000))
    client, _ = make_client(handler)
    with pytest.raises(Exception) as caught:
        client.send(get_list("l1"))
    assert getattr(caught.value, "exit_code", None) == 5


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        (["users", "get", "u1"], reply(204, b"")),
        (["users", "get", "u1"], reply(200, b"null")),
        (["users", "get", "u1"], reply(200, b'{"id": NaN}')),
        (["users", "get", "u1"], reply(200, b"[" * 100_000 + b"]" * 100_000)),
        (["users", "list"], reply(200, {"users": []})),
        (["users", "list", "--all"], reply(200, {"users": []})),
        (["lists", "list"], reply(200, b"null")),
    ],
)
def test_the_cli_exits_6_on_an_answer_that_is_not_the_endpoints(
    args: list[str], answer: httpx.Response
) -> None:
    result = run([*args, "-o", "json"], [answer])
    assert result.exit_code == 6, result.stderr
    assert result.stdout == ""
    assert "The API answered" in json.loads(result.stderr)["error"]["message"]


# --- pagination that repeats itself ----------------------------------------------------------


def test_a_repeated_cursor_shows_no_row_twice_and_exits_6() -> None:
    page = {"data": [{"id": "a" * 24, "uid": "u1"}], "next_cursor": "c1"}
    result = run(["users", "list", "--all", "-o", "ndjson"], [reply(200, page)] * 2)
    assert result.exit_code == 6, result.stderr
    assert result.stdout.count('"u1"') == 1
    assert "repeated the pagination cursor 'c1'" in result.stderr


def test_a_cursor_leading_back_to_the_one_asked_for_is_a_loop() -> None:
    page = {"data": [{"id": "x"}], "next_cursor": "c0"}
    handler, _ = sequence(httpx.Response(200, json=page))
    client, _ = make_client(handler)
    with pytest.raises(UnexpectedAnswer, match="repeated"):
        next(client.paginate(list_users(cursor=("next_cursor", "c0"))))


# --- a request in flight is cancelled at once ------------------------------------------------


@pytest.fixture
def holding_server() -> Iterator[tuple[str, threading.Event]]:
    """A server that reads a request and never answers it (until the test ends)."""
    listener = socket.create_server(("127.0.0.1", 0))
    received = threading.Event()
    done = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            conn.recv(65536)
            received.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1", received
    finally:
        done.set()
        listener.close()
        for conn in held:
            conn.close()


def test_cancel_ends_a_request_in_flight_as_uncertain(
    holding_server: tuple[str, threading.Event],
) -> None:
    url, received = holding_server
    client = c.EngageClient(base_url=url, api_key="k", api_secret="s", timeout=60, retries=3)
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            client.send(EVENT)
        except BaseException as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    assert received.wait(10)
    client.cancel()
    sender.join(10)  # the 60 s timeout is not waited, nor any retry
    assert not sender.is_alive()
    (err,) = outcome
    assert isinstance(err, NetworkError) and err.uncertain and not err.retryable
    assert "cancelled as the run was stopped" in err.message
    with pytest.raises(Interrupted, match="Cancelled before sending"):  # nothing starts after
        client.send(get_user("u1"))
    client.close()

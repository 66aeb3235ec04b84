"""The sandbox over real loopback HTTP, its start/stop protocol, and the in-process transport."""

from __future__ import annotations

import http.client
import io
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from engage_cli.sandbox.api import DEFAULT_KEY, DEFAULT_SECRET, SandboxAPI
from engage_cli.sandbox.protocol import MAX_BODY_BYTES, Limits
from engage_cli.sandbox.server import (
    SandboxServer,
    base_url,
    make_server,
    serve_until_stopped,
)
from engage_cli.sandbox.store import SandboxStore, StoreClosedError
from engage_cli.sandbox.transport import SandboxTransport

from .conftest import FULL, KEY_ONLY

URL_LINE = re.compile(r"http://127\.0\.0\.1:(\d+)/v1")


@dataclass
class Running:
    server: SandboxServer
    url: str
    port: int
    banner: list[str]


def _wait_for_banner(out: io.StringIO) -> list[str]:
    deadline = time.monotonic() + 10
    while len(out.getvalue().splitlines()) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    return out.getvalue().splitlines()


@pytest.fixture
def running(api: SandboxAPI) -> Iterator[Running]:
    server = make_server(api, "127.0.0.1", 0)
    out = io.StringIO()
    thread = threading.Thread(
        target=serve_until_stopped, args=(server, out), kwargs={"handle_signals": False}
    )
    thread.start()
    try:
        banner = _wait_for_banner(out)
        match = URL_LINE.fullmatch(banner[0])
        assert match is not None, banner
        yield Running(server, banner[0], int(match.group(1)), banner)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        assert not thread.is_alive()


def _client(url: str, auth: tuple[str, str] = (DEFAULT_KEY, DEFAULT_SECRET)) -> httpx.Client:
    return httpx.Client(base_url=url, auth=auth, timeout=10)


def test_banner_is_the_url_then_the_credentials(running: Running) -> None:
    assert running.banner == [
        f"http://127.0.0.1:{running.port}/v1",
        f"ENGAGE_API_KEY={DEFAULT_KEY}",
        f"ENGAGE_API_SECRET={DEFAULT_SECRET}",
    ]
    assert running.port != 0


def test_requests_share_one_keep_alive_connection(running: Running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        body = json.dumps({"id": "u1"})
        headers = {"Authorization": KEY_ONLY, "Content-Type": "application/json"}
        conn.request("POST", "/v1/users", body=body, headers=headers)
        first = conn.getresponse()
        payload = first.read()
        assert first.status == 200
        assert first.getheader("Content-Length") == str(len(payload))
        assert first.getheader("Content-Type") == "application/json"
        sock = conn.sock
        conn.request("GET", "/v1/users/u1", headers={"Authorization": FULL})
        second = conn.getresponse()
        assert (second.status, json.loads(second.read())["uid"]) == (200, "u1")
        assert conn.sock is sock  # no reconnect: HTTP/1.1 keep-alive
    finally:
        conn.close()


def test_chunked_request_bodies_are_read(running: Running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        chunks = iter([b'{"id": ', b'"chunky"}'])
        conn.request(
            "POST",
            "/v1/users",
            body=chunks,
            headers={"Authorization": KEY_ONLY, "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        answer = conn.getresponse()
        assert (answer.status, json.loads(answer.read())["uid"]) == (200, "chunky")
    finally:
        conn.close()


def test_a_bad_content_length_is_400_and_closes(running: Running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        conn.putrequest("POST", "/v1/users")
        conn.putheader("Content-Length", "lots")
        conn.putheader("Authorization", KEY_ONLY)
        conn.endheaders()
        answer = conn.getresponse()
        assert answer.status == 400
        assert answer.getheader("Connection") == "close"
        assert "error" in json.loads(answer.read())
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/v2/nothing", 404, None),
        ("DELETE", "/v1/users", 405, "GET, POST"),
        ("HEAD", "/v1/users", 405, "GET, POST"),
        ("PATCH", "/v1/users/u1", 405, "DELETE, GET, PUT"),
    ],
)
def test_errors_over_http(
    running: Running, method: str, path: str, status: int, allow: str | None
) -> None:
    with _client(running.url) as client:
        answer = client.request(method, f"http://127.0.0.1:{running.port}{path}")
    assert answer.status_code == status
    assert answer.headers.get("Allow") == allow
    assert answer.headers["Content-Type"] == "application/json"
    if method != "HEAD":
        assert "error" in answer.json()


def test_the_store_is_closed_after_stopping(api: SandboxAPI, store: SandboxStore) -> None:
    server = make_server(api)
    thread = threading.Thread(
        target=serve_until_stopped, args=(server, io.StringIO()), kwargs={"handle_signals": False}
    )
    thread.start()
    server.shutdown()
    thread.join(timeout=10)
    with pytest.raises(StoreClosedError):
        store.get_user("u1")


def test_concurrent_clients_lose_and_double_nothing(running: Running, store: SandboxStore) -> None:
    threads, rounds = 16, 8
    race_statuses: list[int] = []
    failures: list[str] = []

    def client_work(n: int) -> None:
        try:
            with _client(running.url) as client:
                race_statuses.append(client.post("/users", json={"id": "race"}).status_code)
                for i in range(rounds):
                    created = client.post("/users", json={"id": f"t{n}r{i}"})
                    updated = client.put("/users/shared", json={"meta": {f"k{n}_{i}": i}})
                    event = client.post(
                        "/users/shared/events", json={"event": "tick", "value": n * 100 + i}
                    )
                    listed = client.get("/users", params={"limit": 5})
                    statuses = [r.status_code for r in (created, updated, event, listed)]
                    if statuses != [200] * 4:
                        failures.append(f"{n}/{i}: {statuses}")
        except Exception as exc:  # a thread's failure must fail the test, not vanish
            failures.append(f"{n}: {exc!r}")

    workers = [threading.Thread(target=client_work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert failures == []
    assert sorted(race_statuses) == [200] + [400] * (threads - 1)
    # every create landed once: the race winner, "shared" (from the first upsert), the rest
    assert store.count_users() == 2 + threads * rounds
    shared = store.get_user("shared")
    assert shared is not None
    assert shared["meta"] == {f"k{n}_{i}": i for n in range(threads) for i in range(rounds)}
    values = sorted(event["value"] for event in store.list_events("shared"))
    assert values == sorted(n * 100 + i for n in range(threads) for i in range(rounds))


# -- the in-process transport ------------------------------------------------------------------


def test_transport_talks_to_the_api_without_a_socket(api: SandboxAPI) -> None:
    transport = SandboxTransport(api)
    with httpx.Client(
        transport=transport,
        base_url="http://sandbox.invalid/v1",
        auth=(DEFAULT_KEY, DEFAULT_SECRET),
    ) as client:
        created = client.post("/users", json={"id": "u144", "meta": {"plan": "pro"}})
        assert created.status_code == 200
        assert created.headers["content-type"] == "application/json"
        assert client.put("/users/ada%40example.com", json={"first_name": "Ada"}).json()["uid"] == (
            "ada@example.com"
        )
        assert client.get("/users/ada%40example.com").json()["first_name"] == "Ada"
        page = client.get("/users", params={"limit": 1}).json()
        assert [user["uid"] for user in page["data"]] == ["u144"]
        assert page["has_more"] is True
        nothing = client.get("/users/ghost")
        assert (nothing.status_code, nothing.json()) == (404, {"error": "User not found."})


def test_transport_is_usable_from_many_threads(api: SandboxAPI, store: SandboxStore) -> None:
    client = httpx.Client(
        transport=SandboxTransport(api),
        base_url="http://sandbox.invalid/v1",
        auth=(DEFAULT_KEY, ""),
    )

    def post_events(n: int) -> None:
        for i in range(10):
            client.post(f"/users/u{n}/events", json={"event": "e", "value": i})

    workers = [threading.Thread(target=post_events, args=(n,)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    client.close()
    assert len(store.list_events()) == 80
    assert store.count_users() == 8


def test_transport_can_own_the_store(db_path: Path) -> None:
    owned = SandboxStore(db_path)
    client = httpx.Client(
        transport=SandboxTransport(SandboxAPI(owned), close_store=True),
        base_url="http://sandbox.invalid/v1",
    )
    client.close()
    with pytest.raises(StoreClosedError):
        owned.count_users()


# -- the process: first line, signals, exit status ---------------------------------------------

SERVE_SCRIPT = (
    "import sys\n"
    "from engage_cli.sandbox.server import run_sandbox_server\n"
    "sys.exit(run_sandbox_server(db_path=sys.argv[1], port=0, key='k1', secret='s1'))\n"
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_process_prints_its_url_first_and_stops_on_a_signal(
    tmp_path: Path, signum: int
) -> None:
    db = tmp_path / "served" / "sandbox.sqlite3"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert URL_LINE.fullmatch(url), url
        assert process.stdout.readline().strip() == "ENGAGE_API_KEY=k1"
        assert process.stdout.readline().strip() == "ENGAGE_API_SECRET=s1"
        with httpx.Client(base_url=url, auth=("k1", "s1"), timeout=10) as client:
            assert client.post("/users", json={"id": "persisted"}).status_code == 200
        process.send_signal(signum)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    with SandboxStore(db) as reopened:
        assert reopened.get_user("persisted") is not None


# -- as a network service: framing, malformed HTTP, a bounded pool ------------------------------


def _exchange(port: int, data: bytes, *, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, keep the socket open, and read the one answer the server gives."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()


def _assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    message = json.loads(body)["error"]
    assert isinstance(message, str)
    assert "bytearray(" not in message and "b'" not in message  # h11's reprs: not for a person


def _post(headers: str, body: bytes = b"") -> bytes:
    return (
        f"POST /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: {KEY_ONLY}\r\n{headers}\r\n".encode()
        + body
    )


CAP = MAX_BODY_BYTES
MALFORMED = {
    "garbage request line": (b"GARBAGE\r\n\r\n", 400),
    "binary request line": (b"\x00\x01\x02\xff\xfe\r\n\r\n", 400),
    "empty request line": (b"\r\n\r\n", 400),
    "four words": (b"GET /v1/users HTTP/1.1 extra\r\n\r\n", 400),
    "bad version": (b"GET /v1/users HTTP/x.y\r\n\r\n", 400),
    "HTTP/2 over HTTP/1": (b"GET /v1/users HTTP/2.0\r\n\r\n", 505),
    "unknown method": (b"BREW /v1/users HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    "request line too long": (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    "header too long": (b"GET /v1/users HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    "too many headers": (
        b"GET /v1/users HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(150))
        + b"\r\n",
        431,
    ),
    "superscript Content-Length": (_post("Content-Length: ²\r\n"), 400),
    "Arabic-Indic Content-Length": (_post("Content-Length: ١٢\r\n"), 400),
    "negative Content-Length": (_post("Content-Length: -1\r\n"), 400),
    "signed Content-Length": (_post("Content-Length: +2\r\n", b"{}"), 400),
    "hex Content-Length": (_post("Content-Length: 0x2\r\n", b"{}"), 400),
    "two different Content-Lengths": (
        _post("Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"),
        400,
    ),
    "Content-Length past the cap": (_post(f"Content-Length: {CAP + 1}\r\n"), 413),
    # h11 refuses a Content-Length of more than 20 digits as malformed, before anything is read.
    "Content-Length past any integer": (_post("Content-Length: " + "9" * 400 + "\r\n"), 400),
    "body shorter than Content-Length": (_post("Content-Length: 50\r\nConnection: close\r\n"), 400),
    "chunked and Content-Length": (
        _post("Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", b"2\r\n{}\r\n0\r\n\r\n"),
        400,
    ),
    "unknown transfer coding": (_post("Transfer-Encoding: gzip\r\n", b"{}"), 501),
    "chunked twice": (_post("Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), 501),
    "chunk size -1": (_post("Transfer-Encoding: chunked\r\n", b"-1\r\n"), 400),
    "chunk size not hex": (_post("Transfer-Encoding: chunked\r\n", b"zz\r\n"), 400),
    "chunk size blank": (_post("Transfer-Encoding: chunked\r\n", b"\r\n"), 400),
    "chunk size line endless": (_post("Transfer-Encoding: chunked\r\n", b"1" * 5000), 400),
    "chunk size past the cap": (
        _post("Transfer-Encoding: chunked\r\n", b"%x\r\n" % (CAP + 1)),
        413,
    ),
    "chunk size past any integer": (
        _post("Transfer-Encoding: chunked\r\n", b"f" * 40 + b"\r\n"),
        400,
    ),
    "chunk without its CRLF": (
        _post("Transfer-Encoding: chunked\r\n", b"2\r\n{}XY\r\n0\r\n\r\n"),
        400,
    ),
    "chunked body cut short": (
        _post("Transfer-Encoding: chunked\r\nConnection: close\r\n", b"20\r\n{}"),
        400,
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_http_is_answered_with_a_json_error(running: Running, case: str) -> None:
    data, expected = MALFORMED[case]
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(data)
        if case.endswith("cut short") or case.startswith("body shorter"):
            sock.shutdown(socket.SHUT_WR)  # the client gives up mid-body
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        status, headers = answer.status, {k.lower(): v for k, v in answer.getheaders()}
        _assert_json_error(status, headers, answer.read(), expected)
        assert sock.recv(1) == b""  # and the connection is closed: what follows is unframed


def test_a_chunked_body_past_the_cap_is_refused_after_reading_at_most_the_cap(
    running: Running,
) -> None:
    # Eleven 1 MB chunks: the eleventh chunk's size line is refused before its data is read.
    megabyte = b"x" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", running.port), timeout=30) as sock:
        sock.sendall(_post("Transfer-Encoding: chunked\r\n"))
        for _ in range(10):
            sock.sendall(b"%x\r\n" % len(megabyte) + megabyte + b"\r\n")
        sock.sendall(b"%x\r\n" % len(megabyte))  # and no data follows
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        status, headers = answer.status, {k.lower(): v for k, v in answer.getheaders()}
        _assert_json_error(status, headers, answer.read(), 413)


def test_a_body_at_the_cap_is_still_read(running: Running) -> None:
    body = json.dumps({"id": "u1", "meta": {"pad": "x" * (CAP - 100)}}).encode()
    body += b" " * (CAP - len(body))
    status, _, answer = _exchange(
        running.port,
        _post("Transfer-Encoding: chunked\r\n", b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"),
    )
    assert status != 413, answer


def test_expect_100_continue_past_the_cap_is_refused_before_the_body(running: Running) -> None:
    status, headers, body = _exchange(
        running.port, _post(f"Content-Length: {CAP + 1}\r\nExpect: 100-continue\r\n")
    )
    _assert_json_error(status, headers, body, 413)


def test_a_request_too_slow_to_arrive_is_408(api: SandboxAPI) -> None:
    server = make_server(api, limits=Limits(request_timeout=0.3), handler_threads=2)
    with _serving(server) as port:
        slow = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(6)]
        try:
            for sock in slow:
                sock.sendall(b"GET /v1/us")  # ... and never the rest
            for sock in slow:
                answer = http.client.HTTPResponse(sock)
                answer.begin()
                assert answer.status == 408
                assert "error" in json.loads(answer.read())
            with _client(base_url(server)) as client:
                assert client.get("/users").status_code == 200
        finally:
            for sock in slow:
                sock.close()


def test_a_slow_body_is_408_too(api: SandboxAPI) -> None:
    server = make_server(api, limits=Limits(request_timeout=0.3))
    with _serving(server) as port:
        status, headers, body = _exchange(port, _post("Content-Length: 50\r\n", b'{"id"'))
        _assert_json_error(status, headers, body, 408)


def test_silent_connections_are_closed_having_been_sent_nothing(api: SandboxAPI) -> None:
    server = make_server(api, limits=Limits(request_timeout=0.3))
    with _serving(server) as port:
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
        try:
            with _client(base_url(server)) as client:
                assert client.get("/users").status_code == 200
            assert all(sock.recv(1) == b"" for sock in idle)  # closed, having sent nothing
        finally:
            for sock in idle:
                sock.close()


def test_idle_keep_alive_clients_hold_no_handler_thread(api: SandboxAPI) -> None:
    # Two handler threads, two keep-alive clients between their requests: a third client is
    # still answered, and the first two carry on on their own connections.
    server = make_server(api, handler_threads=2)
    with _serving(server):
        holders = [_client(base_url(server)) for _ in range(2)]
        try:
            for holder in holders:
                assert holder.get("/users").status_code == 200
            with _client(base_url(server)) as third:
                assert third.get("/users").status_code == 200
            for holder in holders:
                assert holder.get("/users").status_code == 200
        finally:
            for holder in holders:
                holder.close()


# What the issue measured on the thread-per-connection server: 1,000 half-open connections made
# a normal client get 503 at once, 64 slow-drip ones made it wait 29 s. A second is a generous
# functional bound (a request here takes milliseconds), not a speed measurement.
ANSWERED_WITHIN_SECONDS = 1.0


def _answered_within(port: int) -> float:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}/v1", auth=(DEFAULT_KEY, DEFAULT_SECRET), timeout=10
    ) as client:
        began = time.monotonic()
        answer = client.get("/users")
        elapsed = time.monotonic() - began
    assert answer.status_code == 200
    return elapsed


def test_a_client_is_answered_beside_1000_half_open_connections(api: SandboxAPI) -> None:
    server = make_server(api)
    with _serving(server) as port:
        half_open: list[socket.socket] = []
        try:
            for _ in range(1000):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(b"GET /v1/users HTTP/1.1\r\nHost: x\r\n")  # never the blank line
                half_open.append(sock)
            assert _answered_within(port) < ANSWERED_WITHIN_SECONDS
            # and they were all still open: nobody was turned away to make room
            for sock in half_open[:50]:
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):
                    sock.recv(1)
        finally:
            for sock in half_open:
                sock.close()


def test_a_client_is_answered_beside_64_slow_drip_clients(api: SandboxAPI) -> None:
    server = make_server(api)
    request = b"POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    stop = threading.Event()
    with _serving(server) as port:
        drips = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(64)]

        def drip() -> None:  # one byte per client every 20 ms, for as long as the test runs
            sent = 0
            while not stop.wait(0.02):
                for sock in drips:
                    sock.sendall(request[sent : sent + 1] or b" ")
                sent += 1

        dripping = threading.Thread(target=drip)
        dripping.start()
        try:
            time.sleep(0.3)  # every slow client has begun its request
            assert _answered_within(port) < ANSWERED_WITHIN_SECONDS
        finally:
            stop.set()
            dripping.join(timeout=10)
            for sock in drips:
                sock.close()


@contextmanager
def _serving(server: SandboxServer) -> Iterator[int]:
    thread = threading.Thread(
        target=serve_until_stopped, args=(server, io.StringIO()), kwargs={"handle_signals": False}
    )
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        thread.join(timeout=10)
        assert not thread.is_alive()


# --- the one request that carries a whole sandbox -------------------------------------------


def test_a_state_past_the_body_cap_is_imported_through_a_server(running: Running) -> None:
    # `engage sandbox import` sends a snapshot as one PUT: one of ~15,000 users is past the
    # 10 MB every other request is held to, and was refused 413 (export worked, import not).
    pad = "x" * 6_000
    users = [{"id": f"{n:024x}", "uid": f"u{n}", "meta": {"pad": pad}} for n in range(2_000)]
    body = json.dumps({"format": "engage-sandbox-state", "version": 1, "users": users})
    assert len(body) > MAX_BODY_BYTES
    with _client(running.url) as client:
        root = f"http://127.0.0.1:{running.port}/__sandbox/state"
        answer = client.put(root, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text
        assert client.get("/users/u1999").json()["meta"] == {"pad": pad}
        # every other request keeps the cap
        big = json.dumps({"id": "u1", "pad": "x" * MAX_BODY_BYTES})
        assert client.post("/users", content=big).status_code == 413


def test_a_state_past_its_own_cap_is_refused_before_it_is_read(api: SandboxAPI) -> None:
    server = make_server(
        api, "127.0.0.1", 0, limits=Limits(max_body_bytes=1000, max_state_bytes=5000)
    )
    thread = threading.Thread(
        target=serve_until_stopped, args=(server, io.StringIO()), kwargs={"handle_signals": False}
    )
    thread.start()
    try:
        port = server.server_address[1]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"PUT /__sandbox/state HTTP/1.1\r\nHost: x\r\nAuthorization: " + FULL.encode()
                + b"\r\nContent-Length: 5001\r\n\r\n"
            )  # fmt: skip
            assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")
    finally:
        server.shutdown()
        thread.join(timeout=10)

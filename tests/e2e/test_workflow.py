"""The paths users take, with the real binary against a real sandbox server."""

from __future__ import annotations

import json
import signal

import httpx
import pytest

from tests.e2e.conftest import Sandbox, StartSandbox


def ndjson(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_users_and_events_workflow(sandbox: Sandbox) -> None:
    created = sandbox.engage(
        "users", "create", "--id", "u144", "--first-name", "Akinyele", "--last-name", "Jinadu",
        "--email", "akinyele@example.com", "--meta", "plan=pro", "--meta", "age:=34",
        "--created-at", "2021-01-12T05:24:39.062+00:00", "--list", "newsletter",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    user = json.loads(created.stdout)
    assert user["uid"] == "u144"
    assert user["meta"] == {"plan": "pro", "age": 34}
    assert user["lists"] == [{"id": "newsletter", "subscribed": True}]
    assert user["created_at"] == "2021-01-12T05:24:39.062+00:00"
    assert len(user["id"]) == 24
    assert created.stderr == ""

    duplicate = sandbox.engage("users", "create", "--id", "u144")
    assert duplicate.returncode == 5
    assert "A user with this id already exists." in duplicate.stderr

    updated = sandbox.engage(
        "users", "update", "u144", "--meta", "plan=custom", "--meta", "coverage:=20"
    )
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["meta"] == {"plan": "custom", "age": 34, "coverage": 20}

    got = sandbox.engage("users", "get", "u144", "-o", "json")
    assert json.loads(got.stdout) == json.loads(updated.stdout)

    paid = sandbox.engage("events", "add", "u144", "Paid", "--value", "49.99")
    assert paid.returncode == 0, paid.stderr
    assert json.loads(paid.stdout) == {"status": "ok"}
    cart = sandbox.engage(
        "events", "add", "u144", "Add to cart", "--timestamp", "2020-05-30T09:30:10Z",
        "-p", "product=T123", "-p", "amount:=12.99",
    )  # fmt: skip
    assert cart.returncode == 0, cart.stderr
    recorded = ndjson(sandbox.engage("sandbox", "events", "--uid", "u144", "-o", "ndjson").stdout)
    assert [(e["event"], e["value"]) for e in recorded] == [("Paid", 49.99), ("Add to cart", None)]
    assert recorded[1]["properties"] == {"product": "T123", "amount": 12.99}

    deleted = sandbox.engage("users", "delete", "u144", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    gone = sandbox.engage("users", "get", "u144")
    assert gone.returncode == 4
    assert "User not found." in gone.stderr


def test_a_user_created_through_the_pipe(sandbox: Sandbox) -> None:
    body = '{"id": "u9", "first_name": "Ada", "meta": {"vip": true}}'
    result = sandbox.engage("users", "create", "--data", "-", input=body)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["meta"] == {"vip": True}


def test_pagination_across_many_pages_in_both_directions(sandbox: Sandbox) -> None:
    # Seeded over plain HTTP: the point here is the binary's paging, not 47 process starts.
    with httpx.Client(base_url=sandbox.url, auth=(sandbox.key, "")) as http:
        for i in range(47):
            http.post("/users", json={"id": f"p{i:03d}"}).raise_for_status()
    forward = sandbox.engage("users", "list", "--all", "--limit", "5", "-o", "ndjson")
    assert forward.returncode == 0, forward.stderr
    users = ndjson(forward.stdout)
    assert [u["uid"] for u in users] == [f"p{i:03d}" for i in range(47)]
    ids = [str(u["id"]) for u in users]
    assert ids == sorted(ids)

    one_page = sandbox.engage("users", "list", "--after-id", ids[9], "--limit", "3")
    assert [u["uid"] for u in json.loads(one_page.stdout)] == ["p010", "p011", "p012"]

    backward = sandbox.engage(
        "users", "list", "--before-id", ids[20], "--all", "--limit", "6", "-o", "ndjson"
    )
    back = [u["uid"] for u in ndjson(backward.stdout)]
    assert sorted(back) == [f"p{i:03d}" for i in range(20)]
    assert back[:6] == [f"p{i:03d}" for i in range(14, 20)]  # the nearest page first

    limited = sandbox.engage("users", "list", "--max", "12", "--limit", "5", "-o", "ndjson")
    assert len(ndjson(limited.stdout)) == 12

    closed_pipe = sandbox.engage("users", "list", "--all", "--limit", "2", "-o", "csv")
    assert closed_pipe.stdout.count("\n") == 48


def test_auth_failures(sandbox: Sandbox) -> None:
    wrong = sandbox.engage("users", "get", "x", ENGAGE_API_SECRET="not-the-secret")
    assert wrong.returncode == 3
    assert "Wrong authentication credentials" in wrong.stderr
    key_only = sandbox.engage("users", "create", "--id", "k1", ENGAGE_API_SECRET="")
    assert key_only.returncode == 0, key_only.stderr
    needs_secret = sandbox.engage("users", "list", ENGAGE_API_SECRET="")
    assert needs_secret.returncode == 3
    # The server agrees with the client's rule: a raw key-only call is refused with its message.
    raw = sandbox.engage("users", "update", "k1", "--email", "a@b.co", ENGAGE_API_SECRET="")
    assert raw.returncode == 3


def test_retries_recover_from_faults(start_sandbox: StartSandbox) -> None:
    # At a 30% failure rate, 11 attempts all failing has odds of 2 in a million.
    flaky = start_sandbox("--fail-rate", "0.3")
    ok = 0
    for i in range(8):
        result = flaky.engage("--retries", "10", "users", "update", f"r{i}", "--first-name", "R")
        ok += result.returncode == 0
    assert ok == 8  # PUT is repeatable: every one lands through retries

    # Seeded through the store, so no request counts against the limit before the listing;
    # its 9 requests (8 pages and the empty last one) all fit in one or two one-second
    # windows of 3, so some must be answered 429, however fast or slow the machine.
    limited = start_sandbox("--rate-limit", "3")
    seed = "".join(json.dumps({"id": f"q{i}"}) + "\n" for i in range(8))
    seeded = limited.engage("--sandbox", "users", "import", "-", "-c", "1", input=seed)
    assert seeded.returncode == 0, seeded.stderr
    paged = limited.engage("--debug", "users", "list", "--all", "--limit", "1", "-o", "ndjson")
    assert paged.returncode == 0, paged.stderr
    assert "< 429" in paged.stderr and "retrying" in paged.stderr
    assert [u["uid"] for u in ndjson(paged.stdout)] == [f"q{i}" for i in range(8)]


def test_an_event_post_refused_with_503s_is_resent_within_the_retries(
    start_sandbox: StartSandbox,
) -> None:
    # The sandbox's 503 comes before it acts, as the real API's: resending records nothing
    # twice, and the error says it may be retried.
    flaky = start_sandbox("--fail-rate", "1")
    result = flaky.engage("--debug", "--retries", "2", "events", "add", "e1", "Paid", "-o", "json")
    assert result.returncode == 6
    assert result.stderr.count("> POST") == 3
    assert json.loads(result.stderr.strip().splitlines()[-1])["error"]["retryable"] is True
    assert ndjson(flaky.engage("sandbox", "events", "-o", "ndjson").stdout) == []


def test_dry_run_sends_nothing(sandbox: Sandbox) -> None:
    result = sandbox.engage("users", "create", "--id", "d1", "--dry-run")
    assert result.returncode == 0
    assert json.loads(result.stdout)["headers"]["Authorization"] == "Basic ****"
    assert sandbox.engage("users", "get", "d1").returncode == 4


def test_in_process_sandbox_needs_no_server_or_account(sandbox: Sandbox) -> None:
    env = {"ENGAGE_API_KEY": "", "ENGAGE_API_SECRET": "", "ENGAGE_BASE_URL": ""}
    created = sandbox.engage("--sandbox", "users", "create", "--id", "local1", **env)
    assert created.returncode == 0, created.stderr
    listed = sandbox.engage("--sandbox", "users", "list", **env)
    assert [u["uid"] for u in json.loads(listed.stdout)] == ["local1"]
    # The server shares the same store.
    assert sandbox.engage("users", "get", "local1").returncode == 0
    reset = sandbox.engage("sandbox", "reset", "--yes")
    assert reset.returncode == 0
    assert sandbox.engage("users", "get", "local1").returncode == 4


def test_server_stops_cleanly_on_sigterm(start_sandbox: StartSandbox) -> None:
    server = start_sandbox()
    assert server.engage("users", "create", "--id", "s1").returncode == 0
    assert server.stop() == 0


def test_a_server_that_went_down_is_named_with_what_to_do(start_sandbox: StartSandbox) -> None:
    server = start_sandbox()
    assert server.stop() == 0  # nothing listens on its port now
    port = server.url.split(":")[2].split("/")[0]
    result = server.engage("--retries", "0", "users", "get", "bob", "-o", "table")
    assert result.returncode == 6
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: Cannot connect to 127.0.0.1:{port} (GET /users/bob): [Errno 111] Connection "
        f"refused.\nHint: Is the server running? Start the local one with `engage sandbox serve "
        f"--port {port}`, or check --base-url ({server.url}).\n"
    )


def _seed(sandbox: Sandbox, count: int) -> None:
    with httpx.Client(base_url=sandbox.url, auth=(sandbox.key, "")) as http:
        for i in range(count):
            http.post("/users", json={"id": f"s{i:03d}"}).raise_for_status()


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv", "table"])
def test_a_closed_pipe_ends_quietly(start_sandbox: StartSandbox, fmt: str) -> None:
    # 20 ms a page: the reader has surely gone before the last pages are written, so the
    # writes after it really do meet a closed pipe (a fast run could otherwise finish first).
    sandbox = start_sandbox("--latency", "20")
    _seed(sandbox, 20)
    process = sandbox.popen("users", "list", "--all", "--limit", "1", "-o", fmt)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()  # like `| head -1`: read a line, then go away
    process.stdout.close()
    assert process.wait(timeout=30) == 0
    assert process.stderr.read() == ""


def test_ctrl_c_exits_130_without_a_traceback(start_sandbox: StartSandbox) -> None:
    slow = start_sandbox("--latency", "400")
    _seed(slow, 3)
    process = slow.popen("users", "list", "--all", "--limit", "1", "-o", "ndjson")
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert "Traceback" not in process.stderr.read()

"""`engage sandbox events | requests | batches | reset | export | import` in-process: on a store
seeded directly (--sandbox, --db), and on a server at the base URL (a SandboxTransport)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from engage_cli.sandbox.api import SandboxAPI
from engage_cli.sandbox.store import SandboxStore
from engage_cli.sandbox.transport import SandboxTransport
from tests.harness import KEY, SECRET, basic, reply, run


def seed() -> Path:
    path = Path(os.environ["ENGAGE_SANDBOX_DB"])
    with SandboxStore(path) as store:
        store.create_user("u1", {})
        store.add_event("u1", "Paid", value=49.99)
        store.add_event("u2", "Signed up", properties={"plan": "pro"})
    return path


def test_events_lists_what_was_recorded_oldest_first() -> None:
    seed()
    everything = run(["sandbox", "events", "--sandbox", "-o", "ndjson"])
    assert everything.exit_code == 0, everything.stderr
    events = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [(e["uid"], e["event"], e["value"]) for e in events] == [
        ("u1", "Paid", 49.99),
        ("u2", "Signed up", None),
    ]
    assert set(events[0]) == {"uid", "event", "value", "properties", "timestamp"}
    one = run(["sandbox", "events", "--sandbox", "--uid", "u2", "-o", "json"]).json()
    assert [e["properties"] for e in one] == [{"plan": "pro"}]


def test_reset_dry_run_then_for_real() -> None:
    path = seed()
    dry = run(["sandbox", "reset", "--sandbox", "--dry-run"])
    assert dry.exit_code == 0
    shown = json.loads(dry.stdout)
    assert (shown["method"], shown["url"]) == ("POST", "http://sandbox.localhost/__sandbox/reset")
    refused = run(["sandbox", "reset", "--sandbox"])
    assert refused.exit_code == 2  # no terminal to confirm on, and no --yes
    assert "--yes" in refused.stderr
    with SandboxStore(path) as store:
        assert store.count_users() == 2
    done = run(["sandbox", "reset", "--sandbox", "--yes"])
    assert done.exit_code == 0
    with SandboxStore(path) as store:
        assert store.count_users() == 0
        assert store.list_events() == []


def test_serve_refuses_a_taken_port_with_a_hint() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["sandbox", "serve", "--port", str(port)])
    assert result.exit_code == 2
    assert "Cannot listen on 127.0.0.1" in result.stderr
    assert "--port 0" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--fail-rate", "nan", "--fail-rate"),
        ("--fail-rate", "inf", "--fail-rate"),
        ("--fail-rate", "1.5", "--fail-rate"),
        ("--latency", "nan", "--latency"),
        ("--latency", "inf", "--latency"),
        ("--latency", "1e308", "--latency"),
        ("--latency", "-1", "--latency"),
        ("--key", "", "--key"),
        ("--key", "a:b", "--key"),
        ("--key", "k\n", "--key"),
        ("--secret", "", "--secret"),
        ("--host", "", "every interface"),
    ],
)
def test_serve_refuses_bad_options_before_listening(option: str, value: str, says: str) -> None:
    result = run(["sandbox", "serve", "--port", "0", option, value])
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr
    assert "Unexpected" not in result.stderr
    assert result.stdout == ""  # no banner: nothing listened


@pytest.mark.parametrize(
    "command",
    [
        ["events"],
        ["batches"],
        ["reset", "--yes"],
        ["reset", "--dry-run"],
        ["export", "-"],
    ],
)
def test_a_db_that_is_not_there_is_named_not_created(tmp_path: Path, command: list[str]) -> None:
    typo = tmp_path / "typo.db"
    result = run(["sandbox", *command, "--db", str(typo)])
    assert result.exit_code == 2
    assert str(typo) in result.stderr
    assert not typo.exists()


def test_events_and_reset_of_a_sandbox_never_used_create_nothing() -> None:
    default = Path(os.environ["ENGAGE_SANDBOX_DB"])
    listed = run(["sandbox", "events", "--sandbox", "-o", "json"])
    assert (listed.exit_code, listed.json()) == (0, [])
    emptied = run(["sandbox", "reset", "--sandbox", "--yes"])
    assert emptied.exit_code == 0
    assert not default.exists()


# -- the server at the base URL -----------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[SandboxTransport]:
    """A sandbox standing where the base URL points (the harness's credentials are its own)."""
    with SandboxStore(tmp_path / "served.sqlite3") as store:
        yield SandboxTransport(SandboxAPI(store, KEY, SECRET))


def test_the_commands_ask_the_server_at_the_base_url_not_a_database(
    served: SandboxTransport,
) -> None:
    api = served.api
    api.handle("POST", "/v1/users/alice/events", {"Authorization": basic(KEY)}, b'{"event":"in"}')
    api.handle("POST", "/v1/batch", {"Authorization": basic(KEY, SECRET)}, b'{"data":[{}]}')
    seed()  # the default database holds other events: never read without --db or --sandbox
    events = run(["sandbox", "events", "--uid", "alice", "-o", "json"], transport=served)
    assert events.exit_code == 0, events.stderr
    assert [(e["uid"], e["event"]) for e in events.json()] == [("alice", "in")]
    requests = run(["sandbox", "requests", "-o", "json"], transport=served).json()
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("POST", "/v1/users/alice/events", 200),
        ("POST", "/v1/batch", 200),
    ]
    batches = run(["sandbox", "batches", "-o", "json"], transport=served).json()
    assert batches[0]["items"] == [
        {
            "index": 0,
            "status": "failed",
            "code": 400,
            "error": "id is required.",
        }
    ]
    table = run(["sandbox", "batches", "-o", "table"], transport=served)
    assert "0: id is required." in table.stdout
    assert SECRET not in requests.__repr__() + table.stdout + events.stdout


def test_reset_export_and_import_through_the_server(
    tmp_path: Path, served: SandboxTransport
) -> None:
    served.api.handle("POST", "/v1/users", {"Authorization": basic(KEY)}, b'{"id":"kept"}')
    snapshot = tmp_path / "snap.json"
    exported = run(["sandbox", "export", str(snapshot)], transport=served)
    assert exported.exit_code == 0, exported.stderr
    assert exported.stdout == ""
    assert "Exported 1 users, 0 lists and 0 events to" in exported.stderr
    assert run(["sandbox", "reset", "--yes"], transport=served).exit_code == 0
    assert served.api.store.count_users() == 0
    refused = run(["sandbox", "import", str(snapshot)], transport=served)
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert served.api.store.count_users() == 0
    imported = run(
        ["sandbox", "import", "-", "--yes"], transport=served, stdin=snapshot.read_text()
    )
    assert imported.exit_code == 0, imported.stderr
    assert "Imported 1 users, 0 lists and 0 events." in imported.stderr
    assert served.api.store.get_user("kept") is not None
    to_stdout = run(["sandbox", "export", "-"], transport=served)
    assert json.loads(to_stdout.stdout)["users"][0]["uid"] == "kept"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{nope", "is not valid JSON"),
        ('{"users": [{"uid": "a"}]}', "users[0].id must be an internal id"),
        ("[]", "The state must be a JSON object"),
    ],
)
def test_a_bad_state_file_is_exit_2_with_nothing_sent(
    tmp_path: Path, content: str, says: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = run(["sandbox", "import", str(bad), "--yes"])  # the harness fails on any request
    assert result.exit_code == 2
    assert says in result.stderr
    served = run(["sandbox", "serve", "--port", "0", "--state", str(bad)])
    assert served.exit_code == 2 and says in served.stderr
    assert served.stdout == ""


def test_a_base_url_that_is_not_a_sandbox_is_exit_2_saying_so() -> None:
    not_found = run(["sandbox", "events"], [reply(404, {"error": "Not found."})])
    assert not_found.exit_code == 2
    assert "https://api.test/v1 is not an Engage sandbox" in not_found.stderr
    assert "--db PATH or --sandbox" in not_found.stderr
    html = run(["sandbox", "requests"], [reply(200, "<html>hello</html>")])
    assert html.exit_code == 2 and "is not an Engage sandbox" in html.stderr


@pytest.mark.parametrize("command", [["events"], ["reset", "--yes"], ["import", "-", "--yes"]])
def test_engage_itself_is_never_asked_for_a_sandbox(command: list[str]) -> None:
    empty = '{"users": [], "lists": [], "events": []}'
    result = run(
        ["sandbox", *command], env={"ENGAGE_BASE_URL": "https://api.engage.so/v1"}, stdin=empty
    )
    assert result.exit_code == 2
    assert "https://api.engage.so/v1 is not an Engage sandbox: it is Engage itself." in (
        result.stderr
    )
    assert result.sent == []


@pytest.mark.parametrize("where", [["--sandbox"], ["--db", "x.db"]])
def test_the_request_log_is_only_the_servers(where: list[str]) -> None:
    result = run(["sandbox", "requests", *where])
    assert result.exit_code == 2
    assert "The request log is kept by a running sandbox server" in result.stderr

"""`engage sandbox events | requests | batches | reset | export | import` in-process: on a store
seeded directly (--sandbox, --db), and on a server at the base URL (a SandboxTransport)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engage_cli.sandbox.store import SandboxStore
from tests.harness import run


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
        ["requests"],
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

"""`engage sandbox events | reset` in-process, over a store seeded directly."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
    everything = run(["sandbox", "events", "-o", "ndjson"])
    assert everything.exit_code == 0, everything.stderr
    events = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [(e["uid"], e["event"], e["value"]) for e in events] == [
        ("u1", "Paid", 49.99),
        ("u2", "Signed up", None),
    ]
    assert set(events[0]) == {"uid", "event", "value", "properties", "timestamp"}
    one = run(["sandbox", "events", "--uid", "u2", "-o", "json"]).json()
    assert [e["properties"] for e in one] == [{"plan": "pro"}]


def test_reset_dry_run_then_for_real() -> None:
    path = seed()
    dry = run(["sandbox", "reset", "--dry-run"])
    assert dry.exit_code == 0
    assert "would delete 2 users and 2 events" in dry.stderr
    refused = run(["sandbox", "reset"])
    assert refused.exit_code == 2  # no terminal to confirm on, and no --yes
    with SandboxStore(path) as store:
        assert store.count_users() == 2
    done = run(["sandbox", "reset", "--yes"])
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

"""Bulk seeding as a CI job runs it: the real binary against `engage sandbox serve` with
faults on. Nothing lost, nothing doubled: every record lands, or is in the failures file."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from engage_cli.sandbox.store import SandboxStore
from tests.e2e.conftest import Sandbox, StartSandbox, default_sigint, engage_binary

USERS = 60
EVENTS = 200


def ndjson(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_seed(path: Path, count: int) -> None:
    rows = "".join(f"u{n},First{n},user{n}@example.com,{n},{n:05d}\n" for n in range(count))
    path.write_text("id,first_name,email,meta.n:=,meta.zip\n" + rows, encoding="utf-8")


def write_events(path: Path, count: int) -> None:
    lines = (json.dumps({"uid": f"u{n % 10}", "event": "Seed", "value": n}) for n in range(count))
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def users_in(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    listed = sandbox.engage("--retries", "10", "users", "list", "--all", "-o", "ndjson")
    assert listed.returncode == 0, listed.stderr
    return {user["uid"]: user for user in ndjson(listed.stdout)}


def event_values(sandbox: Sandbox) -> list[int]:
    recorded = sandbox.engage("sandbox", "events", "--db", str(sandbox.db), "-o", "ndjson")
    assert recorded.returncode == 0, recorded.stderr
    return [event["value"] for event in ndjson(recorded.stdout)]


def failed_values(path: Path) -> list[int]:
    return [entry["value"] for entry in ndjson(path.read_text(encoding="utf-8"))]


def test_users_all_land_through_503s_and_429s_then_tear_down(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = start_sandbox("--fail-rate", "0.2", "--rate-limit", "40")
    seed = tmp_path / "seed.csv"
    write_seed(seed, USERS)

    # PUT is safe to repeat, so retries carry every user through the faults.
    imported = sandbox.engage("--retries", "10", "users", "import", str(seed), "-o", "json")
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    assert (summary["read"], summary["landed"], summary["failed"]) == (USERS, USERS, 0)
    assert summary["failures_file"] is None
    assert not list(tmp_path.glob("seed.csv*.jsonl"))
    with SandboxStore(sandbox.db) as store:
        assert store.count_users() == USERS
        user = store.get_user("u7")
    assert user is not None
    assert user["meta"] == {"n": 7, "zip": "00007"}
    assert user["email"] == "user7@example.com"

    # DELETE is safe to repeat too: the teardown gets through the same faults.
    deleted = sandbox.engage(
        "--retries", "10", "users", "delete", "--from", str(seed), "--yes", "-o", "json"
    )
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["landed"] == USERS
    with SandboxStore(sandbox.db) as store:
        assert store.count_users() == 0


def test_events_land_at_most_once_and_the_rest_are_named_as_unknown(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = start_sandbox("--fail-rate", "0.2", "--rate-limit", "150")
    events = tmp_path / "events.jsonl"
    write_events(events, EVENTS)

    first = sandbox.engage("events", "import", str(events), "-o", "json")
    assert first.returncode in (0, 7), first.stderr
    summary = json.loads(first.stdout)
    landed = event_values(sandbox)
    assert max(Counter(landed).values()) == 1  # an event POST is never repeated after a 503
    assert summary["failed"] == 0  # 429s wait; they fail nothing
    # A 503 after an event POST may have acted (a real API cannot say): unknown, never retried.
    unknown = list(tmp_path.glob("events.jsonl.*.unknown.jsonl"))
    assert sorted(landed + [v for p in unknown for v in failed_values(p)]) == list(range(EVENTS))
    assert "Retry exactly those" not in first.stderr


def test_kill_9_then_resume_lands_every_event_with_at_most_concurrency_doubles(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = start_sandbox("--latency", "20")
    events = tmp_path / "events.jsonl"
    write_events(events, 600)
    process = subprocess.Popen(
        [engage_binary(), "events", "import", str(events), "-c", "4", "-o", "json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        env=sandbox.env(),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while len(event_values(sandbox)) < 50 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.kill()  # SIGKILL: no handler, no summary, no failures file
    process.wait(timeout=30)
    assert list(tmp_path.glob("events.jsonl.*.journal"))

    resumed = sandbox.engage("events", "import", str(events), "--resume", "-o", "json")
    assert resumed.returncode in (0, 7), resumed.stderr
    summary = json.loads(resumed.stdout)
    counts = Counter(event_values(sandbox))
    unknown = [v for p in tmp_path.glob("events.jsonl.*.unknown.jsonl") for v in failed_values(p)]
    assert sorted(set(counts) | set(unknown)) == list(range(600))  # nothing lost
    assert max(counts.values()) == 1  # nothing doubled: in flight at the kill is unknown
    assert summary["resumed"] > 0 and len(unknown) <= 4  # at most --concurrency uncertain
    assert not list(tmp_path.glob("events.jsonl.*.journal"))


def test_ctrl_c_stops_saves_the_rest_and_the_resume_line_finishes_the_job(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = start_sandbox("--latency", "50")
    events = tmp_path / "events.jsonl"
    write_events(events, 400)
    process = subprocess.Popen(
        [engage_binary(), "events", "import", str(events), "-c", "4", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=sandbox.env(),
        preexec_fn=default_sigint,
    )
    # Interrupt once some events have landed (the handler is installed by then), however
    # slow the machine: waiting a fixed time could signal before the run even started.
    deadline = time.monotonic() + 30
    while len(event_values(sandbox)) < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stdout)
    assert summary["interrupted"] is True
    (failures,) = tmp_path.glob("events.jsonl.*.failed.jsonl")
    error = json.loads(stderr.strip().splitlines()[-1])["error"]
    assert error["hint"] == f"Resume with: engage events import {failures} --concurrency 4"

    # The requests in flight were cut short: set apart as unknown (the server may have
    # acted on them), never in the failures file the resume line sends again.
    unknown = [v for p in tmp_path.glob("events.jsonl.*.unknown.jsonl") for v in failed_values(p)]
    assert len(unknown) == summary["unknown"] <= 4
    landed = event_values(sandbox)
    assert summary["landed"] > 0
    assert summary["landed"] <= len(landed) <= summary["landed"] + len(unknown)
    saved = failed_values(failures)
    assert not set(saved) & (set(landed) | set(unknown))
    assert sorted(set(landed) | set(saved) | set(unknown)) == list(range(400))

    resumed = sandbox.engage(*error["hint"].removeprefix("Resume with: engage ").split())
    assert resumed.returncode == 0, resumed.stderr
    final = event_values(sandbox)
    assert len(final) == len(set(final))  # nothing doubled
    assert sorted(set(final) | set(unknown)) == list(range(400))


def test_stdin_is_spooled_sniffed_and_checked_before_anything_is_sent(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    users = [{"id": f"s{n}", "meta": {"n": n}} for n in range(50)]
    broken = [*users[:20], {"id": "bad id"}, *users[20:]]
    refused = sandbox.engage("users", "import", "-", "--mode", "create", input=json.dumps(broken))
    assert refused.returncode == 2
    assert (
        "line 1: invalid user: id: 'bad id' is not a user id: it may only be letters, digits "
        "and _ - . @ +" in refused.stderr
    )
    assert users_in(sandbox) == {}

    dry = sandbox.engage("users", "import", "-", "--dry-run", input=json.dumps(users))
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["would_send"] == 50
    assert users_in(sandbox) == {}

    # From stdin the failures file would go to the working directory: keep it in tmp_path.
    failures = ("--failures", str(tmp_path / "failed.jsonl"))
    piped = sandbox.engage(
        "users", "import", "-", "--mode", "create", *failures, input=json.dumps(users)
    )
    assert piped.returncode == 0, piped.stderr
    assert len(users_in(sandbox)) == 50

    # Teardown from stdin; the second finds every user gone, which counts as done.
    for _ in range(2):
        deleted = sandbox.engage(
            "users", "delete", "--from", "-", "--yes", *failures, "-o", "json",
            input=json.dumps(users),
        )  # fmt: skip
        assert deleted.returncode == 0, deleted.stderr
        assert json.loads(deleted.stdout)["landed"] == 50
    assert users_in(sandbox) == {}


def test_events_import_reads_dev_stdin_from_a_pipe(sandbox: Sandbox) -> None:
    # What many shells and CI tools pass for a pipe (issue 22): it used to say "not a file".
    lines = "".join(
        json.dumps({"uid": "p1", "event": "Piped", "value": n}) + "\n" for n in range(5)
    )
    imported = sandbox.engage("events", "import", "/dev/stdin", "-o", "json", input=lines)
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    assert (summary["input"], summary["read"], summary["landed"]) == ("/dev/stdin", 5, 5)
    assert sorted(event_values(sandbox)) == [0, 1, 2, 3, 4]

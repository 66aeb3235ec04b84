"""A bulk run never waits without bound (issue 21): a Retry-After longer than the longest wait
stops it as it stops a single command (a run sent 6 requests in 150 s, silent, until
killed), and while it does wait for a 429 a terminal says so."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx

from engage_cli.bulk import jobs, ledger, pacing
from engage_cli.bulk import runner as running
from engage_cli.bulk.records import Record
from engage_cli.commands._bulk_report import waiting
from tests.harness import run


def users_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "users.csv"
    path.write_text("id\n" + "".join(f"u{i}\n" for i in range(n)), encoding="utf-8")
    return path


def test_a_retry_after_longer_than_any_wait_stops_the_run_with_exit_6(tmp_path: Path) -> None:
    path = users_file(tmp_path, 40)
    lock = threading.Lock()
    answered: list[str] = []

    def limit_after_five(request: httpx.Request) -> httpx.Response:
        with lock:
            answered.append(request.url.path)
            if len(answered) > 5:
                return httpx.Response(429, headers={"Retry-After": "100000"})
        return httpx.Response(200, json={"uid": "x"})

    result = run(["users", "import", str(path), "-c", "2", "-o", "json"], limit_after_five)
    assert result.exit_code == 6, result.stderr
    error = json.loads(result.stderr)["error"]
    assert "asked to wait 100000 s, longer than the 60 s we wait" in error["message"]
    summary = result.json()
    assert summary["landed"] == 5
    assert len(result.sent) <= 5 + 2 + 2  # at most a request more per worker once it stopped
    failures = ledger_lines(summary["failures_file"])
    # Every record not landed is in the failures file, to send again later.
    assert summary["failed"] + summary["not_sent"] == 35 == len(failures)
    assert f"The records not landed are in {summary['failures_file']}" in error["message"]


def ledger_lines(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


class Limited:
    """A client whose first request is answered 429 with Retry-After: 30, then all land."""

    on_rate_limit: Any = None
    on_retry: Any = None

    def __init__(self) -> None:
        self.calls = 0

    def send(self, request: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.on_rate_limit(30.0)
        return {}


def test_a_terminal_shows_that_the_run_waits_for_a_rate_limit(tmp_path: Path) -> None:
    shown: list[float] = []
    job = jobs.users_import_job("upsert")
    failures = ledger.RecordsFile(tmp_path / "f.jsonl", mode="claim")
    never_waits = pacing.Pacer(None, wait=lambda stop, seconds: False)
    runner = running.Runner(
        job, Limited(), failures, concurrency=1, pacer=never_waits,
        progress=lambda tally: shown.append(tally.waiting_until - tally.started),
    )  # fmt: skip
    tally = runner.run([Record(n + 2, {"id": f"u{n}"}) for n in range(3)])
    assert tally.landed == 3 and tally.rate_limited == 1
    assert shown and 29 < shown[0] <= 31  # told of the wait before anything else
    assert waiting("users import", 30.0) == "users import (rate limited: waiting 30 s)"
    assert waiting("users import", 0.2) == "users import"
    failures.close()

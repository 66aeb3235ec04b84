"""How hard a bulk run tries: each request's retries, and when the API counts as down."""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from engage_cli import policy
from engage_cli.bulk import pacing
from engage_cli.bulk import runner as running
from tests.harness import run


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy, "BACKOFF_BASE", 0.0005)  # the waits' shape, not their length


class Flaky:
    """503 for the first `failures` attempts at each user, then 200; thread-safe."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.attempts[request.url.path] += 1
            failing = self.attempts[request.url.path] <= self.failures
        if failing:
            return httpx.Response(503, json={"error": "Service unavailable"})
        return httpx.Response(200, json={"status": "ok"})


def users(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "seed.csv"
    path.write_text("id\n" + "".join(f"u{i}\n" for i in range(count)), encoding="utf-8")
    return path


def test_a_bulk_run_tries_each_request_up_to_9_times_unless_told_otherwise(
    tmp_path: Path,
) -> None:
    server = Flaky(failures=running.BULK_RETRIES)
    result = run(["users", "import", str(users(tmp_path, 3)), "-c", "3", "-o", "json"], server)
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert (summary["landed"], summary["failed"]) == (3, 0)
    assert summary["retries"] == 3 * running.BULK_RETRIES
    assert set(server.attempts.values()) == {running.BULK_RETRIES + 1}


@pytest.mark.parametrize(
    "setup",
    [
        ["--retries", "2"],  # the flag
        ["config", "set", "retries", "2"],  # the profile
    ],
)
def test_retries_given_by_flag_or_profile_bound_a_bulk_run(
    tmp_path: Path, setup: list[str]
) -> None:
    flag: list[str] = []
    if setup[0] == "config":
        assert run(setup).exit_code == 0
    else:
        flag = setup
    server = Flaky(failures=running.BULK_RETRIES)
    args = [*flag, "users", "import", str(users(tmp_path, 3)), "-c", "3", "-o", "json"]
    result = run(args, server)
    assert result.exit_code == 7
    summary = result.json()
    assert (summary["landed"], summary["failed"], summary["retries"]) == (0, 3, 6)
    assert set(server.attempts.values()) == {3}


def test_a_down_api_is_seen_after_max_errors_failed_attempts_not_records(tmp_path: Path) -> None:
    server = Flaky(failures=10**9)
    args = ["users", "import", str(users(tmp_path, 200)), "-c", "4", "--max-errors", "6"]
    result = run([*args, "-o", "json"], server)
    assert result.exit_code == 6
    error = json.loads(result.stderr)["error"]
    assert "the last 6 requests all failed; the API looks down (503" in error["message"]
    # Six failed attempts say it, whoever made them; the other workers' requests in flight
    # finish, and no record waits out its own nine tries first.
    assert sum(server.attempts.values()) <= 6 + 4
    summary = result.json()
    assert summary["landed"] == 0 and summary["failed"] + summary["not_sent"] == 200


def test_any_answer_resets_the_count_of_failures_in_a_row(tmp_path: Path) -> None:
    # Every user fails twice, then lands: 5 failures in a row never happen with -c 1.
    server = Flaky(failures=2)
    args = ["users", "import", str(users(tmp_path, 30)), "-c", "1", "--max-errors", "3"]
    result = run([*args, "-o", "json"], server)
    assert result.exit_code == 0, result.stderr
    assert result.json()["landed"] == 30 and result.json()["retries"] == 60


def test_the_adaptive_rate_probes_slowly_under_the_last_limit_then_faster() -> None:
    now = [0.0]
    pacer = pacing.Pacer(None, clock=lambda: now[0], wait=lambda stop, seconds: False)
    for _ in range(100):  # the server takes 100 requests in a second ...
        now[0] += 0.01
        pacer.answered()
    pacer.throttled(1.0)  # ... and says 429
    rates = [pacer.rate]
    for _ in range(8):  # then no 429 for a while
        now[0] += pacing.RATE_CALM
        pacer.answered()
        rates.append(pacer.rate)
    steps = [round(after / before - 1, 4) for before, after in itertools.pairwise(rates)]
    assert rates[0] == pytest.approx(100 * pacing.RATE_BETA)
    # 1%, 2%, 4% ... : a run under a steady limit of 100 passes it only after 30 s ...
    assert steps == [0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25, 0.25]
    assert rates[2] < 100 < rates[3]
    # ... and a limit that was lowered then raised again is found within minutes.
    assert rates[-1] > 2.5 * rates[0]  # in 80 s
    now[0] += 1
    grown = pacer.rate
    pacer.throttled(None)  # a rate that had grown: just under it (not cut, as a failed guess)
    assert pacer.rate == pytest.approx(grown * pacing.RATE_BETA)
    now[0] += pacing.RATE_CALM
    before = pacer.rate
    pacer.answered()
    assert pacer.rate == pytest.approx(before * (1 + pacing.RATE_PROBE))  # a 429 starts over


def test_the_help_states_the_defaults_the_run_uses() -> None:
    text = " ".join(run(["users", "import", "--help"]).stdout.split())
    assert f"(default {running.DEFAULT_CONCURRENCY})" in text
    assert f"(default {running.DEFAULT_MAX_ERRORS})" in text
    assert f"up to {running.BULK_RETRIES + 1} times" in text

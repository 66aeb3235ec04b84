"""The bulk driver (bulk/run.py) as a caller that reads no file uses it: records built in
memory, its own job, and every record's outcome reported back."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from engage_cli.bulk.csv_records import USER_CSV
from engage_cli.bulk.jobs import Job
from engage_cli.bulk.records import Record
from engage_cli.bulk.run import BulkRun, RecordsInput, run
from engage_cli.bulk.runner import Tally
from engage_cli.context import State
from engage_cli.endpoints import APIRequest
from engage_cli.errors import UsageError
from engage_cli.streams import Streams
from tests.harness import BASE, KEY, SECRET


def build(data: dict[str, Any]) -> APIRequest:
    """A seeding plan's action: {"uid", "step"} -> PUT /users/{uid} with meta.step."""
    uid = data.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ValueError("uid: is required")
    return APIRequest("PUT", f"/users/{uid}", body={"meta": {"step": data.get("step")}})


JOB = Job(
    command="seed apply",
    schema=USER_CSV,
    build=build,
    sends="PUT /users/{uid}",
    resume="seed apply --resume {file}",
)


class Recorder:
    """A Reporter that keeps what it hears."""

    def __init__(self) -> None:
        self.outcomes: dict[int, tuple[str, str | None, int | None]] = {}
        self.shown: list[str] = []
        self.totals: list[int | None] = []
        self.ended = 0
        self._lock = threading.Lock()

    def warn(self, message: str) -> None:
        raise AssertionError(f"no warning expected: {message}")

    def would_send(self, record: Record, request: APIRequest) -> None:
        self.shown.append(f"{request.method} {request.path}")

    def sending(self, total: int | None, failures: Path) -> None:
        self.totals.append(total)

    def progress(self, tally: Tally) -> None:
        pass

    def stopping(self, failures: Path) -> None:
        pass

    def outcome(
        self, record: Record, outcome: str, message: str | None, status: int | None
    ) -> None:
        with self._lock:
            assert record.line not in self.outcomes, "one outcome per record"
            self.outcomes[record.line] = (outcome, message, status)

    def sent(self) -> None:
        self.ended += 1


def state(handler: Any) -> State:
    environ = {"ENGAGE_API_KEY": KEY, "ENGAGE_API_SECRET": SECRET, "ENGAGE_BASE_URL": BASE}
    streams = Streams(io.StringIO(), io.StringIO(), io.StringIO(), environ=environ)
    return State(streams=streams, transport=httpx.MockTransport(handler))


def records(*rows: dict[str, Any]) -> list[Record]:
    return [Record(n, row) for n, row in enumerate(rows, 1)]


def test_records_from_memory_are_sent_and_each_ones_outcome_comes_back(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def server(request: httpx.Request) -> httpx.Response:
        uid = request.url.path.rsplit("/", 1)[-1]
        with lock:
            seen.append((uid, json.loads(request.read())["meta"]["step"]))
        if uid == "bad":
            return httpx.Response(400, json={"error": "email is invalid"})
        return httpx.Response(200, json={"uid": uid})

    # Ten steps for one uid among others: they must reach the API in order.
    rows = [{"uid": "a", "step": n} for n in range(10)] + [
        {"uid": f"u{n}", "step": 0} for n in range(10)
    ]
    rows.insert(5, {"uid": "bad", "step": 0})
    reporter = Recorder()
    plan = BulkRun(JOB, RecordsInput(records(*rows), str(tmp_path / "plan")), concurrency=4)
    result = run(plan, state(server).client, reporter)

    summary = result.summary
    assert (summary.read, summary.landed, summary.failed) == (21, 20, 1)
    assert summary.input == str(tmp_path / "plan")
    assert reporter.totals == [21] and reporter.ended == 1
    assert reporter.outcomes[6] == (
        "failed",
        "The API refused the request (400): email is invalid",
        400,
    )
    assert all(reporter.outcomes[n] == ("landed", None, None) for n in range(1, 22) if n != 6)
    assert [step for uid, step in seen if uid == "a"] == list(range(10))
    failures = Path(summary.failures_file or "")
    assert failures.parent == tmp_path and failures.name.startswith("plan.")
    entries = [json.loads(line) for line in failures.read_text().splitlines()]
    assert [(e["uid"], e["_error"]["status"]) for e in entries] == [("bad", 400)]
    assert result.fatal is None and result.down is None and not summary.interrupted


def test_a_request_that_keeps_failing_is_retried_as_told_then_reported_failed(
    tmp_path: Path,
) -> None:
    attempts: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        return httpx.Response(503, json={"error": "busy"})

    reporter = Recorder()
    plan = BulkRun(
        JOB, RecordsInput(records({"uid": "a"}), str(tmp_path / "plan")), retries=2, max_errors=50
    )
    # The client's backoff sleeps: pass no real time.
    result = run(plan, _no_sleep(state(server)), reporter)
    assert len(attempts) == 3
    assert reporter.outcomes[1][0] == "failed" and reporter.outcomes[1][2] == 503
    assert result.summary.failed == 1


def _no_sleep(st: State) -> Any:
    def connect(**kwargs: Any) -> Any:
        if "sleep" in kwargs:
            kwargs["sleep"] = lambda seconds: None
        return st.client(**kwargs)

    return connect


def test_an_invalid_record_in_memory_stops_the_run_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    plan = BulkRun(JOB, RecordsInput(records({"uid": "a"}, {"step": 1}), "plan", label="the plan"))
    with pytest.raises(UsageError) as caught:
        run(plan, state(server).client, Recorder())
    assert "1 of 2 records in the plan are invalid" in caught.value.message
    assert "line 2: invalid user: uid: is required." in caught.value.message


def test_a_dry_run_shows_each_request_and_sends_none(tmp_path: Path) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    reporter = Recorder()
    rows = records({"uid": "a", "step": 1}, {"uid": "b", "step": 2})
    result = run(
        BulkRun(JOB, RecordsInput(rows, "plan"), dry_run=True), state(server).client, reporter
    )
    assert reporter.shown == ["PUT /users/a", "PUT /users/b"]
    assert result.summary.dry_run and result.summary.would_send == 2
    assert reporter.outcomes == {} and reporter.totals == []


def test_the_collector_is_eased_for_a_run_and_restored_after_it_whatever_its_end(
    tmp_path: Path,
) -> None:
    # During a run what start-up made is frozen out of the cyclic collector's reach and its
    # passes are rarer; after it, ended or failed, the process's own settings are back.
    import gc

    during: list[tuple[tuple[int, int, int], int]] = []

    def server(request: httpx.Request) -> httpx.Response:
        during.append((gc.get_threshold(), gc.get_freeze_count()))
        return httpx.Response(200, json={"uid": "a"})

    before = (gc.get_threshold(), gc.get_freeze_count())
    assert before[1] == 0
    plan = BulkRun(JOB, RecordsInput(records({"uid": "a"}), str(tmp_path / "plan")))
    run(plan, state(server).client, Recorder())
    assert during and during[0][0][0] >= 10_000 and during[0][1] > 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
    invalid = BulkRun(JOB, RecordsInput(records({"step": 1}), "plan"))
    with pytest.raises(UsageError):
        run(invalid, state(server).client, Recorder())
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
    gc.freeze()  # a caller's own freeze is its own: kept
    try:
        frozen = gc.get_freeze_count()
        run(plan, state(server).client, Recorder())
        assert gc.get_freeze_count() >= frozen and gc.get_threshold() == before[0]
    finally:
        gc.unfreeze()

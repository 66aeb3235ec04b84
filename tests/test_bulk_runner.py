"""The bulk Runner driven directly (tests/runner_harness.py): where each record ends, what is
counted and told, routing by uid, the journal, and the ledgers failing (issue 21)."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from engage_cli.bulk import jobs, ledger
from engage_cli.bulk import runner as running
from engage_cli.bulk.records import Record
from engage_cli.endpoints import APIRequest, add_event, update_user
from engage_cli.errors import (
    APIRefusedError,
    EngageError,
    NetworkError,
    NotFoundError,
    TemporaryError,
)
from tests.runner_harness import (
    Client,
    Journal,
    Ledger,
    Outcomes,
    accounted,
    full_disk,
    gated,
    make,
    run,
    users,
)


def refuse(lines: set[int], err: EngageError) -> Client:
    """A client refusing with `err` the requests for users u<N> where N+2 is in `lines`."""

    def answer(request: APIRequest, calls: int) -> object:
        if int(request.path.rsplit("/u", 1)[1]) + 2 in lines:
            raise err
        return {}

    return Client(answer)


# --- the tally ---------------------------------------------------------------------------------


def test_the_tally_counts_done_elapsed_and_rate_by_its_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(running.time, "monotonic", lambda: now[0])
    tally = running.Tally(landed=2, failed=3, unknown=5, not_sent=7, requests=50)
    tally.started = 1000.0
    assert tally.done == 10
    assert (tally.elapsed(), tally.rate()) == (0.0, 0.0)  # no time yet: no rate
    now[0] = 1000.5
    assert (tally.elapsed(), tally.rate()) == (0.5, 100.0)
    now[0] = 1002.0
    assert (tally.elapsed(), tally.rate()) == (2.0, 25.0)
    now[0] = 999.0  # a clock before the start (never, with monotonic): no rate either
    assert tally.rate() == 0.0


def test_a_runs_clock_starts_when_sending_does(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [10.0]
    monkeypatch.setattr(running.time, "monotonic", lambda: now[0])
    runner = make()
    now[0] = 25.0  # the check pass, the confirmation prompt ...
    tally = run(runner, users(1))
    assert tally.started == 25.0 and tally.elapsed() == 0.0


# --- where each record ends ------------------------------------------------------------------


def test_every_record_lands_counted_told_and_journaled_in_order() -> None:
    outcomes, journal, progress = Outcomes(), Journal(), []
    seen_in_journal: list[int] = []

    def answer(request: APIRequest, calls: int) -> object:
        seen_in_journal.append(journal.events[-1][1][0])  # written down before it is sent
        return {}

    client = Client(answer)
    runner = make(client, outcome=outcomes, journal=journal, progress=progress.append)
    records = users(3)
    tally = run(runner, records)
    assert tally is runner.tally
    assert (tally.read, tally.sent, tally.requests, tally.landed) == (3, 3, 3, 3)
    assert (tally.failed, tally.unknown, tally.not_sent, tally.unsaved) == (0, 0, 0, 0)
    assert (tally.retries, tally.rate_limited, tally.done) == (0, 0, 3)
    assert [r.path for r in client.requests] == ["/users/u0", "/users/u1", "/users/u2"]
    assert client.requests[0] == jobs.prepare(runner.job, records[0])
    assert seen_in_journal == [2, 3, 4]
    assert journal.events == [("S", [2]), ("A", [2]), ("S", [3]), ("A", [3]), ("S", [4]),
                              ("A", [4])]  # fmt: skip
    assert outcomes.calls == [(2, "landed", None, None), (3, "landed", None, None),
                              (4, "landed", None, None)]  # fmt: skip
    assert len(progress) == 3 and all(t is tally for t in progress)
    assert runner.failures.entries == []  # type: ignore[attr-defined]
    assert (runner.fatal, runner.down, runner.ledger_error) == (None, None, None)
    assert (runner.unsaved, runner.too_large, runner.unread_after) == ([], 0, None)
    assert not runner.stop.is_set()


def test_a_refused_record_goes_to_the_failures_file_with_its_error_and_status() -> None:
    outcomes, progress = Outcomes(), []
    refused = APIRefusedError("Invalid email", status=422)
    failures, unknown = Ledger(), Ledger()
    runner = make(refuse({3}, refused), failures=failures, unknown=unknown, outcome=outcomes,
                  progress=progress.append)  # fmt: skip
    tally = run(runner, users(3))
    assert (tally.landed, tally.failed, tally.read) == (2, 1, 3)
    assert failures.entries == [(3, "Invalid email", 422)] and unknown.entries == []
    assert outcomes.of(3) == [("failed", "Invalid email", 422)]
    assert len(progress) == 3  # landed, failed, landed
    assert not runner.stop.is_set() and runner.fatal is None


@pytest.mark.parametrize("status", [None, 500, 502, 504])
def test_an_event_sent_without_a_clear_answer_may_have_landed(status: int | None) -> None:
    """Only a request that is not harmless to repeat, sent without an answer that says
    whether it acted, is unknown: it goes to the unknown file, never to be sent again."""
    err = TemporaryError("The API answered 5xx. It may have acted.", status=status,
                         uncertain=True)  # fmt: skip

    def answer(request: APIRequest, calls: int) -> object:
        raise err

    failures, unknown, outcomes, progress = Ledger(), Ledger(), Outcomes(), []
    runner = make(Client(answer), job=jobs.EVENTS_IMPORT, failures=failures, unknown=unknown,
                  outcome=outcomes, progress=progress.append, max_errors=100)  # fmt: skip
    event = Record(2, {"uid": "u1", "event": "signed_up"})
    tally = run(runner, [event])
    message = "may have landed: The API answered 5xx. It may have acted."
    assert unknown.entries == [(2, message, status)] and failures.entries == []
    assert (tally.unknown, tally.failed, tally.landed, tally.done) == (1, 0, 0, 1)
    assert outcomes.calls == [(2, "unknown", message, status)]
    assert len(progress) == 1


def test_without_an_unknown_file_the_unknown_go_to_the_failures_file() -> None:
    def answer(request: APIRequest, calls: int) -> object:
        raise NetworkError("timed out", uncertain=True)

    failures = Ledger()
    runner = make(Client(answer), job=jobs.EVENTS_IMPORT, failures=failures)
    tally = run(runner, [Record(2, {"uid": "u1", "event": "x"})])
    assert tally.unknown == 1 and failures.entries == [(2, "may have landed: timed out", None)]


@pytest.mark.parametrize(
    ("job", "data", "uncertain"),
    [
        (jobs.users_import_job("upsert"), {"id": "u1"}, True),  # a PUT: harmless to repeat
        (jobs.EVENTS_IMPORT, {"uid": "u1", "event": "x"}, False),  # refused before acting
    ],
)
def test_a_record_not_uncertain_fails_and_can_be_sent_again(
    job: jobs.Job, data: dict[str, str], uncertain: bool
) -> None:
    def answer(request: APIRequest, calls: int) -> object:
        raise TemporaryError("Service unavailable", status=503, uncertain=uncertain)

    failures, unknown = Ledger(), Ledger()
    tally = run(make(Client(answer), job=job, failures=failures, unknown=unknown),
                [Record(2, data)])  # fmt: skip
    assert failures.entries == [(2, "Service unavailable", 503)] and unknown.entries == []
    assert (tally.failed, tally.unknown) == (1, 0)


def test_a_status_the_job_counts_as_done_lands_and_is_journaled() -> None:
    def answer(request: APIRequest, calls: int) -> object:
        raise NotFoundError("No such user", status=404)

    journal, failures, outcomes = Journal(), Ledger(), Outcomes()
    runner = make(Client(answer), job=jobs.USERS_DELETE, failures=failures, journal=journal,
                  outcome=outcomes)  # fmt: skip
    tally = run(runner, [Record(2, {"uid": "gone"})])
    assert (tally.landed, tally.failed) == (1, 0) and failures.entries == []
    assert journal.events == [("S", [2]), ("A", [2])]
    assert outcomes.calls == [(2, "landed", None, None)]
    # ... which is the job's own: the same 404 fails an upsert.
    refused = Ledger()
    tally = run(make(Client(answer), failures=refused), users(1))
    assert tally.failed == 1 and refused.entries == [(2, "No such user", 404)]


def test_a_bug_in_sending_fails_the_record_and_the_worker_goes_on() -> None:
    def answer(request: APIRequest, calls: int) -> object:
        if calls == 1:
            raise KeyError("boom")
        return {}

    failures, outcomes = Ledger(), Outcomes()
    tally = run(make(Client(answer), failures=failures, outcome=outcomes), users(3))
    assert failures.entries == [(2, "Unexpected failure: KeyError", None)]
    assert (tally.failed, tally.landed) == (1, 2)
    assert outcomes.of(2) == [("failed", "Unexpected failure: KeyError", None)]


# --- before sending ----------------------------------------------------------------------------


def test_an_invalid_record_read_from_a_stream_is_counted_and_written_down() -> None:
    failures, outcomes, progress = Ledger(), Outcomes(), []
    client = Client()
    runner = make(client, failures=failures, outcome=outcomes, progress=progress.append)
    tally = run(runner, [Record(2, ["not", "an", "object"]), *users(1, first_line=3)])
    message = "line 2: expected a JSON object."
    assert failures.entries == [(2, message, None)]
    assert outcomes.of(2) == [("invalid", message, None)]
    assert (tally.read, tally.invalid, tally.landed, tally.sent) == (2, 1, 1, 1)
    assert len(client.requests) == 1 and progress == [tally]  # an invalid one is not progress


def test_a_request_the_check_pass_built_is_sent_as_built() -> None:
    client = Client()
    built = update_user("built", {"first_name": "Ada"})
    tally = make(client).run_prepared([(Record(2, {"id": "ignored"}), built)])
    assert client.requests == [built] and tally.landed == 1


def test_a_delete_sends_each_user_once() -> None:
    client, outcomes = Client(), Outcomes()
    records = [Record(n + 2, {"uid": uid}) for n, uid in enumerate(["a", "b", "a", "a", "c"])]
    tally = run(make(client, job=jobs.USERS_DELETE, outcome=outcomes), records)
    assert client.sent_uids() == ["a", "b", "c"]
    assert (tally.read, tally.duplicates, tally.landed) == (5, 2, 3)
    assert accounted(tally) == 5 and sorted(line for line, *_ in outcomes.calls) == [2, 3, 6]
    # An import sends every row, the same user's too.
    client = Client()
    run(make(client), [Record(2, {"id": "a"}), Record(3, {"id": "a"})])
    assert client.sent_uids() == ["a", "a"]


def resumed_from(tmp_path: Path, acked: dict[int, APIRequest], sent: dict[int, APIRequest]):  # type: ignore[no-untyped-def]
    return ledger.Resumed(
        tmp_path / "run.journal",
        acked={line: ledger.fingerprint(r) for line, r in acked.items()},
        sent={line: ledger.fingerprint(r) for line, r in sent.items()},
    )


def test_a_resumed_run_skips_what_landed_and_resends_only_what_is_harmless(
    tmp_path: Path,
) -> None:
    upsert = jobs.users_import_job("upsert")
    records = users(3)
    requests = [jobs.prepare(upsert, r) for r in records]
    # u0 landed; u1 was sent without an answer (a PUT: sent again); u2 never sent.
    resumed = resumed_from(tmp_path, {2: requests[0]}, {2: requests[0], 3: requests[1]})
    client, outcomes = Client(), Outcomes()
    tally = run(make(client, resumed=resumed, outcome=outcomes), records)
    assert client.sent_uids() == ["u1", "u2"]
    assert (tally.read, tally.resumed, tally.landed) == (3, 1, 2) and accounted(tally) == 3
    assert 2 not in [line for line, *_ in outcomes.calls]  # only counted


def test_a_resumed_run_never_resends_an_event_that_may_have_landed(tmp_path: Path) -> None:
    events = [Record(2, {"uid": "u1", "event": "a"}), Record(3, {"uid": "u1", "event": "b"})]
    requests = [jobs.prepare(jobs.EVENTS_IMPORT, r) for r in events]
    resumed = resumed_from(tmp_path, {}, {2: requests[0]})
    client, unknown, failures, outcomes = Client(), Ledger(), Ledger(), Outcomes()
    runner = make(client, job=jobs.EVENTS_IMPORT, resumed=resumed, unknown=unknown,
                  failures=failures, outcome=outcomes)  # fmt: skip
    tally = run(runner, events)
    assert client.requests == [requests[1]]
    assert unknown.entries == [(2, running.IN_FLIGHT_AT_KILL, None)] and failures.entries == []
    assert outcomes.of(2) == [("unknown", running.IN_FLIGHT_AT_KILL, None)]
    assert (tally.unknown, tally.landed, tally.resumed) == (1, 1, 0)


# --- routing: a uid's rows through one worker, in order ---------------------------------------


def test_a_uids_rows_go_through_one_worker_in_file_order() -> None:
    client = Client()
    records = [Record(2 + n, {"id": f"u{n % 7}", "first_name": str(n)}) for n in range(70)]
    tally = run(make(client, concurrency=4), records)
    assert tally.landed == 70
    by_uid: dict[str, list[str]] = {}
    for request, thread in zip(client.requests, client.threads, strict=True):
        uid = request.path.rsplit("/", 1)[1]
        assert thread.name == f"bulk-{zlib.crc32(uid.encode()) % 4}"
        assert thread.daemon  # a worker stuck in a request never keeps the process alive
        by_uid.setdefault(uid, []).append(request.body["first_name"])
    for n in range(7):
        assert by_uid[f"u{n}"] == [str(k) for k in range(n, 70, 7)]
    assert len({t.name for t in client.threads}) > 1


def test_a_uid_that_is_not_text_is_still_routed_and_sent() -> None:
    """A lone surrogate (from a CSV byte that was not UTF-8) cannot be encoded plainly."""
    client = Client()
    odd = APIRequest("PUT", "/users/a\udc80b", body={})
    tally = make(client, concurrency=3).run_prepared([(Record(2, {"id": "x"}), odd)])
    assert client.requests == [odd] and tally.landed == 1


def test_each_worker_reads_ahead_only_a_few_records() -> None:
    runner = make(concurrency=3)
    assert [q.maxsize for q in runner._queues] == [running.READ_AHEAD_PER_WORKER] * 3
    assert (runner.concurrency, runner.batch) == (3, False)


# --- the journal -------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_on", ["S", "A"])
def test_a_journal_that_cannot_be_written_is_dropped_and_every_record_still_lands(
    fail_on: str,
) -> None:
    journal, client = Journal(fail_on=fail_on), Client()
    runner = make(client, journal=journal)
    tally = run(runner, users(3))
    assert runner.journal is None and journal.events == ([] if fail_on == "S" else [("S", [2])])
    assert (tally.landed, tally.failed, len(client.requests)) == (3, 0, 3)


# --- the ledgers failing -------------------------------------------------------------------------


def test_a_failures_file_that_cannot_be_written_stops_the_run_and_names_the_records() -> None:
    refused = APIRefusedError("Invalid", status=400)
    failures, outcomes = Ledger(fail=full_disk), Outcomes()
    runner = make(refuse({2, 3}, refused), failures=failures, outcome=outcomes)
    # u0 and u1 are queued before u0's answer; the input waits for it before u2.
    tally = run(runner, gated(users(4), {2: lambda: failures.added.wait(10)}))
    assert isinstance(runner.ledger_error, ledger.LedgerError)
    assert runner.ledger_error.reason == "No space left on device"
    assert [r.line for r in runner.unsaved] == [2, 3]  # u0 refused, u1 not sent: both unsaved
    assert (tally.read, tally.unsaved, tally.failed, tally.not_sent) == (2, 2, 0, 0)
    assert runner.unread_after == 3  # the rest is still in the input, not read
    assert runner.stop.is_set() and accounted(tally) == tally.read
    assert [o for _, o, *_ in outcomes.calls] == ["failed", "not_sent"]


def test_the_first_ledger_error_is_the_one_kept() -> None:
    errors: list[ledger.LedgerError] = []

    def fail() -> ledger.LedgerError:
        errors.append(full_disk())
        return errors[-1]

    failures = Ledger(fail=fail)
    runner = make(refuse({2, 3}, APIRefusedError("no", status=400)), failures=failures)
    run(runner, gated(users(3), {2: lambda: failures.added.wait(10)}))
    assert len(errors) == 2 and runner.ledger_error is errors[0]


def test_a_ledger_failing_for_another_reason_still_names_the_record() -> None:
    failures = Ledger(fail=lambda: RuntimeError("a bug"))
    runner = make(refuse({2}, APIRefusedError("no", status=400)), failures=failures)
    tally = run(runner, gated(users(2), {1: lambda: failures.added.wait(10)}))
    # Not a LedgerError: the rest of the input still drains (and is not saved either).
    assert [r.line for r in runner.unsaved] == [2, 3] and tally.unsaved == 2
    assert runner.ledger_error is None and runner.stop.is_set()
    assert (tally.read, tally.not_sent, runner.unread_after) == (2, 0, None)


def test_the_real_failures_and_unknown_files_get_their_records(tmp_path: Path) -> None:
    failures = ledger.RecordsFile(tmp_path / "f.jsonl", mode="claim")
    unknown = ledger.RecordsFile(tmp_path / "u.jsonl", mode="claim")

    def answer(request: APIRequest, calls: int) -> object:
        name = request.body["event"]
        if name == "refused":
            raise APIRefusedError("Invalid event", status=422)
        if name == "lost":
            raise NetworkError("The connection dropped.", uncertain=True)
        return {}

    events = [Record(n + 2, {"uid": "u", "event": name})
              for n, name in enumerate(["ok", "refused", "lost"])]  # fmt: skip
    run(make(Client(answer), job=jobs.EVENTS_IMPORT, failures=failures, unknown=unknown),
        events)  # fmt: skip
    kept, maybe = failures.close(), unknown.close()
    assert kept is not None and maybe is not None
    assert '"event":"refused"' in kept.read_text().replace(" ", "")
    assert '"event":"lost"' in maybe.read_text().replace(" ", "")


def test_add_event_requests_are_not_harmless_to_repeat() -> None:
    """What the unknown rule rests on (endpoints' own)."""
    assert not add_event("u", {"event": "x"}).repeatable
    assert update_user("u", {}).repeatable

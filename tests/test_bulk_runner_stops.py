"""How a bulk run stops, driven directly (tests/runner_harness.py): a stop with or without
draining the input, Ctrl-C in the input, the API down, bad credentials, a long Retry-After,
a rate limit's wait, and a worker that ends early (issue 21). Never a record lost, never a
run that hangs."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pytest

from engage_cli.bulk import jobs
from engage_cli.bulk import runner as running
from engage_cli.bulk.records import Record
from engage_cli.endpoints import APIRequest
from engage_cli.errors import (
    APIRefusedError,
    ConfigError,
    EngageError,
    Interrupted,
    LongWait,
    NetworkError,
    TemporaryError,
)
from tests.runner_harness import (
    Client,
    Ledger,
    Outcomes,
    Pacer,
    accounted,
    bounded,
    dead_thread,
    gated,
    make,
    run,
    uid,
    users,
)


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-off checks that its workers live every WAIT_CHECK: quickly here."""
    monkeypatch.setattr(running, "WAIT_CHECK", 0.01)


def answers(script: list[EngageError | None]) -> Client:
    """A client answering its n-th request with script[n] (None: success)."""

    def answer(request: APIRequest, calls: int) -> object:
        err = script[calls - 1]
        if err is not None:
            raise err
        return {}

    return Client(answer)


# --- a stop, and the rest of the input --------------------------------------------------------


def test_a_run_stopped_before_it_starts_reads_nothing_unless_it_drains() -> None:
    stop = threading.Event()
    stop.set()
    client = Client()
    runner = make(client, stop=stop)
    tally = run(runner, users(3), drain=False)
    assert tally is runner.tally
    assert (tally.read, tally.not_sent, runner.unread_after) == (0, 0, 0)
    failures, outcomes, progress = Ledger(), Outcomes(), []
    runner = make(client, stop=stop, failures=failures, outcome=outcomes,
                  progress=progress.append)  # fmt: skip
    tally = run(runner, users(3))
    assert (tally.read, tally.not_sent, runner.unread_after) == (3, 3, None)
    assert failures.entries == [(n, running.NOT_SENT, None) for n in (2, 3, 4)]
    assert outcomes.calls == [(n, "not_sent", running.NOT_SENT, None) for n in (2, 3, 4)]
    assert client.requests == [] and progress == []  # not sent is not progress


@pytest.mark.parametrize("drain", [True, False])
def test_a_stop_mid_run_sends_nothing_more_and_drains_or_leaves_the_rest(drain: bool) -> None:
    two_answered = threading.Event()

    def answer(request: APIRequest, calls: int) -> object:
        if calls == 2:
            two_answered.set()
        return {}

    stop = threading.Event()
    client, failures = Client(answer), Ledger()
    runner = make(client, stop=stop, failures=failures)

    def stop_after_two() -> None:
        assert two_answered.wait(10)
        stop.set()

    tally = run(runner, gated(users(5), {2: stop_after_two}), drain=drain)
    assert client.sent_uids() == ["u0", "u1"] and tally.landed == 2
    if drain:
        assert (tally.read, tally.not_sent, runner.unread_after) == (5, 3, None)
        assert failures.lines() == [4, 5, 6]
    else:
        assert (tally.read, tally.not_sent, runner.unread_after) == (2, 0, 3)
        assert failures.entries == []


def test_records_queued_when_the_run_stops_are_each_not_sent() -> None:
    all_read = threading.Event()
    stop = threading.Event()

    def answer(request: APIRequest, calls: int) -> object:
        assert all_read.wait(10)  # the other four wait in this worker's queue
        stop.set()
        return {}

    def records() -> Iterator[Record]:
        yield from users(5)
        all_read.set()

    client, failures, outcomes = Client(answer), Ledger(), Outcomes()
    runner = make(client, stop=stop, failures=failures, outcome=outcomes)
    tally = run(runner, records())
    assert (tally.landed, tally.not_sent, len(client.requests)) == (1, 4, 1)
    assert failures.entries == [(n, running.NOT_SENT, None) for n in (3, 4, 5, 6)]
    assert outcomes.by_outcome() == {"landed": [2], "not_sent": [3, 4, 5, 6]}


def test_a_wait_for_the_pace_cut_short_by_a_stop_sends_nothing() -> None:
    client, failures = Client(), Ledger()
    pacer = Pacer(stopped=True)  # each wait ends as if stopped (the stop set meanwhile)
    tally = run(make(client, failures=failures, pacer=pacer), users(3))
    assert client.requests == [] and pacer.waits == 3
    assert (tally.not_sent, failures.lines()) == (3, [2, 3, 4])


def test_a_rate_paces_the_run_through_its_pacer() -> None:
    runner = make(pacer=None, rate=7.5)
    assert runner.pacer.limit == 7.5
    tally = run(runner, [])
    assert tally.read == 0


def test_ctrl_c_in_the_input_stops_the_run_and_accounts_for_what_was_read() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    client = Client()
    runner = make(client)
    tally = run(runner, gated(users(4), {2: interrupt}))
    assert runner.stop.is_set()
    assert tally.read == 2 and tally.landed + tally.not_sent == 2 and accounted(tally) == 2


# --- the API down ------------------------------------------------------------------------------


def test_failures_in_a_row_stop_the_run_as_down() -> None:
    def answer(request: APIRequest, calls: int) -> object:
        raise TemporaryError("The API answered 500.", status=500)

    failures = Ledger()
    runner = make(Client(answer), failures=failures, max_errors=3)
    tally = run(runner, users(6))
    assert (tally.failed, tally.not_sent, tally.read) == (3, 3, 6)
    down = runner.down
    assert isinstance(down, TemporaryError) and runner.stop.is_set()
    assert down.message == (
        "Stopped: the last 3 requests all failed; the API looks down (The API answered 500.)."
    )
    assert down.hint == "--max-errors N to tolerate more failures in a row."
    assert (down.status, down.retryable) == (500, True)
    assert failures.messages()[4] == "The API answered 500." and runner.fatal is None


def test_any_other_answer_starts_the_count_again() -> None:
    fail = TemporaryError("boom", status=503)
    runner = make(answers([fail, fail, None, fail, fail]), max_errors=3)
    tally = run(runner, users(5))
    assert runner.down is None and (tally.failed, tally.landed) == (4, 1)
    runner = make(answers([fail, None]), max_errors=2)
    run(runner, users(2))
    assert runner.down is None


@pytest.mark.parametrize(
    ("err", "down", "answered"),
    [
        (TemporaryError("500", status=500), True, 1),
        (TemporaryError("504", status=504), True, 1),
        (NetworkError("timed out"), True, 1),  # no answer at all
        (TemporaryError("429", status=429), False, 0),  # a rate limit: the API is up
        (TemporaryError("499?", status=499), False, 1),
        (APIRefusedError("400", status=400), False, 1),
        (Interrupted("stopped"), False, 1),  # no status, and not the API's doing
    ],
)
def test_what_counts_as_the_api_failing(err: EngageError, down: bool, answered: int) -> None:
    def answer(request: APIRequest, calls: int) -> object:
        raise err

    pacer = Pacer()
    runner = make(Client(answer), max_errors=1, pacer=pacer)
    run(runner, users(1))
    assert (runner.down is not None) == down and pacer.answers == answered


def test_a_success_is_an_answer_the_pace_counts() -> None:
    pacer = Pacer()
    run(make(pacer=pacer), users(2))
    assert pacer.answers == 2


def test_retries_count_as_failed_attempts_and_can_stop_the_run() -> None:
    def answer(request: APIRequest, calls: int) -> object:
        for _ in range(3):  # three failed attempts, then the request lands
            client.on_retry("The API answered 503.", 503)
        return {}

    client = Client(answer)
    runner = make(client, max_errors=2)
    tally = run(runner, users(2))
    assert (tally.retries, tally.landed, tally.not_sent) == (3, 1, 1)
    assert runner.down is not None and runner.down.status == 503
    assert runner.down.message.startswith("Stopped: the last 2 requests")  # the first kept
    assert "(The API answered 503.)" in runner.down.message


def test_retries_short_of_max_errors_do_not_stop_the_run() -> None:
    def answer(request: APIRequest, calls: int) -> object:
        client.on_retry("The API answered 502.", 502)
        return {}

    client = Client(answer)
    runner = make(client, max_errors=2)
    tally = run(runner, users(3))
    assert runner.down is None and (tally.retries, tally.landed) == (3, 3)


def test_a_retry_after_longer_than_any_wait_stops_the_run() -> None:
    long_wait = LongWait("The API asked to wait 100000 s.", status=429, wait=100000)
    pacer, failures = Pacer(), Ledger()
    runner = make(answers([long_wait]), pacer=pacer, failures=failures)
    tally = run(runner, users(3))
    assert runner.down is long_wait and runner.stop.is_set()
    assert (tally.failed, tally.not_sent) == (1, 2)
    assert failures.entries[0] == (2, "The API asked to wait 100000 s.", 429)
    assert pacer.answers == 0


def test_a_long_wait_after_the_api_was_found_down_keeps_the_first_reason() -> None:
    long_wait = LongWait("wait 100000 s", status=503, wait=100000)

    def answer(request: APIRequest, calls: int) -> object:
        client.on_retry("The API answered 503.", 503)
        raise long_wait

    client = Client(answer)
    runner = make(client, max_errors=1)
    run(runner, users(1))
    assert runner.down is not None and runner.down is not long_wait
    assert runner.down.message.startswith("Stopped: the last 1 requests")


def test_refused_credentials_stop_the_run() -> None:
    refused = ConfigError("The API refused the credentials (401).", status=401)
    failures = Ledger()
    runner = make(answers([refused]), failures=failures)
    tally = run(runner, users(3))
    assert runner.fatal is refused and runner.stop.is_set() and runner.down is None
    assert failures.entries[0] == (2, refused.message, 401)
    assert (tally.failed, tally.not_sent) == (1, 2)


# --- a rate limit ------------------------------------------------------------------------------


def test_a_429_pauses_the_pool_and_a_terminal_hears_of_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [500.0]
    monkeypatch.setattr(running.time, "monotonic", lambda: now[0])
    shown: list[float] = []

    def answer(request: APIRequest, calls: int) -> object:
        if calls == 1:
            client.on_rate_limit(30.0)
            client.on_rate_limit(10.0)  # a shorter pause does not shorten the wait shown
            client.on_rate_limit(None)  # no Retry-After: nothing to show
        return {}

    client, pacer = Client(answer), Pacer()
    runner = make(client, pacer=pacer, progress=lambda t: shown.append(t.waiting_until))
    tally = run(runner, users(2))
    assert pacer.pauses == [30.0, 10.0, None]
    assert shown == [530.0, 530.0, 530.0, 530.0]  # two waits, then two records landed
    assert (tally.rate_limited, tally.landed, tally.retries) == (3, 2, 0)


def test_a_429_without_a_terminal_just_waits() -> None:
    def answer(request: APIRequest, calls: int) -> object:
        if calls == 1:
            client.on_rate_limit(5.0)
        return {}

    client = Client(answer)
    runner = make(client)
    tally = run(runner, users(1))
    assert tally.waiting_until == 0.0 and tally.rate_limited == 1 and tally.landed == 1


def test_a_stop_while_waiting_out_a_rate_limit_fails_the_record_to_send_again() -> None:
    class StoppedAfter429(Pacer):
        def wait(self, stop: threading.Event) -> bool:
            return not self.pauses and super().wait(stop)

    def answer(request: APIRequest, calls: int) -> object:
        client.on_rate_limit(30.0)
        return {}

    client, failures, unknown = Client(answer), Ledger(), Ledger()
    runner = make(client, job=jobs.EVENTS_IMPORT, pacer=StoppedAfter429(), failures=failures,
                  unknown=unknown)  # fmt: skip
    tally = run(runner, [Record(2, {"uid": "u1", "event": "signed_up"})])
    # The 429 said it was not acted on: even an event can be sent again.
    assert failures.entries == [(2, "Stopped while waiting out a rate limit; not sent again.",
                                 None)]  # fmt: skip
    assert unknown.entries == [] and tally.failed == 1


# --- a worker that ends early ------------------------------------------------------------------


# u0 and these uids all go to worker 0 of 2; u4 and u5 to worker 1.
WORKER_0 = ["u0", "u1", "u2", "u3", "u8", "u9", "u14", "u15", "u16", "u17", "u20", "u21",
            "u22", "u23", "u28", "u29", "u34", "u35", "u36", "u37"]  # fmt: skip
WORKER_1 = ["u4", "u5"]


# The worker ending on the callback's exception is the case under test, not a stray thread.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("queued", [19, 3])  # its queue full, or with room for its end mark
def test_a_worker_ended_by_its_outcome_callback_hangs_no_run_and_loses_no_record(
    queued: int,
) -> None:
    """An outcome callback that raises for one record ended the worker sending it; with
    concurrency 2 the run then hung (the end marks waited on its full queue) and the records
    queued for it were lost. The run now finishes and fails each of them, saying why."""
    uids = WORKER_0[: 1 + queued] + WORKER_1
    records = [Record(n + 2, {"id": uid}) for n, uid in enumerate(uids)]
    told = Outcomes()

    def outcome(record: Record, outcome: str, message: str | None, status: int | None) -> None:
        if record.line == 2:  # u0's, whatever its outcome
            raise RuntimeError("the reporter broke")
        told(record, outcome, message, status)

    client, failures = Client(), Ledger()
    runner = make(client, failures=failures, outcome=outcome, concurrency=2)
    tally = run(runner, records)
    assert sorted(client.sent_uids()) == ["u0", "u4", "u5"]
    assert tally.read == len(uids) and accounted(tally) == tally.read
    assert (tally.landed, tally.failed) == (3, queued)  # u0 landed: it is not failed as well
    failed = list(range(3, 3 + queued))
    assert failures.lines() == failed
    assert set(failures.messages().values()) == {running.WORKER_ENDED}
    assert told.by_outcome() == {"landed": [3 + queued, 4 + queued], "failed": failed}


@pytest.mark.parametrize("concurrency", [1, 2])
@pytest.mark.parametrize("broken", ["landed", "failed"])
def test_a_progress_display_that_raises_counts_no_record_twice(
    concurrency: int, broken: str
) -> None:
    """Progress is shown from inside the count of a record's outcome: when the display raised,
    a landed record was failed as well, a failed one set apart as unsaved too. The display
    is dropped for the rest of the run, and every record is counted once."""
    calls: list[int] = []

    def progress(tally: running.Tally) -> None:
        calls.append(tally.landed + tally.failed)
        if len(calls) == 1:
            raise RuntimeError("the terminal went away")

    def answer(request: APIRequest, calls: int) -> dict[str, str]:
        if broken == "failed" and uid(request) == "u0":
            raise APIRefusedError("Invalid", status=400)
        return {}

    client, failures = Client(answer), Ledger()
    runner = make(client, failures=failures, progress=progress, concurrency=concurrency)
    tally = run(runner, users(3))
    assert tally.read == 3 and accounted(tally) == 3
    landed = 2 if broken == "failed" else 3
    assert (tally.landed, tally.failed, tally.unsaved) == (landed, 3 - landed, 0)
    assert failures.lines() == ([2] if broken == "failed" else [])
    assert len(calls) == 1


def test_a_hand_off_never_waits_on_workers_that_are_gone() -> None:
    full: queue.Queue[running.Chunk | None] = queue.Queue(maxsize=1)
    full.put(None)
    chunk = running.Chunk()
    assert bounded(lambda: running.Runner._put(full, [dead_thread()], chunk)) is False
    roomy: queue.Queue[running.Chunk | None] = queue.Queue(maxsize=1)
    assert running.Runner._put(roomy, [dead_thread()], chunk) is True
    assert roomy.get_nowait() is chunk


def test_a_hand_off_waits_while_a_worker_lives() -> None:
    full: queue.Queue[running.Chunk | None] = queue.Queue(maxsize=1)
    full.put(None)
    waits = 0
    original = full.put

    def put(item: running.Chunk | None, block: bool = True, timeout: float | None = None) -> None:
        nonlocal waits
        waits += 1
        if waits == 3:  # the worker took one, at last
            full.get_nowait()
        original(item, block, timeout)

    full.put = put  # type: ignore[method-assign]
    alive = threading.Event()
    worker = threading.Thread(target=alive.wait, args=(10,), daemon=True)
    worker.start()
    try:
        assert bounded(lambda: running.Runner._put(full, [worker], running.Chunk())) is True
    finally:
        alive.set()
    assert waits == 3


def test_a_chunk_left_unsent_by_dead_workers_is_failed_not_lost() -> None:
    failures = Ledger()
    runner = make(failures=failures, batch=True, concurrency=2)
    runner._in_flight = {"u1"}  # a chunk of u1's was handed; its workers ended since
    chunk = running.Chunk(items=[(Record(7, {"id": "u1"}), APIRequest("PUT", "/users/u1"))],
                          keys={"u1"})  # fmt: skip
    bounded(lambda: runner._hand(0, [dead_thread(), dead_thread()], chunk))
    assert failures.entries == [(7, running.WORKER_ENDED, None)]
    assert runner.tally.failed == 1 and runner._queues[0].empty()


def test_a_chunk_waits_for_the_one_in_flight_with_its_uid() -> None:
    runner = make(batch=True, concurrency=2)
    runner._in_flight = {"u1"}
    waits = threading.Event()

    class Watched(threading.Condition):
        calls = 0

        def wait(self, timeout: float | None = None) -> bool:
            Watched.calls += 1
            if Watched.calls == 2:  # it waited once in vain, and goes on waiting
                waits.set()
            return super().wait(timeout)

    runner._done = Watched(runner._lock)
    worker = threading.Thread(target=waits.wait, args=(10,), daemon=True)
    worker.start()

    def finish() -> None:
        assert waits.wait(10)
        runner._finished(running.Chunk(keys={"u1"}))

    finisher = threading.Thread(target=finish, daemon=True)
    finisher.start()
    assert bounded(lambda: runner._claim(running.Chunk(keys={"u1", "u2"}), [worker])) is True
    assert runner._in_flight == {"u1", "u2"} and Watched.calls >= 2
    finisher.join(10)


def test_a_chunk_with_no_uid_in_flight_goes_at_once() -> None:
    runner = make(batch=True)
    runner._in_flight = {"u1"}
    claimed = bounded(lambda: runner._claim(running.Chunk(keys={"u2"}), [dead_thread()]))
    assert claimed is True and runner._in_flight == {"u1", "u2"}
    runner._finished(running.Chunk(keys={"u1"}))
    assert runner._in_flight == {"u2"}


def test_a_run_drains_the_rest_of_its_input_unless_told_not_to() -> None:
    stop = threading.Event()
    stop.set()  # nothing is sent: safe to run on this thread
    tally = make(stop=stop).run(users(2))
    assert (tally.read, tally.not_sent) == (2, 2)
    runner = make(stop=stop)
    tally = runner.run_prepared([(r, None) for r in users(2)])
    assert (tally.read, tally.not_sent) == (2, 2)


def test_workers_never_keep_the_process_alive() -> None:
    client = Client()
    make(client, concurrency=2).run(users(3))  # from this (not a daemon) thread
    assert threading.current_thread().daemon is False
    assert len(client.threads) == 3 and all(t.daemon for t in client.threads)

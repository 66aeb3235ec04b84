"""`--batch` in the bulk Runner, driven directly (tests/runner_harness.py): how records fill
POST /batch chunks to the byte, what a chunk's answer does to each of its records, and a
uid's chunks going one at a time (issue 21)."""

from __future__ import annotations

import json
import threading

import pytest

from engage_cli.bulk import jobs
from engage_cli.bulk import runner as running
from engage_cli.bulk.records import Record
from engage_cli.client import encode_body
from engage_cli.endpoints import APIRequest, EncodedJSON
from engage_cli.errors import APIRefusedError, TemporaryError
from tests.runner_harness import Client, Journal, Ledger, Outcomes, make, run, users

UPSERT = jobs.users_import_job("upsert")


def padded(line: int, uid: str, pad: int) -> Record:
    return Record(line, {"id": uid, "first_name": "x" * pad})


def grown(record: Record) -> int:
    """What a record adds to a chunk: its batch item and a comma."""
    return len(encode_body(jobs.batch_item(jobs.prepare(UPSERT, record)))) + 1


def items(request: APIRequest) -> list[dict[str, object]]:
    return json.loads(bytes(request.body))["data"]  # type: ignore[no-any-return]


def test_a_chunks_body_is_its_entries_in_one_envelope() -> None:
    chunk = running.Chunk(entries=[b'{"a":1}', b'{"b":2}'])
    assert chunk.body() == b'{"data":[{"a":1},{"b":2}]}' and isinstance(chunk.body(), EncodedJSON)
    assert running.Chunk().body() == b'{"data":[]}' and running.Chunk().size == running.ENVELOPE


def test_records_go_in_one_post_batch_each_counted_journaled_and_told() -> None:
    client, journal, outcomes = Client(), Journal(), Outcomes()
    records = users(5)
    runner = make(client, batch=True, concurrency=2, journal=journal, outcome=outcomes)
    tally = run(runner, records)
    (request,) = client.requests
    assert (request.method, request.path, request.needs_secret) == ("POST", "/batch", True)
    assert items(request) == [jobs.batch_item(jobs.prepare(UPSERT, r)) for r in records]
    assert (tally.requests, tally.sent, tally.landed, tally.read) == (1, 5, 5, 5)
    assert journal.events == [("S", [2, 3, 4, 5, 6]), ("A", [2, 3, 4, 5, 6])]
    assert outcomes.by_outcome() == {"landed": [2, 3, 4, 5, 6]}
    assert [q.maxsize for q in runner._queues] == [2]  # one queue, a chunk ahead per worker


def test_a_chunk_fills_to_the_byte() -> None:
    first = padded(2, "a", 40_000)
    room = running.BATCH_BYTES - running.ENVELOPE - grown(first)
    exact = padded(3, "b", 40_000 + room - grown(padded(3, "b", 40_000)))
    assert running.ENVELOPE + grown(first) + grown(exact) == running.BATCH_BYTES
    client = Client()
    run(make(client, batch=True), [first, exact, padded(4, "c", 10)])
    assert [len(items(r)) for r in client.requests] == [2, 1]
    # One byte more and the second record starts the next chunk.
    over = padded(3, "b", 40_000 + room - grown(padded(3, "b", 40_000)) + 1)
    client = Client()
    tally = run(make(client, batch=True), [first, over, padded(4, "c", 10)])
    assert [len(items(r)) for r in client.requests] == [1, 2]
    assert (tally.requests, tally.sent, tally.landed) == (2, 3, 3)


def test_a_record_too_large_for_any_batch_fails_unsent_and_says_why() -> None:
    base = grown(padded(3, "big", 0))
    fits = padded(2, "fits", running.BATCH_BYTES - running.ENVELOPE - grown(padded(2, "fits", 0)))
    assert running.ENVELOPE + grown(fits) == running.BATCH_BYTES
    too_large = [padded(3, "big", running.BATCH_BYTES - running.ENVELOPE - base + 1),
                 padded(4, "bigger", running.BATCH_BYTES)]  # fmt: skip
    client, failures, outcomes = Client(), Ledger(), Outcomes()
    runner = make(client, batch=True, failures=failures, outcome=outcomes)
    tally = run(runner, [fits, *too_large])
    assert [[item["id"] for item in items(r)] for r in client.requests] == [["fits"]]
    assert runner.too_large == 2 and (tally.failed, tally.landed) == (2, 1)
    message = failures.messages()[3]
    assert message == (
        "not sent: too large for a batch request (95,001 bytes as a batch item; a batch "
        "stays under 95,000); import it without --batch"
    )
    assert outcomes.of(3) == [("failed", message, None)]


def test_a_request_with_no_batch_form_fails_alone() -> None:
    client, failures = Client(), Ledger()
    runner = make(client, job=jobs.USERS_DELETE, batch=True, failures=failures)
    tally = run(runner, [Record(2, {"uid": "u1"})])
    assert client.requests == [] and tally.failed == 1
    assert failures.entries == [(2, "Unexpected failure: ValueError", None)]


def test_a_batch_without_a_clear_answer_leaves_each_of_its_records_unknown() -> None:
    def answer(request: APIRequest, calls: int) -> object:
        raise TemporaryError("The API answered 502.", status=502, uncertain=True)

    failures, unknown = Ledger(), Ledger()
    runner = make(Client(answer), batch=True, failures=failures, unknown=unknown)
    tally = run(runner, users(3))
    assert unknown.entries == [(n, "may have landed: The API answered 502.", 502)
                               for n in (2, 3, 4)]  # fmt: skip
    assert failures.entries == [] and (tally.unknown, tally.requests, tally.sent) == (3, 1, 3)


def test_a_refused_batch_fails_each_of_its_records() -> None:
    def answer(request: APIRequest, calls: int) -> object:
        raise APIRefusedError("Invalid batch", status=400)

    failures = Ledger()
    tally = run(make(Client(answer), batch=True, failures=failures), users(2))
    assert failures.entries == [(2, "Invalid batch", 400), (3, "Invalid batch", 400)]
    assert tally.failed == 2


@pytest.mark.parametrize("concurrency", [2, 3])
def test_a_chunk_with_a_uid_in_flight_waits_for_it(concurrency: int) -> None:
    """Each record fills a chunk of its own; the second, for the same uid, is handed only
    once the first is answered, though another worker is free."""
    waiting = threading.Event()
    seen_waiting: list[bool] = []

    def answer(request: APIRequest, calls: int) -> object:
        if calls == 1:
            seen_waiting.append(waiting.wait(10))  # the reader waits for this answer
        return {}

    client = Client(answer)
    runner = make(client, batch=True, concurrency=concurrency)

    class Watched(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            waiting.set()
            return super().wait(timeout)

    runner._done = Watched(runner._lock)
    records = [padded(2, "same", 60_000), padded(3, "same", 60_000)]
    tally = run(runner, records)
    assert seen_waiting == [True] and tally.landed == 2
    assert [items(r)[0]["first_name"] for r in client.requests] == ["x" * 60_000] * 2
    assert runner._in_flight == set()  # each chunk's uids freed once it was done


def test_a_chunk_whose_send_failed_frees_its_uids_too() -> None:
    def answer(request: APIRequest, calls: int) -> object:
        raise KeyError("a bug")

    failures = Ledger()
    runner = make(Client(answer), batch=True, concurrency=2, failures=failures)
    records = [padded(2, "same", 60_000), padded(3, "same", 60_000)]
    tally = run(runner, records)
    assert tally.failed == 2 and set(failures.messages().values()) == {
        "Unexpected failure: KeyError"
    }
    assert runner._in_flight == set()


def test_chunks_of_other_uids_go_at_the_same_time() -> None:
    second = threading.Event()
    together: list[bool] = []

    def answer(request: APIRequest, calls: int) -> object:
        if calls == 1:
            together.append(second.wait(10))  # the other worker sends the next meanwhile
        else:
            second.set()
        return {}

    client = Client(answer)
    runner = make(client, batch=True, concurrency=2)
    tally = run(runner, [padded(2, "one", 60_000), padded(3, "two", 60_000)])
    assert together == [True] and tally.landed == 2


def test_every_batch_hand_off_watches_all_the_workers() -> None:
    """Any worker takes a chunk: a hand-off gives up only once all of them are gone."""
    runner = make(batch=True, concurrency=3)
    watched: list[list[str] | None] = []
    put = runner._put

    def recording(q: object, workers: list[threading.Thread] | None, item: object) -> bool:
        watched.append(None if workers is None else sorted(w.name for w in workers))
        return put(q, workers, item)  # type: ignore[arg-type]

    runner._put = recording  # type: ignore[method-assign]
    run(runner, [padded(2, "a", 60_000), padded(3, "b", 60_000), padded(4, "c", 10)])
    # two chunks (one handed full, the last at the end), then an end mark per worker
    assert watched == [["bulk-0", "bulk-1", "bulk-2"]] * 5

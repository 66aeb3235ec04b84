"""The bulk ledger on its own: the names a run's files get, the failures and unknown files as
JSON Lines, and the journal a killed run is resumed from (tests/test_bulk.py drives it
through whole runs; these pin each promise where it is made)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import time
import zlib
from pathlib import Path

import pytest

from engage_cli.bulk import jobs, ledger
from engage_cli.bulk.records import Record
from engage_cli.endpoints import APIRequest
from engage_cli.errors import UsageError

IMPORT = jobs.EVENTS_IMPORT
DELETE = jobs.USERS_DELETE
STAMP = "20260101-000000"


@pytest.fixture
def here(tmp_path: Path) -> Path:
    """An empty directory of the test's own (tmp_path holds the isolated home)."""
    path = tmp_path / "here"
    path.mkdir()
    return path


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- names -----------------------------------------------------------------------------------


def test_run_stamp_is_local_date_then_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert ledger.run_stamp(1_772_600_767) == "20260304-050607"
        assert len(ledger.run_stamp()) == len("20260101-000000")
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    ("job", "source", "expected"),
    [
        (IMPORT, "-", ("engage-import.S.failed.jsonl", "engage-import.S", False)),
        (DELETE, "-", ("engage-delete.S.delete-failed.jsonl", "engage-delete.S", False)),
        (IMPORT, "d/seed.csv", ("d/seed.csv.S.failed.jsonl", "d/seed.csv.S", False)),
        # a failures file fed back is rewritten in place, and its run's files share its stem
        (IMPORT, "d/seed.csv.X.failed.jsonl", ("d/seed.csv.X.failed.jsonl", "d/seed.csv.X", True)),
        # another job's failures file is an ordinary input to this one
        (
            DELETE,
            "seed.csv.X.failed.jsonl",
            ("seed.csv.X.failed.jsonl.S.delete-failed.jsonl", "seed.csv.X.failed.jsonl.S", False),
        ),
    ],
)
def test_failures_plan(job: jobs.Job, source: str, expected: tuple[str, str, bool]) -> None:
    path, stem, in_place = ledger.failures_plan(job, source, "S")
    assert (str(path), stem, in_place) == expected


def test_claim_takes_the_name_then_the_next_free_one(here: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        _claim_three(here)
    finally:
        os.umask(old_umask)


def _claim_three(here: Path) -> None:
    stem = str(here / "run")
    first, fd1 = ledger.claim(stem, ".x")
    second, fd2 = ledger.claim(stem, ".x")
    third, fd3 = ledger.claim(stem, ".x")
    for fd in (fd1, fd2, fd3):
        os.write(fd, b"mine")
        os.close(fd)
    assert [p.name for p in (first, second, third)] == ["run.x", "run-2.x", "run-3.x"]
    assert first.read_bytes() == b"mine"
    assert stat.S_IMODE(first.stat().st_mode) == 0o644  # umask 022: readable, not executable


def test_claim_never_opens_a_file_that_exists(here: Path) -> None:
    (here / "run.x").write_text("someone else's")
    path, fd = ledger.claim(str(here / "run"), ".x")
    os.close(fd)
    assert path.name == "run-2.x"
    assert (here / "run.x").read_text() == "someone else's"


def test_claim_gives_up_after_999_names(here: Path) -> None:
    (here / "run.x").touch()
    for n in range(2, 1000):
        (here / f"run-{n}.x").touch()
    with pytest.raises(OSError) as caught:
        ledger.claim(str(here / "run"), ".x")
    assert caught.value.errno == errno.EEXIST
    assert "run.x" in str(caught.value)
    assert not (here / "run-1000.x").exists()


def test_write_all_finishes_a_short_write(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    monkeypatch.setattr(ledger.os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))
    fd = os.open(here / "f", os.O_WRONLY | os.O_CREAT)
    ledger._write_all(fd, b"0123456789")
    os.close(fd)
    assert (here / "f").read_bytes() == b"0123456789"


# --- entries ---------------------------------------------------------------------------------


def test_a_failures_line_is_utf8_text_a_person_can_read() -> None:
    line = ledger._json_line({"name": "Zoë 李"})
    assert line == '{"name": "Zoë 李"}\n'.encode()


def test_a_lone_surrogate_is_kept_as_an_escape() -> None:
    line = ledger._json_line({"name": "Zo\udce9 李"})
    assert line == b'{"name": "Zo\\udce9 \\u674e"}\n'
    assert json.loads(line) == {"name": "Zo\udce9 李"}


def test_failure_entry_is_the_record_plus_its_error() -> None:
    entry = ledger.failure_entry(Record(7, {"uid": "u1", "_error": "old"}), "Not found", 404)
    assert entry == {"uid": "u1", "_error": {"message": "Not found", "status": 404, "line": 7}}


def test_failure_entry_keeps_what_was_not_a_record() -> None:
    assert ledger.failure_entry(Record(3, [1, 2]), "not an object", None) == {
        "_error": {"message": "not an object", "status": None, "line": 3},
        "_record": [1, 2],
    }
    assert ledger.failure_entry(Record(4, None), "broken JSON", None) == {
        "_error": {"message": "broken JSON", "status": None, "line": 4},
    }


def test_ledger_error_names_the_file_and_the_reason(here: Path) -> None:
    err = ledger.LedgerError(here / "f", OSError(errno.ENOSPC, "No space left on device"))
    assert str(err) == f"{here / 'f'}: No space left on device"
    assert (err.path, err.reason) == (here / "f", "No space left on device")
    bare = ledger.LedgerError(here / "f", OSError("disk gone"))
    assert str(bare) == f"{here / 'f'}: disk gone"
    assert bare.reason == "disk gone"


# --- the failures and unknown files ----------------------------------------------------------


def test_a_claimed_file_is_created_at_the_first_record_only(here: Path) -> None:
    empty = ledger.RecordsFile(here / "a.failed.jsonl", mode="claim", suffix=".failed.jsonl")
    assert empty.close() is None
    assert list(here.iterdir()) == []

    (here / "b.failed.jsonl").write_text("taken\n")
    records = ledger.RecordsFile(here / "b.failed.jsonl", mode="claim", suffix=".failed.jsonl")
    assert list(here.iterdir()) == [here / "b.failed.jsonl"]
    records.add(Record(2, {"uid": "u1"}), "Bad", 400)
    records.add(Record(5, {"uid": "u2"}), "Gone")
    assert records.count == 2
    assert records.close() == here / "b-2.failed.jsonl"
    assert lines_of(here / "b-2.failed.jsonl") == [
        {"uid": "u1", "_error": {"message": "Bad", "status": 400, "line": 2}},
        {"uid": "u2", "_error": {"message": "Gone", "status": None, "line": 5}},
    ]
    assert (here / "b.failed.jsonl").read_text() == "taken\n"


def test_each_record_is_on_disk_when_add_returns(here: Path) -> None:
    records = ledger.RecordsFile(here / "f.jsonl", mode="claim")
    records.add(Record(1, {"uid": "u1"}), "Bad", 400)
    assert lines_of(here / "f.jsonl")[0]["uid"] == "u1"  # before close: a kill loses none
    records.close()


def test_replace_writes_beside_the_target_and_moves_it_over_at_the_end(here: Path) -> None:
    target = here / "mine.jsonl"
    target.write_text("old\n")
    records = ledger.RecordsFile(target, mode="replace")
    records.add(Record(1, {"uid": "u1"}), "Bad", 400)
    assert target.read_text() == "old\n"  # untouched while the run goes on
    (tmp,) = [p for p in here.iterdir() if p != target]
    assert tmp.name.startswith(".mine.jsonl.") and tmp.name.endswith(".tmp")
    assert records.close() == target
    assert lines_of(target) == [
        {"uid": "u1", "_error": {"message": "Bad", "status": 400, "line": 1}}
    ]
    assert list(here.iterdir()) == [target]


def test_replace_with_nothing_failed_leaves_a_named_file_alone(here: Path) -> None:
    target = here / "mine.jsonl"
    target.write_text("old\n")
    assert ledger.RecordsFile(target, mode="replace").close() is None
    assert list(here.iterdir()) == [target] and target.read_text() == "old\n"


def test_a_retried_input_with_nothing_failed_is_emptied(here: Path) -> None:
    target = here / "seed.failed.jsonl"
    target.write_text('{"uid": "u1"}\n')
    assert ledger.RecordsFile(target, mode="replace", keep_empty=True).close() is None
    assert list(here.iterdir()) == [target] and target.read_text() == ""


def test_a_fifo_gets_every_record(here: Path) -> None:
    fifo = here / "pipe"
    os.mkfifo(fifo)
    # Held open for reading and writing, so no open of the FIFO can block (even a mutant's).
    reader = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        records = ledger.RecordsFile(fifo, mode="claim")
        records.add(Record(1, {"uid": "u1"}), "Bad", 400)
        assert records.close() == fifo
        assert json.loads(os.read(reader, 4096))["uid"] == "u1"
    finally:
        os.close(reader)
    assert fifo.exists()


def test_a_full_disk_is_a_ledger_error_for_that_record(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never a real device here (/dev/full, /dev/null): under mutation testing a mutant that
    # takes the `replace` path would move a file over it.
    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    records = ledger.RecordsFile(here / "f.jsonl", mode="claim")
    monkeypatch.setattr(ledger.os, "write", full)
    with pytest.raises(ledger.LedgerError) as caught:
        records.add(Record(1, {"uid": "u1"}), "Bad", 400)
    monkeypatch.undo()
    assert caught.value.path == here / "f.jsonl"
    assert caught.value.reason == "No space left on device"
    assert records.count == 0
    assert records.close() is None
    assert list(here.iterdir()) == []  # the file claimed for it holds nothing: removed


def test_a_directory_is_refused(here: Path) -> None:
    with pytest.raises(UsageError) as caught:
        ledger.RecordsFile(here, mode="replace")
    assert caught.value.message == f"The failures file {here} is a directory."
    assert caught.value.hint == ledger.FAILURES_HINT


@pytest.mark.parametrize("mode", ["claim", "replace"])
def test_a_place_that_cannot_be_written_is_refused_before_any_record(here: Path, mode: str) -> None:
    with pytest.raises(UsageError) as caught:
        ledger.RecordsFile(here / "missing" / "f.jsonl", mode=mode)
    assert caught.value.message.startswith(f"Cannot write the failures file {here}/missing")
    assert caught.value.message.endswith(
        ": Permission denied." if mode == "claim" else ": No such file or directory."
    )
    assert caught.value.hint == ledger.FAILURES_HINT


def test_open_failures_names_a_file_of_its_own(here: Path) -> None:
    source = here / "seed.csv"
    source.write_text("uid\nu1\n")
    failures = ledger.open_failures(IMPORT, str(source), None, STAMP)
    failures.add(Record(2, {"uid": "u1"}), "Bad", 400)
    assert failures.close() == here / f"seed.csv.{STAMP}.failed.jsonl"
    assert source.read_text() == "uid\nu1\n"


def test_open_failures_rewrites_a_retried_failures_file_in_place(here: Path) -> None:
    retried = here / "seed.csv.X.failed.jsonl"
    retried.write_text('{"uid": "u1"}\n{"uid": "u2"}\n')
    failures = ledger.open_failures(IMPORT, str(retried), None, STAMP)
    failures.add(Record(2, {"uid": "u2"}), "Still bad", 400)
    assert failures.close() == retried
    assert [e["uid"] for e in lines_of(retried)] == ["u2"]
    assert list(here.iterdir()) == [retried]


def test_open_failures_given_a_file_replaces_it_and_empties_it_only_if_it_is_the_input(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = here / "seed.jsonl"
    source.write_text('{"uid": "u1"}\n')
    other = here / "out.jsonl"
    other.write_text("old\n")
    assert ledger.open_failures(IMPORT, str(source), other, STAMP).close() is None
    assert other.read_text() == "old\n"
    monkeypatch.chdir(here)  # the same file named two ways
    assert ledger.open_failures(IMPORT, "seed.jsonl", source, STAMP).close() is None
    assert source.read_text() == ""
    assert ledger.open_failures(IMPORT, "-", here / "-", STAMP).close() is None
    assert not (here / "-").exists()


def test_the_unknown_file_is_claimed_beside_the_run(here: Path) -> None:
    stem = str(here / f"seed.csv.{STAMP}")
    Path(stem + ".unknown.jsonl").write_text("an earlier run's\n")
    unknown = ledger.unknown_file(stem)
    assert list(here.iterdir()) == [Path(stem + ".unknown.jsonl")]
    unknown.add(Record(3, {"uid": "u3"}), "timed out")
    assert unknown.close() == Path(stem + "-2.unknown.jsonl")


# --- the journal -----------------------------------------------------------------------------


def request(body: object = None, method: str = "POST", path: str = "users/u1/events") -> APIRequest:
    return APIRequest(method, path, body=body)


def test_a_format_1_fingerprint_is_crc32_of_method_path_and_body() -> None:
    # What journals written before format 2 hold: still read, to resume them.
    fp = ledger.fingerprint(request({"b": 1, "a": "é"}), 1)
    text = json.dumps(["POST", "users/u1/events", {"a": "é", "b": 1}], sort_keys=True)
    assert fp == f"{zlib.crc32(text.encode()):08x}"
    assert fp == ledger.fingerprint(request({"a": "é", "b": 1}), 1)  # key order is not content
    assert len(ledger.fingerprint(request(), 1)) == 8


def test_a_fingerprint_is_crc32_of_the_request_as_a_batch_item() -> None:
    # Format 2: the bytes --batch sends for the record, so a batch run encodes it once.
    put = APIRequest("PUT", "/users/a%2Fb", body={"email": "é@x", "meta": {"n": 1}})
    item = b'{"type":"update","id":"a/b","email":"\xc3\xa9@x","meta":{"n":1}}'
    assert ledger.request_bytes(put) == item
    assert ledger.fingerprint(put) == ledger.mark(item) == f"{zlib.crc32(item):08x}"
    post = APIRequest("POST", "/users/u1/events", body={"event": "Paid"})
    assert ledger.request_bytes(post) == b'{"type":"event","id":"u1","event":"Paid"}'
    create = APIRequest("POST", "/users", body={"id": "u1"})
    assert ledger.request_bytes(create) == b'{"type":"create","id":"u1"}'
    delete = APIRequest("DELETE", "/users/u1")  # no batch form: method, path and body
    assert ledger.request_bytes(delete) == b'["DELETE","/users/u1",null]'
    assert ledger.fingerprint(delete) == ledger.mark(b'["DELETE","/users/u1",null]')


@pytest.mark.parametrize("version", [1, 2])
def test_fingerprint_tells_requests_apart(version: int) -> None:
    prints = {
        ledger.fingerprint(request({"event": "Paid"}), version),
        ledger.fingerprint(request({"event": "Paid"}, method="PUT"), version),
        ledger.fingerprint(request({"event": "Paid"}, path="users/u2/events"), version),
        ledger.fingerprint(request({"event": "Refund"}), version),
        ledger.fingerprint(request({"event": "Zo\udce9"}), version),  # any text a record holds
        ledger.fingerprint(request({"event": "Paid"}, path="/users/u1/events"), version),
        ledger.fingerprint(request({"event": "Paid"}, path="/users/u2/events"), version),
        ledger.fingerprint(request({"event": "Paid"}, "PUT", "/users/u1"), version),
        ledger.fingerprint(request({"event": "Paid"}, "POST", "/users"), version),
    }
    assert len(prints) == 9


def journal_text(path: Path) -> str:
    return path.read_text(encoding="ascii")


def test_journal_writes_a_header_then_sent_and_acked_lines(here: Path) -> None:
    stem = str(here / f"seed.csv.{STAMP}")
    journal = ledger.Journal(stem, {"command": "events import", "input": "seed.csv"})
    assert journal.path == Path(stem + ".journal")
    a, b = request({"n": 1}), request({"n": 2})
    journal.sent([(Record(2, {}), a), (Record(3, {}), b)])
    journal.acked([Record(3, {}), Record(2, {})])
    assert journal_text(journal.path) == (
        '{"format": 2, "command": "events import", "input": "seed.csv"}\n'
        f"S 2 {ledger.fingerprint(a)}\nS 3 {ledger.fingerprint(b)}\nA 3\nA 2\n"
    )
    journal.close(keep=True)
    assert journal.path.exists()


def test_a_batch_journals_the_fingerprints_of_the_bytes_it_sends(here: Path) -> None:
    journal = ledger.Journal(str(here / "run"), {})
    put = APIRequest("PUT", "/users/u1", body={"email": "a@b"})
    sent = ledger.request_bytes(put)
    journal.sent([(Record(1, {}), put), (Record(2, {}), put)], [sent, b"other"])
    lines = journal_text(journal.path).splitlines()[1:]
    assert lines == [f"S 1 {ledger.fingerprint(put)}", f"S 2 {ledger.mark(b'other')}"]
    journal.close(keep=False)


@pytest.mark.parametrize(
    ("header", "version"),
    [('{"command": "users import"}', 1), ('{"format": 1}', 1), ('{"format": 2}', 2)],
)
def test_a_journal_is_resumed_with_the_fingerprints_of_its_format(
    here: Path, header: str, version: int
) -> None:
    put = APIRequest("PUT", "/users/u1", body={"b": 1, "a": 2})
    path = here / "j.journal"
    path.write_text(f"{header}\nS 1 {ledger.fingerprint(put, version)}\nA 1\n")
    resumed = ledger.read_journal(path)
    assert resumed.format == version
    assert resumed.landed(Record(1, {}), put)
    other = APIRequest("PUT", "/users/u1", body={"b": 1, "a": 3})
    with pytest.raises(UsageError, match="does not match this input: line 1"):
        resumed.landed(Record(1, {}), other)
    resumed.release()


def test_a_journal_of_a_newer_format_is_refused(here: Path) -> None:
    path = here / "j.journal"
    path.write_text('{"format": 3, "command": "users import"}\nS 1 0000000a\n')
    with pytest.raises(UsageError) as caught:
        ledger.read_journal(path)
    assert caught.value.message == (
        f"The journal {path} was written by a newer engage (format 3); nothing was sent."
    )
    assert caught.value.exit_code == 2
    fd = os.open(path, os.O_RDONLY)  # not left held
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


@pytest.mark.parametrize("header", ['{"format": "2"}', '{"format": 0}', '{"format": true}', "{x"])
def test_a_journal_with_a_format_that_is_no_number_is_not_one(here: Path, header: str) -> None:
    path = here / "j.journal"
    path.write_text(header + "\n")
    with pytest.raises(UsageError) as caught:
        ledger.read_journal(path)
    assert caught.value.message == f"{path} is not a journal of engage."


def test_a_live_journal_is_locked_and_an_ended_run_removes_it(here: Path) -> None:
    journal = ledger.Journal(str(here / "run"), {})
    fd = os.open(journal.path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    with pytest.raises(UsageError) as caught:
        ledger.read_journal(journal.path)
    assert caught.value.message == (
        f"The journal {journal.path} is in use by another run (process {os.getpid()}); "
        "nothing was sent."
    )
    other = ledger.Journal(str(here / "run"), {})
    assert other.path.name == "run-2.journal"
    journal.close(keep=False)
    other.close(keep=False)
    assert list(here.iterdir()) == []


def killed_journal(path: Path, body: str) -> Path:
    path.write_text('{"command": "events import"}\n' + body, encoding="ascii")
    return path


def test_read_journal_reads_what_a_killed_run_wrote(here: Path) -> None:
    path = killed_journal(
        here / "j.journal",
        "S 2 0000000a\nS 3 0000000b\nA 2\nA 9\nS 4 0000000c\n"
        "S 1x 0000000d\nA\nS 5\nX 6 1\nA 3 7\nA x\nS 6",  # the last cut short by the kill
    )
    resumed = ledger.read_journal(path)
    assert resumed.path == path
    assert resumed.sent == {2: "0000000a", 3: "0000000b", 4: "0000000c"}
    assert resumed.acked == {2: "0000000a", 9: ""}


@pytest.mark.parametrize("text", ["", "S 1 0000000a\n", "\n{}\n"])
def test_read_journal_refuses_what_is_not_a_journal(here: Path, text: str) -> None:
    path = here / "j.journal"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        ledger.read_journal(path)
    assert caught.value.message == f"{path} is not a journal of engage."


def test_read_journal_names_a_journal_it_cannot_read(here: Path) -> None:
    with pytest.raises(UsageError) as caught:
        ledger.read_journal(here / "gone.journal")
    assert caught.value.message == (
        f"Cannot read the journal {here / 'gone.journal'}: No such file or directory."
    )


def test_read_journal_reads_bytes_that_are_not_ascii(here: Path) -> None:
    path = here / "j.journal"
    path.write_bytes(b'{"input": "\xc3\xa9"}\nS 1 0000000a\n')
    resumed = ledger.read_journal(path)
    assert resumed.sent == {1: "0000000a"}
    resumed.release()
    fd = os.open(path, os.O_RDONLY)  # the lock was let go: another reader may take it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_resumed_answers_per_record_and_refuses_another_input(here: Path) -> None:
    landed, in_flight, fresh = request({"n": 1}), request({"n": 2}), request({"n": 3})
    resumed = ledger.Resumed(
        here / "j.journal",
        acked={1: ledger.fingerprint(landed)},
        sent={1: ledger.fingerprint(landed), 2: ledger.fingerprint(in_flight)},
    )
    assert resumed.landed(Record(1, {}), landed)
    assert not resumed.in_flight(Record(1, {}), landed)
    assert not resumed.landed(Record(2, {}), in_flight)
    assert resumed.in_flight(Record(2, {}), in_flight)
    assert not resumed.landed(Record(3, {}), fresh)
    assert not resumed.in_flight(Record(3, {}), fresh)
    resumed.check(Record(2, {}), in_flight)
    resumed.check(Record(3, {}), fresh)
    with pytest.raises(UsageError) as caught:
        resumed.check(Record(2, {}), fresh)
    assert caught.value.message == (
        f"The journal {here / 'j.journal'} does not match this input: line 2 differs "
        "from what that run sent; nothing was sent."
    )
    assert caught.value.hint == "Resume with the same input file the killed run read."
    with pytest.raises(UsageError):
        resumed.landed(Record(1, {}), fresh)
    with pytest.raises(UsageError):
        resumed.in_flight(Record(2, {}), fresh)


@pytest.mark.parametrize(
    ("job", "source", "prefix"),
    [
        (IMPORT, "seed.csv", "seed.csv."),
        (IMPORT, "-", "engage-import."),
        (IMPORT, "seed.csv.X.failed.jsonl", "seed.csv.X"),
        (DELETE, "-", "engage-delete."),
    ],
)
def test_journal_prefix(job: jobs.Job, source: str, prefix: str) -> None:
    assert ledger.journal_prefix(job, source) == prefix


def test_find_journal_takes_the_newest_that_no_live_run_holds(here: Path) -> None:
    source = str(here / "seed.csv")
    older = killed_journal(here / "seed.csv.20260101-000000.journal", "")
    newer = killed_journal(here / "seed.csv.20260102-000000.journal", "")
    killed_journal(here / "seedy.csv.20260103-000000.journal", "")  # another input's
    killed_journal(here / "seed.csv.20260104-000000.unknown.jsonl", "")  # not a journal
    os.utime(older, (1_000, 1_000))
    os.utime(newer, (2_000, 2_000))
    assert ledger.find_journal(IMPORT, source) == newer
    live = ledger.Journal(str(here / "seed.csv.20260105-000000"), {})
    os.utime(live.path, (3_000, 3_000))
    assert ledger.find_journal(IMPORT, source) == newer
    live.close(keep=False)
    os.utime(older, (4_000, 4_000))
    assert ledger.find_journal(IMPORT, source) == older


def test_find_journal_never_takes_the_journal_of_an_input_whose_name_extends_this_one(
    here: Path,
) -> None:
    """`--resume` over seed.csv must not pick up the killed run over seed.csv2."""
    killed_journal(here / "seed.csv2.20260101-000000.journal", "S 1 0000000a\n")
    with pytest.raises(UsageError):
        ledger.find_journal(IMPORT, str(here / "seed.csv"))
    mine = killed_journal(here / "seed.csv.20260101-000000-2.journal", "")
    assert ledger.find_journal(IMPORT, str(here / "seed.csv")) == mine


def test_find_journal_reads_a_name_with_glob_characters_literally(here: Path) -> None:
    source = here / "a[1]*?.csv"
    killed_journal(here / "a1x.csv.20260101-000000.journal", "")  # what a glob would match
    with pytest.raises(UsageError) as caught:
        ledger.find_journal(IMPORT, str(source))
    assert caught.value.message == (
        f"--resume: no journal of a killed run over {source} (looked for {source}.*.journal)."
    )
    assert caught.value.hint and "feed that one back" in caught.value.hint
    mine = killed_journal(here / "a[1]*?.csv.20260101-000000.journal", "")
    assert ledger.find_journal(IMPORT, str(source)) == mine


def test_glob_escape() -> None:
    assert ledger.glob_escape("a*b?c[d]e") == "a[*]b[?]c[[]d]e"


# --- found by mutation testing: what the tests above still left open ------------------------


def no_space(fd: int, data: bytes) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_write_that_failed_leaves_no_empty_file_behind(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = here / "seed.csv"
    source.write_text("uid\nu1\n")
    failures = ledger.open_failures(IMPORT, str(source), None, STAMP)
    unknown = ledger.unknown_file(str(here / f"seed.csv.{STAMP}"))
    monkeypatch.setattr(ledger.os, "write", no_space)
    for records in (failures, unknown):
        with pytest.raises(ledger.LedgerError):
            records.add(Record(2, {"uid": "u1"}), "Bad", 400)
    monkeypatch.undo()
    assert failures.close() is None and unknown.close() is None
    assert list(here.iterdir()) == [source]


def test_failures_given_as_a_symlink_loop_are_not_taken_for_the_input(here: Path) -> None:
    source = here / "seed.jsonl"
    source.write_text('{"uid": "u1"}\n')
    loop = here / "loop"
    loop.symlink_to("loop")
    assert not ledger._same_file(loop, source)
    with pytest.raises(UsageError, match="Too many levels of symbolic links"):
        ledger.open_failures(IMPORT, str(source), loop, STAMP)  # it cannot be held
    assert loop.is_symlink()  # left alone
    assert sorted(p.name for p in here.iterdir()) == ["loop", "seed.jsonl"]


def test_a_journal_already_gone_closes_quietly(here: Path) -> None:
    journal = ledger.Journal(str(here / "run"), {})
    journal.path.unlink()
    journal.close(keep=False)
    assert list(here.iterdir()) == []


def test_a_journal_line_with_digits_that_are_not_ascii_is_ignored(here: Path) -> None:
    path = here / "j.journal"
    path.write_bytes("{}\nS \u0661 0000000a\nS 2 0000000b\nA \u0662\n".encode())
    resumed = ledger.read_journal(path)
    assert (resumed.sent, resumed.acked) == ({2: "0000000b"}, {})


def test_find_journal_passes_over_a_journal_it_cannot_open(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = here / "seed.csv.20260101-000000.journal"
    broken.symlink_to("gone")
    mine = killed_journal(here / "seed.csv.20260102-000000.journal", "")
    monkeypatch.setattr(Path, "glob", lambda self, pattern: iter([broken, mine]))
    assert ledger.find_journal(IMPORT, str(here / "seed.csv")) == mine


def test_find_journal_says_what_to_do_instead(here: Path) -> None:
    with pytest.raises(UsageError) as caught:
        ledger.find_journal(IMPORT, str(here / "seed.csv"))
    assert caught.value.hint == (
        "A run that ended, even by Ctrl-C, leaves a failures file instead: feed that one back."
    )


def test_an_empty_claimed_file_already_gone_closes_quietly(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = ledger.RecordsFile(here / "f.jsonl", mode="claim")
    monkeypatch.setattr(ledger.os, "write", no_space)
    with pytest.raises(ledger.LedgerError):
        records.add(Record(1, {"uid": "u1"}), "Bad", 400)
    monkeypatch.undo()
    (here / "f.jsonl").unlink()  # someone tidied up first
    assert records.close() is None

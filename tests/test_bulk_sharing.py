"""Files two bulk runs could share: a journal being resumed and a failures file named by
--failures. Found by trying: two `--resume` runs after a `kill -9` both resumed one journal
(862 of 1,348 events recorded twice); two runs given one --failures file each said their
failures were in it, and the second's were nowhere. A second run now refuses before
sending (exit 2), naming the process that holds the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engage_cli.bulk import jobs, ledger
from engage_cli.bulk.records import Record
from engage_cli.errors import UsageError
from tests.harness import reply, run

EVENTS = jobs.EVENTS_IMPORT
HOLDER = f"another run (process {os.getpid()})"


def events_file(tmp_path: Path, n: int = 4) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text(
        "".join(json.dumps({"uid": f"u{i}", "event": "Paid"}) + "\n" for i in range(n)),
        encoding="utf-8",
    )
    return path


def killed_run_journal(source: Path) -> Path:
    """The journal a `kill -9` left: line 1 acknowledged, line 2 sent without an answer."""
    stem = ledger.journal_prefix(EVENTS, str(source)) + "20260101-000000"
    journal = ledger.Journal(stem, {"command": "events import"})
    sent = [Record(n + 1, {"uid": f"u{n}", "event": "Paid"}) for n in range(2)]
    journal.sent([(record, jobs.prepare(EVENTS, record)) for record in sent])
    journal.acked(sent[:1])
    journal.close(keep=True)  # what a kill leaves: the lock goes with the process
    return journal.path


# --- the journal -----------------------------------------------------------------------------


def test_a_journal_being_resumed_is_held_and_a_second_resume_refuses(tmp_path: Path) -> None:
    source = events_file(tmp_path)
    path = killed_run_journal(source)
    first = ledger.read_journal(ledger.find_journal(EVENTS, str(source)))
    try:
        with pytest.raises(UsageError) as caught:  # both found it before either locked it
            ledger.read_journal(path)
        assert caught.value.message == (
            f"The journal {path} is in use by {HOLDER}; nothing was sent."
        )
        with pytest.raises(UsageError) as caught:  # came later: the only journal is held
            ledger.find_journal(EVENTS, str(source))
        assert f"is in use by {HOLDER}" in caught.value.message
    finally:
        first.release()
    assert ledger.read_journal(path).acked == {1: ledger.fingerprint(
        jobs.prepare(EVENTS, Record(1, {"uid": "u0", "event": "Paid"}))
    )}  # fmt: skip


def test_a_second_resume_of_a_held_journal_exits_2_and_sends_nothing(tmp_path: Path) -> None:
    source = events_file(tmp_path)
    path = killed_run_journal(source)
    live = ledger.read_journal(path)  # another run, resuming it now
    try:
        result = run(["events", "import", str(source), "--resume", "-o", "json"])
    finally:
        live.release()
    assert result.exit_code == 2
    assert result.sent == []
    error = json.loads(result.stderr)["error"]["message"]
    assert error == f"The journal {path} is in use by {HOLDER}; nothing was sent."
    # Once that run is gone, the journal resumes: line 1 landed before the kill.
    resumed = run(["events", "import", str(source), "--resume", "-o", "json"],
                  [reply(200, {"status": "ok"})] * 2)  # fmt: skip
    assert resumed.exit_code == 7, resumed.stderr  # line 2 may have landed: unknown
    assert resumed.json()["resumed"] == 1 and resumed.json()["unknown"] == 1


# --- the failures file -----------------------------------------------------------------------


def test_a_failures_file_another_run_writes_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared.failed.jsonl"
    first = ledger.open_failures(EVENTS, "events.jsonl", shared, "stamp")
    with pytest.raises(UsageError) as caught:
        ledger.open_failures(EVENTS, "other.jsonl", shared, "stamp")
    assert caught.value.message == (
        f"The failures file {shared} is in use by {HOLDER}; nothing was sent."
    )
    first.add(Record(3, {"uid": "u1", "event": "Paid"}), "Bad", 400)
    assert first.close() == shared
    assert [json.loads(line)["_error"]["line"] for line in shared.read_text().splitlines()] == [3]
    again = ledger.open_failures(EVENTS, "other.jsonl", shared, "stamp")  # free again
    assert again.close() is None
    assert shared.exists()  # a file it found there is not its own to remove


def test_a_failures_file_made_only_to_be_held_is_removed_if_nothing_failed(
    tmp_path: Path,
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    target = here / "f.jsonl"
    failures = ledger.open_failures(EVENTS, "events.jsonl", target, "stamp")
    assert target.exists()  # held from the start
    assert failures.close() is None
    assert list(here.iterdir()) == []


def test_two_imports_given_one_failures_file_the_second_refuses(tmp_path: Path) -> None:
    source = events_file(tmp_path)
    shared = tmp_path / "shared.failed.jsonl"
    live = ledger.open_failures(EVENTS, "other.jsonl", shared, "stamp")  # a run going on
    try:
        result = run(["events", "import", str(source), "--failures", str(shared), "-o", "json"])
    finally:
        live.add(Record(9, {"uid": "x", "event": "E"}), "Bad", 400)
        live.close()
    assert result.exit_code == 2 and result.sent == []
    assert f"The failures file {shared} is in use by {HOLDER}" in result.stderr
    assert len(shared.read_text().splitlines()) == 1  # the live run's record is kept


def test_retrying_a_failures_file_another_run_retries_is_refused(tmp_path: Path) -> None:
    failed = tmp_path / "events.failed.jsonl"
    failed.write_text(json.dumps({"uid": "u1", "event": "Paid"}) + "\n", encoding="utf-8")
    live = ledger.open_failures(EVENTS, str(failed), None, "stamp")  # rewritten in place
    try:
        result = run(["events", "import", str(failed)])
    finally:
        live.close()
    assert result.exit_code == 2 and result.sent == []
    assert "is in use by another run" in result.stderr

"""Tests for hand-made mutations that survived the suite (issue 21): each mutant below was
applied by hand, and each test here fails on it. The names say what the mutant broke."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engage_cli.bulk import jobs, ledger, pacing
from engage_cli.bulk.csv_records import USER_CSV
from engage_cli.bulk.records import Record
from engage_cli.endpoints import add_event, create_user, update_user
from engage_cli.sandbox.store import SandboxStore
from engage_cli.tables import USERS, cell_width
from tests.harness import reply, run

USERS_IMPORT = jobs.users_import_job("upsert")


# --- bulk/runner.py: `and not request.repeatable` dropped -------------------------------------


def test_an_idempotent_put_in_flight_at_a_kill_is_sent_again_on_resume(tmp_path: Path) -> None:
    source = tmp_path / "users.jsonl"
    source.write_text(json.dumps({"id": "u1"}) + "\n" + json.dumps({"id": "u2"}) + "\n")
    stem = ledger.journal_prefix(USERS_IMPORT, str(source)) + "20260101-000000"
    journal = ledger.Journal(stem, {"command": "users import"})
    sent = [Record(n, {"id": f"u{n}"}) for n in (1, 2)]
    journal.sent([(record, jobs.prepare(USERS_IMPORT, record)) for record in sent])
    journal.acked(sent[:1])
    journal.close(keep=True)  # killed with u2 in flight: a PUT, harmless to repeat
    result = run(["users", "import", str(source), "--resume", "-o", "json"],
                 [reply(200, {"uid": "u2"})])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert [r.url.path for r in result.sent] == ["/v1/users/u2"]
    summary = result.json()
    assert (summary["resumed"], summary["landed"], summary["unknown"]) == (1, 1, 0)


# --- bulk/jobs.py: `unquote` dropped ----------------------------------------------------------


@pytest.mark.parametrize("uid", ["a@b.co", "a+b", "x/y", "é"])
def test_a_batch_item_carries_the_uid_itself_not_its_path_encoding(uid: str) -> None:
    assert jobs.batch_item(update_user(uid, {"first_name": "A"})) == {
        "type": "update",
        "id": uid,
        "first_name": "A",
    }
    assert jobs.batch_item(add_event(uid, {"event": "E"})) == {
        "type": "event",
        "id": uid,
        "event": "E",
    }
    assert jobs.batch_item(create_user({"id": uid})) == {"type": "create", "id": uid}


# --- bulk/pacing.py: `max(RATE_MIN, ...)` dropped ---------------------------------------------


def test_the_adaptive_rate_never_falls_below_its_floor() -> None:
    now = [0.0]
    pacer = pacing.Pacer(None, clock=lambda: now[0], wait=lambda stop, seconds: False)
    for _ in range(60):  # 429 after 429, with nothing taken in between
        now[0] += 1.5
        pacer.throttled(None)
        assert pacer.rate is not None and pacer.rate >= pacing.RATE_MIN
    assert pacer.rate == pacing.RATE_MIN


# --- commands/users.py: the next-page hint losing --email -------------------------------------


def test_the_next_page_hint_keeps_the_email_filter() -> None:
    page = {"data": [{"uid": "u1", "id": "a" * 24}], "next_cursor": "c2"}
    result = run(["users", "list", "--email", "a@b.co", "--limit", "1", "-o", "json"],
                 [reply(200, page)], tty=True)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "engage users list --limit 1 --email a@b.co --next-cursor c2" in result.stderr


# --- sandbox/store.py: a subscriber matched by number keeping its email ------------------------


def test_a_subscriber_matched_by_number_keeps_its_own_email(tmp_path: Path) -> None:
    store = SandboxStore(tmp_path / "s.sqlite3")
    try:
        store.create_user("u1", {"email": "old@b.co", "number": "2348012345678"})
        list_id = store.create_list({"title": "News"})["id"]
        changes: Any = {"email": "new@b.co", "number": "2348012345678", "first_name": "Ann"}
        assert store.subscribe(list_id, changes) == "u1"
        user = store.get_user("u1")
        assert user is not None
        assert (user["email"], user["number"], user["first_name"]) == (
            "old@b.co", "2348012345678", "Ann",
        )  # fmt: skip
    finally:
        store.close()


# --- tables.py: "(unsubscribed)" and full-width characters -------------------------------------


def test_a_users_row_marks_the_lists_it_is_unsubscribed_from() -> None:
    user = {"uid": "u1", "lists": [{"id": "l1", "subscribed": True},
                                   {"id": "l2", "subscribed": False}]}  # fmt: skip
    assert USERS.table_row(user)["lists"] == "l1, l2 (unsubscribed)"


@pytest.mark.parametrize(("text", "width"), [("ＡＢ", 4), ("李", 2), ("ｱ", 1), ("e\u0301", 1)])
def test_full_width_characters_take_two_columns(text: str, width: int) -> None:
    assert cell_width(text) == width


# --- bulk/jobs.py: what mutation testing left loose (tests/benchmarks/mutation.py) -----------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "uid: is required"),
        ({"uid": ""}, "uid: must be a non-empty string"),
        ({"uid": 3}, "uid: must be a non-empty string"),
    ],
)
def test_a_records_key_says_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        jobs._key(data, "uid")
    assert str(caught.value) == message


def test_route_key_is_the_uid_a_request_is_about() -> None:
    assert jobs.route_key(create_user({"id": "a@b.co"})) == "a@b.co"
    assert jobs.route_key(update_user("a@b.co", {})) == "a%40b.co"
    assert jobs.route_key(add_event("u1", {"event": "E"})) == "u1"


@pytest.mark.parametrize(
    ("mode", "sends", "resume"),
    [("create", "POST /users", "users import {file} --mode create"),
     ("upsert", "PUT /users/{uid}", "users import {file}")],
)  # fmt: skip
def test_users_import_jobs_say_what_they_send_and_how_to_resume(
    mode: str, sends: str, resume: str
) -> None:
    job = jobs.users_import_job(mode)
    assert (job.command, job.sends, job.resume) == ("users import", sends, resume)
    assert job.schema is USER_CSV and not job.dedupe and job.done_statuses == frozenset()


def test_prepare_names_the_line_and_each_problem() -> None:
    job = USERS_IMPORT
    with pytest.raises(jobs.InvalidRecord) as caught:
        jobs.prepare(job, Record(3, {"id": "u1"}, ("a", "b")))
    assert caught.value.message == "line 3: a; b."
    with pytest.raises(jobs.InvalidRecord) as caught:
        jobs.prepare(job, Record(4, ["u1"]))
    assert caught.value.message == "line 4: expected a JSON object."
    with pytest.raises(jobs.InvalidRecord) as caught:
        jobs.prepare(job, Record(5, {"id": "u1", "email": "nope"}))
    assert caught.value.message == (
        "line 5: invalid user update: email: 'nope' is not an email address (something@something)."
    )
    with pytest.raises(jobs.InvalidRecord) as caught:
        jobs.prepare(jobs.EVENTS_IMPORT, Record(6, {"event": "E"}))
    assert caught.value.message == "line 6: invalid event: uid: is required."
    assert caught.value.hint is None


def test_the_check_pass_error_lists_the_first_problems_and_counts_the_rest() -> None:
    checked = jobs.Checked(read=25, valid=2, duplicates=1)
    checked.problems = [f"line {n}: bad." for n in range(jobs.MAX_PROBLEMS_SHOWN)]
    err = checked.error("users.csv")
    assert err.message == (
        "22 of 25 records in users.csv are invalid; nothing was sent:\n"
        + "\n".join(f"  line {n}: bad." for n in range(20))
        + "\n  ... and 2 more"
    )
    assert err.hint == "Fix them and run again; --dry-run checks a file without sending."
    checked.hint = "Another hint."
    assert checked.error("x").hint == "Another hint."


def test_check_all_counts_and_keeps_what_it_is_told_to() -> None:
    kept: list[int] = []
    valid: list[int] = []
    records = [
        Record(2, {"uid": "a"}),
        Record(3, {"uid": "a"}),
        Record(4, {}),
        Record(5, {"uid": "b"}),
    ]
    checked = jobs.check_all(
        records, jobs.USERS_DELETE,
        on_valid=lambda r, q: valid.append(r.line), keep=lambda r, q: kept.append(r.line),
    )  # fmt: skip
    assert (checked.read, checked.valid, checked.duplicates, checked.invalid) == (4, 2, 1, 1)
    assert kept == [2, 3, 5] and valid == [2, 5]
    assert checked.problems == ["line 4: invalid user: id: is required."]
    assert checked.sample is not None and checked.sample.path == "/users/a"

"""Tests for hand-made mutations that survived the suite (issue 21): each mutant below was
applied by hand, and each test here fails on it. The names say what the mutant broke."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engage_cli.bulk import jobs, ledger, pacing
from engage_cli.bulk.readers import Record
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

"""SandboxStore: the SQLite state under the sandbox API."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engage_cli.sandbox import store as store_module
from engage_cli.sandbox.store import (
    MAX_DEVICES,
    DuplicateUserError,
    SandboxStore,
    StoreClosedError,
    format_timestamp,
)

USER_KEYS = [
    "id",
    "uid",
    "first_name",
    "last_name",
    "number",
    "email",
    "devices",
    "accounts",
    "is_account",
    "member_count",
    "archived",
    "lists",
    "segments",
    "meta",
    "created_at",
    "last_interaction",
]


def test_creates_the_parent_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "sandbox.sqlite3"
    with SandboxStore(path):
        assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_user_has_the_reference_shape(store: SandboxStore) -> None:
    user = store.create_user("u1", {"first_name": "Ada", "meta": {"plan": "pro"}})
    assert list(user) == USER_KEYS
    assert re.fullmatch(r"[0-9a-f]{24}", user["id"])
    assert user["uid"] == "u1"
    assert user["last_name"] is None and user["number"] is None and user["email"] is None
    assert user["devices"] == [] and user["lists"] == [] and user["segments"] == []
    assert user["meta"] == {"plan": "pro"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", user["created_at"])
    assert store.get_user("u1") == user


def test_get_unknown_user_is_none(store: SandboxStore) -> None:
    assert store.get_user("nobody") is None


def test_duplicate_uid_is_refused_and_changes_nothing(store: SandboxStore) -> None:
    first = store.create_user("u1", {"first_name": "Ada"})
    with pytest.raises(DuplicateUserError):
        store.create_user("u1", {"first_name": "Bob"})
    assert store.get_user("u1") == first
    assert store.count_users() == 1


def test_a_transaction_commits_its_writes_together_and_undoes_a_failed_one_alone(
    store: SandboxStore,
) -> None:
    with store.transaction():
        first = store.create_user("u1", {"first_name": "Ada"})
        with pytest.raises(DuplicateUserError):
            store.create_user("u1", {"first_name": "Bob"})  # took an id, then failed
        assert store.get_user("u1") == first  # reads inside see the transaction's writes
        second = store.upsert_user("u2", {})[0]
        store.add_event("u2", "Seen")
    # The failed write's id was given back: the sequence advanced once per user kept.
    assert int(second["id"][8:], 16) == int(first["id"][8:], 16) + 1
    assert store.get_user("u1") == first and store.count_users() == 2
    assert [e["event"] for e in store.list_events("u2")] == ["Seen"]


def test_a_transaction_that_raises_writes_nothing(store: SandboxStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.create_user("u1", {})
        raise RuntimeError("the request died half-way")
    assert store.count_users() == 0
    store.create_user("u1", {})  # the store is usable afterwards, outside any transaction
    assert store.count_users() == 1


def test_ids_increase_in_creation_order(store: SandboxStore) -> None:
    ids = [store.create_user(f"u{i}", {})["id"] for i in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50


def test_ids_keep_increasing_when_the_clock_steps_back(
    store: SandboxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engage_cli.sandbox.store.time.time", lambda: 2_000_000_000.0)
    later = store.create_user("later", {})["id"]
    monkeypatch.setattr("engage_cli.sandbox.store.time.time", lambda: 1_000_000_000.0)
    earlier_clock = store.create_user("earlier", {})["id"]
    assert earlier_clock > later
    assert earlier_clock.startswith(f"{2_000_000_000:08x}")


def test_ids_keep_increasing_across_reopen_and_reset(db_path: Path) -> None:
    with SandboxStore(db_path) as first:
        old = first.create_user("u1", {})["id"]
        first.reset()
    with SandboxStore(db_path) as second:
        assert second.create_user("u1", {})["id"] > old


def test_upsert_creates_then_changes_only_given_fields(store: SandboxStore) -> None:
    created, was_created = store.upsert_user("u1", {"first_name": "Ada", "meta": {"a": 1}})
    assert was_created and created["first_name"] == "Ada"
    updated, was_created = store.upsert_user("u1", {"last_name": "Lovelace"})
    assert not was_created
    assert updated["id"] == created["id"]
    assert updated["created_at"] == created["created_at"]
    assert (updated["first_name"], updated["last_name"]) == ("Ada", "Lovelace")
    assert updated["meta"] == {"a": 1}


def test_meta_merges_key_by_key_latest_wins(store: SandboxStore) -> None:
    store.create_user("u1", {"meta": {"plan": "pro", "age": 34}})
    user, _ = store.upsert_user("u1", {"meta": {"plan": "custom", "coverage": 20}})
    assert user["meta"] == {"plan": "custom", "age": 34, "coverage": 20}
    assert store.get_user("u1") == user


def test_lists_are_added_once_each(store: SandboxStore) -> None:
    store.create_user("u1", {"lists": ["a", "b", "a"]})
    user, _ = store.upsert_user("u1", {"lists": ["b", "c"]})
    assert user["lists"] == [
        {"id": "a", "subscribed": True},
        {"id": "b", "subscribed": True},
        {"id": "c", "subscribed": True},
    ]


def test_devices_keep_the_last_five_distinct_tokens(store: SandboxStore) -> None:
    for n in range(7):
        store.upsert_user("u1", {"device": {"token": f"t{n}", "platform": "ios"}})
    user, _ = store.upsert_user("u1", {"device": {"token": "t3", "platform": "android"}})
    assert [d["token"] for d in user["devices"]] == ["t2", "t4", "t5", "t6", "t3"]
    assert len(user["devices"]) == MAX_DEVICES
    assert user["devices"][-1] == {"token": "t3", "platform": "android"}


def test_delete(store: SandboxStore) -> None:
    store.create_user("u1", {})
    assert store.delete_user("u1") is True
    assert store.get_user("u1") is None
    assert store.delete_user("u1") is False
    store.create_user("u1", {})  # the uid is free again


def _uids(page: store_module.UserPage) -> list[str]:
    return [user["uid"] for user in page.users]


@pytest.fixture
def ids(store: SandboxStore) -> list[str]:
    return [store.create_user(f"u{n:02d}", {})["id"] for n in range(25)]


def test_list_first_page(store: SandboxStore, ids: list[str]) -> None:
    page = store.list_users(10)
    assert _uids(page) == [f"u{n:02d}" for n in range(10)]
    assert (page.has_more, page.next_cursor, page.previous_cursor) == (True, ids[9], None)


def test_list_after_id_walks_forward(store: SandboxStore, ids: list[str]) -> None:
    middle = store.list_users(10, after_id=ids[9])
    assert _uids(middle) == [f"u{n:02d}" for n in range(10, 20)]
    assert (middle.has_more, middle.next_cursor, middle.previous_cursor) == (True, ids[19], ids[10])
    last = store.list_users(10, after_id=ids[19])
    assert _uids(last) == [f"u{n:02d}" for n in range(20, 25)]
    assert (last.has_more, last.next_cursor, last.previous_cursor) == (False, None, ids[20])


def test_list_before_id_walks_backward_in_ascending_pages(
    store: SandboxStore, ids: list[str]
) -> None:
    page = store.list_users(10, before_id=ids[20])
    assert _uids(page) == [f"u{n:02d}" for n in range(10, 20)]
    assert (page.has_more, page.previous_cursor, page.next_cursor) == (True, ids[10], ids[19])
    first = store.list_users(10, before_id=ids[10])
    assert _uids(first) == [f"u{n:02d}" for n in range(10)]
    assert (first.has_more, first.previous_cursor, first.next_cursor) == (False, None, ids[9])


def test_list_empty_and_past_the_end(store: SandboxStore) -> None:
    assert store.list_users(10) == store_module.UserPage([], False, None, None)
    user = store.create_user("u1", {})
    assert store.list_users(10, after_id=user["id"]) == store_module.UserPage([], False, None, None)


def test_list_filters_by_email_case_insensitively(store: SandboxStore) -> None:
    store.create_user("u1", {"email": "Ada@Example.com"})
    store.create_user("u2", {"email": "bob@example.com"})
    store.upsert_user("u3", {"email": "ada@example.com"})
    page = store.list_users(10, email="ADA@example.com")
    assert _uids(page) == ["u1", "u3"]


def test_list_refuses_both_cursors(store: SandboxStore) -> None:
    with pytest.raises(ValueError):
        store.list_users(10, after_id="0" * 24, before_id="f" * 24)


def test_event_for_an_unknown_uid_creates_the_user(store: SandboxStore) -> None:
    assert store.add_event("anon-1", "Opened app") is True
    assert store.get_user("anon-1") is not None
    assert store.add_event("anon-1", "Paid", value=49.99, properties={"cur": "USD"}) is False
    assert store.count_users() == 1
    events = store.list_events("anon-1")
    assert [e["event"] for e in events] == ["Opened app", "Paid"]
    assert events[0]["value"] is None and events[0]["properties"] == {}
    assert events[1] == {
        "uid": "anon-1",
        "event": "Paid",
        "value": 49.99,
        "properties": {"cur": "USD"},
        "timestamp": events[1]["timestamp"],
    }


def test_events_keep_their_timestamp_and_can_be_filtered(store: SandboxStore) -> None:
    store.add_event("a", "x", timestamp="2020-05-30T09:30:10.000+00:00", value=True)
    store.add_event("b", "y")
    assert len(store.list_events()) == 2
    (only,) = store.list_events("a")
    assert only["timestamp"] == "2020-05-30T09:30:10.000+00:00"
    assert only["value"] is True  # a boolean stays a boolean, not 1


def test_reset_empties_everything(store: SandboxStore) -> None:
    store.create_user("u1", {})
    store.add_event("u1", "x")
    store.reset()
    assert store.count_users() == 0
    assert store.list_events() == []


def test_state_survives_reopening(db_path: Path) -> None:
    with SandboxStore(db_path) as first:
        first.create_user("u1", {"meta": {"a": 1}})
        first.add_event("u1", "x")
    with SandboxStore(db_path) as second:
        user = second.get_user("u1")
        assert user is not None and user["meta"] == {"a": 1}
        assert len(second.list_events()) == 1


def test_closed_store_refuses_use(db_path: Path) -> None:
    opened = SandboxStore(db_path)
    opened.close()
    with pytest.raises(StoreClosedError):
        opened.get_user("u1")


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2021, 1, 12, 5, 24, 39, 62_999, timezone.utc), "2021-01-12T05:24:39.062+00:00"),
        (
            datetime(2021, 1, 12, 6, 24, 39, 0, timezone(timedelta(hours=1))),
            "2021-01-12T05:24:39.000+00:00",
        ),
        (datetime(999, 1, 1), "0999-01-01T00:00:00.000+00:00"),
    ],
)
def test_format_timestamp(moment: datetime, text: str) -> None:
    assert format_timestamp(moment) == text


def _run_threads(count: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_racing_creates_of_one_uid_let_exactly_one_win(store: SandboxStore) -> None:
    outcomes: list[str] = []

    def create(n: int) -> None:
        try:
            store.create_user("same", {"first_name": f"n{n}"})
            outcomes.append("created")
        except DuplicateUserError:
            outcomes.append("duplicate")

    _run_threads(16, create)
    assert sorted(outcomes) == ["created"] + ["duplicate"] * 15
    assert store.count_users() == 1


def test_concurrent_writes_are_neither_lost_nor_doubled(store: SandboxStore) -> None:
    store.create_user("shared", {})

    def work(n: int) -> None:
        for i in range(20):
            store.create_user(f"t{n}x{i}", {})
            store.upsert_user("shared", {"meta": {f"k{n}_{i}": i}})
            store.add_event("shared", "tick", value=n)

    _run_threads(16, work)
    assert store.count_users() == 1 + 16 * 20
    shared = store.get_user("shared")
    assert shared is not None and len(shared["meta"]) == 16 * 20
    assert len(store.list_events("shared")) == 16 * 20
    ids = [user["id"] for user in store.list_users(30).users]
    assert ids == sorted(ids)


def test_two_stores_on_one_file_share_state_safely(db_path: Path) -> None:
    # Like `engage --sandbox` running while `engage sandbox serve` holds the same file.
    with SandboxStore(db_path) as one, SandboxStore(db_path) as two:

        def work(n: int) -> None:
            target = one if n % 2 else two
            for i in range(25):
                target.upsert_user("shared", {"meta": {f"k{n}_{i}": True}})

        _run_threads(8, work)
        shared = one.get_user("shared")
        assert shared is not None and len(shared["meta"]) == 8 * 25


def test_only_the_last_batches_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engage_cli.sandbox import database

    monkeypatch.setattr(database, "MAX_BATCHES", 3)
    store = SandboxStore(tmp_path / "batches.db")
    for n in range(5):
        store.record_batch(f"2026-12-04T00:00:0{n}Z", [{"index": 0, "status": "applied"}])
    kept = store.list_batches()
    assert [b["received"][-3:] for b in kept] == ["02Z", "03Z", "04Z"]

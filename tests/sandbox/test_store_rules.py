"""SandboxStore's rules at their edges: page boundaries, accounts wherever a user is answered,
merges, subscriber matching, the email rule of upserts, events, and what its errors name."""

from __future__ import annotations

from typing import Any

import pytest

from engage_cli.sandbox.store import (
    DuplicateUserError,
    EmailChangeError,
    ListArchivedError,
    Page,
    SandboxStore,
)


def _uids(page: Page) -> list[str]:
    return [user["uid"] for user in page.items]


@pytest.fixture
def ids(store: SandboxStore) -> list[str]:
    return [store.create_user(f"u{n:02d}", {})["id"] for n in range(25)]


# -- pages -----------------------------------------------------------------------------------


def test_a_page_that_ends_on_the_last_user_says_there_is_no_more(
    store: SandboxStore, ids: list[str]
) -> None:
    last = store.list_users(10, after_id=ids[14])
    assert _uids(last) == [f"u{n:02d}" for n in range(15, 25)]
    assert (last.has_more, last.next_cursor, last.previous_cursor) == (False, None, ids[15])
    everyone = store.list_users(25)
    assert (everyone.has_more, everyone.next_cursor, everyone.previous_cursor) == (
        False, None, None,
    )  # fmt: skip


def test_a_page_before_the_first_user_is_empty(store: SandboxStore, ids: list[str]) -> None:
    assert store.list_users(10, before_id=ids[0]) == Page([], False, None, None)


def test_a_page_before_a_cursor_past_the_last_user_has_nothing_after_it(
    store: SandboxStore, ids: list[str]
) -> None:
    # The cursor of a user deleted since (the last one): the page before it ends the listing.
    assert store.delete_user("u24")
    page = store.list_users(10, before_id=ids[24])
    assert _uids(page) == [f"u{n:02d}" for n in range(14, 24)]
    assert (page.has_more, page.previous_cursor, page.next_cursor) == (True, ids[14], None)
    single = store.list_users(1, before_id=ids[24])
    assert _uids(single) == ["u23"]
    assert (single.has_more, single.previous_cursor, single.next_cursor) == (True, ids[23], None)


def test_lists_page_backwards_too_and_leave_archived_ones_out(store: SandboxStore) -> None:
    made = [store.create_list({"title": f"L{n}"})["id"] for n in range(4)]
    store.update_list(made[1], {}, archive=True)
    page = store.list_lists(10, before_id=made[3])
    assert [x["id"] for x in page.items] == [made[0], made[2]]
    assert (page.has_more, page.previous_cursor, page.next_cursor) == (False, None, made[2])
    assert store.list_lists(1, before_id=made[3]) == Page(
        [store.get_list(made[2])], True, made[2], made[2]
    )


def test_both_cursors_at_once_are_refused_by_name(store: SandboxStore) -> None:
    with pytest.raises(ValueError, match=r"^after_id and before_id are exclusive$"):
        store.list_lists(10, after_id="0" * 24, before_id="f" * 24)


# -- accounts: member_count wherever a user is answered --------------------------------------


def test_an_account_is_answered_with_its_member_count_by_every_call(store: SandboxStore) -> None:
    created = store.create_user("acme", {"is_account": True})
    assert created["member_count"] == 0
    store.create_user("m1", {"accounts": [{"id": "acme"}]})
    store.upsert_user("m2", {"accounts": [{"id": "acme", "role": "dev"}]})
    store.create_user("other", {"accounts": [{"id": "elsewhere"}]})
    upserted, was_created = store.upsert_user("acme", {"first_name": "Acme"})
    assert (upserted["member_count"], was_created) == (2, False)
    archived = store.update_user("acme", {"archived": True})
    assert archived is not None and archived["member_count"] == 2
    listed = {user["uid"]: user["member_count"] for user in store.list_users(10).items}
    assert listed == {"acme": 2, "m1": None, "m2": None, "other": None}
    members = store.list_users(10, member_of="acme")
    assert _uids(members) == ["m1", "m2"]


# -- merges ----------------------------------------------------------------------------------


def test_a_merge_into_an_unknown_destination_creates_it_with_the_sources_data(
    store: SandboxStore,
) -> None:
    source = store.create_user(
        "anon", {"email": "A@b.co", "meta": {"plan": "pro"}, "lists": ["l1"]}
    )
    store.add_event("anon", "viewed", timestamp="2024-01-02T03:04:05.000+00:00")
    assert store.merge_users("anon", "known") is True
    assert store.get_user("anon") is None
    known = store.get_user("known")
    assert known is not None
    assert known["id"] != source["id"] and known["uid"] == "known"
    assert (known["email"], known["meta"]) == ("A@b.co", {"plan": "pro"})
    assert known["lists"] == [{"id": "l1", "subscribed": True}]
    assert known["last_interaction"] == "2024-01-02T03:04:05.000+00:00"
    assert [(e["uid"], e["event"]) for e in store.list_events()] == [("known", "viewed")]
    assert _uids(store.list_users(10, email="a@B.CO")) == ["known"]  # found by its email
    assert store.count_users() == 1


def test_a_merge_of_an_unknown_source_or_of_a_user_into_itself_does_nothing(
    store: SandboxStore,
) -> None:
    store.create_user("u1", {"first_name": "Ada"})
    store.add_event("u1", "x")
    assert store.merge_users("ghost", "u1") is False
    assert store.merge_users("u1", "u1") is False
    assert store.merge_users("ghost", "nobody") is False
    assert store.get_user("nobody") is None
    user = store.get_user("u1")
    assert user is not None and user["first_name"] == "Ada"
    assert [e["uid"] for e in store.list_events()] == ["u1"]


# -- subscribers -----------------------------------------------------------------------------


def test_a_subscriber_matched_by_email_keeps_its_own_number(store: SandboxStore) -> None:
    store.create_user("u1", {"email": "a@b.co", "number": "2348012345678"})
    list_id = store.create_list({"title": "News"})["id"]
    changes: Any = {"email": "A@B.co", "number": "2349099999999", "last_name": "Obi"}
    assert store.subscribe(list_id, changes) == "u1"
    user = store.get_user("u1")
    assert user is not None
    assert (user["email"], user["number"], user["last_name"]) == ("a@b.co", "2348012345678", "Obi")
    assert user["lists"] == [{"id": list_id, "subscribed": True}]
    assert store.count_users() == 1


def test_an_archived_list_refuses_subscribers_by_its_id(store: SandboxStore) -> None:
    list_id = store.create_list({"title": "Old"})["id"]
    store.update_list(list_id, {}, archive=True)
    with pytest.raises(ListArchivedError, match=f"^{list_id}$"):
        store.subscribe(list_id, {"email": "a@b.co"})
    assert store.count_users() == 0


# -- upserts and the email rule --------------------------------------------------------------


def test_an_upsert_may_change_the_email_unless_told_otherwise(store: SandboxStore) -> None:
    store.create_user("u1", {"email": "old@b.co"})
    user, created = store.upsert_user("u1", {"email": "new@b.co"})
    assert (user["email"], created) == ("new@b.co", False)
    with pytest.raises(EmailChangeError, match=r"^u1$"):
        store.upsert_user("u1", {"email": "z@b.co", "first_name": "Z"}, may_change_email=False)
    unchanged = store.get_user("u1")
    assert unchanged is not None and (unchanged["email"], unchanged["first_name"]) == (
        "new@b.co", None,
    )  # fmt: skip
    store.create_user("u2", {})
    with pytest.raises(EmailChangeError, match=r"^u2$"):  # setting a first one is a change too
        store.upsert_user("u2", {"email": "z@b.co"}, may_change_email=False)
    # The same address in another case is no change: allowed, and the stored one stays as it is.
    same, _ = store.upsert_user(
        "u1", {"email": "NEW@b.co", "first_name": "N"}, may_change_email=False
    )
    assert (same["email"], same["first_name"]) == ("new@b.co", "N")
    assert store.get_user("u1") == same
    cased, _ = store.upsert_user("u1", {"email": "NEW@b.co"})  # with the secret it may
    assert cased["email"] == "NEW@b.co"


def test_a_duplicate_create_names_the_uid(store: SandboxStore) -> None:
    store.create_user("u1", {})
    with pytest.raises(DuplicateUserError, match=r"^u1$"):
        store.create_user("u1", {})


# -- events ----------------------------------------------------------------------------------


def test_a_user_created_by_an_event_last_interacted_at_it(store: SandboxStore) -> None:
    assert store.add_event("anon", "opened", timestamp="2024-05-01T10:00:00.000+00:00")
    user = store.get_user("anon")
    assert user is not None and user["last_interaction"] == "2024-05-01T10:00:00.000+00:00"
    store.add_event("anon", "closed", timestamp="2024-05-01T11:00:00.000+00:00")
    user = store.get_user("anon")
    assert user is not None and user["last_interaction"] == "2024-05-01T11:00:00.000+00:00"


def test_events_are_counted_and_a_reset_forgets_them_with_the_lists(store: SandboxStore) -> None:
    assert store.count_events() == 0
    store.add_event("a", "x")
    store.add_event("b", "y", value=None)
    store.add_event("a", "z", value=0)
    assert store.count_events() == 3
    assert [e["value"] for e in store.list_events()] == [None, None, 0]
    list_id = store.create_list({"title": "T"})["id"]
    store.record_batch("2026-12-04T00:00:00Z", [])
    store.reset()
    assert store.count_events() == 0 and store.count_users() == 0
    assert store.get_list(list_id) is None and store.list_batches() == []

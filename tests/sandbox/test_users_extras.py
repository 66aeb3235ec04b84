"""The user calls beyond the 2021 reference, and the bodies Engage's own clients send."""

from __future__ import annotations

from typing import Any

import pytest

from engage_cli.sandbox.web import NEEDS_SECRET, USER_NOT_FOUND

from .conftest import FULL, KEY_ONLY, Caller

# -- liberal bodies ----------------------------------------------------------------------------


def test_identify_body_with_id_and_sdk_fields_is_accepted(call: Caller) -> None:
    body = {
        "id": "a6236e83-f7c1-4003-8e1a-951f6e1d5c60",
        "first_name": "Opeyemi",
        "is_account": True,
        "tz": "Africa/Lagos",
        "app_version": "1.2.0",
        "app_build": "45",
        "app_last_active": "2024-05-01T10:00:00Z",
        "source": "posthog",
        "something_new": {"nested": [1]},
        "meta": {},
    }
    answer = call("PUT", f"/v1/users/{body['id']}", body, auth=KEY_ONLY)
    assert answer.status == 200, answer.json
    user = answer.json
    assert (user["uid"], user["first_name"], user["is_account"]) == (body["id"], "Opeyemi", True)
    for ignored in ("tz", "app_version", "app_build", "app_last_active", "source", "something_new"):
        assert ignored not in user and ignored not in user["meta"]


def test_create_ignores_unknown_fields(call: Caller) -> None:
    answer = call("POST", "/v1/users", {"id": "user_123", "plan": "pro", "source": "rudder"})
    assert answer.status == 200
    assert answer.json["uid"] == "user_123" and answer.json["meta"] == {}


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("ios", "ios"),
        ("ANDROID", "android"),
        ("iOS mobile", "ios"),
        ("Android tablet", "android"),
        ("web", "web"),
    ],
)
def test_device_platforms_are_read_not_refused(call: Caller, sent: str, stored: str) -> None:
    body = {"device_token": "ExponentPushToken[x]", "device_platform": sent}
    user = call("PUT", "/v1/users/u1", body, auth=KEY_ONLY).json
    assert user["devices"] == [{"token": "ExponentPushToken[x]", "platform": stored}]


def test_lists_on_put_subscribe(call: Caller) -> None:
    call("PUT", "/v1/users/u1", {"lists": ["l1"]})
    user = call("PUT", "/v1/users/u1", {"lists": ["l1", "l2"]}).json
    assert user["lists"] == [{"id": "l1", "subscribed": True}, {"id": "l2", "subscribed": True}]


def test_the_user_object_has_the_current_fields(call: Caller) -> None:
    user = call("POST", "/v1/users", {"id": "u1"}).json
    assert user["accounts"] == [] and user["is_account"] is False
    assert user["member_count"] is None and user["archived"] is False
    assert user["last_interaction"] is None
    call("POST", "/v1/users/u1/events", {"event": "e", "timestamp": "2024-01-02T03:04:05Z"})
    call("POST", "/v1/users/u1/events", {"event": "e", "timestamp": "2023-01-01"})  # older
    assert call("GET", "/v1/users/u1").json["last_interaction"] == "2024-01-02T03:04:05.000+00:00"


# -- email with the key alone ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "sent", "status"),
    [
        (None, "a@b.co", 200),  # the PUT creates the user
        ("a@b.co", "a@b.co", 200),  # unchanged
        ("a@b.co", "A@B.co", 200),  # unchanged, in another case
        ("a@b.co", "z@b.co", 401),  # a change needs the secret
        ("", "z@b.co", 401),  # so does setting one on an existing user
    ],
)
def test_key_only_put_with_email(
    call: Caller, existing: str | None, sent: str, status: int
) -> None:
    if existing is not None:
        call("POST", "/v1/users", {"id": "u1", **({"email": existing} if existing else {})})
    answer = call("PUT", "/v1/users/u1", {"email": sent, "first_name": "X"}, auth=KEY_ONLY)
    assert answer.status == status
    if status == 401:
        assert answer.json == {"error": NEEDS_SECRET}
        assert call("GET", "/v1/users/u1").json["first_name"] is None  # nothing written
    assert call("PUT", "/v1/users/u1", {"email": "z@b.co"}, auth=FULL).status == 200


def test_key_only_put_with_the_email_in_another_case_leaves_it_as_stored(call: Caller) -> None:
    # Allowed because it changes nothing (engage-api-notes: "leaves the email unchanged"), so
    # the key alone must not re-case the address either: that change needs the secret.
    call("POST", "/v1/users", {"id": "u1", "email": "ada@example.com"})
    answer = call("PUT", "/v1/users/u1", {"email": "Ada@Example.com"}, auth=KEY_ONLY)
    assert (answer.status, answer.json["email"]) == (200, "ada@example.com")
    assert call("GET", "/v1/users/u1").json["email"] == "ada@example.com"
    answer = call("PUT", "/v1/users/u1", {"email": "Ada@Example.com"}, auth=FULL)
    assert answer.json["email"] == "Ada@Example.com"


# -- merge, convert, archive, tokens -----------------------------------------------------------


def test_merge_folds_the_source_into_the_destination(call: Caller) -> None:
    call(
        "PUT",
        "/v1/users/anon",
        {"meta": {"a": 1, "b": 1}, "lists": ["l1"], "device_token": "t1", "device_platform": "ios"},
    )
    call("POST", "/v1/users/anon/events", {"event": "viewed"})
    call("PUT", "/v1/users/known", {"email": "k@x.io", "meta": {"b": 2}})
    answer = call(
        "POST", "/v1/users/merge", {"source": "anon", "destination": "known"}, auth=KEY_ONLY
    )
    assert (answer.status, answer.json) == (200, {"status": "queued"})
    assert call("GET", "/v1/users/anon").status == 404
    known = call("GET", "/v1/users/known").json
    assert known["meta"] == {"a": 1, "b": 2}  # the destination's value wins
    assert known["lists"] == [{"id": "l1", "subscribed": True}]
    assert known["devices"] == [{"token": "t1", "platform": "ios"}]
    assert known["email"] == "k@x.io"
    assert [e["uid"] for e in call.api.store.list_events()] == ["known"]


def test_merge_of_an_unknown_source_is_queued_and_changes_nothing(call: Caller) -> None:
    answer = call("POST", "/users/merge", {"source": "ghost", "destination": "u2"})
    assert answer.json == {"status": "queued"}
    assert call("GET", "/v1/users").json["data"] == []


def test_merge_into_an_unknown_destination_creates_it(call: Caller) -> None:
    # The mobile SDKs' identify: an anonymous id merged into a uid the server has not seen yet.
    call("POST", "/v1/users/anon/events", {"event": "opened", "timestamp": "2024-05-01"})
    call("PUT", "/v1/users/anon", {"email": "a@x.io", "meta": {"plan": "free"}})
    assert call("POST", "/v1/users/merge", {"source": "anon", "destination": "new"}).status == 200
    assert call("GET", "/v1/users/anon").status == 404
    user = call("GET", "/v1/users/new").json
    assert (user["uid"], user["email"], user["meta"]) == ("new", "a@x.io", {"plan": "free"})
    assert user["last_interaction"] == "2024-05-01T00:00:00.000+00:00"
    assert [u["uid"] for u in call("GET", "/v1/users?email=A@x.io").json["data"]] == ["new"]
    assert [e["uid"] for e in call.api.store.list_events()] == ["new"]


@pytest.mark.parametrize(
    "body", [{}, {"source": "a"}, {"destination": "b"}, {"source": "", "destination": "b"}]
)
def test_merge_needs_source_and_destination(call: Caller, body: dict[str, Any]) -> None:
    assert call("POST", "/v1/users/merge", body).status == 400


def test_convert_both_ways_and_member_count(call: Caller) -> None:
    account = call("POST", "/v1/users/acme/convert", {"type": "account"}, auth=KEY_ONLY).json
    assert (account["uid"], account["is_account"], account["member_count"]) == ("acme", True, 0)
    call("POST", "/v1/users/u1/accounts", {"accounts": [{"id": "acme"}]})
    assert call("GET", "/v1/users/acme").json["member_count"] == 1
    customer = call("POST", "/v1/users/acme/convert", {"type": "customer"}).json
    assert (customer["is_account"], customer["member_count"]) == (False, None)


@pytest.mark.parametrize("body", [{}, {"type": "group"}, {"type": None}])
def test_convert_refuses_other_types(call: Caller, body: dict[str, Any]) -> None:
    answer = call("POST", "/v1/users/u1/convert", body)
    assert (answer.status, answer.json) == (400, {"error": "type must be account or customer."})


def test_archive(call: Caller) -> None:
    call("POST", "/v1/users", {"id": "u1"})
    assert call("POST", "/v1/users/u1/archive").json["archived"] is True
    assert call("GET", "/v1/users/u1").json["archived"] is True
    assert call("POST", "/v1/users/ghost/archive").json == {"error": USER_NOT_FOUND}
    assert call("POST", "/v1/users/u1/archive", auth=KEY_ONLY).status == 401


def test_token_removal(call: Caller) -> None:
    for token in ("t1", "t2"):
        call("PUT", "/v1/users/u1", {"device_token": token, "device_platform": "android"})
    user = call("DELETE", "/v1/users/u1/tokens/t1", auth=KEY_ONLY).json
    assert user["devices"] == [{"token": "t2", "platform": "android"}]
    assert call("DELETE", "/v1/users/u1/tokens/nope").json["devices"] == user["devices"]
    assert call("DELETE", "/v1/users/ghost/tokens/t1").status == 404


# -- accounts ----------------------------------------------------------------------------------


def test_accounts_add_change_role_remove(call: Caller) -> None:
    aid = "7d1a5e27-5a6b-4b38-a8bd-e59b8a1b2f41"
    call("PUT", "/v1/users/u1", {"first_name": "A"})
    added = call("POST", "/v1/users/u1/accounts", {"accounts": [{"id": aid}]}, auth=KEY_ONLY)
    assert added.json["accounts"] == [{"id": aid}]
    role = call("PUT", f"/v1/users/u1/accounts/{aid}", {"role": "owner"}, auth=KEY_ONLY)
    assert role.json["accounts"] == [{"id": aid, "role": "owner"}]
    again = call(
        "POST", "/v1/users/u1/accounts", {"accounts": [{"id": aid, "role": "Admin"}, {"id": "b2"}]}
    )
    assert again.json["accounts"] == [{"id": aid, "role": "Admin"}, {"id": "b2"}]
    removed = call("DELETE", f"/v1/users/u1/accounts/{aid}", auth=KEY_ONLY)
    assert removed.json["accounts"] == [{"id": "b2"}]
    assert call("DELETE", "/v1/users/ghost/accounts/b2").status == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"accounts": []},
        {"accounts": "a1"},
        {"accounts": [{"role": "x"}]},
        {"accounts": [{"id": "a1", "role": 3}]},
        {"accounts": ["a1"]},
    ],
)
def test_accounts_body_is_checked(call: Caller, body: dict[str, Any]) -> None:
    assert call("POST", "/v1/users/u1/accounts", body).status == 400
    assert call("GET", "/v1/users/u1").status == 404


def test_role_change_needs_a_role(call: Caller) -> None:
    assert call("PUT", "/v1/users/u1/accounts/a1", {}).status == 400
    assert call("PUT", "/v1/users/u1/accounts/a1", {"role": ""}).status == 400


def test_members_in_the_list_envelope(call: Caller) -> None:
    call("POST", "/v1/users/acme/convert", {"type": "account"})
    for n in range(3):
        call("POST", f"/v1/users/m{n}/accounts", {"accounts": [{"id": "acme", "role": "dev"}]})
    call("POST", "/v1/users/other/accounts", {"accounts": [{"id": "elsewhere"}]})
    page = call("GET", "/v1/users/acme/members?limit=2").json
    assert [u["uid"] for u in page["data"]] == ["m0", "m1"]
    assert page["has_more"] is True and page["next_cursor"] == page["data"][-1]["id"]
    rest = call("GET", f"/v1/users/acme/members?next_cursor={page['next_cursor']}").json
    assert [u["uid"] for u in rest["data"]] == ["m2"]
    assert call("GET", "/v1/users/ghost/members").status == 404
    assert call("GET", "/v1/users/acme/members", auth=KEY_ONLY).status == 401


# -- the list filters --------------------------------------------------------------------------


def test_list_users_by_lists_and_email(call: Caller) -> None:
    call("PUT", "/v1/users/a", {"lists": ["l1"], "email": "a@x.io"})
    call("PUT", "/v1/users/b", {"lists": ["l1", "l2"]})
    call("PUT", "/v1/users/c", {"lists": ["l2"]})

    def uids(query: str) -> list[str]:
        return [u["uid"] for u in call("GET", f"/v1/users?{query}").json["data"]]

    assert uids("lists[]=l1") == ["a", "b"]
    assert uids("lists%5B%5D=l2") == ["b", "c"]
    assert uids("lists[]=l1&lists[]=l2") == ["b"]  # in every list named
    assert uids("lists[]=none") == []
    assert uids("email=A@X.io") == ["a"]
    assert uids("email=a@x.io&lists[]=l2") == []

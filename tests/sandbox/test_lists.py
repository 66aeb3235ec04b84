"""The Lists resource, its subscribers, and a user's own list membership."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engage_cli.sandbox.web import LIST_NOT_FOUND, NEEDS_SECRET

from .conftest import KEY_ONLY, Caller

LIST_KEYS = [
    "id",
    "title",
    "description",
    "subscriber_count",
    "broadcast_count",
    "double_optin",
    "redirect_url",
    "archived",
    "created_at",
]


def new_list(call: Caller, **fields: Any) -> dict[str, Any]:
    answer = call("POST", "/v1/lists", {"title": "Weekly", **fields})
    assert answer.status == 200, answer.json
    created: dict[str, Any] = answer.json
    return created


def test_create_answers_the_list_object(call: Caller) -> None:
    created = new_list(
        call, description="News", double_optin=True, redirect_url="https://example.com/thanks"
    )
    assert list(created) == LIST_KEYS
    assert re.fullmatch(r"[0-9a-f]{24}", created["id"])
    assert (created["title"], created["description"]) == ("Weekly", "News")
    assert (created["subscriber_count"], created["broadcast_count"]) == (0, 0)
    assert created["double_optin"] is True and created["archived"] is False
    assert call("GET", f"/v1/lists/{created['id']}", auth=KEY_ONLY).json == created


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "title is required."),
        ({"title": ""}, "title must be a non-empty string."),
        ({"title": "x" * 65}, "title must be at most 64 characters."),
        ({"title": "t", "description": "d" * 256}, "description must be at most 255 characters."),
        ({"title": "t", "redirect_url": "nope"}, "redirect_url must be a valid URL."),
        ({"title": "t", "double_optin": "yes"}, "double_optin must be true or false."),
    ],
)
def test_create_refusals(call: Caller, body: dict[str, Any], message: str) -> None:
    answer = call("POST", "/v1/lists", body)
    assert (answer.status, answer.json) == (400, {"error": message})


def test_update_archive_and_listing(call: Caller) -> None:
    first, second, third = (new_list(call, title=f"L{n}") for n in range(3))
    updated = call(
        "PUT", f"/v1/lists/{first['id']}", {"title": "Renamed", "description": None}, auth=KEY_ONLY
    )
    assert (updated.json["title"], updated.json["description"]) == ("Renamed", None)
    assert call("DELETE", f"/v1/lists/{second['id']}").json == {"status": "ok"}
    page = call("GET", "/v1/lists?limit=1", auth=KEY_ONLY).json
    assert [x["title"] for x in page["data"]] == ["Renamed"] and page["has_more"] is True
    rest = call("GET", f"/v1/lists?next_cursor={page['next_cursor']}").json
    assert [x["id"] for x in rest["data"]] == [third["id"]]  # archived ones drop out
    archived = call("GET", f"/v1/lists/{second['id']}").json  # but stay readable by id
    assert archived["archived"] is True
    back = call("GET", f"/v1/lists?previous_cursor={third['id']}&limit=1").json
    assert [x["id"] for x in back["data"]] == [first["id"]]  # the archived one is skipped
    assert (back["has_more"], back["previous_cursor"], back["next_cursor"]) == (
        False, None, first["id"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PUT", "", {"title": "x"}),
        ("DELETE", "", None),
        ("POST", "/subscribers", {"email": "a@b.co"}),
        ("PUT", "/subscribers/u1", {"subscribed": True}),
        ("DELETE", "/subscribers/u1", None),
    ],
)
def test_unknown_list_is_404(call: Caller, method: str, suffix: str, body: Any) -> None:
    call("POST", "/v1/users", {"id": "u1"})
    answer = call(method, f"/v1/lists/{'0' * 24}{suffix}", body)
    assert (answer.status, answer.json) == (404, {"error": LIST_NOT_FOUND})


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/lists", {"title": "x"}),
        ("DELETE", "/v1/lists/{id}", None),
        ("POST", "/v1/lists/{id}/subscribers", {"email": "a@b.co"}),
        ("PUT", "/v1/lists/{id}/subscribers/u1", {"subscribed": False}),
        ("DELETE", "/v1/lists/{id}/subscribers/u1", None),
        ("POST", "/v1/users/u1/lists", {"lists": ["{id}"]}),
        ("DELETE", "/v1/users/u1/lists", {"lists": ["{id}"]}),
    ],
)
def test_writes_need_the_secret(call: Caller, method: str, path: str, body: Any) -> None:
    list_id = new_list(call)["id"]
    call("POST", "/v1/users", {"id": "u1"})
    if body is not None and "lists" in body:
        body = {"lists": [list_id]}
    answer = call(method, path.replace("{id}", list_id), body, auth=KEY_ONLY)
    assert (answer.status, answer.json) == (401, {"error": NEEDS_SECRET})


def test_subscribe_matches_email_then_number_else_creates(call: Caller) -> None:
    list_id = new_list(call)["id"]
    call("POST", "/v1/users", {"id": "byemail", "email": "a@b.co"})
    call("POST", "/v1/users", {"id": "bynumber", "number": "2348012345678"})
    path = f"/v1/lists/{list_id}/subscribers"
    assert call("POST", path, {"email": "A@b.co", "first_name": "Ann"}).json == {"uid": "byemail"}
    assert call("POST", path, {"number": "2348012345678"}).json == {"uid": "bynumber"}
    created = call("POST", path, {"email": "new@b.co", "meta": {"src": "form"}}).json["uid"]
    assert re.fullmatch(r"[0-9a-f]{24}", created)
    user = call("GET", f"/v1/users/{created}").json
    assert user["id"] == created and user["email"] == "new@b.co"
    assert user["lists"] == [{"id": list_id, "subscribed": True}]
    assert call("GET", "/v1/users/byemail").json["first_name"] == "Ann"
    assert call("GET", f"/v1/lists/{list_id}").json["subscriber_count"] == 3
    assert call("POST", path, {"first_name": "nobody"}).json == {
        "error": "email or number is required."
    }


def test_subscriber_status_and_removal(call: Caller) -> None:
    list_id = new_list(call)["id"]
    call("PUT", "/v1/users/u1", {"lists": [list_id]})
    path = f"/v1/lists/{list_id}/subscribers/u1"
    assert call("PUT", path, {"subscribed": False}).json == {"subscribed": False}
    assert call("GET", "/v1/users/u1").json["lists"] == [{"id": list_id, "subscribed": False}]
    assert call("PUT", path, {"subscribed": True}).json == {"subscribed": True}
    assert call("PUT", path, {}).status == 400
    assert call("PUT", path, {"subscribed": "no"}).status == 400
    assert call("DELETE", path).json == {"status": "ok"}
    assert call("GET", "/v1/users/u1").json["lists"] == []
    assert call("DELETE", f"/v1/lists/{list_id}/subscribers/ghost").status == 404


def test_archived_list_refuses_new_subscribers(call: Caller) -> None:
    list_id = new_list(call)["id"]
    call("PUT", "/v1/users/u1", {"first_name": "A"})
    call("DELETE", f"/v1/lists/{list_id}")
    refused = [
        call("POST", f"/v1/lists/{list_id}/subscribers", {"email": "a@b.co"}),
        call("PUT", f"/v1/lists/{list_id}/subscribers/u1", {"subscribed": True}),
        call("POST", "/v1/users/u1/lists", {"lists": [list_id]}),
    ]
    assert {(a.status, a.json["error"][:23]) for a in refused} == {(400, "This list is archived: ")}


def test_user_lists_add_and_remove_with_a_body_on_delete(call: Caller) -> None:
    call("POST", "/v1/users", {"id": "u1"})
    user = call("POST", "/v1/users/u1/lists", {"lists": ["a", "b"]}).json
    assert user["lists"] == [{"id": "a", "subscribed": True}, {"id": "b", "subscribed": True}]
    user = call("DELETE", "/v1/users/u1/lists", {"lists": ["a"]}).json
    assert user["lists"] == [{"id": "b", "subscribed": True}]
    assert call("POST", "/v1/users/ghost/lists", {"lists": ["a"]}).status == 404
    for body in ({}, {"lists": []}, {"lists": "a"}):
        assert call("POST", "/v1/users/u1/lists", body).status == 400


def test_reset_clears_lists(call: Caller) -> None:
    new_list(call)
    call.api.store.reset()
    assert call("GET", "/v1/lists").json["data"] == []

"""SandboxAPI.handle: each behaviour the notes fix, request by request, with no network."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest

from engage_cli.sandbox.api import (
    DEFAULT_KEY,
    DEFAULT_SECRET,
    DUPLICATE_USER,
    LIMIT_RANGE,
    NEEDS_SECRET,
    USER_NOT_FOUND,
    WRONG_CREDENTIALS,
    SandboxAPI,
    default_db_path,
    parse_timestamp,
)
from engage_cli.sandbox.store import SandboxStore
from tests.sandbox.test_store import USER_KEYS

from .conftest import FULL, KEY_ONLY, Caller, basic

REFERENCE_USER = {
    "id": "u144",
    "first_name": "Akinyele",
    "last_name": "Jinadu",
    "email": "akinyele@example.com",
    "meta": {"plan": "pro", "age": 34},
    "created_at": "2021-01-12T05:24:39.062+00:00",
}


# -- the user object ---------------------------------------------------------------------------


def test_create_returns_the_reference_user_object(call: Caller) -> None:
    answer = call("POST", "/v1/users", REFERENCE_USER)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    user = answer.json
    assert list(user) == USER_KEYS
    assert re.fullmatch(r"[0-9a-f]{24}", user["id"])
    assert user["uid"] == "u144"
    assert user["number"] is None
    assert (user["devices"], user["lists"], user["segments"]) == ([], [], [])
    assert user["meta"] == {"plan": "pro", "age": 34}
    assert user["created_at"] == "2021-01-12T05:24:39.062+00:00"
    assert call("GET", "/v1/users/u144").json == user


def test_created_at_defaults_to_now(call: Caller) -> None:
    before = time.time()
    user = call("POST", "/v1/users", {"id": "u1"}).json
    stamp = parse_timestamp(user["created_at"]).timestamp()
    assert before - 1 <= stamp <= time.time() + 1
    assert user["created_at"].endswith("+00:00")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({"number": "2348012345678"}, {"number": "2348012345678"}),
        ({"number": 2348012345678}, {"number": "2348012345678"}),  # returned as a string
        ({"created_at": "2020-05-30T09:30:10Z"}, {"created_at": "2020-05-30T09:30:10.000+00:00"}),
        (
            {"created_at": "2020-05-30T10:30:10.5+01:00"},
            {"created_at": "2020-05-30T09:30:10.500+00:00"},
        ),
        ({"created_at": "2020-05-30"}, {"created_at": "2020-05-30T00:00:00.000+00:00"}),
        ({"created_at": "2020-05-30T09:30"}, {"created_at": "2020-05-30T09:30:00.000+00:00"}),
        (
            {"lists": ["news", "beta"]},
            {"lists": [{"id": "news", "subscribed": True}, {"id": "beta", "subscribed": True}]},
        ),
        (
            {"meta": {"vip": True, "n": 1, "x": 1.5, "s": ""}},
            {"meta": {"vip": True, "n": 1, "x": 1.5, "s": ""}},
        ),
        (
            {"device_token": "tok", "device_platform": "IOS"},
            {"devices": [{"token": "tok", "platform": "ios"}]},
        ),
        ({"first_name": "", "last_name": "Lovelace"}, {"first_name": "", "last_name": "Lovelace"}),
    ],
)
def test_create_normalises_fields(
    call: Caller, given: dict[str, Any], stored: dict[str, Any]
) -> None:
    user = call("POST", "/v1/users", {"id": "u1", **given}).json
    assert {key: user[key] for key in stored} == stored


def test_meta_booleans_stay_booleans(call: Caller) -> None:
    raw = call("POST", "/v1/users", {"id": "u1", "meta": {"a": True, "b": 1}}).raw
    assert b'"a":true' in raw and b'"b":1' in raw


# -- validation --------------------------------------------------------------------------------

CREATE_REFUSALS = [
    ({}, "id is required."),
    ({"id": ""}, "id must contain only letters, digits and _ - . @ +."),
    ({"id": "a b"}, "id must contain only letters, digits and _ - . @ +."),
    ({"id": "a/b"}, "id must contain only letters, digits and _ - . @ +."),
    ({"id": "u1\n"}, "id must contain only letters, digits and _ - . @ +."),
    ({"id": "é1"}, "id must contain only letters, digits and _ - . @ +."),
    ({"id": 144}, "id must contain only letters, digits and _ - . @ +."),
    ({"id": "u1", "first_name": 3}, "first_name must be a string."),
    ({"id": "u1", "last_name": None}, "last_name must be a string."),
    ({"id": "u1", "number": "+2348012345678"}, "number must contain digits only"),
    ({"id": "u1", "number": "234 801"}, "number must contain digits only"),
    ({"id": "u1", "number": ""}, "number must contain digits only"),
    ({"id": "u1", "number": 1.5}, "number must contain digits only"),
    ({"id": "u1", "number": True}, "number must contain digits only"),
    ({"id": "u1", "number": -5}, "number must contain digits only"),
    ({"id": "u1", "email": "nobody"}, "email must be a valid email address."),
    ({"id": "u1", "email": "a@"}, "email must be a valid email address."),
    ({"id": "u1", "email": "a b@c"}, "email must be a valid email address."),
    ({"id": "u1", "email": None}, "email must be a valid email address."),
    ({"id": "u1", "created_at": "yesterday"}, "created_at must be a valid ISO 8601 date."),
    ({"id": "u1", "created_at": "2021-02-30"}, "created_at must be a valid ISO 8601 date."),
    ({"id": "u1", "created_at": "2021-01-12T25:00"}, "created_at must be a valid ISO 8601 date."),
    (
        {"id": "u1", "created_at": "2021-01-12T05:24:39+25:00"},
        "created_at must be a valid ISO 8601 date.",
    ),
    ({"id": "u1", "created_at": 1610429079}, "created_at must be a valid ISO 8601 date."),
    ({"id": "u1", "meta": []}, "meta must be an object."),
    ({"id": "u1", "meta": {"a": None}}, "meta.a must be a string, number or boolean."),
    ({"id": "u1", "meta": {"a": [1]}}, "meta.a must be a string, number or boolean."),
    ({"id": "u1", "meta": {"a": {"b": 1}}}, "meta.a must be a string, number or boolean."),
    ({"id": "u1", "lists": "news"}, "lists must be an array of list ids (strings)."),
    ({"id": "u1", "lists": [1]}, "lists must be an array of list ids (strings)."),
    ({"id": "u1", "device_token": "t"}, "device_platform must be android or ios."),
    ({"id": "u1", "device_platform": "ios"}, "device_token must be a non-empty string"),
]


@pytest.mark.parametrize(("body", "message"), CREATE_REFUSALS)
def test_create_refuses_invalid_fields(call: Caller, body: dict[str, Any], message: str) -> None:
    answer = call("POST", "/v1/users", body)
    assert answer.status == 400
    assert answer.json["error"].startswith(message)
    assert call("GET", "/v1/users").json["data"] == []  # nothing was written


UPDATE_REFUSALS = [
    ({"meta": {"a": None}}, "meta.a must be a string, number or boolean."),
    ({"number": "+1"}, "number must contain digits only"),
    ({"created_at": "2021-13-01"}, "created_at must be a valid ISO 8601 date."),
    ({"id": "other"}, "id in the body must be the uid in the path."),
    ({"is_account": "yes"}, "is_account must be true or false."),
]


@pytest.mark.parametrize(("body", "message"), UPDATE_REFUSALS)
def test_update_refuses_invalid_fields(call: Caller, body: dict[str, Any], message: str) -> None:
    answer = call("PUT", "/v1/users/u1", body)
    assert answer.status == 400
    assert answer.json["error"].startswith(message)
    assert call("GET", "/v1/users/u1").status == 404  # the upsert did not create the user


EVENT_REFUSALS = [
    ({}, "event is required."),
    ({"event": ""}, "event must be a non-empty string."),
    ({"event": "   "}, "event must be a non-empty string."),
    ({"event": 5}, "event must be a non-empty string."),
    ({"event": "Paid", "value": None}, "value must be a string, number or boolean."),
    ({"event": "Paid", "value": [1]}, "value must be a string, number or boolean."),
    ({"event": "Paid", "value": {"a": 1}}, "value must be a string, number or boolean."),
    ({"event": "Paid", "properties": [1]}, "properties must be an object."),
    (
        {"event": "Paid", "properties": {"p": None}},
        "properties.p must be a string, number or boolean.",
    ),
    (
        {"event": "Paid", "properties": {"p": []}},
        "properties.p must be a string, number or boolean.",
    ),
    ({"event": "Paid", "timestamp": "soon"}, "timestamp must be a valid ISO 8601 date."),
    ({"event": "Paid", "timestamp": 1590830000}, "timestamp must be a valid ISO 8601 date."),
]


@pytest.mark.parametrize(("body", "message"), EVENT_REFUSALS)
def test_event_refuses_invalid_fields(call: Caller, body: dict[str, Any], message: str) -> None:
    answer = call("POST", "/v1/users/u1/events", body, auth=KEY_ONLY)
    assert answer.status == 400
    assert answer.json["error"] == message
    assert call("GET", "/v1/users/u1").status == 404  # no user was created either


MALFORMED_BODIES = [
    (b"", "Request body must be valid JSON."),
    (b"{", "Request body must be valid JSON."),
    (b"{'id': 'u1'}", "Request body must be valid JSON."),
    (b"\xff\xfe", "Request body must be valid JSON."),
    (b'{"id": "u1", "meta": {"x": NaN}}', "Request body must be valid JSON."),
    (b'{"id": "u1", "meta": {"x": Infinity}}', "Request body must be valid JSON."),
    (b'{"id": "u1", "meta": {"x": 1e999}}', "Request body must be valid JSON."),
    (b"[" * 100_000 + b"]" * 100_000, "Request body must be valid JSON."),
    (b"[]", "Request body must be a JSON object."),
    (b"null", "Request body must be a JSON object."),
    (b'"u1"', "Request body must be a JSON object."),
    (b"42", "Request body must be a JSON object."),
]


@pytest.mark.parametrize(("raw", "message"), MALFORMED_BODIES)
@pytest.mark.parametrize(
    ("method", "target"),
    [("POST", "/v1/users"), ("PUT", "/v1/users/u1"), ("POST", "/v1/users/u1/events")],
)
def test_malformed_bodies_are_400_never_500(
    call: Caller, method: str, target: str, raw: bytes, message: str
) -> None:
    answer = call(method, target, raw=raw)
    assert (answer.status, answer.json) == (400, {"error": message})


def test_duplicate_id_is_refused(call: Caller) -> None:
    first = call("POST", "/v1/users", {"id": "u1", "first_name": "Ada"}).json
    answer = call("POST", "/v1/users", {"id": "u1", "first_name": "Bob"})
    assert (answer.status, answer.json) == (400, {"error": DUPLICATE_USER})
    assert call("GET", "/v1/users/u1").json == first


# -- authentication ----------------------------------------------------------------------------

WRONG = basic("nope", DEFAULT_SECRET)
BAD_SECRET = basic(DEFAULT_KEY, "nope")

# (method, target, body, auth, status, error) — None error: the call succeeds.
AUTH_CASES: list[tuple[str, str, Any, str | None, int, str | None]] = [
    ("POST", "/v1/users", {"id": "n1"}, KEY_ONLY, 200, None),
    ("POST", "/v1/users", {"id": "n1", "email": "a@b.co"}, KEY_ONLY, 200, None),
    ("POST", "/v1/users", {"id": "n1"}, FULL, 200, None),
    ("POST", "/v1/users", {"id": "n1"}, None, 401, WRONG_CREDENTIALS),
    ("POST", "/v1/users", {"id": "n1"}, WRONG, 401, WRONG_CREDENTIALS),
    ("POST", "/v1/users", {"id": "n1"}, BAD_SECRET, 401, WRONG_CREDENTIALS),
    ("POST", "/v1/users", {"id": "n1"}, "Bearer sandbox-key", 401, WRONG_CREDENTIALS),
    ("POST", "/v1/users", {"id": "n1"}, "Basic !!!notbase64", 401, WRONG_CREDENTIALS),
    ("PUT", "/v1/users/known", {"first_name": "A"}, KEY_ONLY, 200, None),
    ("PUT", "/v1/users/known", {"email": "a@b.co"}, KEY_ONLY, 401, NEEDS_SECRET),
    ("PUT", "/v1/users/known", {"email": "a@b.co"}, FULL, 200, None),
    ("PUT", "/v1/users/known", {"first_name": "A"}, WRONG, 401, WRONG_CREDENTIALS),
    ("POST", "/v1/users/known/events", {"event": "x"}, KEY_ONLY, 200, None),
    ("POST", "/v1/users/known/events", {"event": "x"}, None, 401, WRONG_CREDENTIALS),
    ("GET", "/v1/users/known", None, FULL, 200, None),
    ("GET", "/v1/users/known", None, KEY_ONLY, 401, NEEDS_SECRET),
    ("GET", "/v1/users/known", None, None, 401, WRONG_CREDENTIALS),
    ("GET", "/v1/users", None, FULL, 200, None),
    ("GET", "/v1/users", None, KEY_ONLY, 401, NEEDS_SECRET),
    ("GET", "/v1/users", None, BAD_SECRET, 401, WRONG_CREDENTIALS),
    ("DELETE", "/v1/users/known", None, KEY_ONLY, 401, NEEDS_SECRET),
    ("DELETE", "/v1/users/known", None, FULL, 200, None),
]


@pytest.mark.parametrize(("method", "target", "body", "auth", "status", "error"), AUTH_CASES)
def test_auth_rules(
    call: Caller,
    method: str,
    target: str,
    body: Any,
    auth: str | None,
    status: int,
    error: str | None,
) -> None:
    call("POST", "/v1/users", {"id": "known"})
    answer = call(method, target, body, auth=auth)
    assert answer.status == status
    if error is not None:
        assert answer.json == {"error": error}
    if status == 401:
        assert call("GET", "/v1/users").json["data"][0]["uid"] == "known"
        assert len(call("GET", "/v1/users").json["data"]) == 1  # nothing was written
        assert call("GET", "/v1/users/known").json["email"] is None


def test_header_names_are_case_insensitive(api: SandboxAPI) -> None:
    status, _, _ = api.handle("GET", "/v1/users", {"AUTHORIZATION": FULL}, b"")
    assert status == 200


# -- update and upsert -------------------------------------------------------------------------


def test_update_creates_the_user_when_unknown(call: Caller) -> None:
    answer = call("PUT", "/v1/users/new1", {"first_name": "Ada"}, auth=KEY_ONLY)
    assert answer.status == 200
    assert (answer.json["uid"], answer.json["first_name"]) == ("new1", "Ada")
    assert call("GET", "/v1/users/new1").json == answer.json


def test_update_changes_only_the_given_fields_and_merges_meta(call: Caller) -> None:
    created = call("POST", "/v1/users", REFERENCE_USER).json
    updated = call(
        "PUT", "/v1/users/u144", {"meta": {"plan": "custom", "coverage": 20}}, auth=KEY_ONLY
    ).json
    assert updated["meta"] == {"plan": "custom", "age": 34, "coverage": 20}
    for field in ("id", "first_name", "last_name", "email", "created_at"):
        assert updated[field] == created[field]


def test_update_with_an_empty_object_changes_nothing(call: Caller) -> None:
    created = call("POST", "/v1/users", REFERENCE_USER).json
    assert call("PUT", "/v1/users/u144", {}).json == created


def test_percent_encoded_uids_are_decoded(call: Caller) -> None:
    for target, uid in [
        ("/v1/users/ada%40example.com", "ada@example.com"),
        ("/v1/users/a%2Fb", "a/b"),
        ("/v1/users/caf%C3%A9-1", "café-1"),
        ("/v1/users/with%20space", "with space"),
    ]:
        assert call("PUT", target, {"first_name": "X"}).json["uid"] == uid
        assert call("GET", target).json["uid"] == uid
        assert call("POST", target + "/events", {"event": "e"}).status == 200
        assert call("DELETE", target).json == {"status": "ok"}


def test_invalid_percent_encoding_is_400(call: Caller) -> None:
    assert call("GET", "/v1/users/%ff").status == 400


# -- get and delete ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_user_is_404(call: Caller, method: str) -> None:
    answer = call(method, "/v1/users/ghost")
    assert (answer.status, answer.json) == (404, {"error": USER_NOT_FOUND})


def test_delete(call: Caller) -> None:
    call("POST", "/v1/users", {"id": "u1"})
    assert call("DELETE", "/v1/users/u1").json == {"status": "ok"}
    assert call("GET", "/v1/users/u1").status == 404


# -- events ------------------------------------------------------------------------------------


def test_events_are_recorded_and_create_unknown_users(call: Caller, store: SandboxStore) -> None:
    body = {
        "event": "Add to cart",
        "timestamp": "2020-05-30T09:30:10Z",
        "properties": {"product": "T123", "currency": "USD", "amount": 12.99},
    }
    answer = call("POST", "/v1/users/anon1/events", body, auth=KEY_ONLY)
    assert (answer.status, answer.json) == (200, {"status": "ok"})
    assert call("POST", "/v1/users/anon1/events", {"event": "Paid", "value": 49.99}).status == 200
    assert call("POST", "/v1/users/anon1/events", {"event": "Flag", "value": False}).status == 200
    user = call("GET", "/v1/users/anon1").json
    assert user["uid"] == "anon1" and user["meta"] == {}
    first, second, third = store.list_events("anon1")
    assert first == {
        "uid": "anon1",
        "event": "Add to cart",
        "value": None,
        "properties": {"product": "T123", "currency": "USD", "amount": 12.99},
        "timestamp": "2020-05-30T09:30:10.000+00:00",
    }
    assert (second["value"], second["properties"]) == (49.99, {})
    assert parse_timestamp(second["timestamp"]).timestamp() == pytest.approx(time.time(), abs=5)
    assert third["value"] is False


# -- pagination --------------------------------------------------------------------------------


@pytest.fixture
def ids(call: Caller) -> list[str]:
    return [call("POST", "/v1/users", {"id": f"u{n:02d}"}).json["id"] for n in range(25)]


def _page(call: Caller, query: str) -> tuple[list[str], bool, str | None, str | None]:
    answer = call("GET", "/v1/users" + query)
    assert answer.status == 200, answer.json
    body = answer.json
    assert list(body) == ["data", "has_more", "next_cursor", "previous_cursor"]
    uids = [user["uid"] for user in body["data"]]
    return uids, body["has_more"], body["next_cursor"], body["previous_cursor"]


def _uids(first: int, stop: int) -> list[str]:
    return [f"u{n:02d}" for n in range(first, stop)]


# (query built from the ids, expected uids, has_more, next_cursor index, previous_cursor index)
PAGES: list[tuple[str, tuple[int, int], bool, int | None, int | None]] = [
    ("", (0, 10), True, 9, None),
    ("?limit=30", (0, 25), False, None, None),
    ("?limit=1", (0, 1), True, 0, None),
    ("?after_id={9}", (10, 20), True, 19, 10),
    ("?after_id={19}", (20, 25), False, None, 20),
    ("?after_id={24}", (0, 0), False, None, None),
    ("?next_cursor={9}", (10, 20), True, 19, 10),
    ("?before_id={20}", (10, 20), True, 19, 10),
    ("?before_id={10}", (0, 10), False, 9, None),
    ("?before_id={5}&limit=10", (0, 5), False, 4, None),
    ("?before_id={0}", (0, 0), False, None, None),
    ("?previous_cursor={20}", (10, 20), True, 19, 10),
    ("?after_id={3}&limit=2", (4, 6), True, 5, 4),
    ("?before_id={3}&limit=2", (1, 3), True, 2, 1),
    ("?after_id=&limit=2", (0, 2), True, 1, None),
]


@pytest.mark.parametrize(("query", "span", "has_more", "next_at", "previous_at"), PAGES)
def test_list_pages(
    call: Caller,
    ids: list[str],
    query: str,
    span: tuple[int, int],
    has_more: bool,
    next_at: int | None,
    previous_at: int | None,
) -> None:
    uids, more, next_cursor, previous_cursor = _page(call, query.format(*ids))
    assert uids == _uids(*span)
    assert more is has_more
    assert next_cursor == (None if next_at is None else ids[next_at])
    assert previous_cursor == (None if previous_at is None else ids[previous_at])


def test_walking_forward_by_has_more_and_back_by_previous_cursor(
    call: Caller, ids: list[str]
) -> None:
    seen: list[str] = []
    query = "?limit=7"
    while True:
        body = call("GET", "/v1/users" + query).json
        seen += [user["id"] for user in body["data"]]
        if not body["has_more"]:
            break
        query = f"?limit=7&after_id={body['data'][-1]['id']}"
    assert seen == ids
    back: list[str] = []
    query = "?limit=7&before_id=ffffffffffffffffffffffff"
    while True:
        body = call("GET", "/v1/users" + query).json
        back = [user["id"] for user in body["data"]] + back
        if body["previous_cursor"] is None:
            break
        query = f"?limit=7&previous_cursor={body['previous_cursor']}"
    assert back == ids


def test_cursors_are_case_insensitive(call: Caller, ids: list[str]) -> None:
    assert _page(call, f"?after_id={ids[9].upper()}")[0] == _uids(10, 20)


LIST_REFUSALS = [
    ("?limit=0", LIMIT_RANGE),
    ("?limit=31", LIMIT_RANGE),
    ("?limit=-1", LIMIT_RANGE),
    ("?limit=abc", LIMIT_RANGE),
    ("?limit=", LIMIT_RANGE),
    ("?limit=1.5", LIMIT_RANGE),
    ("?limit=99999999999999999999", LIMIT_RANGE),
    (f"?after_id={'0' * 24}&before_id={'f' * 24}", "Use only one of after_id and before_id."),
    (f"?next_cursor={'0' * 24}&before_id={'f' * 24}", "Use only one of before_id and next_cursor."),
    ("?after_id=xyz", "after_id must be a user id (24 hex digits)."),
    ("?before_id=u01", "before_id must be a user id (24 hex digits)."),
    ("?next_cursor=" + "g" * 24, "next_cursor must be a user id (24 hex digits)."),
]


@pytest.mark.parametrize(("query", "message"), LIST_REFUSALS)
def test_list_refusals(call: Caller, query: str, message: str) -> None:
    answer = call("GET", "/v1/users" + query)
    assert (answer.status, answer.json) == (400, {"error": message})


def test_list_filters_by_email(call: Caller) -> None:
    call("POST", "/v1/users", {"id": "a", "email": "ada@example.com"})
    call("POST", "/v1/users", {"id": "b", "email": "bob@example.com"})
    uids, more, _, _ = _page(call, "?email=ADA%40example.com")
    assert (uids, more) == (["a"], False)


# -- routing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/v1",
        "/v2/users",
        "/v1/v1/users",
        "users",
        "/v1/user",
        "/v1/users/u1/other",
        "/v1/users/u1/events/x",
    ],
)
def test_unknown_paths_are_404(call: Caller, target: str) -> None:
    answer = call("GET", target)
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert "error" in answer.json


@pytest.mark.parametrize(
    ("method", "target", "allow"),
    [
        ("DELETE", "/v1/users", "GET, POST"),
        ("PATCH", "/v1/users/u1", "DELETE, GET, PUT"),
        ("POST", "/v1/users/u1", "DELETE, GET, PUT"),
        ("GET", "/v1/users/u1/events", "POST"),
        ("HEAD", "/v1/users", "GET, POST"),
    ],
)
def test_wrong_methods_are_405_with_allow(
    call: Caller, method: str, target: str, allow: str
) -> None:
    answer = call(method, target)
    assert (answer.status, answer.headers["Allow"]) == (405, allow)
    assert "error" in answer.json


def test_trailing_slash_on_the_collection(call: Caller) -> None:
    assert call("GET", "/v1/users/?limit=2").status == 200


def test_every_answer_is_json(call: Caller) -> None:
    for method, target, body in [
        ("GET", "/v1/users", None),
        ("GET", "/nowhere", None),
        ("POST", "/v1/users", {"bad": 1}),
        ("DELETE", "/v1/users", None),
        ("GET", "/v1/users/ghost", None),
    ]:
        answer = call(method, target, body)
        assert answer.headers["Content-Type"] == "application/json"
        json.loads(answer.raw)


def test_an_internal_failure_is_a_json_500(call: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(uid: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(call.api.store, "get_user", explode)
    answer = call("GET", "/v1/users/u1")
    assert (answer.status, answer.json) == (500, {"error": "Internal sandbox error."})


def test_a_closed_store_answers_503(call: Caller, store: SandboxStore) -> None:
    store.close()
    assert call("GET", "/v1/users/u1").status == 503


# -- faults ------------------------------------------------------------------------------------


def test_fail_rate_answers_503_before_acting(store: SandboxStore) -> None:
    call = Caller(SandboxAPI(store, fail_rate=0.5, rng=random.Random(7)))
    replay = random.Random(7)
    expected_failures = [replay.random() < 0.5 for _ in range(40)]
    statuses = [call("POST", "/v1/users", {"id": f"u{n}"}).status for n in range(40)]
    assert statuses == [503 if failed else 200 for failed in expected_failures]
    assert 5 < statuses.count(503) < 35
    failed_uids = {f"u{n}" for n, status in enumerate(statuses) if status == 503}
    stored = {store.get_user(f"u{n}") is not None for n in range(40) if f"u{n}" in failed_uids}
    assert stored == {False}
    assert store.count_users() == statuses.count(200)


def test_fail_rate_one_fails_everything_with_a_json_error(store: SandboxStore) -> None:
    call = Caller(SandboxAPI(store, fail_rate=1.0))
    answer = call("POST", "/v1/users/u1/events", {"event": "x"})
    assert answer.status == 503 and "error" in answer.json
    assert store.list_events() == []


def test_rate_limit_per_second_window(store: SandboxStore) -> None:
    now = [100.25]
    call = Caller(SandboxAPI(store, rate_limit=3, clock=lambda: now[0]))
    statuses = [call("GET", "/v1/users").status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = call("POST", "/v1/users", {"id": "late"})
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "error" in limited.json
    assert store.get_user("late") is None  # refused before acting
    now[0] = 101.0  # the next window
    assert [call("GET", "/v1/users").status for _ in range(4)] == [200, 200, 200, 429]


def test_latency_delays_answers(store: SandboxStore) -> None:
    call = Caller(SandboxAPI(store, latency_ms=60))
    started = time.perf_counter()
    call("GET", "/v1/users")
    assert time.perf_counter() - started >= 0.055


@pytest.mark.parametrize(
    "options",
    [
        {"fail_rate": -0.1},
        {"fail_rate": 1.5},
        {"latency_ms": -1},
        {"rate_limit": 0},
        {"key": ""},
        {"secret": ""},
    ],
)
def test_fault_options_are_checked(store: SandboxStore, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SandboxAPI(store, **options)


def test_custom_credentials(store: SandboxStore) -> None:
    call = Caller(SandboxAPI(store, key="k1", secret="s1"))
    assert call("GET", "/v1/users", auth=basic("k1", "s1")).status == 200
    assert call("GET", "/v1/users", auth=FULL).json == {"error": WRONG_CREDENTIALS}


# -- defaults ----------------------------------------------------------------------------------


def test_default_credentials() -> None:
    assert (DEFAULT_KEY, DEFAULT_SECRET) == ("sandbox-key", "sandbox-secret")


def test_default_db_path_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENGAGE_SANDBOX_DB", str(tmp_path / "x.sqlite3"))
    assert default_db_path() == tmp_path / "x.sqlite3"
    monkeypatch.delenv("ENGAGE_SANDBOX_DB")
    fallback = default_db_path()
    assert fallback.name == "sandbox.sqlite3"
    assert "engage" in fallback.parent.parts[-2:]

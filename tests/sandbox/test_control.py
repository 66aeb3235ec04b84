"""The control API under /__sandbox/: request log, events, reset, state, batch outcomes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engage_cli.sandbox.api import DEFAULT_SECRET, NEEDS_SECRET, WRONG_CREDENTIALS, SandboxAPI
from engage_cli.sandbox.requestlog import RequestLog
from engage_cli.sandbox.store import SandboxStore
from tests.harness import basic

from .conftest import KEY_ONLY, Caller


@pytest.mark.parametrize(
    ("auth", "message"),
    [(None, WRONG_CREDENTIALS), (basic("nope", "x"), WRONG_CREDENTIALS), (KEY_ONLY, NEEDS_SECRET)],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/__sandbox/requests"),
        ("DELETE", "/__sandbox/requests"),
        ("GET", "/__sandbox/events"),
        ("POST", "/__sandbox/reset"),
        ("GET", "/__sandbox/state"),
        ("PUT", "/__sandbox/state"),
        ("GET", "/__sandbox/batches"),
    ],
)
def test_the_control_api_needs_the_key_and_the_secret(
    call: Caller, store: SandboxStore, method: str, path: str, auth: str | None, message: str
) -> None:
    call("POST", "/v1/users", {"id": "kept"})
    answer = call(method, path, {"users": []}, auth=auth)
    assert (answer.status, answer.json) == (401, {"error": message})
    assert store.get_user("kept") is not None  # and nothing happened


def test_the_control_api_lives_outside_v1(call: Caller) -> None:
    assert call("GET", "/v1/__sandbox/requests").status == 404
    assert call("GET", "/__sandbox/nothing").status == 404
    assert call("POST", "/__sandbox/requests").status == 405


def test_the_request_log_keeps_what_was_sent_and_answered_never_credentials(
    call: Caller,
) -> None:
    call("POST", "/v1/users", {"id": "u1", "meta": {"plan": "pro"}})
    call("GET", "/v1/users?limit=5&lists[]=a&lists[]=b")
    call("POST", "/users/u1/events", raw=b"not json")
    call("GET", "/v1/users/u1", auth=basic("wrong", "guess"))
    call("GET", "/__sandbox/events")  # the control API's own requests are not logged
    entries = call("GET", "/__sandbox/requests").json["data"]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    first = entries[0]
    assert (first["method"], first["path"], first["query"], first["status"]) == (
        "POST",
        "/v1/users",
        {},
        200,
    )
    assert first["body"] == {"id": "u1", "meta": {"plan": "pro"}}
    assert first["answer"]["uid"] == "u1"
    assert isinstance(first["time"], str)
    assert entries[1]["query"] == {"limit": ["5"], "lists[]": ["a", "b"]}
    assert entries[1]["body"] is None
    assert (entries[2]["body"], entries[2]["status"]) == ("not json", 400)
    assert (entries[3]["status"], entries[3]["answer"]) == (401, {"error": WRONG_CREDENTIALS})
    logged = json.dumps(entries)
    assert DEFAULT_SECRET not in logged and "guess" not in logged
    assert "Basic" not in logged and "authorization" not in logged.lower()


def test_deleting_the_log_empties_it_and_numbers_carry_on(call: Caller) -> None:
    call("GET", "/v1/users")
    assert call("DELETE", "/__sandbox/requests").json == {"status": "ok"}
    assert call("GET", "/__sandbox/requests").json == {"data": []}
    call("GET", "/v1/users")
    assert [e["seq"] for e in call("GET", "/__sandbox/requests").json["data"]] == [2]


def test_the_log_is_bounded_to_the_last_entries() -> None:
    log = RequestLog(limit=3)
    for n in range(5):
        log.record("GET", f"/v1/users/u{n}", 404, b"", b"")
    assert [e["path"] for e in log.entries()] == ["/v1/users/u2", "/v1/users/u3", "/v1/users/u4"]


def test_events_are_listed_for_one_user_or_all(call: Caller) -> None:
    call("POST", "/v1/users/u1/events", {"event": "paid", "value": 5})
    call("POST", "/v1/users/u2/events", {"event": "left"})
    every = call("GET", "/__sandbox/events").json["data"]
    assert [(e["uid"], e["event"]) for e in every] == [("u1", "paid"), ("u2", "left")]
    mine = call("GET", "/__sandbox/events?uid=u1").json["data"]
    assert [(e["event"], e["value"]) for e in mine] == [("paid", 5)]


def test_reset_empties_the_store_and_the_log(call: Caller, store: SandboxStore) -> None:
    call("POST", "/v1/users", {"id": "u1"})
    call("POST", "/v1/users/u1/events", {"event": "e"})
    assert call("POST", "/__sandbox/reset").json == {"status": "ok"}
    assert store.count_users() == 0 and store.count_events() == 0
    assert call("GET", "/__sandbox/requests").json == {"data": []}


def _populate(call: Caller) -> None:
    listed = call("POST", "/v1/lists", {"title": "News"}).json
    call("POST", "/v1/users", {"id": "ada", "email": "ada@x.io", "meta": {"plan": "pro"}})
    call("POST", "/v1/users", {"id": "acme"})
    call("POST", "/v1/users/acme/convert", {"type": "account"})
    call("POST", "/v1/users/ada/accounts", {"accounts": [{"id": "acme", "role": "dev"}]})
    call("POST", "/v1/users/ada/lists", {"lists": [listed["id"]]})
    call("POST", "/v1/users/ada/events", {"event": "paid", "value": 9, "properties": {"k": 1}})


def test_the_state_round_trips_into_another_sandbox(call: Caller, tmp_path: Any) -> None:
    _populate(call)
    state = call("GET", "/__sandbox/state").json
    assert (state["format"], state["version"]) == ("engage-sandbox-state", 1)
    assert [u["uid"] for u in state["users"]] == ["ada", "acme"]
    assert [e["event"] for e in state["events"]] == ["paid"]
    with SandboxStore(tmp_path / "other.sqlite3") as other:
        elsewhere = Caller(SandboxAPI(other))
        elsewhere("POST", "/v1/users", {"id": "gone"})
        put = elsewhere("PUT", "/__sandbox/state", state)
        assert put.json == {"status": "ok", "users": 2, "lists": 1, "events": 1}
        assert elsewhere("GET", "/__sandbox/state").json == state
        assert elsewhere("GET", "/v1/users/gone").status == 404
        ada = elsewhere("GET", "/v1/users/ada").json
        assert ada["accounts"] == [{"id": "acme", "role": "dev"}]
        assert ada["lists"] == [{"id": state["lists"][0]["id"], "subscribed": True}]
        assert elsewhere("GET", "/v1/users/acme").json["member_count"] == 1
        # new ids come after every imported one
        newer = elsewhere("POST", "/v1/users", {"id": "late"}).json["id"]
        assert newer > max(u["id"] for u in state["users"])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "Request body must be a JSON object."),
        ({"users": {}}, "users must be an array."),
        ({"users": [{"uid": "a"}]}, "users[0].id must be an internal id (24 lower-case hex"),
        ({"users": [{"id": "0" * 24, "uid": ""}]}, "users[0].uid must be a non-empty string."),
        (
            {"users": [{"id": "0" * 24, "uid": "a", "meta": {"x": [1]}}]},
            "users[0].meta must be an object of strings, numbers or booleans.",
        ),
        (
            {"users": [{"id": "0" * 24, "uid": "a"}, {"id": "1" * 24, "uid": "a"}]},
            "users[1].uid 'a' appears twice.",
        ),
        ({"lists": [{"id": "x"}]}, "lists[0].id must be an internal id"),
        ({"events": [{"uid": "a", "event": "e"}]}, "events[0].timestamp must be an ISO 8601"),
        ({"version": 2}, "version must be 1"),
    ],
)
def test_a_malformed_state_is_400_and_changes_nothing(
    call: Caller, store: SandboxStore, document: Any, message: str
) -> None:
    _populate(call)
    before = call("GET", "/__sandbox/state").json
    answer = call("PUT", "/__sandbox/state", document)
    assert answer.status == 400
    assert answer.json["error"].startswith(message)
    assert call("GET", "/__sandbox/state").json == before


def test_a_state_that_is_not_json_is_400(call: Caller) -> None:
    answer = call("PUT", "/__sandbox/state", raw=b"{nope")
    assert (answer.status, answer.json) == (400, {"error": "Request body must be valid JSON."})


def test_each_batch_item_has_its_outcome_with_the_single_calls_error(call: Caller) -> None:
    items = [
        {"type": "create", "id": "b1", "first_name": "Ada"},
        {"type": "event", "id": "b1"},
        {"type": "update", "id": "b1", "email": "not-an-email"},
        {"type": "teleport", "id": "b1"},
        "not an object",
        {"type": "event", "id": "b1", "event": "paid"},
    ]
    assert call("POST", "/v1/batch", {"data": items}).json == {"status": "queued"}
    [batch] = call("GET", "/__sandbox/batches").json["data"]
    assert batch["seq"] == 1 and isinstance(batch["received"], str)
    assert batch["items"] == [
        {"index": 0, "type": "create", "id": "b1", "status": "applied"},
        {
            "index": 1,
            "type": "event",
            "id": "b1",
            "status": "failed",
            "code": 400,
            "error": "event is required.",
        },
        {
            "index": 2,
            "type": "update",
            "id": "b1",
            "status": "failed",
            "code": 400,
            "error": "email must be a valid email address.",
        },
        {
            "index": 3,
            "type": "teleport",
            "id": "b1",
            "status": "failed",
            "code": 400,
            "error": "type must be create, update or event.",
        },
        {"index": 4, "status": "failed", "code": 400, "error": "an item must be an object."},
        {"index": 5, "type": "event", "id": "b1", "status": "applied"},
    ]
    # each error is what the single call answers
    single = call("POST", "/v1/users/b1/events", {})
    assert single.json == {"error": "event is required."}

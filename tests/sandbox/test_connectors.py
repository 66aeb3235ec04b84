"""Every request RudderStack's and PostHog's Engage destinations are tested to send is
accepted by the sandbox as Engage accepts it (the requests: connector_requests.py)."""

from __future__ import annotations

import json

from engage_cli.sandbox.api import SandboxAPI
from engage_cli.sandbox.store import SandboxStore

from . import connector_requests as recorded
from .conftest import Caller


def _replay(call: Caller, store: SandboxStore) -> list[tuple[str, int, object]]:
    """Create what the connectors' tests assume, then send every request in order."""
    real_ids = {
        placeholder: call("POST", "/v1/lists", {"title": f"list {placeholder}"}).json["id"]
        for placeholder in recorded.GIVEN["lists"]
    }
    for uid in recorded.GIVEN["users"]:
        store.create_user(uid, {})
    answers = []
    for source, method, path, body in recorded.ALL:
        for placeholder, real in real_ids.items():
            path = path.replace(f"/lists/{placeholder}/", f"/lists/{real}/")
        answer = call(method, path, body)
        answers.append((source, answer.status, answer.json))
    return answers


def test_every_connector_request_is_accepted(call: Caller, store: SandboxStore) -> None:
    answers = _replay(call, store)
    assert len(answers) == 26
    refused = [(source, status, answer) for source, status, answer in answers if status != 200]
    assert refused == []


def test_what_the_connectors_sent_landed(
    call: Caller, store: SandboxStore, api: SandboxAPI
) -> None:
    _replay(call, store)
    # the request log holds all 26, bodies as sent
    logged = [
        e for e in api.requests.entries() if e["path"] != "/v1/lists" or e["method"] != "POST"
    ]
    assert len(logged) == 26
    assert logged[5]["body"] == {"subscribed": "false"}
    assert json.dumps(logged).count('"status": 200') == 26
    # RudderStack: "subscribed": "false" read as false (then the router's DELETE took 246 off).
    assert store.get_user("1") is None  # deleted last by the user deletion calls
    events = [(e["uid"], e["event"]) for e in store.list_events()]
    assert ("1", "First Investment") in events
    lalu = call("GET", "/v1/users?email=lalu@xyz.com").json["data"]
    assert [(u["first_name"], u["number"], u["meta"]) for u in lalu] == [
        ("Lalu", "634189314", {"customField": "customValue"})
    ]
    # PostHog: identify upserts with $set and $set_once, a group is an account, events land.
    user01 = store.get_user("user01")
    assert user01 is not None
    assert (user01["first_name"], user01["last_name"], user01["number"]) == (
        "User",
        "01",
        "08012345678",
    )
    assert user01["meta"] == {"plan": "Pro", "currency": "NG"}
    group = store.get_user("group123")
    assert group is not None and group["is_account"] is True and group["meta"] == {"name": "Group"}
    posted = [e for e in store.list_events() if e["uid"] in ("user01", "distinct-id")]
    assert [(e["uid"], e["event"], e["properties"]) for e in posted] == [
        ("user01", "newEvent", {"prop1": "val1", "prop2": "val2"}),
        ("user01", "Played movie", {"prop1": "val1", "prop2": "val2"}),
        ("distinct-id", "event-name", {"$current_url": "https://example.com"}),
    ]


def test_a_subscriber_status_given_as_text_reads_as_its_boolean(
    call: Caller, store: SandboxStore
) -> None:
    list_id = call("POST", "/v1/lists", {"title": "News"}).json["id"]
    store.create_user("u1", {"lists": [list_id]})
    for text, expected in (("false", False), ("TRUE", True), (" False ", False), ("true", True)):
        answer = call("PUT", f"/v1/lists/{list_id}/subscribers/u1", {"subscribed": text})
        assert (answer.status, answer.json) == (200, {"subscribed": expected})
        user = store.get_user("u1")
        assert user is not None and user["lists"] == [{"id": list_id, "subscribed": expected}]
    for bad in ("no", "", "1", 0, None):
        answer = call("PUT", f"/v1/lists/{list_id}/subscribers/u1", {"subscribed": bad})
        assert (answer.status, answer.json) == (400, {"error": "subscribed must be true or false."})


def test_posthog_events_are_checked(call: Caller) -> None:
    cases = [
        ({"distinct_id": "u"}, "event is required."),
        ({"event": "x"}, "distinct_id is required."),
        ({"event": "x", "distinct_id": "u", "properties": []}, "properties must be an object."),
        (
            {"event": "$groupidentify", "distinct_id": "u", "properties": {}},
            "properties.$group_key must be a non-empty string.",
        ),
        (
            {"event": "$identify", "distinct_id": "u", "properties": {"$set": {"email": "nope"}}},
            "email must be a valid email address.",
        ),
    ]
    for body, message in cases:
        answer = call("POST", "/posthog", body)
        assert (answer.status, answer.json) == (400, {"error": message}), body

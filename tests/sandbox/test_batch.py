"""POST /batch: queued at once, items applied in order, bad items skipped and logged."""

from __future__ import annotations

import json

import pytest

from engage_cli.sandbox.routes.batch import MAX_BATCH_BYTES
from engage_cli.sandbox.web import NEEDS_SECRET

from .conftest import KEY_ONLY, Caller


def test_items_are_applied_in_order(call: Caller) -> None:
    items = [
        {"type": "create", "id": "u1", "email": "a@b.co", "meta": {"plan": "free"}},
        {"type": "update", "id": "u1", "meta": {"plan": "pro"}, "email": "z@b.co"},
        {"type": "event", "id": "u1", "event": "Paid", "value": 9.5},
        {"type": "update", "id": "u2", "first_name": "New"},  # an update upserts
        {"type": "event", "id": "made elsewhere/1", "event": "Seen"},  # any uid a path takes
    ]
    answer = call("POST", "/v1/batch", {"data": items})
    assert (answer.status, answer.json) == (200, {"status": "queued"})
    user = call("GET", "/v1/users/u1").json
    assert (user["email"], user["meta"]) == ("z@b.co", {"plan": "pro"})
    assert [(e["event"], e["value"]) for e in call.api.store.list_events("u1")] == [("Paid", 9.5)]
    assert call("GET", "/v1/users/u2").json["first_name"] == "New"
    assert call("GET", "/v1/users/made%20elsewhere%2F1").status == 200


def test_bad_items_are_skipped_and_their_outcomes_kept(call: Caller) -> None:
    items = [
        {"type": "create", "id": "ok1"},
        {"type": "create", "id": "bad id"},
        "not an object",
        {"type": "delete", "id": "ok1"},
        {"type": "event", "id": "ok1"},
        {"type": "create", "id": "ok1"},  # a duplicate
        {"type": "update", "id": "ok2", "meta": {"x": None}},
        {"id": "ok3"},
        {"type": "create", "id": "ok4"},
    ]
    assert call("POST", "/batch", {"data": items}).json == {"status": "queued"}
    assert [u["uid"] for u in call("GET", "/v1/users").json["data"]] == ["ok1", "ok4"]
    [batch] = call("GET", "/__sandbox/batches").json["data"]
    assert [(i["index"], i["status"]) for i in batch["items"]] == [
        (0, "applied"),
        *((n, "failed") for n in (1, 2, 3, 4, 5, 6, 7)),
        (8, "applied"),
    ]
    assert batch["items"][5]["error"] == "A user with this id already exists."


def test_over_100_kb_is_413_and_applies_nothing(call: Caller) -> None:
    filler = "x" * 1000
    items = [{"type": "create", "id": f"u{n}", "meta": {"f": filler}} for n in range(110)]
    raw = json.dumps({"data": items}).encode()
    assert len(raw) > MAX_BATCH_BYTES
    answer = call("POST", "/v1/batch", raw=raw)
    assert answer.status == 413 and "100 KB" in answer.json["error"]
    assert call("GET", "/v1/users").json["data"] == []


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"data": {}}', b"not json"])
def test_envelope_must_hold_a_data_array(call: Caller, body: bytes) -> None:
    assert call("POST", "/v1/batch", raw=body).status == 400


def test_batch_needs_the_secret(call: Caller) -> None:
    answer = call("POST", "/v1/batch", {"data": []}, auth=KEY_ONLY)
    assert (answer.status, answer.json) == (401, {"error": NEEDS_SECRET})

"""fields.py, the checks of a bulk user record without pydantic, against the models they stand
in for: over thousands of varied records (valid, invalid, unusual), a record gets exactly
the request the model path gives (the same body, keys in the same order) or exactly its error;
and a plain record really takes the short path."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from engage_cli import fields, models
from engage_cli.bulk import jobs
from engage_cli.errors import UsageError

UIDS = ["u1", "user_123", "a.b@example.com", "x+y", "-", "", ".", "..", "a b", "ü1", "\ud800x", 7]
TEXT = ["Ada", "", " ", "Zoë", "a\x00b", "\ud800", "line\n", "x" * 300, 5, None, True, ["a"]]
EMAILS = ["a@b", "a@example.com", "ab", "a@@b", "a b@c", "@b", "a@", "é@ü.de", "a@b\n", 3, None]
NUMBERS = ["2348012345678", "+2348012345678", "0", "", "12 34", "+", "١٢٣", 2348012345678, 1.5]
NUMBERS += [True, None, "12\n"]
DATES = ["2021-01-12", "2021-01-12T05:24:39.062+00:00", "2021-13-01", "yesterday", "", 20210112]
DATES += ["2021-01-12T05:24:39Z", "2021-01-12 05:24", "\ud800", None]
SCALARS = ["pro", "", 0, -1, 2**70, 1.5, -0.0, float("nan"), True, False, None, [1], {"a": 1}]
SCALARS += ["\ud800"]
META_KEYS = ["plan", "age", "", "a.b", "\ud800", "ü"]
LISTS = [["l1"], ["l1", "l2"], [], [""], [" "], ["\ud800"], ["ü"], "l1", [1], [{"id": "l1"}]]
LISTS += [[{"id": "l1"}, {"id": "l2"}], None, [None]]
PLATFORMS = ["android", "ios", "Android", "", None, 1]
TOKENS = ["tok", "", "\ud800", "ü", 5, None]


def _meta(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.1:
        return rng.choice([None, "plan", [], 5, {}])
    return {rng.choice(META_KEYS): rng.choice(SCALARS) for _ in range(rng.randint(0, 3))}


GENERATORS: dict[str, Any] = {
    "first_name": lambda rng: rng.choice(TEXT),
    "last_name": lambda rng: rng.choice(TEXT),
    "email": lambda rng: rng.choice(EMAILS),
    "number": lambda rng: rng.choice(NUMBERS),
    "meta": _meta,
    "created_at": lambda rng: rng.choice(DATES),
    "device_token": lambda rng: rng.choice(TOKENS),
    "device_platform": lambda rng: rng.choice(PLATFORMS),
    "lists": lambda rng: rng.choice(LISTS),
    "is_account": lambda rng: rng.choice([True, False, "true", None]),
    "segments": lambda rng: rng.choice([[], ["s"]]),  # a server field: dropped
    "nickname": lambda rng: "Ace",  # not a field
}
PLAIN = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "number": "2348012345678",
    "meta": {"plan": "pro", "age": 36, "vip": True, "score": 1.5},
    "created_at": "2021-01-12T05:24:39.062+00:00",
    "device_token": "tok",
    "device_platform": "ios",
    "lists": ["l1"],
}


def varied_records(count: int, seed: int = 20) -> list[dict[str, Any]]:
    """Mostly plausible records, some plainly valid, many with one or more odd values."""
    rng = random.Random(seed)
    records = []
    for n in range(count):
        if n % 4 == 0:  # plainly valid: the short path's case, fields in a shuffled order
            names = rng.sample(sorted(PLAIN), rng.randint(0, len(PLAIN)))
            record = {name: PLAIN[name] for name in names}
            if ("device_token" in record) != ("device_platform" in record):
                record.pop("device_token", None), record.pop("device_platform", None)
            key = rng.choice(["u1", "user_123", "a.b@example.com"])
        else:
            names = rng.sample(sorted(GENERATORS), rng.randint(0, 5))
            record = {name: GENERATORS[name](rng) for name in names}
            key = rng.choice(UIDS)
        id_field = rng.choice(["id", "id", "uid", "both"])
        if id_field == "both":
            record = {
                "uid": key,
                "id": rng.choice([key, "5f0c3a1b2c3d4e5f6a7b8c9d", "other"]),
                **record,
            }
        else:
            record = {id_field: key, **record}
        records.append(record)
    return records


def outcome(build: Any, data: dict[str, Any]) -> tuple[str, Any]:
    """What building the request gives: the request as sent (method, path, body in order,
    needs_secret) or the error, by type and message."""
    try:
        request = build(json.loads(json.dumps(data)) if _is_json(data) else data)
    except (UsageError, ValueError) as exc:
        return "error", (type(exc).__name__, str(exc))
    body = request.body
    return "request", (request.method, request.path, list(body), body, request.needs_secret)


def _is_json(data: Any) -> bool:
    try:
        json.dumps(data, allow_nan=False)
    except (ValueError, TypeError):
        return False
    return True


@pytest.fixture
def model_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Switches the short path off: every record through the model."""

    def switch(off: bool) -> None:
        if off:
            monkeypatch.setattr(fields, "upsert_body", lambda uid, given: None)
            monkeypatch.setattr(fields, "create_body", lambda uid, given: None)
        else:
            monkeypatch.undo()

    return switch


@pytest.mark.parametrize("build", [jobs.build_user_upsert, jobs.build_user_create])
def test_the_short_path_gives_what_the_model_gives(build: Any, model_only: Any) -> None:
    records = varied_records(2000)
    fast = [outcome(build, record) for record in records]
    model_only(True)
    slow = [outcome(build, record) for record in records]
    for record, mine, theirs in zip(records, fast, slow, strict=True):
        assert mine == theirs, record
        if mine[0] == "request":  # and the same bytes on the wire
            assert json.dumps(mine[1][3]) == json.dumps(theirs[1][3]), record
    kinds = [kind for kind, _ in fast]
    assert kinds.count("request") > 500 and kinds.count("error") > 500  # both well covered


@pytest.mark.parametrize("mode", ["upsert", "create"])
def test_plain_records_take_the_short_path(mode: str) -> None:
    short = fields.upsert_body if mode == "upsert" else fields.create_body
    records = varied_records(400)
    taken = 0
    for n, record in enumerate(records):
        if n % 4 or "uid" in record:  # the plainly valid ones, with a lone id
            continue
        given = {k: v for k, v in record.items() if k != "id"}
        if mode == "upsert":
            given.pop("lists", None)  # an upsert's lists are checked apart from the model
        body = short(record["id"], given)
        assert body is not None, record
        model = models.UserUpsert if mode == "upsert" else models.UserCreate
        expected = models.validate(model, {"id": record["id"], **given})
        if mode == "upsert":
            del expected["id"]
        assert list(body) == list(expected) and body == expected
        taken += 1
    assert taken > 30


@pytest.mark.parametrize(
    "given",
    [
        {"number": 2348012345678},  # rewritten by the model
        {"number": "+2348012345678"},
        {"meta": {"\ud800": 1}},  # pydantic replaces the lone surrogate of a key
        {"device_token": "\ud800", "device_platform": "ios"},  # refused by pydantic
        {"device_token": "tok"},  # the pair's own error
        {"first_name": True},
        {"nickname": "Ace"},
        {"email": "not an email"},
        {"created_at": "yesterday"},
        {"device_token": "tok", "device_platform": "web"},  # each check on its own
        {"device_token": "tok", "device_platform": "Android"},
        {"device_token": "", "device_platform": "ios"},
        {"is_account": "true"},  # text the model reads as a boolean
        {"is_account": 1},
        {"meta": {"plan": ["pro"]}},
        {"last_name": None},
    ],
)
def test_anything_unusual_is_left_to_the_model(given: dict[str, Any]) -> None:
    assert fields.upsert_body("u1", given) is None
    assert fields.create_body("u1", given) is None


def test_an_invalid_uid_is_left_to_the_model() -> None:
    assert fields.upsert_body("a b", {}) is None
    assert fields.create_body("..", {}) is None
    assert fields.upsert_body("u1", {}) == {}
    assert fields.create_body("u1", {}) == {"id": "u1"}


def test_the_body_holds_containers_of_its_own() -> None:
    given = {"meta": {"plan": "pro"}, "lists": ["l1"]}
    body = fields.create_body("u1", given)
    assert body == {"id": "u1", **given}
    assert body is not None and body["meta"] is not given["meta"]
    assert body["lists"] is not given["lists"]

"""The request models: what each refuses, in the words a person reads (`invalid user: id:
is required.`), and the body each sends: only the fields given, in the order given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engage_cli import models
from engage_cli.errors import UsageError
from tests.harness import run

LONG_SCALAR = "must be a string, number or boolean (not null, an array or an object)"


def refusal(model: type[models._Strict], data: dict[str, Any]) -> str:
    with pytest.raises(UsageError) as caught:
        models.validate(model, data)
    assert caught.value.hint is None
    return caught.value.message


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (models.UserCreate, {}, "invalid user: id: is required."),
        (models.UserCreate, {"id": ""}, "invalid user: id: must not be empty."),
        (models.UserCreate, {"id": 1}, "invalid user: id: must be a string."),
        (models.UserCreate, {"id": "u 1"},
         "invalid user: id: 'u 1' is not a user id: it may only be letters, digits and "
         "_ - . @ + (not . or .. alone)."),
        (models.UserCreate, {"id": "u1", "email": None},
         "invalid user: email: must not be null (leave the field out instead)."),
        (models.UserCreate, {"id": "u1", "email": "a@b@c"},
         "invalid user: email: 'a@b@c' is not an email address (something@something)."),
        (models.UserCreate, {"id": "u1", "lists": [" "]},
         "invalid user: lists: a list id cannot be empty."),
        (models.UserCreate, {"id": "u1", "lists": [""]},
         "invalid user: lists.0: must not be empty."),
        (models.UserCreate, {"id": "u1", "lists": "l1"}, "invalid user: lists: must be an array."),
        (models.UserCreate, {"id": "u1", "device_token": "t"},
         "invalid user: device_platform: is required with device_token."),
        (models.UserCreate, {"id": "u1", "device_platform": "ios"},
         "invalid user: device_token: is required with device_platform."),
        (models.UserCreate, {"id": "u1", "device_platform": "web", "device_token": "t"},
         "invalid user: device_platform: must be 'android' or 'ios'."),
        (models.UserCreate, {"id": "u1", "is_account": "yes"},
         "invalid user: is_account: must be true or false."),
        (models.UserCreate, {"id": "u1", "meta": []}, "invalid user: meta: must be a JSON object."),
        (models.UserCreate, {"id": "u1", "meta": {"a": None}},
         f"invalid user: meta.a: {LONG_SCALAR}."),
        (models.UserCreate, {"id": "u1", "number": "+234 801"},
         "invalid user: number: '+234 801' must be in international format, digits only with "
         "an optional leading + (no spaces or dashes), e.g. 2348012345678."),
        (models.UserCreate, {"id": "u1", "number": "++234"},
         "invalid user: number: '++234' must be in international format, digits only with "
         "an optional leading + (no spaces or dashes), e.g. 2348012345678."),
        (models.UserCreate, {"id": "u1", "number": "+"},
         "invalid user: number: '+' must be in international format, digits only with "
         "an optional leading + (no spaces or dashes), e.g. 2348012345678."),
        (models.UserCreate, {"id": "u1", "number": True},
         "invalid user: number: must be a string."),
        (models.UserCreate, {"id": "u1", "plan": "pro"},
         "invalid user: plan: is not a field of this request."),
        (models.UserUpdate, {"created_at": "soon"},
         "invalid user update: created_at: 'soon' is not a valid ISO 8601 date "
         "(e.g. 2021-01-12T05:24:39.062+00:00)."),
        (models.UserMerge, {"source": "a", "destination": "a"},
         "invalid merge: destination: cannot be the source itself ('a')."),
        (models.UserConvert, {"type": "x"},
         "invalid conversion: type: must be 'account' or 'customer'."),
        (models.AccountsAdd, {"accounts": []}, "invalid accounts: accounts: must not be empty."),
        (models.AccountsAdd, {"accounts": [{"id": ""}]},
         "invalid accounts: accounts.0.id: must not be empty."),
        (models.AccountsAdd, {"accounts": ["a1"]},
         "invalid accounts: accounts.0: must be a JSON object."),
        (models.AccountRole, {"role": 5}, "invalid account role: role: must be a string."),
        (models.UserLists, {"lists": []}, "invalid lists: lists: must not be empty."),
        (models.ListCreate, {}, "invalid list: title: is required."),
        (models.ListCreate, {"title": ""}, "invalid list: title: must not be empty."),
        (models.ListCreate, {"title": "x" * 65},
         "invalid list: title: must be at most 64 characters."),
        (models.ListUpdate, {"description": "x" * 256},
         "invalid list: description: must be at most 255 characters."),
        (models.ListUpdate, {"redirect_url": "ftp://x"},
         "invalid list: redirect_url: 'ftp://x' is not an http(s) URL."),
        (models.ListSubscribe, {"first_name": "A"},
         "invalid subscriber: email: is required (or number): the API finds the user by them."),
        (models.EventCreate, {"event": " "},
         "invalid event: event: the event name cannot be blank."),
        (models.EventCreate, {"event": ""}, "invalid event: event: must not be empty."),
        (models.EventCreate, {"event": "E", "value": [1]}, f"invalid event: value: {LONG_SCALAR}."),
        (models.EventCreate, {"event": "E", "properties": {"a": {}}},
         f"invalid event: properties.a: {LONG_SCALAR}."),
        (models.EventCreate, {"event": "E", "properties": {"a": 1}, "x": 1, "value": None},
         "invalid event: value: must not be null (leave the field out instead)."),
    ],
)  # fmt: skip
def test_each_refusal_names_the_field_and_the_problem(
    model: type[models._Strict], data: dict[str, Any], message: str
) -> None:
    assert refusal(model, data) == message


def test_every_problem_is_named_once() -> None:
    assert refusal(
        models.UserUpdate, {"email": "nope", "meta": {"a": [1], "b": {}}, "plan": "pro"}
    ) == (
        "invalid user update: email: 'nope' is not an email address (something@something); "
        f"meta.a: {LONG_SCALAR}; meta.b: {LONG_SCALAR}; plan: is not a field of this request."
    )


def test_where_names_the_record() -> None:
    with pytest.raises(UsageError) as caught:
        models.validate(models.UserCreate, {}, where="line 3")
    assert caught.value.message == "line 3: invalid user: id: is required."


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (models.UserCreate, {"id": "u.1-_@+", "email": "a@b", "number": "234",
                             "device_token": "t", "device_platform": "android",
                             "is_account": False, "lists": ["l1"], "meta": {"a": 1, "b": True},
                             "created_at": "2021-01-12"}),
        (models.ListCreate, {"title": "x" * 64, "description": "d" * 255,
                             "redirect_url": "https://example.com/thanks?x=1",
                             "double_optin": True}),
        (models.ListSubscribe, {"number": "2348012345678"}),
        (models.ListSubscribe, {"email": "a@b"}),
        (models.EventCreate, {"event": "Paid", "value": 9.5, "timestamp": "2020-05-30T09:30:10Z",
                              "properties": {"plan": "pro", "seats": 3, "trial": False}}),
        (models.UserMerge, {"source": "a", "destination": "b"}),
        (models.AccountsAdd, {"accounts": [{"id": "a1", "role": "admin"}, {"id": "a2"}]}),
        (models.UserConvert, {"type": "account"}),
    ],
)  # fmt: skip
def test_a_valid_body_is_sent_exactly_as_given(
    model: type[models._Strict], data: dict[str, Any]
) -> None:
    body = models.validate(model, data)
    assert body == data and list(body) == list(data)


def test_the_body_keeps_the_users_order_and_only_the_fields_given() -> None:
    body = models.validate(models.UserUpdate, {"last_name": "L", "email": "a@b", "number": 234})
    assert list(body.items()) == [("last_name", "L"), ("email", "a@b"), ("number", "234")]
    instance = models.UserUpdate.model_validate({"email": "a@b", "first_name": "F"})
    assert list(instance.body()) == ["first_name", "email"]  # the model's order, unset left out
    assert list(instance.body(["email"])) == ["email", "first_name"]
    assert list(instance.body(["nope", "first_name"])) == ["first_name", "email"]


def test_a_null_that_is_not_a_field_is_named_as_not_a_field() -> None:
    assert refusal(models.UserUpdate, {"plan": None}) == (
        "invalid user update: plan: is not a field of this request."
    )


@pytest.mark.parametrize("url", ["http://x", "https://example.com", "https://example.com/p?q#f"])
def test_http_urls_are_redirect_urls(url: str) -> None:
    assert models.validate(models.ListUpdate, {"redirect_url": url}) == {"redirect_url": url}


@pytest.mark.parametrize("url", ["https://", "https:///p", "https://a b", "http://x\n", "x"])
def test_other_redirect_urls_are_refused(url: str) -> None:
    assert "is not an http(s) URL" in refusal(models.ListUpdate, {"redirect_url": url})


@pytest.mark.parametrize("email", ["a@b\n", "a b@c", "@b", "a@", "ab"])
def test_emails_need_one_at_and_no_space(email: str) -> None:
    assert "is not an email address" in refusal(models.UserUpdate, {"email": email})


def test_a_device_needs_both_halves_and_may_come_with_neither() -> None:
    assert models.validate(models.UserUpdate, {"first_name": "A"}) == {"first_name": "A"}
    assert models.validate(models.UserUpdate, {"device_token": "t", "device_platform": "ios"}) == {
        "device_token": "t",
        "device_platform": "ios",
    }


@pytest.mark.parametrize("model", [models.UserCreate, models.UserUpdate, models.ListSubscribe])
def test_an_e164_number_is_the_same_number_without_its_plus(model: type) -> None:
    body = {"id": "u1"} if model is models.UserCreate else {}
    checked = models.validate(model, {**body, "number": "+2348012345678"})
    assert checked["number"] == "2348012345678"


def test_labels() -> None:
    assert [m.label for m in (models.UserCreate, models.UserUpdate, models.ListCreate,
                              models.ListUpdate, models.EventCreate)] == [
        "user", "user update", "list", "list", "event"
    ]  # fmt: skip


# --- one uid rule for whatever creates a user ------------------------------------------------


@pytest.mark.parametrize("uid", [".", "..", "a b", "a\x00b", "é", "u1\n"])
def test_a_uid_no_later_command_could_reach_is_refused_by_create(uid: str) -> None:
    with pytest.raises(UsageError, match="is not a user id"):
        models.validate(models.UserCreate, {"id": uid})


@pytest.mark.parametrize("uid", ["u1", "a.b", "...", "a@b.co", "x+1", "_-"])
def test_a_uid_of_the_rule_is_taken(uid: str) -> None:
    assert models.validate(models.UserCreate, {"id": uid}) == {"id": uid}


@pytest.mark.parametrize("uid", [".", "..", "a b", "a\x00b"])
def test_create_and_an_upsert_import_refuse_the_same_uids(uid: str, tmp_path: Path) -> None:
    create = run(["users", "create", "--id", uid])
    assert create.exit_code == 2 and create.sent == []
    path = tmp_path / "users.jsonl"
    path.write_text(json.dumps({"id": uid, "first_name": "A"}) + "\n", encoding="utf-8")
    imported = run(["users", "import", str(path)])
    assert imported.exit_code == 2 and imported.sent == []
    assert "is not a user id" in imported.stderr


@pytest.mark.parametrize("uid", [".", ".."])
def test_the_sandbox_refuses_a_dot_uid_as_create_does(uid: str) -> None:
    from engage_cli.sandbox import validate

    with pytest.raises(Exception, match="id must contain only") as caught:
        validate.user_id({"id": uid})
    assert getattr(caught.value, "status", None) == 400

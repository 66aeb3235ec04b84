"""`engage users` beyond create/get/update/list/delete, in-process: merge, convert, archive,
members, accounts / lists / tokens, the list filters and cursors, device and type fields,
and the round trip of a printed user back through --data."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.harness import BASE, reply, run
from tests.test_cli_users import USER

ACCOUNT = {**USER, "uid": "acme", "is_account": True, "accounts": []}
MEMBER = {**USER, "accounts": [{"id": "acme", "role": "admin"}]}
LIST_ID = "65f0c0ffee0123456789abcd"

# (args, method, path as sent, body, answer): every write, request for request.
WRITES = [
    (["users", "merge", "anon1", "u144", "--yes"], "POST", "/v1/users/merge",
     {"source": "anon1", "destination": "u144"}, {"status": "queued"}),
    (["users", "convert", "acme", "--to", "account"], "POST", "/v1/users/acme/convert",
     {"type": "account"}, ACCOUNT),
    (["users", "convert", "acme", "--to", "customer"], "POST", "/v1/users/acme/convert",
     {"type": "customer"}, USER),
    (["users", "archive", "u144", "--yes"], "POST", "/v1/users/u144/archive", None,
     {**USER, "archived": True}),
    (["users", "accounts", "add", "u144", "acme", "--role", "admin"], "POST",
     "/v1/users/u144/accounts", {"accounts": [{"id": "acme", "role": "admin"}]}, MEMBER),
    (["users", "accounts", "add", "u144", "acme", "globex"], "POST", "/v1/users/u144/accounts",
     {"accounts": [{"id": "acme"}, {"id": "globex"}]}, MEMBER),
    (["users", "accounts", "role", "u144", "acme", "owner"], "PUT",
     "/v1/users/u144/accounts/acme", {"role": "owner"}, MEMBER),
    (["users", "accounts", "remove", "u144", "acme"], "DELETE", "/v1/users/u144/accounts/acme",
     None, USER),
    (["users", "lists", "add", "u144", LIST_ID, "l2"], "POST", "/v1/users/u144/lists",
     {"lists": [LIST_ID, "l2"]}, USER),
    (["users", "lists", "remove", "u144", LIST_ID], "DELETE", "/v1/users/u144/lists",
     {"lists": [LIST_ID]}, USER),
    (["users", "tokens", "remove", "u144", "ExponentPushToken[ab/c]"], "DELETE",
     "/v1/users/u144/tokens/ExponentPushToken%5Bab%2Fc%5D", None, USER),
]  # fmt: skip
# Key-only (username) authentication is enough for these, as Engage's mobile SDKs send them.
KEY_ONLY = {"merge", "convert", "accounts", "tokens"}


@pytest.mark.parametrize(("args", "method", "path", "body", "answer"), WRITES)
def test_each_write_sends_its_one_request(
    args: list[str], method: str, path: str, body: object, answer: object
) -> None:
    result = run(args, [reply(200, answer)])
    assert result.exit_code == 0, result.stderr
    (request,) = result.sent
    assert (request.method, request.url.raw_path.decode()) == (method, path)
    assert request.url.query == b""
    if body is None:
        assert request.content == b""
    else:
        assert json.loads(request.content) == body
        assert request.headers["content-type"] == "application/json"
    assert result.json() == answer  # piped: the API's answer as it came


@pytest.mark.parametrize(("args", "method", "path", "body", "answer"), WRITES)
def test_each_write_has_a_dry_run(
    args: list[str], method: str, path: str, body: object, answer: object
) -> None:
    result = run([*args, "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert result.sent == []
    shown = result.json()
    assert shown["method"] == method
    assert shown["url"] == BASE.removesuffix("/v1") + path
    assert shown["body"] == body


@pytest.mark.parametrize(("args", "method", "path", "body", "answer"), WRITES)
def test_which_writes_need_the_secret(
    args: list[str], method: str, path: str, body: object, answer: object
) -> None:
    key_only = args[1] in KEY_ONLY
    # A write that needs the secret is refused before the network: no reply to script.
    replies = [reply(200, answer)] if key_only else []
    result = run(args, replies, env={"ENGAGE_API_SECRET": ""})
    assert result.exit_code == (0 if key_only else 3), result.stderr
    assert len(result.sent) == (1 if key_only else 0)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["users", "merge", "u1", "u1", "--yes"], "destination"),
        (["users", "merge", "", "u1", "--yes"], "source"),
        (["users", "convert", "u1", "--to", "group"], "--to"),
        (["users", "convert", "u1"], "--to"),
        (["users", "accounts", "add", "u1", "acme", "--role", ""], "role"),
        (["users", "accounts", "add", "u1", ""], "accounts.0.id"),
        (["users", "accounts", "add", "u1"], "ACCOUNT_UID"),
        (["users", "accounts", "role", "u1", "acme", ""], "role"),
        (["users", "accounts", "role", "u1", "..", "owner"], "account uid"),
        (["users", "lists", "add", "u1"], "LIST_ID"),
        (["users", "lists", "remove", "u1", ""], "lists.0"),
        (["users", "tokens", "remove", "u1", ""], "device token"),
        (["users", "archive", "..", "--yes"], "user id"),
        (["users", "members", "acme", "--limit", "31"], "--limit"),
    ],
)
def test_bad_input_is_refused_before_the_network(args: list[str], named: str) -> None:
    result = run(args)
    assert result.exit_code == 2, result.stderr
    assert named in result.stderr
    assert result.sent == []
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args", [["users", "merge", "anon1", "u144"], ["users", "archive", "u144"]]
)
def test_destructive_commands_need_yes_off_a_terminal(args: list[str]) -> None:
    result = run(args)
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert result.sent == []


@pytest.mark.parametrize(
    "args", [["users", "merge", "anon1", "u144"], ["users", "archive", "u144"]]
)
def test_destructive_commands_ask_on_a_terminal(args: list[str]) -> None:
    declined = run(args, tty=True, stdin="n\n")
    assert declined.exit_code == 2  # not confirmed: refused, as without a terminal
    assert declined.sent == []
    accepted = run(args, [reply(200, {"status": "queued"})], tty=True, stdin="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert len(accepted.sent) == 1


def test_merge_on_a_terminal_says_it_was_queued() -> None:
    result = run(
        ["users", "merge", "anon1", "u144", "--yes"], [reply(200, {"status": "queued"})], tty=True
    )
    assert result.stdout == ""
    assert "Merge of 'anon1' into 'u144': queued." in result.stderr


def test_members_one_page_and_all() -> None:
    page = {"data": [MEMBER], "next_cursor": "c1"}
    result = run(["users", "members", "acme", "--limit", "5"], [reply(200, page)])
    assert result.exit_code == 0, result.stderr
    request = result.sent[0]
    assert (request.method, request.url.path) == ("GET", "/v1/users/acme/members")
    assert request.url.params == httpx.QueryParams({"limit": "5"})
    assert result.json() == [MEMBER]
    more = {"command": "engage users members acme --limit 5 --all"}
    assert json.loads(result.stderr) == {"next_page": more}  # for a script in a pipe
    every = run(
        ["users", "members", "acme", "--all"],
        [reply(200, page), reply(200, {"data": [USER], "next_cursor": None})],
    )
    assert [u["uid"] for u in every.json()] == ["u144", "u144"]
    assert every.sent[1].url.params == httpx.QueryParams({"next_cursor": "c1"})


def test_members_on_a_terminal_hints_all() -> None:
    page = {"data": [MEMBER], "next_cursor": "c1"}
    result = run(["users", "members", "acme", "--limit", "1"], [reply(200, page)], tty=True)
    assert result.exit_code == 0, result.stderr
    assert "More members: engage users members acme --limit 1 --all" in result.stderr
    last = run(["users", "members", "acme"], [reply(200, {"data": [MEMBER]})], tty=True)
    assert "More" not in last.stderr


def test_members_needs_the_secret() -> None:
    result = run(["users", "members", "acme"], env={"ENGAGE_API_SECRET": ""})
    assert result.exit_code == 3
    assert result.sent == []


# --- users list: filters and cursors ------------------------------------------------------


def test_list_filters_by_email_and_lists() -> None:
    result = run(
        ["users", "list", "--email", "ada@example.com", "--list", "l1", "--list", "l2"],
        [reply(200, {"data": [USER]})],
    )
    assert result.exit_code == 0, result.stderr
    assert result.sent[0].url.query == b"email=ada%40example.com&lists%5B%5D=l1&lists%5B%5D=l2"


@pytest.mark.parametrize(
    ("option", "param"),
    [
        ("--next-cursor", "next_cursor"),
        ("--previous-cursor", "previous_cursor"),
        ("--after-id", "after_id"),
        ("--before-id", "before_id"),
    ],
)
def test_list_sends_the_cursor_given(option: str, param: str) -> None:
    result = run(["users", "list", option, "c9"], [reply(200, {"data": []})])
    assert result.exit_code == 0, result.stderr
    assert result.sent[0].url.params == httpx.QueryParams({param: "c9"})


@pytest.mark.parametrize(
    "pair",
    [
        ["--next-cursor", "a", "--previous-cursor", "b"],
        ["--next-cursor", "a", "--after-id", "b"],
        ["--previous-cursor", "a", "--before-id", "b"],
    ],
)
def test_list_takes_one_cursor_at_a_time(pair: list[str]) -> None:
    result = run(["users", "list", *pair])
    assert result.exit_code == 2
    assert "one cursor at a time" in result.stderr
    assert result.sent == []


def test_list_refuses_a_filter_that_is_no_email() -> None:
    result = run(["users", "list", "--email", "nobody"])
    assert result.exit_code == 2
    assert "--email" in result.stderr
    assert result.sent == []


def test_the_hint_uses_the_servers_cursor_style_and_keeps_the_filters() -> None:
    cursor_page = {"data": [USER], "next_cursor": "c1", "has_more": True}
    result = run(
        ["users", "list", "--limit", "1", "--list", "l 1"], [reply(200, cursor_page)], tty=True
    )
    assert result.exit_code == 0, result.stderr
    assert "engage users list --limit 1 --list 'l 1' --next-cursor c1" in result.stderr
    old_page = {"data": [USER], "has_more": True}
    result = run(["users", "list"], [reply(200, old_page)], tty=True)
    assert f"engage users list --after-id {USER['id']}" in result.stderr
    backward = {"data": [USER], "previous_cursor": "c0"}
    result = run(["users", "list", "--previous-cursor", "c5"], [reply(200, backward)], tty=True)
    assert "engage users list --previous-cursor c0" in result.stderr


def test_list_all_follows_the_previous_cursor_backward_with_the_filters() -> None:
    replies = [
        reply(200, {"data": [USER], "previous_cursor": "c3"}),
        reply(200, {"data": [USER], "previous_cursor": None}),
    ]
    result = run(["users", "list", "--list", "l1", "--previous-cursor", "c9", "--all"], replies)
    assert result.exit_code == 0, result.stderr
    assert result.sent[1].url.params == httpx.QueryParams(
        [("lists[]", "l1"), ("previous_cursor", "c3")]
    )


# --- create / update: device, type, every documented field --------------------------------


def test_create_with_device_and_account() -> None:
    result = run(
        ["users", "create", "--id", "acme", "--account", "--device-token", "tok1",
         "--device-platform", "ios"],
        [reply(200, ACCOUNT)],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.script.body() == {
        "id": "acme",
        "device_token": "tok1",
        "device_platform": "ios",
        "is_account": True,
    }


def test_update_with_customer_and_device() -> None:
    result = run(
        ["users", "update", "acme", "--customer", "--device-token", "t", "--device-platform",
         "android"],
        [reply(200, USER)],
        env={"ENGAGE_API_SECRET": ""},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.script.body() == {
        "device_token": "t",
        "device_platform": "android",
        "is_account": False,
    }


def test_data_takes_every_documented_field() -> None:
    body = {
        "id": "u1", "first_name": "A", "last_name": "B", "email": "a@b.co", "number": "234",
        "created_at": "2021-01-12", "lists": ["l1"], "meta": {"k": 1}, "device_token": "t",
        "device_platform": "ios", "is_account": False,
    }  # fmt: skip
    result = run(["users", "create", "--data", json.dumps(body)], [reply(200, USER)])
    assert result.exit_code == 0, result.stderr
    assert result.script.body() == body
    update = {k: v for k, v in body.items() if k != "id"}
    result = run(["users", "update", "u1", "--data", json.dumps(update)], [reply(200, USER)])
    assert result.exit_code == 0, result.stderr
    assert result.script.body() == update


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--device-token", "t"], "device_platform: is required with device_token"),
        (["--device-platform", "ios"], "device_token: is required with device_platform"),
        (["--device-token", "t", "--device-platform", "web"], "--device-platform"),
        (["--data", '{"device_token": "t", "device_platform": "web"}'], "device_platform"),
        (["--data", '{"is_account": "yes"}'], "is_account"),
        (["--data", '{"device_tokn": "t"}'], "device_tokn: is not a field"),
        (["--data", '{"lists": [""]}'], "lists.0"),
    ],
)
def test_create_and_update_refuse_bad_fields(args: list[str], named: str) -> None:
    for command in (["users", "create", "--id", "u1"], ["users", "update", "u1"]):
        result = run([*command, *args])
        assert result.exit_code == 2, result.stderr
        assert named in result.stderr
        assert result.sent == []


def test_a_duplicate_create_hints_update() -> None:
    result = run(
        ["users", "create", "--id", "u144"],
        [reply(400, {"error": "A user with this id already exists."})],
    )
    assert result.exit_code == 5
    assert "A user with this id already exists." in result.stderr
    assert "engage users update u144" in result.stderr


# --- the round trip: users get -o json > u.json; users create|update --data @u.json -------

PRINTED = {
    **USER,
    "uid_updateable": True,
    "devices": [{"token": "t", "platform": "ios"}],
    "segments": [{"id": "s1", "suppressed": False}],
    "lists": [{"id": "l1", "subscribed": True}, {"id": "l2", "subscribed": False}],
    "accounts": [{"id": "acme", "role": "admin"}],
    "is_account": False,
    "member_count": None,
    "archived": False,
    "last_interaction": "2021-02-01T00:00:00.000+00:00",
    "stats": {"delivered": 1, "failed": 0, "opened": 0, "clicked": 0},
}


def test_a_printed_user_creates_back(tmp_path: Path) -> None:
    saved = tmp_path / "u.json"
    got = run(["users", "get", "u144", "-o", "json"], [reply(200, PRINTED)])
    saved.write_text(got.stdout)
    result = run(["users", "create", "--data", f"@{saved}"], [reply(200, USER)])
    assert result.exit_code == 0, result.stderr
    assert result.script.body() == {
        "id": "u144",  # the uid; the object's own id is Engage's internal one
        "first_name": "Akinyele",
        "last_name": "Jinadu",
        "email": "akinyele@example.com",
        "lists": ["l1"],  # subscribed ones; no null number, no server-set field
        "meta": {"plan": "pro", "age": 34},
        "created_at": "2021-01-12T05:24:39.062+00:00",
        "is_account": False,
    }


def test_a_printed_user_updates_back_and_flags_override(tmp_path: Path) -> None:
    saved = tmp_path / "u.json"
    saved.write_text(json.dumps(PRINTED))
    result = run(
        ["users", "update", "u145", "--data", f"@{saved}", "--first-name", "Ade"],
        [reply(200, USER)],
    )
    assert result.exit_code == 0, result.stderr
    assert result.sent[0].url.path == "/v1/users/u145"  # the argument decides
    body = result.script.body()
    assert "id" not in body and "uid" not in body
    assert body["first_name"] == "Ade"
    assert body["lists"] == ["l1"]


def test_a_printed_user_with_a_typo_is_still_refused() -> None:
    printed = {**USER, "plann": "pro"}
    result = run(["users", "create", "--data", json.dumps(printed)])
    assert result.exit_code == 2
    assert "plann: is not a field" in result.stderr
    assert result.sent == []


def test_an_id_that_contradicts_the_uid_is_refused() -> None:
    result = run(["users", "create", "--data", '{"id": "u1", "uid": "u2"}'])
    assert result.exit_code == 2
    assert "differ" in result.stderr
    assert result.sent == []

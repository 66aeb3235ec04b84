"""`engage lists ...` in-process: what is sent, what is printed, and the exit codes."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.harness import BASE, reply, run

LIST_ID = "65f0c0ffee0123456789abcd"
LIST = {
    "id": LIST_ID,
    "title": "Newsletter",
    "description": "Monthly news",
    "subscriber_count": 1204,
    "broadcast_count": 3,
    "double_optin": True,
    "redirect_url": None,
    "created_at": "2021-01-12T05:24:39.062+00:00",
    "archived": False,  # a field this CLI does not know: kept
}
PATH = f"/v1/lists/{LIST_ID}"

# (args, method, path, body, answer, needs the secret)
WRITES = [
    (["lists", "create", "--title", "Newsletter", "--description", "Monthly news",
      "--redirect-url", "https://example.com/thanks", "--double-optin"], "POST", "/v1/lists",
     {"title": "Newsletter", "description": "Monthly news",
      "redirect_url": "https://example.com/thanks", "double_optin": True}, LIST, True),
    (["lists", "create", "--title", "T"], "POST", "/v1/lists", {"title": "T"}, LIST, True),
    (["lists", "update", LIST_ID, "--title", "Weekly", "--no-double-optin"], "PUT", PATH,
     {"title": "Weekly", "double_optin": False}, LIST, False),
    (["lists", "archive", LIST_ID, "--yes"], "DELETE", PATH, None, {"status": "ok"}, True),
    (["lists", "subscribe", LIST_ID, "--email", "ada@example.com", "--first-name", "Ada",
      "--meta", "source=web"], "POST", f"{PATH}/subscribers",
     {"first_name": "Ada", "email": "ada@example.com", "meta": {"source": "web"}},
     {"uid": "u9"}, True),
    (["lists", "unsubscribe", LIST_ID, "u144"], "PUT", f"{PATH}/subscribers/u144",
     {"subscribed": False}, {"subscribed": False}, True),
    (["lists", "resubscribe", LIST_ID, "a@b.co"], "PUT", f"{PATH}/subscribers/a%40b.co",
     {"subscribed": True}, {"subscribed": True}, True),
    (["lists", "remove", LIST_ID, "u144", "--yes"], "DELETE", f"{PATH}/subscribers/u144", None,
     {"status": "ok"}, True),
]  # fmt: skip


@pytest.mark.parametrize(("args", "method", "path", "body", "answer", "secret"), WRITES)
def test_each_write_sends_its_one_request(
    args: list[str], method: str, path: str, body: object, answer: object, secret: bool
) -> None:
    result = run(args, [reply(200, answer)])
    assert result.exit_code == 0, result.stderr
    (request,) = result.sent
    assert (request.method, request.url.raw_path.decode()) == (method, path)
    assert request.content == (b"" if body is None else json.dumps(body).encode()) or (
        json.loads(request.content) == body
    )
    assert result.json() == answer
    # Refused before the network when it needs the secret: then there is no reply to script.
    replies = [] if secret else [reply(200, answer)]
    key_only = run(args, replies, env={"ENGAGE_API_SECRET": ""})
    assert key_only.exit_code == (3 if secret else 0), key_only.stderr


@pytest.mark.parametrize(("args", "method", "path", "body", "answer", "secret"), WRITES)
def test_each_write_has_a_dry_run(
    args: list[str], method: str, path: str, body: object, answer: object, secret: bool
) -> None:
    result = run([*args, "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert result.sent == []
    shown = result.json()
    assert (shown["method"], shown["url"], shown["body"]) == (
        method,
        BASE.removesuffix("/v1") + path,
        body,
    )


def test_the_body_keeps_exactly_what_was_given() -> None:
    result = run(["lists", "subscribe", LIST_ID, "--number", "2348012345678"], [reply(200, {})])
    assert result.sent[0].content == b'{"number":"2348012345678"}'


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["lists", "create"], "title: is required"),
        (["lists", "create", "--title", ""], "title: must not be empty"),
        (["lists", "create", "--title", "x" * 65], "title: must be at most 64"),
        (["lists", "create", "--title", "T", "--description", "d" * 256], "description"),
        (["lists", "create", "--title", "T", "--redirect-url", "example.com"], "redirect_url"),
        (["lists", "update", LIST_ID], "Nothing to update"),
        (["lists", "update", LIST_ID, "--title", "x" * 65], "title"),
        (["lists", "update", "..", "--title", "T"], "list id"),
        (["lists", "subscribe", LIST_ID], "email: is required"),
        (["lists", "subscribe", LIST_ID, "--email", "nobody"], "email"),
        (["lists", "subscribe", LIST_ID, "--data", '{"email": "a@b.co", "emial": 1}'], "emial"),
        (["lists", "unsubscribe", LIST_ID, ""], "user id"),
        (["lists", "list", "--limit", "0"], "--limit"),
        (["lists", "list", "--next-cursor", "a", "--previous-cursor", "b"], "one cursor"),
        (["lists", "get", ""], "list id"),
    ],
)
def test_bad_input_is_refused_before_the_network(args: list[str], named: str) -> None:
    result = run(args)
    assert result.exit_code == 2, result.stderr
    assert named in result.stderr
    assert result.sent == []
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args", [["lists", "archive", LIST_ID], ["lists", "remove", LIST_ID, "u144"]]
)
def test_destructive_commands_need_yes_off_a_terminal_and_ask_on_one(args: list[str]) -> None:
    refused = run(args)
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert refused.sent == []
    declined = run(args, tty=True, stdin="n\n")
    assert declined.exit_code == 2  # not confirmed: refused, as without a terminal
    assert declined.sent == []
    accepted = run(args, [reply(200, {"status": "ok"})], tty=True, stdin="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert accepted.sent[0].method == "DELETE"


def test_get_is_key_only_and_prints_the_api_object() -> None:
    result = run(["lists", "get", LIST_ID], [reply(200, LIST)], env={"ENGAGE_API_SECRET": ""})
    assert result.exit_code == 0, result.stderr
    assert (result.sent[0].method, result.sent[0].url.path) == ("GET", PATH)
    assert result.json() == LIST


def test_get_as_a_card_on_a_terminal() -> None:
    result = run(["lists", "get", LIST_ID], [reply(200, LIST)], tty=True, env={"NO_COLOR": "1"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["title", "Newsletter"]
    for label, value in [("subscribers", "1204"), ("double opt-in", "true"), ("id", LIST_ID)]:
        assert any(line.startswith(label) and value in line for line in lines), result.stdout
    assert "redirect" not in result.stdout  # null: nothing to show
    assert "archived" in result.stdout  # unknown fields too


def test_list_one_page_in_a_pipe_gives_the_next_cursor_on_stderr() -> None:
    result = run(
        ["lists", "list", "--limit", "1"], [reply(200, {"data": [LIST], "next_cursor": "c2"})]
    )
    assert result.exit_code == 0, result.stderr
    assert result.json() == [LIST]
    assert json.loads(result.stderr)["next_page"] == {
        "cursor": "c2",
        "option": "--next-cursor",
        "command": "engage lists list --limit 1 --next-cursor c2",
    }


def test_list_one_page_as_a_table_with_the_next_page_hint() -> None:
    long_title = "Product updates, release notes and the occasional survey " * 2
    page = {"data": [LIST, {**LIST, "title": long_title, "double_optin": False}]}
    result = run(
        ["lists", "list", "--limit", "2"],
        [reply(200, {**page, "next_cursor": "c2"})],
        tty=True,
        env={"NO_COLOR": "1", "COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.stderr
    assert result.sent[0].url.params == httpx.QueryParams({"limit": "2"})
    header, first, second = result.stdout.splitlines()
    assert header.split() == ["title", "subscribers", "opt-in", "created", "id"]
    assert first.split() == ["Newsletter", "1204", "true", "2021-01-12", LIST_ID]
    assert len(second) <= 80
    assert second.startswith("Product updates") and "…" in second  # the title gives way
    assert second.endswith(LIST_ID)  # never the id: the next command needs it whole
    assert "More lists: engage lists list --limit 2 --next-cursor c2" in result.stderr


def test_list_all_follows_either_cursor_style() -> None:
    replies = [
        reply(200, {"data": [LIST], "next_cursor": "c1"}),
        reply(200, {"data": [LIST], "has_more": True}),
        reply(200, {"data": [LIST], "has_more": False}),
    ]
    result = run(["lists", "list", "--all", "-o", "ndjson"], replies, env={"ENGAGE_API_SECRET": ""})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 3
    assert result.sent[1].url.params == httpx.QueryParams({"next_cursor": "c1"})
    assert result.sent[2].url.params == httpx.QueryParams({"after_id": LIST_ID})


def test_list_previous_cursor_goes_backward() -> None:
    result = run(
        ["lists", "list", "--previous-cursor", "c5", "--max", "1"],
        [reply(200, {"data": [LIST, LIST], "previous_cursor": "c3"})],
    )
    assert result.exit_code == 0, result.stderr
    assert result.sent[0].url.params == httpx.QueryParams({"previous_cursor": "c5"})
    assert len(result.json()) == 1


def test_an_unknown_list_is_exit_4() -> None:
    result = run(["lists", "get", LIST_ID], [reply(404, {"error": "List not found."})])
    assert result.exit_code == 4
    assert "List not found." in result.stderr

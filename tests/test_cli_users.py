"""`engage users ...` in-process: what is sent, what is printed, and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.harness import BASE, KEY, SECRET, basic, reply, run

USER = {
    "id": "5fc6477241fcec31a9548e98",
    "uid": "u144",
    "first_name": "Akinyele",
    "last_name": "Jinadu",
    "number": None,
    "email": "akinyele@example.com",
    "devices": [],
    "lists": [{"id": "l1", "subscribed": True}],
    "segments": [],
    "meta": {"plan": "pro", "age": 34},
    "created_at": "2021-01-12T05:24:39.062+00:00",
    "archived": False,  # a field newer API editions add: must pass through
}
REFERENCE_CREATE = (
    b'{"id":"u144","first_name":"Akinyele","last_name":"Jinadu",'
    b'"email":"akinyele@example.com","meta":{"plan":"pro","age":34},'
    b'"created_at":"2021-01-12T05:24:39.062+00:00"}'
)
CREATE_FLAGS = [
    "users", "create", "--id", "u144", "--first-name", "Akinyele", "--last-name", "Jinadu",
    "--email", "akinyele@example.com", "--meta", "plan=pro", "--meta", "age:=34",
    "--created-at", "2021-01-12T05:24:39.062+00:00",
]  # fmt: skip


def test_create_sends_the_reference_body_byte_for_byte() -> None:
    result = run(CREATE_FLAGS, [reply(200, USER)])
    assert result.exit_code == 0, result.stderr
    (request,) = result.sent
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/users"
    assert request.content == REFERENCE_CREATE
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == basic(KEY, SECRET)
    assert request.headers["user-agent"].startswith("engage-cli/")
    assert " python/" in request.headers["user-agent"]
    assert " httpx/" in request.headers["user-agent"]
    # Piped stdout: the API's object as JSON, unknown fields kept.
    assert result.json() == USER
    assert result.stderr == ""


def test_create_works_with_the_key_alone() -> None:
    result = run(CREATE_FLAGS, [reply(200, USER)], env={"ENGAGE_API_SECRET": ""})
    assert result.exit_code == 0, result.stderr
    assert result.sent[0].headers["authorization"] == basic(KEY)


def test_create_from_a_file_and_flags_override(tmp_path: Path) -> None:
    body = json.loads(REFERENCE_CREATE)
    path = tmp_path / "u144.json"
    path.write_text(json.dumps(body, indent=2))
    result = run(["users", "create", "--data", f"@{path}"], [reply(200, USER)])
    assert result.exit_code == 0, result.stderr
    assert result.sent[0].content == REFERENCE_CREATE

    result = run(
        ["users", "create", "--data", f"@{path}", "--first-name", "Ade", "--meta", "vip:=true"],
        [reply(200, USER)],
    )
    sent = result.script.body()
    assert sent["first_name"] == "Ade"
    assert sent["meta"] == {"plan": "pro", "age": 34, "vip": True}
    assert list(sent) == list(body)  # the file's order is kept


def test_create_from_stdin() -> None:
    result = run(
        ["users", "create", "--data", "-"], [reply(200, USER)], stdin=REFERENCE_CREATE.decode()
    )
    assert result.exit_code == 0, result.stderr
    assert result.sent[0].content == REFERENCE_CREATE


def test_create_with_lists_and_number() -> None:
    result = run(
        [
            "users",
            "create",
            "--id",
            "u1",
            "--list",
            "l1",
            "--list",
            "l2",
            "--number",
            "2348012345678",
        ],
        [reply(200, USER)],
    )
    assert result.script.body() == {"id": "u1", "number": "2348012345678", "lists": ["l1", "l2"]}


@pytest.mark.parametrize("command", [["users", "create", "--id", "u1"], ["users", "update", "u1"]])
def test_an_e164_number_is_sent_in_the_digits_engage_documents(command: list[str]) -> None:
    result = run([*command, "--number", "+2348012345678", "-o", "json"], [reply(200, {})])
    assert result.exit_code == 0, result.stderr
    assert result.script.body()["number"] == "2348012345678"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--id", "u 144"], "id"),
        (["--first-name", "A"], "id: is required"),
        (["--id", "u1", "--meta", "tags:=[1,2]"], "meta.tags"),
        (["--id", "u1", "--meta", "x:=null"], "meta.x"),
        (["--id", "u1", "--meta", "x:={}"], "meta.x"),
        (["--id", "u1", "--meta", "bad:=nope"], "--meta bad"),
        (["--id", "u1", "--meta", "novalue"], "--meta 'novalue'"),
        (["--id", "u1", "--created-at", "2021-13-45"], "created_at"),
        (["--id", "u1", "--created-at", "2021-W01-1"], "created_at"),
        (["--id", "u1", "--meta", "n:=1e999"], "out of range"),
        (["--id", "u1", "--number", "+234 801"], "number"),
        (["--id", "u1", "--email", "nobody"], "email"),
        (["--data", '{"id": "u1", "plan": "pro"}'], "plan: is not a field"),
        (["--data", "[1]"], "must be a JSON object"),
        (["--data", "{oops"], "not valid JSON"),
        (["--data", "@/nonexistent/file.json"], "cannot read the file"),
    ],
)
def test_create_refuses_bad_input_before_the_network(args: list[str], field: str) -> None:
    result = run(["users", "create", *args])
    assert result.exit_code == 2, result.stderr
    assert field in result.stderr
    assert result.sent == []
    assert result.stdout == ""


def test_dry_run_shows_the_request_with_credentials_masked() -> None:
    result = run([*CREATE_FLAGS, "--dry-run"])
    assert result.exit_code == 0
    assert result.sent == []
    shown = result.json()
    assert shown["method"] == "POST"
    assert shown["url"] == f"{BASE}/users"
    assert shown["headers"]["Authorization"] == "Basic ****"
    assert shown["body"] == json.loads(REFERENCE_CREATE)
    assert KEY not in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_dry_run_as_text_on_a_terminal() -> None:
    result = run([*CREATE_FLAGS, "--dry-run"], tty=True)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"POST {BASE}/users\n")
    assert "Authorization: Basic ****" in result.stdout
    assert "Dry run: nothing was sent." in result.stderr


def test_get_prints_the_object_and_encodes_the_uid() -> None:
    result = run(["users", "get", "ada@example.com/x"], [reply(200, USER)])
    assert result.exit_code == 0
    assert result.sent[0].url.raw_path == b"/v1/users/ada%40example.com%2Fx"
    assert result.json() == USER


def test_get_as_a_card_on_a_terminal() -> None:
    result = run(["users", "get", "u144"], [reply(200, USER)], tty=True, env={"NO_COLOR": "1"})
    assert result.exit_code == 0
    for text in (
        "u144",
        "Akinyele Jinadu",
        "akinyele@example.com",
        "meta.plan",
        "pro",
        "l1",
        "archived",
    ):
        assert text in result.stdout
    assert "\x1b[" not in result.stdout  # NO_COLOR


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_get_other_formats(fmt: str) -> None:
    result = run(["users", "get", "u144", "-o", fmt], [reply(200, USER)])
    assert result.exit_code == 0
    if fmt == "ndjson":
        assert json.loads(result.stdout) == USER
        assert result.stdout.count("\n") == 1
    else:
        header, row = result.stdout.splitlines()
        assert header.split(",")[:4] == ["uid", "first_name", "last_name", "email"]
        assert "meta.plan" in header and "archived" in header
        assert row.startswith("u144,Akinyele,Jinadu,akinyele@example.com")


@pytest.mark.parametrize(
    "command", [["users", "get", "u1"], ["users", "list"], ["users", "delete", "u1", "--yes"]]
)
def test_reads_and_deletes_need_the_secret(command: list[str]) -> None:
    result = run(command, env={"ENGAGE_API_SECRET": ""})
    assert result.exit_code == 3
    assert "needs the API secret" in result.stderr
    assert "ENGAGE_API_SECRET" in result.stderr  # the hint
    assert result.sent == []


def test_no_credentials_at_all() -> None:
    result = run(["users", "get", "u1"], credentials=False)
    assert result.exit_code == 3
    assert "No API key" in result.stderr
    assert "engage auth login" in result.stderr


def test_update_sends_only_given_fields() -> None:
    result = run(
        ["users", "update", "u144", "--meta", "plan=custom", "--meta", "coverage:=20",
         "--created-at", "2021-01-12T05:24:39.062+00:00"],
        [reply(200, USER)],
        env={"ENGAGE_API_SECRET": ""},  # key-only is enough without an email
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    request = result.sent[0]
    assert (request.method, request.url.path) == ("PUT", "/v1/users/u144")
    assert request.content == (
        b'{"meta":{"plan":"custom","coverage":20},"created_at":"2021-01-12T05:24:39.062+00:00"}'
    )


def test_update_email_needs_the_secret() -> None:
    result = run(["users", "update", "u1", "--email", "a@b.co"], env={"ENGAGE_API_SECRET": ""})
    assert result.exit_code == 3
    assert result.sent == []
    ok = run(["users", "update", "u1", "--email", "a@b.co"], [reply(200, USER)])
    assert ok.exit_code == 0
    assert ok.script.body() == {"email": "a@b.co"}


def test_update_refuses_nothing_and_sends_lists() -> None:
    assert run(["users", "update", "u1"]).exit_code == 2
    # Engage's connectors send lists on PUT: it subscribes, and the contract takes it.
    result = run(["users", "update", "u1", "--data", '{"lists": ["l1"]}'], [reply(200, USER)])
    assert result.exit_code == 0, result.stderr
    assert result.script.body() == {"lists": ["l1"]}


def page(ids: list[str], **extra: object) -> dict[str, object]:
    return {"data": [{"id": i, "uid": f"u{i}"} for i in ids], **extra}


def test_list_one_page_with_a_hint_on_a_terminal() -> None:
    result = run(
        ["users", "list", "--limit", "2"], [reply(200, page(["a1", "a2"], has_more=True))], tty=True
    )
    assert result.exit_code == 0
    assert result.sent[0].url.params == httpx.QueryParams({"limit": "2"})
    assert "ua1" in result.stdout
    assert "--after-id a2" in result.stderr
    piped = run(["users", "list"], [reply(200, page(["a1"], has_more=True))])
    assert piped.json() == [{"id": "a1", "uid": "ua1"}]
    # A script gets the next page in a pipe too: one JSON line on stderr (issue 22).
    assert json.loads(piped.stderr) == {
        "next_page": {
            "cursor": "a1",
            "option": "--after-id",
            "command": "engage users list --after-id a1",
        }
    }


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_a_script_reads_the_next_cursor_from_stderr_and_nothing_after_the_last_page(
    fmt: str,
) -> None:
    first = {"data": [{"id": "a1", "uid": "u 1"}], "next_cursor": "c/2 x", "has_more": True}
    args = ["--sandbox", "users", "list", "--limit", "1", "--email", "a@b.c", "-o", fmt]
    result = run(args, [reply(200, first)])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stderr) == {
        "next_page": {
            "cursor": "c/2 x",
            "option": "--next-cursor",
            "command": "engage --sandbox users list --limit 1 --email a@b.c --next-cursor 'c/2 x'",
        }
    }
    last = {"data": [{"id": "a2", "uid": "u2"}], "next_cursor": None, "has_more": False}
    done = run([*args, "--next-cursor", "c/2 x"], [reply(200, last)])
    assert done.exit_code == 0 and done.stderr == ""
    assert done.sent[0].url.params["next_cursor"] == "c/2 x"


def test_list_all_follows_has_more() -> None:
    replies = [
        reply(200, page(["a1", "a2"], has_more=True)),
        reply(200, page(["a3"], has_more=False)),
    ]
    result = run(["users", "list", "--all", "--limit", "2", "-o", "ndjson"], replies)
    assert result.exit_code == 0
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a1", "a2", "a3"]
    assert result.sent[1].url.params == httpx.QueryParams({"limit": "2", "after_id": "a2"})


def test_list_all_follows_next_cursor() -> None:
    replies = [
        reply(200, page(["a1"], next_cursor="c1", has_more=True)),
        reply(200, page(["a2"], next_cursor=None, has_more=False)),
    ]
    result = run(["users", "list", "--all"], replies)
    assert [u["id"] for u in result.json()] == ["a1", "a2"]
    assert result.sent[1].url.params == httpx.QueryParams({"next_cursor": "c1"})


def test_list_backward_with_before_id() -> None:
    replies = [
        reply(200, page(["a3", "a4"], has_more=True)),
        reply(200, page(["a1", "a2"], has_more=False)),
    ]
    result = run(["users", "list", "--before-id", "a5", "--all", "-o", "ndjson"], replies)
    assert result.sent[0].url.params == httpx.QueryParams({"before_id": "a5"})
    assert result.sent[1].url.params == httpx.QueryParams({"before_id": "a3"})
    assert [json.loads(x)["id"] for x in result.stdout.splitlines()] == ["a3", "a4", "a1", "a2"]


def test_list_max_stops_early() -> None:
    replies = [
        reply(200, page(["a1", "a2"], has_more=True)),
        reply(200, page(["a3", "a4"], has_more=True)),
    ]
    result = run(["users", "list", "--max", "3", "-o", "ndjson"], replies)
    assert result.stdout.count("\n") == 3
    assert len(result.sent) == 2


def test_list_csv_and_table() -> None:
    result = run(["users", "list", "-o", "csv"], [reply(200, {"data": [USER], "has_more": False})])
    assert result.stdout.splitlines()[0].startswith("uid,first_name,last_name,email,number,lists")
    assert ",l1," in result.stdout.splitlines()[1]
    table = run(["users", "list", "-o", "table"], [reply(200, {"data": [USER], "has_more": False})])
    header = table.stdout.splitlines()[0]
    for column in ("uid", "name", "email", "lists", "created"):
        assert column in header
    assert "number" not in header  # empty on the whole page: no column for it


@pytest.mark.parametrize(
    "args",
    [["--limit", "0"], ["--limit", "31"], ["--after-id", "a", "--before-id", "b"], ["--max", "0"]],
)
def test_list_refuses_bad_options(args: list[str]) -> None:
    result = run(["users", "list", *args])
    assert result.exit_code == 2
    assert result.sent == []


def test_delete_needs_confirmation_off_a_terminal() -> None:
    result = run(["users", "delete", "u1"])
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert result.sent == []


def test_delete_asks_on_a_terminal() -> None:
    declined = run(["users", "delete", "u1"], tty=True, stdin="n\n")
    assert declined.exit_code == 2  # not confirmed: refused, as without a terminal
    assert declined.sent == []
    accepted = run(["users", "delete", "u1"], [reply(200, {"status": "ok"})], tty=True, stdin="y\n")
    assert accepted.exit_code == 0
    assert accepted.sent[0].method == "DELETE"


def test_delete_with_yes_and_not_found() -> None:
    result = run(["users", "delete", "u1", "--yes"], [reply(200, {"status": "ok"})])
    assert result.exit_code == 0
    assert result.json() == {"status": "ok"}
    missing = run(["users", "delete", "u1", "--yes"], [reply(404, {"error": "User not found."})])
    assert missing.exit_code == 4
    assert "User not found." in missing.stderr


@pytest.mark.parametrize(
    ("status", "body", "code", "text"),
    [
        (
            400,
            {"error": "A user with this id already exists."},
            5,
            "A user with this id already exists.",
        ),
        (
            401,
            {"error": "Wrong authentication credentials."},
            3,
            "Wrong authentication credentials.",
        ),
        (403, {"error": "Forbidden"}, 3, "Forbidden"),
        (404, {"error": "User not found."}, 4, "User not found."),
        (409, {"error": "Conflict"}, 5, "Conflict"),
        (422, {"error": "Unprocessable"}, 5, "Unprocessable"),
        (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", 6, "502 Bad Gateway"),
        (500, {"error": "boom"}, 6, "boom"),
    ],
)
def test_api_errors_map_to_exit_codes(status: int, body: object, code: int, text: str) -> None:
    result = run(["--retries", "0", "users", "get", "u1"], [reply(status, body)])
    assert result.exit_code == code
    assert len(result.sent) == 1
    assert text in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_errors_are_json_on_stderr_with_json_output() -> None:
    result = run(["users", "get", "u1", "-o", "json"], [reply(404, {"error": "User not found."})])
    assert result.exit_code == 4
    error = json.loads(result.stderr)["error"]
    assert error["status"] == 404
    assert error["exit_code"] == 4
    assert error["retryable"] is False
    assert "User not found." in error["message"]


def test_debug_logs_exchanges_with_credentials_masked() -> None:
    result = run(
        ["--debug", "users", "get", "u1"], [reply(503, {"error": "busy"}), reply(200, USER)]
    )
    assert result.exit_code == 0
    assert "> GET https://api.test/v1/users/u1" in result.stderr
    assert "Authorization: Basic ****" in result.stderr
    assert "< 503" in result.stderr and "retrying" in result.stderr
    assert KEY not in result.stderr and SECRET not in result.stderr
    assert basic(KEY, SECRET).removeprefix("Basic ") not in result.stderr


def test_unexpected_failure_is_one_line_without_debug() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("kaboom")

    result = run(["users", "get", "u1"], [explode])
    assert result.exit_code == 1
    assert "Unexpected failure" in result.stderr and "kaboom" in result.stderr
    assert "Traceback" not in result.stderr
    debug = run(["--debug", "users", "get", "u1"], [explode])
    assert "Traceback" in debug.stderr


def test_output_from_environment_and_bad_value() -> None:
    result = run(["users", "get", "u1"], [reply(200, USER)], env={"ENGAGE_OUTPUT": "ndjson"})
    assert result.stdout.count("\n") == 1
    bad = run(["users", "get", "u1"], env={"ENGAGE_OUTPUT": "yaml"})
    assert bad.exit_code == 2
    assert "yaml" in bad.stderr


@pytest.mark.parametrize("uid", ["", ".", ".."])
@pytest.mark.parametrize(
    "command",
    [["users", "get"], ["users", "delete", "--yes"], ["users", "update", "--first-name", "A"]],
)
def test_uids_that_a_url_would_swallow_are_refused(command: list[str], uid: str) -> None:
    args = [*command[:2], uid, *command[2:]]
    result = run(args)
    assert result.exit_code == 2, result.stderr
    assert "cannot be a user id" in result.stderr
    assert result.sent == []


def test_an_event_for_dot_dot_is_refused() -> None:
    result = run(["events", "add", "..", "Paid"])
    assert result.exit_code == 2
    assert result.sent == []


@pytest.mark.parametrize(
    "args",
    [
        ["users", "list", "--limit", "abc", "-o", "json"],
        ["users", "get", "--output=ndjson"],
        ["users", "get", "-ojson"],
    ],
)
def test_usage_errors_are_json_when_json_was_asked_for(args: list[str]) -> None:
    result = run(args)
    assert result.exit_code == 2
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == 2
    assert error["message"]
    assert result.sent == []


@pytest.mark.parametrize(
    ("args", "tty"),
    [
        (["users", "list", "--limit", "abc"], True),
        (["users", "list", "-n", "abc", "-o", "table"], False),
    ],
)
def test_usage_errors_are_text_otherwise(args: list[str], tty: bool) -> None:
    result = run(args, tty=tty)
    assert result.exit_code == 2
    assert "Usage: engage users list" in result.stderr
    assert "'abc' is not a valid int" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["users", "list", "--limit", "abc"],  # a usage error, found by the parser
        ["users", "list", "--limit", "50"],  # one found by the command
        ["users", "get", ".."],
    ],
)
def test_every_error_is_json_in_a_pipe_as_the_output_is(args: list[str]) -> None:
    # One rule for usage and runtime errors alike: JSON when the output would be JSON.
    result = run(args)
    assert result.exit_code == 2
    assert json.loads(result.stderr)["error"]["exit_code"] == 2


def test_an_error_follows_the_commands_output_flag_before_it_chose_its_output() -> None:
    result = run(["users", "list", "--limit", "50", "-o", "table"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --limit must be between 1 and 30")

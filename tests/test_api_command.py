"""`engage api METHOD PATH`: the raw call, in-process against a scripted transport."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.harness import BASE, KEY, SECRET, basic, reply, run

USER = {"id": "5fc6477241fcec31a9548e98", "uid": "u144", "meta": {"plan": "pro"}, "new": 1}


def test_get_prints_the_json_answer_with_full_credentials() -> None:
    result = run(["api", "GET", "/users/u144"], [reply(200, USER)])
    assert result.exit_code == 0, result.stderr
    (request,) = result.sent
    assert (request.method, str(request.url)) == ("GET", f"{BASE}/users/u144")
    assert request.headers["authorization"] == basic(KEY, SECRET)
    assert request.content == b""
    assert result.json() == USER  # every field kept, unknown ones too
    assert result.stderr == ""


def test_method_in_any_case_and_path_without_a_slash() -> None:
    result = run(["api", "get", "users/u144"], [reply(200, USER)])
    assert result.exit_code == 0, result.stderr
    assert str(result.sent[0].url) == f"{BASE}/users/u144"


def test_an_unknown_method_is_refused_naming_the_methods_as_the_help_does() -> None:
    result = run(["api", "FOO", "/users"])
    assert result.exit_code == 2
    message = json.loads(result.stderr)["error"]["message"]
    assert (
        message == "Invalid value for 'METHOD': 'FOO' is not one of GET, POST, PUT, PATCH, DELETE."
    )
    assert "GET, POST, PUT, PATCH or DELETE" in run(["api", "--help"]).stdout
    assert result.sent == []


def test_fields_and_data_build_the_body_and_fields_win(tmp_path: Path) -> None:
    body_file = tmp_path / "merge.json"
    body_file.write_text('{"source": "u1", "destination": "old"}')
    args = ["api", "POST", "/users/merge", "--data", f"@{body_file}"]
    args += ["-f", "destination=u2", "-f", "dry:=false", "--field", "tags:=[1,2]"]
    result = run(args, [reply(200, {"status": "queued"})])
    assert result.exit_code == 0, result.stderr
    (request,) = result.sent
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "source": "u1",
        "destination": "u2",
        "dry": False,
        "tags": [1, 2],
    }
    assert result.json() == {"status": "queued"}


def test_body_from_stdin() -> None:
    result = run(
        ["api", "PUT", "/users/u144", "--data", "-"],
        [reply(200, USER)],
        stdin='{"meta": {"plan": "pro"}}',
    )
    assert result.exit_code == 0, result.stderr
    assert result.script.body() == {"meta": {"plan": "pro"}}


def test_query_from_options_and_from_the_path() -> None:
    args = ["api", "GET", "/users?limit=5&email=a%40example.com", "-p", "after_id=abc"]
    result = run(args, [reply(200, {"data": []})])
    assert result.exit_code == 0, result.stderr
    url = result.sent[0].url
    assert url.path == "/v1/users"
    assert dict(url.params) == {"limit": "5", "email": "a@example.com", "after_id": "abc"}


def test_query_reshapes_the_answer_with_jmespath() -> None:
    page = {"data": [{"uid": "a", "meta": {"plan": "pro"}}, {"uid": "b"}], "has_more": False}
    args = ["api", "GET", "/users", "-p", "limit=2", "--query", "data[?meta.plan=='pro'].uid"]
    result = run(args, [reply(200, page)])
    assert result.exit_code == 0, result.stderr
    assert dict(result.sent[0].url.params) == {"limit": "2"}  # -p is the query string
    assert result.json() == ["a"]


def test_query_reshapes_every_page_of_paginate_as_one_list() -> None:
    pages = [
        reply(200, {"data": [{"id": "i1", "uid": "a1"}], "has_more": True}),
        reply(200, {"data": [{"id": "i2", "uid": "a2"}], "has_more": False}),
    ]
    result = run(["api", "GET", "/users", "--paginate", "--query", "[].uid"], pages)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ['"a1"', '"a2"']
    assert dict(result.sent[1].url.params) == {"after_id": "i1"}


def test_a_query_parameter_given_to_query_is_refused_with_a_hint_and_nothing_sent() -> None:
    result = run(["api", "GET", "/users", "--query", "limit=5"])
    assert result.exit_code == 2
    assert result.sent == []
    error = json.loads(result.stderr)["error"]
    assert "not a JMESPath expression" in error["message"]
    assert "--param K=V" in error["hint"]


def test_ndjson_prints_one_line() -> None:
    result = run(["api", "GET", "/users/u144", "-o", "ndjson"], [reply(200, USER)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == json.dumps(USER) + "\n"


def test_an_empty_answer_prints_nothing() -> None:
    result = run(["api", "DELETE", "/users/u144/lists/l1"], [reply(204, b"")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""


def test_paginate_follows_has_more_and_streams_ndjson() -> None:
    pages = [
        reply(200, {"data": [{"id": "a1"}, {"id": "a2"}], "has_more": True}),
        reply(200, {"data": [{"id": "a3"}], "has_more": False}),
    ]
    result = run(["api", "GET", "/users", "-p", "limit=2", "--paginate"], pages)
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a1", "a2", "a3"]
    assert [dict(r.url.params) for r in result.sent] == [
        {"limit": "2"},
        {"limit": "2", "after_id": "a2"},
    ]


def test_paginate_follows_next_cursor_into_a_json_array() -> None:
    pages = [
        reply(200, {"data": [{"id": "a1"}], "next_cursor": "c2"}),
        reply(200, {"data": [{"id": "a2"}], "next_cursor": None}),
    ]
    result = run(["api", "GET", "/users", "--paginate", "-o", "json"], pages)
    assert result.exit_code == 0, result.stderr
    assert result.json() == [{"id": "a1"}, {"id": "a2"}]
    assert dict(result.sent[1].url.params) == {"next_cursor": "c2"}


def test_dry_run_shows_the_request_and_sends_nothing() -> None:
    args = ["api", "POST", "/users/u144/events", "-f", "event=Paid", "-f", "value:=49.99"]
    result = run([*args, "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert result.sent == []
    shown = result.json()
    assert shown["method"] == "POST"
    assert shown["url"] == f"{BASE}/users/u144/events"
    assert shown["headers"]["Authorization"] == "Basic ****"
    assert shown["body"] == {"event": "Paid", "value": 49.99}
    assert KEY not in result.stdout and SECRET not in result.stdout


@pytest.mark.parametrize(
    ("status", "code"), [(401, 3), (403, 3), (404, 4), (400, 5), (422, 5), (503, 6)]
)
def test_api_errors_map_to_exit_codes_as_json_on_stderr(status: int, code: int) -> None:
    result = run(["--retries", "0", "api", "GET", "/lists/l9"], [reply(status, {"error": "no"})])
    assert result.exit_code == code
    assert result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["status"] == status
    assert error["exit_code"] == code


def test_a_post_is_not_repeated_after_a_server_error() -> None:
    result = run(["api", "POST", "/users/merge", "-f", "source=u1"], [reply(502, "bad gateway")])
    assert result.exit_code == 6
    assert len(result.sent) == 1


def test_no_credentials_is_a_configuration_error() -> None:
    result = run(["api", "GET", "/users"], credentials=False)
    assert result.exit_code == 3
    assert result.sent == []
    assert "No API key" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["GET", "/users", "-f", "a=b"], "GET request carries no body"),
        (["GET", "https://api.engage.so/v1/users"], "full URL"),
        (["GET", "/users", "-p", "limit"], "expected KEY=VALUE"),
        (["POST", "/users", "--paginate"], "--paginate"),
        (["POST", "/users", "-f", "age:=thirty"], "not a JSON literal"),
        (["POST", "/users", "--data", "[1]"], "must be a JSON object"),
    ],
)
def test_bad_input_is_refused_before_the_network(args: list[str], message: str) -> None:
    result = run(["api", *args])
    assert result.exit_code == 2
    assert result.sent == []
    assert message in result.stderr


def test_an_unknown_method_is_a_usage_error() -> None:
    result = run(["api", "FETCH", "/users"])
    assert result.exit_code == 2
    assert result.sent == []
    assert "FETCH" in result.stderr


def test_debug_logs_the_exchange_with_credentials_masked() -> None:
    result = run(["--debug", "api", "GET", "/users/u144"], [reply(200, USER)])
    assert result.exit_code == 0
    assert "> GET https://api.test/v1/users/u144" in result.stderr
    assert "Basic ****" in result.stderr
    assert KEY not in result.stderr and SECRET not in result.stderr


def test_transport_failure_is_temporary() -> None:
    failure = httpx.ConnectError("refused")
    result = run(["--retries", "0", "api", "GET", "/users"], [failure])
    assert result.exit_code == 6

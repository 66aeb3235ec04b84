"""Hostile input ends as a usage error (exit 2) before any request, never as exit 1: deep
nesting, text that is not UTF-8, over-long paths, and values that only looked valid."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest

from engage_cli.errors import UsageError
from engage_cli.inputs import load_data
from engage_cli.strict import MAX_DEPTH, loads_json
from tests.e2e.conftest import engage_binary
from tests.harness import reply, run

DEEP = "[" * 100_000 + "]" * 100_000
JUST_TOO_DEEP = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)


def refused(args: list[str], stdin: str = "", *, what: str = "") -> str:
    result = run(args, stdin=stdin)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.sent == []
    assert "Unexpected failure" not in result.stderr
    assert what.lower() in result.stderr.lower()
    return result.stderr


@pytest.mark.parametrize("deep", [DEEP, JUST_TOO_DEEP], ids=["100000", "limit+1"])
@pytest.mark.parametrize(
    "args",
    [
        ["users", "create", "--id", "u1", "--data", '{"meta": {"a": DEEP}}'],
        ["users", "update", "u1", "--meta", "a:=DEEP"],
        ["events", "add", "u1", "ev", "--property", "a:=DEEP"],
        ["api", "POST", "/users", "--data", "DEEP"],
        ["api", "POST", "/users", "--field", "a:=DEEP"],
    ],
)
def test_deep_nesting_is_a_usage_error(args: list[str], deep: str) -> None:
    refused([arg.replace("DEEP", deep) for arg in args], what="nested")


def test_deep_nesting_from_a_file_and_stdin(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    refused(["api", "POST", "/users", "--data", f"@{path}"], what="nested")
    refused(["users", "create", "--data", "-"], stdin=DEEP, what="nested")


def test_a_deep_value_is_text_like_any_array() -> None:
    # --value is a JSON scalar when it reads as one, else text: an array is text, however deep.
    result = run(["events", "add", "u1", "ev", "--value", DEEP], [reply(200, {"status": "ok"})])
    assert result.exit_code == 0, result.stderr
    assert result.script.body()["value"] == DEEP


def test_nesting_up_to_the_limit_is_accepted() -> None:
    body = '{"a": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    assert loads_json(body) == {"a": loads_json("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))}


@pytest.mark.parametrize(
    "args",
    [
        ["users", "create", "--id", "u1", "--first-name", "\udcff"],
        ["users", "create", "--id", "u\udce9"],
        ["users", "get", "u\ud800"],
        ["events", "add", "u1", "caf\udce9"],
        ["--profile", "\udcff", "users", "get", "u1"],
        ["api", "GET", "/users/\udcff"],
        ["auth", "login", "--api-key", "k\udcff", "--key-only"],
    ],
)
def test_argv_that_is_not_utf8_is_a_usage_error(args: list[str]) -> None:
    joined = "".join(args)
    refused(args, what="surrogate" if "\ud800" in joined else "not UTF-8")


@pytest.mark.parametrize(
    "body",
    ['{"id": "u1", "first_name": "\\ud800"}', '{"id": "u1", "meta": {"\\udfff": 1}}'],
)
def test_json_escapes_of_lone_surrogates_are_refused(body: str) -> None:
    refused(["users", "create", "--data", body], what="surrogate")


def test_an_escaped_surrogate_pair_is_one_character() -> None:
    body = '{"id": "u1", "first_name": "\\ud83d\\ude00"}'
    result = run(["users", "create", "--data", body], [reply(200, {"uid": "u1"})])
    assert result.exit_code == 0, result.stderr
    assert result.script.body()["first_name"] == "😀"


def test_data_files_and_stdin_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"id": "u1", "first_name": "\xff"}')
    refused(["users", "create", "--data", f"@{path}"], what="not UTF-8")
    # stdin as Python reads it: strict UTF-8 raises, a C locale's surrogateescape passes
    # the byte through as a lone surrogate. Either is a usage error.
    strict = io.TextIOWrapper(io.BytesIO(b'{"x": "\xff"}'), encoding="utf-8")
    with pytest.raises(UsageError, match="stdin is not UTF-8"):
        load_data("-", strict)
    with pytest.raises(UsageError, match="not UTF-8 \\(0xff\\)"):
        load_data("-", io.StringIO('{"x": "\udcff"}'))


def test_real_bytes_through_the_installed_binary(tmp_path: Path) -> None:
    """The bytes a shell really passes: argv and stdin that are not UTF-8."""
    env = dict(os.environ)
    binary = os.fsencode(engage_binary())
    argv_run = subprocess.run(
        [binary, b"--sandbox", b"users", b"create", b"--id", b"u1", b"--first-name", b"\xff"],
        capture_output=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert argv_run.returncode == 2, argv_run.stderr
    assert b"not UTF-8" in argv_run.stderr
    stdin_run = subprocess.run(
        [binary, b"--sandbox", b"users", b"create", b"--data", b"-", b"--dry-run"],
        input=b'{"id": "u1", "first_name": "\xff"}',
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert stdin_run.returncode == 2, stdin_run.stderr
    assert b"UTF-8" in stdin_run.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["users", "get", "u" * 70_000],
        ["users", "update", "u" * 70_000, "--first-name", "A"],
        ["events", "add", "u" * 70_000, "ev"],
        ["api", "GET", "/" + "a" * 70_000],
        ["api", "GET", "/users", "--param", "email=" + "a" * 70_000],
        ["users", "list", "--after-id", "a" * 70_000],
    ],
)
def test_a_path_or_query_over_the_url_limit_is_a_usage_error(args: list[str]) -> None:
    refused(args, what="too long")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["users", "create", "--id", "u1\n"], "id"),
        (["users", "create", "--id", "u1", "--email", "a@b\n"], "email"),
        (["users", "create", "--id", "u1", "--number", "123\n"], "number"),
        (["users", "create", "--id", "u1", "--number", "١٢٣"], "number"),
        (["users", "update", "u1", "--email", "a@b\n"], "email"),
        (["users", "update", "u1", "--number", "123\n"], "number"),
        (["events", "add", "u1", "   "], "event"),
        (["events", "add", "u1", "--data", '{"event": " \\t "}'], "event"),
        (["users", "create", "--id", "u1", "--list", ""], "lists"),
        (["users", "create", "--id", "u1", "--list", "  "], "lists"),
        (["users", "create", "--id", "u1", "--created-at", "२०२१-०१-०१"], "created_at"),
        (["events", "add", "u1", "E", "--timestamp", "٢٠٢١-01-01T10:00Z"], "timestamp"),
    ],
)
def test_values_that_only_looked_valid_are_refused_before_sending(
    args: list[str], field: str
) -> None:
    refused(args, what=field)


def test_control_characters_in_an_api_path_are_escaped_not_a_crash() -> None:
    result = run(["api", "GET", "/users/a\x1fb c"], [reply(200, {})])
    assert result.exit_code == 0, result.stderr
    assert result.sent[0].url.raw_path == b"/v1/users/a%1Fb%20c"


@pytest.mark.parametrize("uid", ["user_123", "a.b-c+d@example.com", "U1"])
def test_uids_the_api_accepts_are_accepted(uid: str) -> None:
    result = run(["users", "create", "--id", uid], [reply(200, {"uid": uid})])
    assert result.exit_code == 0, result.stderr
    assert result.script.body() == {"id": uid}

"""The root command: the lazy command table, global options after the command, --query,
and the one rule for when errors are JSON."""

from __future__ import annotations

import json

import pytest
import typer

from engage_cli.app import COMMANDS, app
from tests.harness import reply, run

BASE_URL = "http://before.test/v1"
USER = {"id": "a1", "uid": "u1", "email": "a@example.com", "meta": {"plan": "pro"}}


def test_the_table_lists_every_command_in_help_order() -> None:
    result = run(["--help"])
    listed = result.stdout.split("Commands:")[1].split()
    assert [word for word in listed if word in COMMANDS] == list(COMMANDS)


def test_an_unknown_command_is_a_usage_error() -> None:
    result = run(["nope"], tty=True)
    assert result.exit_code == 2
    assert "No such command 'nope'" in result.stderr


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["users", "get", "u1", "--base-url", "http://after.test/v1"], "http://after.test/v1"),
        (["--base-url", "http://before.test/v1", "users", "get", "u1"], "http://before.test/v1"),
    ],
)
def test_global_options_work_before_and_after_the_command(args: list[str], where: str) -> None:
    result = run([*args, "-o", "json"], [reply(200, USER)])
    assert result.exit_code == 0, result.stderr
    assert str(result.sent[0].url) == f"{where}/users/u1"


def test_sandbox_and_debug_after_the_command() -> None:
    args = ["users", "list", "--sandbox", "--debug", "--timeout", "5", "-o", "json"]
    result = run(args, [reply(200, {"data": [], "has_more": False})])
    assert result.exit_code == 0, result.stderr
    assert str(result.sent[0].url).startswith("http://sandbox.localhost/v1/users")
    assert "[debug] > GET" in result.stderr


def test_a_global_option_after_the_command_is_checked_like_before_it() -> None:
    result = run(["users", "list", "--retries", "11"], tty=True)
    assert result.exit_code == 2
    assert "--retries" in result.stderr
    assert result.sent == []


def leaf_params(*path: str) -> list[str]:
    """The option strings `engage PATH...` parses, global ones included."""
    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="engage")
    for name in path:
        command = command.get_command(ctx, name)  # type: ignore[attr-defined]
        ctx = typer.Context(command, info_name=name, parent=ctx)
    return [opt for param in command.get_params(ctx) for opt in param.opts]


def test_a_commands_own_option_wins_over_the_global_one() -> None:
    # `auth login --profile ci` names the profile to write: one --profile, the command's.
    login = leaf_params("auth", "login")
    assert login.count("--profile") == 1 and login.count("--base-url") == 1
    assert {"--sandbox", "--debug", "--timeout", "--retries"} <= set(login)
    assert "--query" not in login  # it prints no data


def test_global_options_stay_out_of_a_commands_help() -> None:
    result = run(["users", "list", "--help"])
    assert "--sandbox" not in result.stdout
    assert "--query" in result.stdout


def test_typers_completion_options_are_gone() -> None:
    assert "--install-completion" not in run(["--help"]).stdout
    result = run(["--show-completion"], tty=True)
    assert result.exit_code == 2
    assert "No such option" in result.stderr


# --- --query ---

PAGE = {
    "data": [
        {"uid": "u1", "email": "a@example.com", "meta": {"plan": "pro"}},
        {"uid": "u2", "email": "b@example.com", "meta": {"plan": "free"}},
    ],
    "has_more": False,
}


def test_query_reshapes_a_list_before_output() -> None:
    result = run(["users", "list", "--query", "[].email"], [reply(200, PAGE)])
    assert result.exit_code == 0, result.stderr
    assert result.json() == ["a@example.com", "b@example.com"]


def test_query_then_output_format() -> None:
    args = ["users", "list", "--query", "[?meta.plan=='pro'].{uid: uid}", "-o", "csv"]
    result = run(args, [reply(200, PAGE)])
    assert result.stdout == "uid\nu1\n"
    ndjson = run(["users", "list", "--query", "[].uid", "-o", "ndjson"], [reply(200, PAGE)])
    assert ndjson.stdout == '"u1"\n"u2"\n'


def test_query_on_one_object_and_to_a_scalar() -> None:
    result = run(["users", "get", "u1", "--query", "meta.plan"], [reply(200, USER)])
    assert result.json() == "pro"
    counted = run(["users", "list", "--query", "length(@)"], [reply(200, PAGE)])
    assert counted.json() == 2


def test_a_bad_query_is_refused_before_any_request() -> None:
    result = run(["users", "list", "--query", "[?"])
    assert result.exit_code == 2
    assert "JMESPath" in json.loads(result.stderr)["error"]["message"]
    assert result.sent == []


def test_query_on_a_table() -> None:
    result = run(["users", "list", "--query", "[].uid", "-o", "table"], [reply(200, PAGE)])
    assert result.stdout.split() == ["value", "u1", "u2"]


# --- where errors go ---


def test_usage_error_json_when_the_profile_says_json() -> None:
    env = {"ENGAGE_OUTPUT": "json"}
    result = run(["users", "list", "--limit", "abc"], env=env, tty=True)
    assert json.loads(result.stderr)["error"]["exit_code"] == 2


def test_an_unknown_format_still_reports_the_error_readably() -> None:
    result = run(["users", "list", "-o", "xml"], tty=True)
    assert result.exit_code == 2
    assert "xml" in result.stderr


def test_ctrl_c_or_end_of_input_at_a_prompt_is_no_bug() -> None:
    # typer.confirm turns both into Abort; exit 1 is for bugs.
    result = run(["users", "delete", "u1"], tty=True, stdin="")
    assert result.exit_code == 130
    assert result.stderr.strip().endswith("Aborted.")
    assert result.sent == []


def test_a_sub_app_with_a_nested_group(monkeypatch: pytest.MonkeyPatch) -> None:
    # `users accounts ...`: a group inside a group's module builds lazily too, and its
    # commands take the global options after them.
    import sys
    import types

    accounts = typer.Typer(help="Accounts of a user.")

    @accounts.command("list")
    def list_accounts(ctx: typer.Context, uid: str) -> None:
        """List a user's accounts."""
        from engage_cli.commands._common import state_of

        state = state_of(ctx)
        state.streams.stdout.write(f"{uid} sandbox={state.sandbox}\n")

    parent = typer.Typer()

    @parent.command("ping")
    def ping() -> None:
        """Answer."""

    parent.add_typer(accounts, name="accounts")
    module = types.ModuleType("fake_group")
    module.app = parent  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_group", module)
    monkeypatch.setitem(COMMANDS, "fake", ("fake_group", "A fake group."))

    result = run(["fake", "accounts", "list", "u1", "--sandbox"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "u1 sandbox=True\n"
    assert "accounts" in run(["fake", "--help"]).stdout
    assert "Accounts of a user." in run(["fake", "--help"]).stdout


# --- a newcomer's second day (issue 22) ---


@pytest.mark.parametrize(
    ("args", "typo", "meant"),
    [
        (["users", "lsit"], "lsit", "'list'"),
        (["user", "list"], "user", "'users'"),
        (["evnts", "add", "u1", "Login"], "evnts", "'events'"),
        (["users", "accounts", "ad", "u1", "a1"], "ad", "'add'"),
    ],
)
def test_a_mistyped_command_gets_the_closest_one(args: list[str], typo: str, meant: str) -> None:
    result = run(args)
    assert result.exit_code == 2
    message = json.loads(result.stderr)["error"]["message"]
    assert message.startswith(f"No such command '{typo}'. Did you mean {meant}")
    assert result.sent == []


def test_a_command_like_nothing_gets_no_suggestion() -> None:
    result = run(["zzzz"], tty=True)
    assert result.exit_code == 2
    assert "No such command 'zzzz'." in result.stderr
    assert "Did you mean" not in result.stderr


@pytest.mark.parametrize("args", [[], ["users"], ["users", "accounts"]])
@pytest.mark.parametrize("env", [{}, {"ENGAGE_OUTPUT": "json"}])
def test_no_command_prints_the_help_plainly_on_stderr(args: list[str], env: dict[str, str]) -> None:
    # Help is text for people: never escaped inside a JSON error, whatever -o says.
    result = run([*args], env=env)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"Usage: engage {' '.join(args)}".rstrip() + " [OPTIONS]")
    assert "\nCommands:\n" in result.stderr
    assert '{"error"' not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "ndjson", "users", "get", "u1"],
        ["--output", "ndjson", "users", "get", "u1"],
        ["--output=ndjson", "--base-url", BASE_URL, "users", "get", "u1"],
        ["-o", "csv", "users", "get", "u1", "-o", "ndjson"],  # after the command wins
    ],
)
def test_o_before_the_command_is_the_commands_o(args: list[str]) -> None:
    result = run(args, [reply(200, USER)], tty=True)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == USER
    assert "\n" not in result.stdout.rstrip("\n")  # ndjson: one line


def test_o_before_the_command_is_checked_by_the_command() -> None:
    result = run(["-o", "table", "api", "GET", "/users"], tty=True)
    assert result.exit_code == 2
    assert "'table' is not one of 'json', 'ndjson'" in result.stderr
    assert result.sent == []


def test_o_before_a_command_that_prints_no_data_is_refused() -> None:
    result = run(["-o", "json", "auth", "logout"], tty=True)
    assert result.exit_code == 2
    assert "`engage auth logout` prints no data: it takes no -o/--output." in result.stderr

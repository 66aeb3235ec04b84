"""The import graph of start-up: what `engage` loads for --version, --help, Tab and a read.

Timings vary from machine to machine; which modules a path imports does not, so this is
what the tests pin (tests/benchmarks/startup.py measures the time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("httpx", "pydantic", "rich", "rich.table", "engage_cli.sandbox")
COMMAND_MODULES = (
    "engage_cli.commands.auth",
    "engage_cli.commands.users",
    "engage_cli.commands.lists",
)

# Runs `engage ARGS` the way the console script does, then reports which of the watched
# modules were really imported (a module blocked with None in sys.modules was not).
PROBE = """
import atexit, json, sys
WATCH = {watch!r}
def report():
    loaded = [name for name in WATCH if sys.modules.get(name) is not None]
    sys.__stderr__.write("LOADED " + json.dumps(loaded) + "\\n")
atexit.register(report)
sys.argv = ["engage", *sys.argv[1:]]
from engage_cli.app import main
main()
"""


def loaded_by(*args: str, **env: str) -> list[str]:
    watch = (*HEAVY, "engage_cli.context", *COMMAND_MODULES)
    code = PROBE.format(watch=watch)
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    report = [line for line in done.stderr.splitlines() if line.startswith("LOADED ")]
    assert done.returncode == 0 and report, done.stderr
    return list(json.loads(report[-1].removeprefix("LOADED ")))


def completion_env(line: str) -> dict[str, str]:
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    return {"_ENGAGE_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword)}


def test_version_imports_no_command_module() -> None:
    assert loaded_by("--version") == []


def test_help_imports_nothing_heavy() -> None:
    loaded = loaded_by("--help")
    assert not set(loaded) & set(HEAVY), loaded


@pytest.mark.parametrize(
    "line",
    [
        "engage us",
        "engage users get u1 -o ",
        "engage --profile ",
        "engage completion ",
        "engage api GET /users --",
    ],
)
def test_tab_completion_imports_nothing_heavy(line: str) -> None:
    loaded = loaded_by(**completion_env(line))
    assert not set(loaded) & set(HEAVY), loaded


def test_completing_a_command_name_loads_no_command_module() -> None:
    loaded = loaded_by(**completion_env("engage us"))
    assert not set(loaded) & {"engage_cli.context", *COMMAND_MODULES}, loaded


def test_completing_a_subcommand_loads_only_its_group() -> None:
    loaded = loaded_by(**completion_env("engage users g"))
    assert "engage_cli.commands.users" in loaded
    assert "engage_cli.commands.auth" not in loaded


def test_completing_a_users_sub_group_loads_users_alone() -> None:
    loaded = loaded_by(**completion_env("engage users accounts a"))
    assert "engage_cli.commands.users" in loaded
    assert "engage_cli.commands.lists" not in loaded
    assert not set(loaded) & set(HEAVY), loaded


def test_the_lists_group_loads_only_when_used() -> None:
    assert "engage_cli.commands.lists" not in loaded_by("--help")
    loaded = loaded_by(**completion_env("engage lists s"))
    assert "engage_cli.commands.lists" in loaded
    assert "engage_cli.commands.users" not in loaded


def test_a_json_read_loads_no_rich() -> None:
    create = ["--sandbox", "users", "create", "--id", "u1", "-o", "json"]
    assert "rich" not in loaded_by(*create)
    loaded = loaded_by("--sandbox", "users", "get", "u1", "-o", "json")
    assert "httpx" in loaded  # it did reach the (in-process) API
    assert "rich" not in loaded and "rich.table" not in loaded


def test_a_valid_batch_import_loads_no_pydantic(tmp_path: Path) -> None:
    # Plain user records are checked by engage_cli.fields; pydantic (and the models built on
    # it, a large part of a 10,000-user --batch import's time) only for what fields.py leaves.
    users = tmp_path / "users.jsonl"
    users.write_text(
        '{"id": "u1", "email": "u1@example.com", "meta": {"plan": "pro", "age": 3}}\n'
        '{"uid": "u2", "first_name": "Ada", "created_at": "2021-01-12", "lists": ["l1"]}\n'
    )
    for mode in ("upsert", "create"):
        argv = ["--sandbox", "users", "import", str(users), "--batch", "--mode", mode]
        loaded = loaded_by(*argv, "-o", "json")
        assert "httpx" in loaded  # it did send
        assert "pydantic" not in loaded, mode

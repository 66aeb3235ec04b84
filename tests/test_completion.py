"""Tab completion through Typer's protocol (the `_ENGAGE_COMPLETE` environment), in-process
for breadth, and through the committed bash script in a real bash for the path users take."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from engage_cli.app import app
from engage_cli.config import ConfigFile
from engage_cli.docs import PROJECT_ROOT, command_tree, walk
from tests.e2e.conftest import engage_binary


def complete(line: str) -> list[str]:
    """What bash gets on Tab after `line` (a trailing space completes a new word)."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    env = {"_ENGAGE_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword)}
    result = CliRunner().invoke(app, [], env=env, prog_name="engage")
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def save_profiles(*names: str) -> None:
    path = Path(os.environ["ENGAGE_CONFIG_DIR"]) / "config.toml"
    ConfigFile(path, names[0], {name: {"api_key": f"key-{name}"} for name in names}).save()


COMMANDS = {path: command for path, command in walk(command_tree())}


def subcommands(path: tuple[str, ...]) -> list[str]:
    """The visible subcommands of `engage PATH`, in --help order: what Tab must offer."""
    return [p[-1] for p in COMMANDS if len(p) == len(path) + 1 and p[: len(path)] == path]


def long_options(path: tuple[str, ...]) -> list[str]:
    """The long options `engage PATH --help` lists (a command borrows some from its root)."""
    ctx = typer.Context(command_tree(), info_name="engage")
    for name in path:
        ctx = typer.Context(ctx.command.get_command(ctx, name), info_name=name, parent=ctx)
    return [
        opt
        for param in ctx.command.get_params(ctx)
        if not getattr(param, "hidden", False)
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("--")
    ]


@pytest.mark.parametrize(
    "line",
    ["engage us", "engage ", "engage users ", "engage users l", "engage events ", "engage auth "],
)
def test_commands_complete_to_exactly_the_visible_subcommands(line: str) -> None:
    *path, prefix = line.split(" ")[1:]
    expected = [name for name in subcommands(tuple(path)) if name.startswith(prefix)]
    assert expected, f"no command matches {line!r}: the test lost its subject"
    assert complete(line) == expected


@pytest.mark.parametrize("path", [(), ("users", "list"), ("events", "add"), ("users", "import")])
def test_options_complete_to_exactly_the_commands_own(path: tuple[str, ...]) -> None:
    expected = long_options(path)
    assert {"--help", "--output" if path else "--profile"} <= set(expected)
    assert complete(" ".join(("engage", *path, "--"))) == expected


@pytest.mark.parametrize("command", ["users get u1", "users list", "auth status", "events add u1"])
def test_output_formats(command: str) -> None:
    assert complete(f"engage {command} -o ") == ["table", "json", "ndjson", "csv"]
    assert complete(f"engage {command} --output n") == ["ndjson"]


def test_api_output_formats_and_methods() -> None:
    assert complete("engage api GET /users -o ") == ["json", "ndjson"]
    assert complete("engage api ") == ["GET", "POST", "PUT", "PATCH", "DELETE"]
    assert complete("engage api P") == ["POST", "PUT", "PATCH"]
    assert complete("engage api p") == ["post", "put", "patch"]  # any case is accepted


def test_shells() -> None:
    assert complete("engage completion ") == ["bash", "zsh", "fish", "powershell"]
    assert complete("engage completion f") == ["fish"]


def test_bulk_import_formats() -> None:
    assert complete("engage users import --format ") == ["csv", "jsonl", "json"]
    assert complete("engage events import --format j") == ["jsonl", "json"]


def test_profile_names_from_the_config() -> None:
    save_profiles("ci", "staging", "prod")
    assert complete("engage --profile ") == ["ci", "staging", "prod"]
    assert complete("engage --profile st") == ["staging"]
    assert complete("engage profiles use p") == ["prod"]
    assert complete("engage profiles show ") == ["ci", "staging", "prod"]


def test_no_profiles_and_a_broken_config_complete_nothing() -> None:
    assert complete("engage --profile ") == []
    config = Path(os.environ["ENGAGE_CONFIG_DIR"]) / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("not = [toml")
    assert complete("engage --profile ") == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_committed_bash_script_completes_in_bash() -> None:
    """Source completions/engage.bash in a real bash and press Tab the way bash does."""
    save_profiles("ci", "staging")
    script = PROJECT_ROOT / "completions" / "engage.bash"
    press_tab = (
        f'source "{script}"\n'
        'for line in "engage us" "engage users get u1 -o " "engage --profile s"; do\n'
        '  read -ra COMP_WORDS <<< "$line"; COMP_CWORD=${#COMP_WORDS[@]}\n'
        '  [[ "$line" == *" " ]] || COMP_CWORD=$((COMP_CWORD - 1))\n'
        '  _engage_completion engage; echo "${COMPREPLY[*]}"\n'
        "done\n"
    )
    path = f"{Path(engage_binary()).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", press_tab],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["users", "table json ndjson csv", "staging"]


def _shell_env() -> dict[str, str]:
    path = f"{Path(engage_binary()).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path}


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_the_committed_fish_script_completes_in_fish() -> None:
    script = PROJECT_ROOT / "completions" / "engage.fish"
    done = subprocess.run(
        ["fish", "--no-config", "-c", f"source {script}; complete -C 'engage us'"],
        capture_output=True,
        text=True,
        env=_shell_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [line.split("\t")[0] for line in done.stdout.splitlines()] == ["users"]


def test_the_zsh_script_completes_on_the_first_tab_after_an_fpath_autoload() -> None:
    # Typer's template only registers itself (fine when sourced); autoloaded from $fpath as
    # _engage, its first run must complete too, or the first Tab does nothing.
    script = (PROJECT_ROOT / "completions" / "_engage").read_text()
    assert script.startswith("#compdef engage\n")
    assert "loadautofunc" in script and '_engage_completion "$@"' in script
    if shutil.which("zsh"):
        checked = subprocess.run(["zsh", "-n", str(PROJECT_ROOT / "completions" / "_engage")])
        assert checked.returncode == 0

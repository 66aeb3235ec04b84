"""The generated README reference and completion scripts agree with the commands."""

from __future__ import annotations

import difflib

import pytest
from typer.core import TyperGroup

from engage_cli import docs
from engage_cli.commands.completion import SCRIPT_FILES, Shell, completion_script
from tests.harness import run

COMMANDS = list(docs.walk(docs.command_tree()))
LEAVES = [(path, cmd) for path, cmd in COMMANDS if not isinstance(cmd, TyperGroup)]


def _ids(items: list[tuple[tuple[str, ...], object]]) -> list[str]:
    return [" ".join(("engage", *path)) for path, _ in items]


def test_readme_reference_is_the_commands_help() -> None:
    readme = (docs.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert docs.START in readme and docs.END in readme, "run python -m engage_cli.docs --write"
    committed = readme[readme.index(docs.START) : readme.index(docs.END) + len(docs.END)] + "\n"
    expected = docs.reference()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True), expected.splitlines(keepends=True), "README.md"
        )
    )
    assert committed == expected, f"run python -m engage_cli.docs --write\n{diff}"


def test_the_reference_section_is_the_end_of_the_readme_and_nothing_else_is_touched() -> None:
    readme = "# Title\n\nOwn words.\n"
    added = docs.readme_with_reference(readme, "SECTION\n")
    assert added == "# Title\n\nOwn words.\n\nSECTION\n"
    section = f"{docs.START}\nnew\n{docs.END}\n"
    old = f"# Title\n\n{docs.START}\nold\n{docs.END}\n"
    assert docs.readme_with_reference(old, section) == f"# Title\n\n{section}"


@pytest.mark.parametrize("shell", list(Shell))
def test_committed_completion_scripts_are_current(shell: Shell) -> None:
    committed = docs.PROJECT_ROOT / "completions" / SCRIPT_FILES[shell]
    assert committed.exists(), "run python -m engage_cli.docs --write"
    assert committed.read_text(encoding="utf-8") == completion_script(shell)


@pytest.mark.parametrize("shell", list(Shell))
def test_engage_completion_prints_the_committed_script(shell: Shell) -> None:
    result = run(["completion", shell.value], credentials=False)
    assert result.exit_code == 0, result.stderr
    committed = docs.PROJECT_ROOT / "completions" / SCRIPT_FILES[shell]
    assert result.stdout == committed.read_text(encoding="utf-8")
    assert "_ENGAGE_COMPLETE" in result.stdout and "complete_" in result.stdout


def test_zsh_script_declares_compdef_on_its_first_line() -> None:
    assert completion_script(Shell.zsh).splitlines()[0] == "#compdef engage"


def test_the_walk_finds_every_command_group_of_the_root() -> None:
    found = {path[0] for path, _ in COMMANDS if path}
    assert {"users", "events", "auth", "profiles", "sandbox", "api", "completion"} <= found


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=_ids(COMMANDS))
def test_every_command_has_a_one_line_summary(path: tuple[str, ...], command: object) -> None:
    summary = docs.summary(command)
    assert summary, f"engage {' '.join(path)} has no help"
    assert "\n" not in summary, f"the summary of engage {' '.join(path)} spans lines"


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=_ids(LEAVES))
def test_every_command_has_an_example(path: tuple[str, ...], command: object) -> None:
    lines = [line.strip() for line in docs.help_text(path).splitlines()]
    examples = [line for line in lines if line.startswith("Example:") and "engage " in line]
    assert examples, f"engage {' '.join(path)} --help shows no 'Example: ...' line"

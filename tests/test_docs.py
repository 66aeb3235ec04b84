"""The generated command reference (docs/reference.md) and completion scripts agree with the
commands; the README stays a short tour."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from typer.core import TyperGroup

from engage_cli import docs
from engage_cli.commands.completion import SCRIPT_FILES, Shell, completion_script
from tests.harness import reply, run

COMMANDS = list(docs.walk(docs.command_tree()))
LEAVES = [(path, cmd) for path, cmd in COMMANDS if not isinstance(cmd, TyperGroup)]


def _ids(items: list[tuple[tuple[str, ...], object]]) -> list[str]:
    return [" ".join(("engage", *path)) for path, _ in items]


def test_the_reference_is_the_commands_help() -> None:
    path = docs.PROJECT_ROOT / docs.REFERENCE
    assert path.exists(), f"{docs.REFERENCE} is missing: run {docs.WRITE}"
    committed = path.read_text(encoding="utf-8")
    expected = docs.reference()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            str(docs.REFERENCE),
            "the commands' --help",
        )
    )
    assert committed == expected, f"{docs.REFERENCE} is stale: run {docs.WRITE}\n{diff}"


def test_the_reference_holds_every_command_once_with_a_working_index_link() -> None:
    text = docs.reference()
    headings = re.findall(r"^## (engage.*)$", text, flags=re.M)
    assert headings == [" ".join(("engage", *path)) for path, _ in COMMANDS]
    for anchor in re.findall(r"\]\(#([\w-]+)\)", text):
        assert anchor.replace("-", " ") in headings, anchor


def test_check_names_the_stale_file_and_the_command_that_regenerates_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docs, "PROJECT_ROOT", tmp_path)
    assert docs.main(["--write"]) == 0
    assert docs.main(["--check"]) == 0
    (tmp_path / docs.REFERENCE).write_text("# Command reference\n\nhand-edited\n")
    assert docs.main(["--check"]) == 1
    err = capsys.readouterr().err.splitlines()[-1] + "\n"
    assert err == f"stale: {tmp_path / docs.REFERENCE} (run python -m engage_cli.docs --write)\n"


def test_the_readme_is_short_and_its_contents_link_to_its_headings() -> None:
    readme = (docs.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 400, "the README is a tour; the reference is generated"
    headings = {
        re.sub(r"[^\w -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#{2,3} (.+)$", readme, flags=re.M)
    }
    links = re.findall(r"\]\(#([\w-]+)\)", readme)
    assert len(links) >= 6, "the README opens with a table of contents"
    assert set(links) <= headings, set(links) - headings
    assert f"]({docs.REFERENCE.as_posix()})" in readme


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


def test_examples_are_cut_at_blank_and_comment_lines_and_keep_continuations() -> None:
    readme = (
        "intro\n```sh\n# make one\nengage users create --id u1 \\\n  --first-name A\n\n"
        "engage users get u1   # trailing comment\nengage users list\n```\n"
        "```\nengage not-a-shell-block\n```\n"
        "- item:\n  ```sh\n  engage completion fish > x\n  ```\n"
    )
    assert docs.readme_examples(readme) == [
        docs.Example("README.md:4", "engage users create --id u1 \\\n  --first-name A"),
        docs.Example("README.md:7", "engage users get u1   # trailing comment\nengage users list"),
        docs.Example("README.md:15", "engage completion fish > x"),
    ]


def test_a_help_example_is_its_paragraph_with_the_wrapped_lines_joined() -> None:
    text = "Usage: x\n\n  Summary.\n\n  Example: engage users get u144 -o\n  json\n\nOptions:\n"
    assert docs.examples_in_help(text) == ["engage users get u144 -o json"]


BULK_RUNS = {
    ("users", "import"): (["users", "import", "seed.csv"], "id\nu1\n"),
    ("users", "delete"): (["users", "delete", "--from", "seed.csv", "--yes"], "id\nu1\n"),
    ("events", "import"): (["events", "import", "seed.csv"], "uid,event\nu1,Paid\n"),
}


@pytest.mark.parametrize("path", list(BULK_RUNS), ids=" ".join)
def test_the_failures_file_a_help_names_is_where_a_failed_run_writes(
    path: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    help_text = " ".join(docs.help_text(path).split())
    named = re.search(r"\(default: FILE(\.[\w.-]+);", help_text)
    assert named, f"engage {' '.join(path)} --help names no failures-file default"
    args, seed = BULK_RUNS[path]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    (cwd / "seed.csv").write_text(seed, encoding="utf-8")
    result = run(args, [reply(400, {"error": "refused"})])
    assert result.exit_code == 7, result.stderr
    # TIME stands for the run's start (YYYYmmdd-HHMMSS), which makes the name the run's own.
    expected = re.escape("seed.csv" + named.group(1)).replace("TIME", r"\d{8}-\d{6}")
    (written,) = [p.name for p in cwd.iterdir() if p.name != "seed.csv"]
    assert re.fullmatch(expected, written), written

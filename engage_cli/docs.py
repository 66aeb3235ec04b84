"""What is generated from the commands themselves, so that it cannot drift from them: the
command reference docs/reference.md (each command's own --help, walked from the real command
tree) and the Tab-completion scripts in completions/.

    python -m engage_cli.docs --write      # regenerate them
    python -m engage_cli.docs --check      # exit 1, naming the files, when one is stale
    python -m engage_cli.docs --examples   # list every example the test suite runs

The examples are what a reader copies: each command's `Example:` paragraph and the ```sh
blocks of README.md and docs/reference.md. tests/e2e/test_examples.py runs every one against a
sandbox server.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

HELP_WIDTH = 78  # what an 80-column terminal shows
PROJECT_ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path("docs") / "reference.md"  # from the project root
WRITE = "python -m engage_cli.docs --write"  # the one command that regenerates every file
DOCUMENTS = ("README.md", REFERENCE.as_posix())  # where a reader finds ```sh examples


def command_tree() -> Any:
    from engage_cli.app import app

    return typer.main.get_command(app)


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every visible command and group, depth first, in --help order."""
    yield path, command
    if not isinstance(command, TyperGroup):
        return
    ctx = typer.Context(command, info_name=" ".join(("engage", *path)))
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            yield from walk(sub, (*path, name))


def help_text(path: tuple[str, ...]) -> str:
    """`engage PATH --help` exactly as a user runs it, at a fixed width."""
    from typer.testing import CliRunner

    from engage_cli.app import app

    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="engage", terminal_width=HELP_WIDTH
    )
    if result.exit_code != 0:
        raise RuntimeError(f"engage {' '.join(path)} --help failed: {result.output}")
    return result.stdout.rstrip() + "\n"


def summary(command: Any) -> str:
    """The first paragraph of a command's help: its one-line summary."""
    return str(command.help or "").strip().split("\n\n")[0]


def reference() -> str:
    """docs/reference.md: an index, shell completion, then each command's help."""
    commands = list(walk(command_tree()))
    lines = [
        "# Command reference",
        "",
        f"<!-- Generated from the commands' own --help by `{WRITE}`: do not edit. -->",
        "",
        "Every command's `--help`, as `engage COMMAND --help` prints it; a test fails when this",
        f"file and the commands disagree (`{WRITE}` regenerates it). The",
        "[README](../README.md) is the tour.",
        "",
    ]
    lines += [f"- [`{_title(path)}`](#{_anchor(path)}): {summary(cmd)}" for path, cmd in commands]
    lines += ["", _completion_section()]
    for path, _command in commands:
        lines += [f"## {_title(path)}", "", "```text", help_text(path).rstrip(), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _title(path: tuple[str, ...]) -> str:
    return " ".join(("engage", *path))


def _anchor(path: tuple[str, ...]) -> str:
    return "-".join(("engage", *path))  # GitHub's anchor of the heading `engage users get`


def _completion_section() -> str:
    from engage_cli.commands.completion import INSTALL_LINES, SCRIPT_FILES

    lines = [
        "## Shell completion",
        "",
        "Tab completes commands, options, output formats, shells, input formats and profile",
        "names. Install the script of your shell once (the same scripts are in `completions/`):",
        "",
    ]
    for shell, install in INSTALL_LINES.items():
        lines += [
            f"- {shell.value} (`completions/{SCRIPT_FILES[shell]}`):",
            "  ```sh",
            f"  {install}",
            "  ```",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Example:
    """A shell snippet a reader may copy: where it is shown, and its text."""

    where: str  # "engage users get --help" or "README.md:123"
    script: str


EXAMPLE_PREFIX = "Example:"
SHELL_FENCES = ("```sh", "```bash", "```shell")
_COMMENT_OR_BLANK = re.compile(r"\s*(#.*)?")


def help_examples() -> list[Example]:
    """The `Example:` paragraph of every command's --help, its wrapped lines joined again."""
    found = []
    for path, _command in walk(command_tree()):
        for script in examples_in_help(help_text(path)):
            found.append(Example(f"{_title(path)} --help", script))
    return found


def examples_in_help(text: str) -> list[str]:
    scripts = []
    for paragraph in re.split(r"\n[ \t]*\n", text):
        lines = [line.strip() for line in paragraph.strip().splitlines()]
        if lines and lines[0].startswith(EXAMPLE_PREFIX):
            scripts.append(" ".join(lines)[len(EXAMPLE_PREFIX) :].strip())
    return scripts


def readme_examples(readme: str, name: str = "README.md") -> list[Example]:
    """A Markdown document's ```sh blocks, each cut at blank and comment-only lines into the
    scripts a reader runs one at a time (a script keeps its lines together: variables flow
    between them)."""
    found: list[Example] = []
    lines = readme.splitlines()
    fence_indent: int | None = None
    current: list[str] = []
    start = 0

    def close() -> None:
        if current:
            found.append(Example(f"{name}:{start}", "\n".join(current)))
            current.clear()

    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if fence_indent is None:
            if stripped in SHELL_FENCES:
                fence_indent = len(line) - len(line.lstrip())
            continue
        if stripped.startswith("```"):
            close()
            fence_indent = None
        elif _COMMENT_OR_BLANK.fullmatch(line):
            close()
        else:
            if not current:
                start = number
            indent = len(line) - len(line.lstrip())
            current.append(line[fence_indent:] if indent >= fence_indent else stripped)
    return found


def all_examples(root: Path = PROJECT_ROOT) -> list[Example]:
    found = help_examples()
    for name in DOCUMENTS:
        found += readme_examples((root / name).read_text(encoding="utf-8"), name)
    return found


def generated_files(root: Path = PROJECT_ROOT) -> dict[Path, str]:
    """Every generated file and the text it must hold."""
    from engage_cli.commands.completion import SCRIPT_FILES, completion_script

    files = {root / REFERENCE: reference()}
    for shell, name in SCRIPT_FILES.items():
        files[root / "completions" / name] = completion_script(shell)
    return files


def stale_files(root: Path = PROJECT_ROOT) -> list[Path]:
    return [
        path
        for path, text in generated_files(root).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engage_cli.docs", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate the files")
    action.add_argument("--check", action="store_true", help="exit 1 when a file is stale")
    action.add_argument("--examples", action="store_true", help="list every example")
    args = parser.parse_args(argv)
    if args.examples:
        for example in all_examples(PROJECT_ROOT):
            print(f"# {example.where}\n{example.script}\n")
        return 0
    if args.check:
        stale = stale_files(PROJECT_ROOT)
        for path in stale:
            print(f"stale: {path} (run {WRITE})", file=sys.stderr)
        return 1 if stale else 0
    for path, text in generated_files(PROJECT_ROOT).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Tab fast path (engage_cli.tab) answers exactly what Typer's own completion answers,
for every command path and option prefix, in every shell's format, without importing
Typer. When a test here fails after a command changed, regenerate the tree:

    python -m engage_cli.tab.generate
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engage_cli.app import app
from engage_cli.config import ConfigFile
from engage_cli.tab import COMPLETE_VAR, generate
from engage_cli.tab.answer import complete
from engage_cli.tab.tree import COMMANDS, PARAMS

REGENERATE = "the command tree is stale: run `python -m engage_cli.tab.generate`"
HEAVY = ("typer", "click", "rich", "httpx", "pydantic")
HELP_NAMES = ("-h", "--help")


def test_the_checked_in_tree_is_generated_from_the_app() -> None:
    assert generate.source() == generate.TREE_FILE.read_text(encoding="utf-8"), REGENERATE


def lines_to_complete() -> list[list[str]]:
    """Word lists ending in the word being completed: for each command path, nothing
    typed, each subcommand's and option's prefix, each option's values and choices, each
    argument in turn, and options again after a flag was given."""
    cases: list[list[str]] = []
    for path, node in COMMANDS.items():
        words = path.split()
        params = [PARAMS[index] for index in node["params"]]
        cases += [[*words, ""], [*words, "-"], [*words, "--"]]
        cases += [[*words, name[:1]] for name in node.get("commands", ())]
        cases += [[*words, name] for name in node.get("commands", ())]
        arguments = 0
        for param in params:
            if param["kind"] == "argument":
                choices = _choices(param)
                cases += [[*words, *["x"] * arguments, c[:1]] for c in ["", *choices]]
                arguments += 1
                continue
            for opt in (*param["opts"], *param.get("secondary", ())):
                cases += [[*words, opt[:3]], [*words, opt]]
                if param.get("flag"):
                    cases.append([*words, opt, "--"])
                else:
                    cases += [[*words, opt, c[:1]] for c in ["", *_choices(param)]]
                    cases += [[*words, f"{opt}="], [*words, opt, "v", ""]]
    return cases


def _choices(param: dict[str, Any]) -> list[str]:
    complete = param.get("complete") or [None]
    return list(complete[1]) if complete[0] == "choices" else []


def shell_envs(words: list[str]) -> list[dict[str, str]]:
    """The environment each shell's script sets for `engage WORDS` (the last word being
    completed), as the scripts in completions/ send it."""
    line = " ".join(["engage", *words])
    return [
        {COMPLETE_VAR: "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words))},
        {COMPLETE_VAR: "complete_zsh", "_TYPER_COMPLETE_ARGS": line},
        {
            COMPLETE_VAR: "complete_fish",
            "_TYPER_COMPLETE_ARGS": line,
            "_TYPER_COMPLETE_FISH_ACTION": "get-args",
        },
        {
            COMPLETE_VAR: "complete_fish",
            "_TYPER_COMPLETE_ARGS": line,
            "_TYPER_COMPLETE_FISH_ACTION": "is-args",
        },
        {
            COMPLETE_VAR: "complete_powershell",
            "_TYPER_COMPLETE_ARGS": line,
            "_TYPER_COMPLETE_WORD_TO_COMPLETE": words[-1],
        },
    ]


def typer_answer(env: dict[str, str]) -> tuple[str, int]:
    # A wide console: Typer renders help through Rich, which wraps it at the terminal's
    # width (a long help line then breaks fish's one-candidate-a-line format); the fast
    # path never wraps.
    result = CliRunner().invoke(app, [], env={**env, "COLUMNS": "100000"}, prog_name="engage")
    return _canonical(result.stdout), result.exit_code


def fast_answer(env: dict[str, str]) -> tuple[str, int]:
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        text, status = complete(os.environ, env[COMPLETE_VAR])
    finally:
        for key, value in saved.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value
    return ("" if text is None else text + "\n"), status


def _canonical(output: str) -> str:
    """Click builds the help option's names from a set, so Typer lists `-h` and `--help`
    in an order that changes from run to run; the tree keeps the declared order."""
    lines = output.split("\n")
    for index in range(len(lines) - 1):
        first, second = (_value(line) for line in lines[index : index + 2])
        if (first, second) == HELP_NAMES[::-1]:  # swap the names, not zsh's closing `))'`
            lines[index] = lines[index].replace(first, second, 1)
            lines[index + 1] = lines[index + 1].replace(second, first, 1)
    return "\n".join(lines)


def _value(line: str) -> str:
    """The candidate in one line of any shell's answer."""
    line = line.removeprefix("_arguments '*: :((")
    if line.startswith('"'):
        return line.split('"')[1]  # zsh
    return line.split("\t")[0].split(":::")[0]


def save_profiles(*names: str) -> None:
    path = Path(os.environ["ENGAGE_CONFIG_DIR"]) / "config.toml"
    ConfigFile(path, names[0], {name: {"api_key": f"key-{name}"} for name in names}).save()


SHARDS = 8  # the walk's lines in eight tests, so pytest-xdist spreads them over the workers


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_command_path_and_option_prefix_completes_as_typer_does(shard: int) -> None:
    save_profiles("ci", "staging", "prod")
    cases = lines_to_complete()
    assert len(cases) > 1000, "the walk lost its subject"
    differences = []
    for words in cases[shard::SHARDS]:
        if "--version" in words[:-1]:
            continue  # see test_a_version_flag_before_tab_is_not_run
        # Every case in bash and zsh (zsh shows help); fish and PowerShell format help the
        # same way for any item, so their longest lists suffice (the suite stays quick).
        envs = shell_envs(words)
        for env in envs if words[-1] in ("", "-", "--") else envs[:2]:
            expected, got = typer_answer(env), fast_answer(env)
            if got != expected:
                differences.append((env, expected, got))
    assert not differences, f"{len(differences)} differ, e.g. {differences[:3]}\n{REGENERATE}"


@pytest.mark.parametrize(
    "line",
    [
        "engage --profile s",  # a completer (profile names) after a global option
        "engage users list --sandbox --profile ",  # a global option after the command
        "engage --bogus users l",  # an unknown option stops parsing: the root completes
        "engage users get -ojson --",  # a short option with its value attached
        "engage users list --limit",  # an option missing its value
        "engage users import -- --",  # after --, nothing is an option
        'engage users get "u 1" -',  # quoting
        "engage nosuch --",  # an unknown command, and near misses of known ones
        "engage user l",
        "engage users lst --",
        "engage users list --email=a@b --e",
    ],
)
def test_unusual_lines_complete_as_typer_does(line: str) -> None:
    save_profiles("staging", "prod")
    words = line.split(" ")[1:]
    for env in shell_envs(words):
        env["COMP_WORDS"] = line
        assert fast_answer(env) == typer_answer(env), env


def test_a_version_flag_before_tab_is_not_run() -> None:
    """Typer runs --version's callback while completing `engage --version <Tab>`, so the
    version line lands among the candidates (the shell then offers `engage` and `0.1.0`);
    the fast path only completes."""
    env = shell_envs(["--version", "--d"])[0]
    assert typer_answer(env) == ("engage 0.1.0\n--debug\n", 0)
    assert fast_answer(env) == ("--debug\n", 0)


def _run_engage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The console script's entry point in a fresh interpreter, reporting afterwards which
    heavy libraries it imported."""
    code = (
        "import sys\n"
        "from engage_cli.entry import main\n"
        f"sys.argv = ['engage', *{list(args)!r}]\n"
        "try:\n    main()\nfinally:\n"
        # (engage_cli sets sys.modules['httpx._main'] to None: an entry, not an import)
        "    imported = {m.split('.')[0] for m, module in sys.modules.items() if module}\n"
        f"    loaded = sorted(imported & {set(HEAVY)!r})\n"
        "    sys.stderr.write(f'loaded: {loaded}')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "line",
    ["engage users l", "engage users list -o n", "engage --profile p", "engage profiles use "],
)
def test_tab_imports_no_heavy_library(line: str) -> None:
    save_profiles("ci", "prod")
    env = shell_envs(line.split(" ")[1:])[0]
    env["COMP_WORDS"] = line
    done = _run_engage(env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("loaded: []")
    assert done.stdout == typer_answer(env)[0]


def test_version_imports_no_heavy_library_and_prints_what_typer_prints() -> None:
    done = _run_engage({}, "--version")
    assert done.returncode == 0 and done.stderr.endswith("loaded: []")
    typer_version = CliRunner().invoke(app, ["--version"], prog_name="engage")
    assert (done.stdout, typer_version.exit_code) == (typer_version.stdout, 0)


def test_what_the_tree_cannot_answer_goes_to_typer() -> None:
    # `source_bash` is not a completion request: Typer prints the script itself.
    done = _run_engage({COMPLETE_VAR: "source_bash"})
    assert done.returncode == 0
    assert "_engage_completion" in done.stdout
    assert "'typer'" in done.stderr.rsplit("loaded: ", 1)[1]

"""Mutation score of one module: mutmut 3 on a throw-away copy of the project.

Not collected by pytest (the file name does not start with `test_`); run it by hand:

    python tests/benchmarks/mutation.py engage_cli/client.py [--tests "tests/test_client.py"]

mutmut is not a project dependency (it pins its own click); give it a venv of its own:

    python3 -m venv /tmp/mutvenv && /tmp/mutvenv/bin/pip install mutmut==3.8.1 -e '.[test]'

and point at it with --mutmut /tmp/mutvenv/bin/mutmut or MUTMUT=/tmp/mutvenv/bin/mutmut.
The copy is the git checkout's tracked and untracked-not-ignored files, so uncommitted tests
count. The default selection is every in-process test (no e2e; no test_imports, as mutmut has
already imported rich in the test process); per mutant, mutmut runs only the tests that reached
the mutated function. For a module nearly every test reaches (client.py, config.py) that is
hours, as each survivor runs them all: pass the module's own test files with --tests.
Score = (killed + timeout) / total, as mutmut's.
--keep leaves the copy in place (its path is printed) for `mutmut show NAME` / `mutmut run NAME`;
mutmut's own progress goes to mutmut.log in the copy.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Left out: the end-to-end tests and test_imports (see above), and the one test that hands
# the real /dev/full to the failures file: a mutant of the ledger may rename a file over it,
# and mutation runs as root here (it happened once, to /dev/null and /dev/full).
DEFAULT_TESTS = (
    "tests --ignore=tests/e2e --ignore=tests/benchmarks --ignore=tests/test_imports.py "
    "--deselect tests/test_bulk.py::"
    "test_a_failures_file_that_cannot_be_written_stops_and_names_what_is_unsaved"
)


def find_mutmut(given: str | None) -> str:
    exe = shutil.which(given or os.environ.get("MUTMUT") or "mutmut")
    if not exe:
        sys.exit(
            "mutmut not found: pass --mutmut PATH or set MUTMUT. Install it outside the project\n"
            "venv (it pins its own click):  python3 -m venv /tmp/mutvenv &&\n"
            "  /tmp/mutvenv/bin/pip install mutmut==3.8.1 -e '.[test]'"
        )
    return exe


def copy_project(dest: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return sorted({n.split("/")[0] for n in listed if n} - {"engage_cli", "tests"})


def configure(dest: Path, module: str, tests: list[str], top_level: list[str]) -> None:
    config = {
        "source_paths": ["engage_cli/"],
        "only_mutate": [module],
        "also_copy": top_level,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", "-x"],
        "pytest_add_cli_args_test_selection": tests,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    with (dest / "pyproject.toml").open("a") as f:
        f.write("\n[tool.mutmut]\n" + "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="file to mutate, e.g. engage_cli/client.py")
    parser.add_argument("--tests", default=DEFAULT_TESTS, help="pytest selection (one string)")
    parser.add_argument("--mutmut", help="mutmut executable (default: $MUTMUT, then PATH)")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutants (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the copy and print its path")
    args = parser.parse_args()
    exe = find_mutmut(args.mutmut)
    work = Path(tempfile.mkdtemp(prefix="engage-mutation-"))
    try:
        configure(work, args.module, shlex.split(args.tests), copy_project(work))
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        with (work / "mutmut.log").open("w") as log:  # progress: tail -f it
            run = subprocess.run(
                [exe, "run", "--max-children", str(args.max_children)],
                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        listed = subprocess.run(
            [exe, "results", "--all", "true"], cwd=work, capture_output=True, text=True
        ).stdout
        status = dict(line.strip().rsplit(": ", 1) for line in listed.splitlines() if ": " in line)
        counts = Counter(status.values())
        total = len(status)
        if not total:
            log_text = (work / "mutmut.log").read_text(errors="replace")
            sys.exit(f"mutmut produced no results (exit {run.returncode}):\n{log_text[-3000:]}")
        caught = counts["killed"] + counts["timeout"]
        print(f"module   {args.module}\ntests    {args.tests}")
        print("counts   " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        print(f"score    {caught}/{total} = {100 * caught / total:.1f}%")
        for name in sorted(n for n, s in status.items() if s not in ("killed", "timeout")):
            print(f"  {status[name]:<10} {name}")
    finally:
        if args.keep:
            print(f"kept     {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

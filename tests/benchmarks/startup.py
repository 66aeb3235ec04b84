"""Start-up benchmark of the `engage` command: median wall time over repeated runs.

Not collected by pytest (the file name does not start with `test_`); run it by hand:

    python tests/benchmarks/startup.py [--runs 21]

Every case runs in a fresh subprocess, round-robin, so drift on a busy machine hits all
cases alike. Ratios are against `python -c "import typer"` measured in the same run:
targets are --version and a completion call <= 1.2x, --help <= 2x, and `users get` faster
than the naive floor (importing every dependency up front).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
ENGAGE = shutil.which("engage", path=str(Path(PYTHON).parent)) or "engage"
SANDBOX_KEY, SANDBOX_SECRET = "sandbox-key", "sandbox-secret"
NAIVE_FLOOR = "import typer, rich.table, httpx, pydantic, platformdirs"


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    env: Mapping[str, str]
    target: str = ""  # "<=1.2x", "<=2x" or "<floor", judged against import typer / the floor


def run_once(case: Case, failures: dict[str, str]) -> float:
    """Time one run; a failing case is reported in the table rather than ending the run."""
    started = time.perf_counter()
    done = subprocess.run(case.argv, env=case.env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        failures[case.name] = f"FAILED exit {done.returncode}: {done.stderr.decode()[:60]!r}"
    return elapsed


@contextmanager
def sandbox_server(env: dict[str, str]) -> Iterator[str]:
    """Start a sandbox on a free port; yield its base URL (the first line it prints)."""
    has_serve = (
        subprocess.run(
            [ENGAGE, "sandbox", "serve", "--help"], env=env, capture_output=True, check=False
        ).returncode
        == 0
    )
    if has_serve:
        argv = [ENGAGE, "sandbox", "serve", "--port", "0"]
    else:  # before `engage sandbox serve` existed: the server module directly
        code = "from engage_cli.sandbox.server import run_sandbox_server; run_sandbox_server()"
        argv = [PYTHON, "-c", code]
    server = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(timeout=10)


def cases(env: dict[str, str], base_url: str) -> list[Case]:
    api_env = {
        **env,
        "ENGAGE_BASE_URL": base_url,
        "ENGAGE_API_KEY": SANDBOX_KEY,
        "ENGAGE_API_SECRET": SANDBOX_SECRET,
    }
    complete_env = {
        **env,
        "_ENGAGE_COMPLETE": "complete_bash",
        "COMP_WORDS": "engage us",
        "COMP_CWORD": "1",
    }
    return [
        Case("python -c pass", [PYTHON, "-c", "pass"], env),
        Case("import typer", [PYTHON, "-c", "import typer"], env),
        Case("naive floor", [PYTHON, "-c", NAIVE_FLOOR], env),
        Case("engage --version", [ENGAGE, "--version"], env, "<=1.2x"),
        Case("engage --help", [ENGAGE, "--help"], env, "<=2x"),
        Case("users get -o json", [ENGAGE, "users", "get", "u1", "-o", "json"], api_env, "<floor"),
        Case("completion", [ENGAGE], complete_env, "<=1.2x"),
    ]


def verdict(target: str, median: float, typer_median: float, floor_median: float) -> str:
    if target == "<floor":
        return "ok" if median < floor_median else "MISSED"
    if target:
        limit = float(target.removeprefix("<=").removesuffix("x"))
        return "ok" if median <= limit * typer_median else "MISSED"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each case (default 21)")
    runs = parser.parse_args().runs
    # An installed package has its bytecode cached (pip compiles it); an editable checkout
    # run under PYTHONDONTWRITEBYTECODE=1 would recompile engage_cli on every start while the
    # dependencies it is compared with load theirs. Compile once so both sides are alike.
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[2] / "engage_cli"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "ENGAGE_CONFIG_DIR": str(Path(tmp) / "config"),
            "ENGAGE_SANDBOX_DB": str(Path(tmp) / "sandbox.sqlite3"),
        }
        env = {k: v for k, v in env.items() if k not in ("ENGAGE_PROFILE", "ENGAGE_OUTPUT")}
        with sandbox_server(env) as base_url:
            all_cases = cases(env, base_url)
            create = [ENGAGE, "users", "create", "--id", "u1", "--first-name", "Bench"]
            failures: dict[str, str] = {}
            run_once(Case("create u1", create, all_cases[5].env), failures)
            times: dict[str, list[float]] = {case.name: [] for case in all_cases}
            for case in all_cases:  # one warm-up each: the first run pays for cold caches
                run_once(case, failures)
            for _ in range(runs):
                for case in all_cases:
                    times[case.name].append(run_once(case, failures))
    if "create u1" in failures:
        print(f"warning: creating u1 {failures['create u1']}", file=sys.stderr)
    medians = {name: statistics.median(values) for name, values in times.items()}
    typer_median, floor_median = medians["import typer"], medians["naive floor"]
    print(f"{runs} runs each, median wall time; ratio against `python -c 'import typer'`")
    print(f"{'case':<20} {'median ms':>10} {'x typer':>8}  {'target':<7} verdict")
    for case in all_cases:
        median = medians[case.name]
        judged = failures.get(case.name) or verdict(case.target, median, typer_median, floor_median)
        print(
            f"{case.name:<20} {median * 1000:>10.1f} {median / typer_median:>8.2f}  "
            f"{case.target:<7} {judged}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue 20's figures: each of our paths against its minimal baseline, run alternately in one
run (so a busy machine slows both alike), medians and ratios printed.

Not collected by pytest (the file name does not start with `test_`); run it by hand:

    python tests/benchmarks/perf.py [--runs 15] [--only tab|version|all|batch]

- Tab: `_ENGAGE_COMPLETE=complete_bash engage` (`engage users l`) against `python -c pass`
  of the same interpreter: target <= 2.5x. `engage --version` likewise.
- `engage users list --all -o ndjson` of 3,000 users against minimal_list_all.py (httpx,
  30 a page), both on `engage sandbox serve` in its own process: requests counted at the
  sandbox (target 100), wall time target <= 1.25x.
- `engage users import FILE --batch` of 10,000 users against minimal_batch_import.py (httpx,
  < 100 KB batches): wall time <= 1.3x, CPU time (user + system of the client process)
  <= 2.0x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bulk import ENGAGE, PYTHON, sandbox_server  # noqa: E402  the sibling benchmark's helpers


@dataclass
class Case:
    name: str
    argv: list[str]
    env: dict[str, str]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def run(self) -> None:
        started = time.perf_counter()
        process = subprocess.Popen(
            self.argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(process.pid, 0)
        self.walls.append(time.perf_counter() - started)
        self.cpus.append(usage.ru_utime + usage.ru_stime)
        assert process.stderr is not None
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{self.name} failed: {process.stderr.read()[-300:]!r}")


def alternate(ours: Case, baseline: Case, runs: int) -> None:
    """One warm-up each, then ours and the baseline in turn."""
    ours.run(), baseline.run()
    ours.walls.clear(), ours.cpus.clear(), baseline.walls.clear(), baseline.cpus.clear()
    for _ in range(runs):
        ours.run()
        baseline.run()


def report(ours: Case, baseline: Case, wall_target: float, cpu_target: float | None = None) -> None:
    wall, base_wall = statistics.median(ours.walls), statistics.median(baseline.walls)
    ratio = wall / base_wall
    line = (
        f"{ours.name:<34} {wall * 1000:8.1f} ms   {baseline.name:<26} {base_wall * 1000:8.1f} ms"
        f"   wall {ratio:4.2f}x (<= {wall_target}x: {'ok' if ratio <= wall_target else 'MISSED'})"
    )
    if cpu_target is not None:
        cpu, base_cpu = statistics.median(ours.cpus), statistics.median(baseline.cpus)
        cpu_ratio = cpu / base_cpu
        line += (
            f"\n{'':<34} cpu {cpu * 1000:6.0f} ms   {'':<26} cpu {base_cpu * 1000:6.0f} ms"
            f"   cpu  {cpu_ratio:4.2f}x (<= {cpu_target}x: "
            f"{'ok' if cpu_ratio <= cpu_target else 'MISSED'})"
        )
    print(line, flush=True)


def measure_startup(runs: int, only: str | None, env: dict[str, str]) -> None:
    tab_env = {**env, "_ENGAGE_COMPLETE": "complete_bash", "COMP_WORDS": "engage users l",
               "COMP_CWORD": "2"}  # fmt: skip
    if only in (None, "tab"):
        ours, base = Case("Tab (engage users l)", [ENGAGE], tab_env), pass_case(env)
        alternate(ours, base, runs)
        report(ours, base, 2.5)
    if only in (None, "version"):
        ours, base = Case("engage --version", [ENGAGE, "--version"], env), pass_case(env)
        alternate(ours, base, runs)
        report(ours, base, 2.5)


def pass_case(env: dict[str, str]) -> Case:
    return Case("python -c pass", [PYTHON, "-c", "pass"], env)


def measure_list_all(runs: int, work: Path) -> None:
    from engage_cli.sandbox.store import SandboxStore

    with sandbox_server(work / "list", 0) as server:
        env = server.env
        with SandboxStore(work / "list" / "sandbox.sqlite3") as store:
            for number in range(3000):
                store.create_user(f"u{number:05d}", {"email": f"u{number}@example.com"})
        argv = [ENGAGE, "users", "list", "--all", "-o", "ndjson"]
        # --debug logs each request as `> GET URL` (tests/test_paging.py counts at the sandbox).
        logged = subprocess.run([*argv, "--debug"], env=env, capture_output=True, text=True)
        sent = sum("> GET " in line for line in logged.stderr.splitlines())
        print(f"users list --all of 3,000 users: {sent} requests (target 100)", flush=True)
        ours = Case("users list --all (3,000)", argv, env)
        base = Case("minimal_list_all.py", [PYTHON, str(HERE / "minimal_list_all.py")], env)
        alternate(ours, base, runs)
    report(ours, base, 1.25)


def measure_batch(runs: int, work: Path) -> None:
    path = work / "users.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for n in range(10_000):
            names = {"first_name": f"First{n}", "last_name": f"Last{n}"}
            meta = {"plan": "pro", "age": n % 90}
            user = {"id": f"b{n}", **names, "email": f"b{n}@example.com", "meta": meta}
            out.write(json.dumps(user) + "\n")
    with sandbox_server(work / "batch", 0) as server:
        env = server.env
        ours = Case("users import --batch (10,000)", [ENGAGE, "users", "import", str(path),
                    "--batch", "-o", "json"], env)  # fmt: skip
        base = Case("minimal_batch_import.py", [PYTHON, str(HERE / "minimal_batch_import.py"),
                    str(path)], env)  # fmt: skip
        alternate(ours, base, runs)
    report(ours, base, 1.3, 2.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each case (default 15)")
    parser.add_argument("--only", choices=["tab", "version", "all", "batch"])
    args = parser.parse_args()
    # Bytecode compiled once, as an installed package has it (see startup.py).
    import compileall

    compileall.compile_dir(str(HERE.parents[1] / "engage_cli"), quiet=1)
    print(f"{args.runs} runs of each, alternately; medians; load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="engage-perf-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
        env["ENGAGE_CONFIG_DIR"] = str(work / "config")
        if args.only in (None, "tab", "version"):
            measure_startup(args.runs, args.only, env)
        if args.only in (None, "all"):
            measure_list_all(max(args.runs // 2, 5), work)
        if args.only in (None, "batch"):
            measure_batch(max(args.runs // 3, 5), work)
    return 0


if __name__ == "__main__":
    sys.exit(main())

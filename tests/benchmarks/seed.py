"""Seeding benchmark: `engage seed apply` against the bulk import it must keep up with.

Not collected by pytest (the file name does not start with `test_`); run it by hand:

    python tests/benchmarks/seed.py [--users 1000] [--latency 50] [--rounds 3]

Against `engage sandbox serve --latency 50` (every answer 50 ms late, like a real API) on an
ephemeral port, side by side in each round (fresh, empty servers every round):

- `engage seed apply` of a seed of N users (one `repeat` entry) on an empty account, against
  `engage users import` of the same N records (the same bodies, the mark included) on another
  empty account: target seed <= 1.5x import;
- a second `engage seed apply` (nothing changed: it reads the account and sends no write),
  against `engage users list --all -o json` over the same account: target <= 1.5x. Also shown:
  `users list --all --limit 30` (the page size seed reads with).

Both commands run with their default concurrency (8). Medians over the rounds are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bulk import ENGAGE, run_engage, sandbox_server  # the sibling benchmark's helpers

SEED = """\
name: bench
users:
  - id: "load-${{n}}"
    repeat: {count}
    first_name: "First${{n}}"
    email: "load${{n}}@example.com"
    meta: {{plan: pro, cohort: load}}
"""


def write_records(path: Path, count: int) -> None:
    """The seed's users as `users import` reads them: the same bodies, mark included."""
    with open(path, "w", encoding="utf-8") as fh:
        for n in range(1, count + 1):
            record = {
                "id": f"load-{n}",
                "first_name": f"First{n}",
                "email": f"load{n}@example.com",
                "meta": {"plan": "pro", "cohort": "load", "seed": "bench"},
            }
            fh.write(json.dumps(record) + "\n")


def time_listing(args: list[str], env: dict[str, str]) -> float:
    """Wall time of a command whose output is large (a listing), its stdout thrown away."""
    started = time.perf_counter()
    subprocess.run([ENGAGE, *args], env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def one_round(workdir: Path, count: int, latency: int) -> dict[str, float]:
    workdir.mkdir(parents=True)
    seed_file = workdir / "seed.yaml"
    seed_file.write_text(SEED.format(count=count), encoding="utf-8")
    records = workdir / "users.jsonl"
    write_records(records, count)
    times: dict[str, float] = {}
    with sandbox_server(workdir / "import", latency) as server:
        imported = run_engage(["users", "import", str(records), "-o", "json"], server.env)
        assert imported.summary["landed"] == count, imported.summary
        times["import"] = imported.seconds
    with sandbox_server(workdir / "seed", latency) as server:
        first = run_engage(["seed", "apply", str(seed_file), "-o", "json"], server.env)
        assert first.summary["landed"]["create"] == count, first.summary  # type: ignore[index]
        times["apply"] = first.seconds
        second = run_engage(["seed", "apply", str(seed_file), "-o", "json"], server.env)
        assert second.summary["requests"] == 0, second.summary  # no write at all
        times["apply again"] = second.seconds
        listing = ["users", "list", "--all", "-o", "json"]
        times["list --all"] = time_listing(listing, server.env)
        times["list --all --limit 30"] = time_listing([*listing, "--limit", "30"], server.env)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="engage-seed-bench-") as tmp:
        for n in range(args.rounds):
            rounds.append(one_round(Path(tmp) / f"round-{n}", args.users, args.latency))
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(f"{args.users:,} users, --latency {args.latency} ms, median of {args.rounds} rounds:")
    for key, seconds in median.items():
        print(f"  {key:<24} {seconds:7.2f} s")
    first = median["apply"] / median["import"]
    again = median["apply again"] / median["list --all"]
    print(f"  seed apply / users import:          {first:.2f}x (target <= 1.5x)")
    print(f"  second apply / users list --all:    {again:.2f}x (target <= 1.5x)")
    print(
        "  second apply / list --all --limit 30: "
        f"{median['apply again'] / median['list --all --limit 30']:.2f}x"
    )
    return 0 if first <= 1.5 and again <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())

"""What watching a JSON document's depth while streaming costs the JSON reader: the same
files read with the guard and with it switched off, side by side in one run.

    python tests/benchmarks/json_nesting.py [--users 100000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from engage_cli import strict
from engage_cli.bulk import readers
from engage_cli.bulk.csv_records import USER_CSV


def read_all(path: Path) -> float:
    started = time.perf_counter()
    for _ in readers.read_records(readers.Source(str(path), path=path), USER_CSV):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    users = [
        {"id": f"u{i}", "first_name": 'Ann "[x]"', "email": f"u{i}@example.com",
         "meta": {"plan": "pro", "n": i, "tags": "a,b"}}
        for i in range(args.users)
    ]  # fmt: skip
    guarded = strict.NestingGuard.feed
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in (
            ("indented", json.dumps(users, indent=1)),
            ("minified", json.dumps(users)),
        ):
            path = Path(tmp) / f"{name}.json"
            path.write_text(text)
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                for mode in ("guard", "none"):
                    strict.NestingGuard.feed = guarded if mode == "guard" else (lambda s, p: True)  # type: ignore[method-assign]
                    best[mode] = min(best.get(mode, float("inf")), read_all(path))
            strict.NestingGuard.feed = guarded  # type: ignore[method-assign]
            print(
                f"{name:9} {args.users} records: guard {best['guard']:.2f} s, "
                f"none {best['none']:.2f} s, ratio {best['guard'] / best['none']:.2f}"
            )


if __name__ == "__main__":
    main()

"""Bulk import benchmark: `engage users import` against a sandbox with a real round trip.

Not collected by pytest (the file name does not start with `test_`); run it by hand:

    python tests/benchmarks/bulk.py [--users 2000] [--concurrency 16] [--latency 50]

Against `engage sandbox serve --latency 50` (every answer 50 ms late, like a real API) in its
own process on an ephemeral port, side by side in one run:

- `engage users import` of N users with --concurrency 16, timed whole;
- the same with --concurrency 1, and a plain sequential loop of single `httpx.put` calls as a
  user's script would make, each timed on a sample and projected to N;
- peak memory (the child's max RSS) of `--dry-run` validation of generated 20,000- and
  200,000-row CSV files, to show it stays flat as the input grows tenfold.

Targets: concurrent >= 10x the sequential loop, and >= 70% of the ideal concurrency / latency.

And the promises of issue 12, each against its own sandbox:

- `--batch` of 10,000 users at --latency 50 against the per-record run at --concurrency 16:
  requests sent (target <= 30), time (target >= 10x faster), all 10,000 land;
- 1,500 rows against `--rate-limit 100` alone: rows/s while sending (target >= 90% of the
  limit), share of 429 answers (target <= 5%), none failed;
- 1,000 rows under `--fail-rate 0.2 --rate-limit 150`: all land, exit 0, in 10 runs of 10;
- `kill -9` of an events import of 2,000 events, then `--resume`: doubles (target <= the
  concurrency), nothing lost.

    python tests/benchmarks/bulk.py --only issue12   # just these (or --only batch|faults)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PYTHON = sys.executable
ENGAGE = shutil.which("engage", path=str(Path(PYTHON).parent)) or "engage"


@dataclass(frozen=True)
class Sandbox:
    url: str
    env: dict[str, str]


@contextmanager
def sandbox_server(workdir: Path, latency_ms: int, *faults: str) -> Iterator[Sandbox]:
    """`engage sandbox serve --port 0 --latency MS`; its first stdout line is the base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [ENGAGE, "sandbox", "serve", "--port", "0", "--db", str(workdir / "sandbox.sqlite3"),
         "--latency", str(latency_ms), *faults],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        creds = dict(process.stdout.readline().strip().split("=", 1) for _ in range(2))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
        env.update(
            ENGAGE_BASE_URL=url,
            ENGAGE_CONFIG_DIR=str(workdir / "config"),
            ENGAGE_API_KEY=creds["ENGAGE_API_KEY"],
            ENGAGE_API_SECRET=creds["ENGAGE_API_SECRET"],
        )
        yield Sandbox(url, env)
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_users(path: Path, count: int, prefix: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "first_name", "last_name", "email", "meta.plan", "meta.age:="])
        for n in range(count):
            writer.writerow(
                [f"{prefix}{n}", f"First{n}", f"Last{n}", f"{prefix}{n}@example.com", "pro", n % 90]
            )


@dataclass(frozen=True)
class Timed:
    seconds: float
    max_rss_mb: float
    summary: dict[str, object]


def run_engage(args: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> Timed:
    """Run `engage ARGS`; wall time, the child's own peak RSS, and its JSON summary."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [ENGAGE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    # Summaries and errors are a few lines: the pipes cannot fill before the child ends.
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    stdout, stderr = process.stdout.read(), process.stderr.read()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in ok:
        raise SystemExit(f"engage {' '.join(args)} failed ({process.returncode}): {stderr!r}")
    return Timed(elapsed, usage.ru_maxrss / 1024, json.loads(stdout))


def sequential_loop(sandbox: Sandbox, path: Path) -> float:
    """What a user's script does: one `httpx.put` per row, each waiting for the last."""
    auth = (sandbox.env["ENGAGE_API_KEY"], "")
    started = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            body = {
                "first_name": row["first_name"],
                "last_name": row["last_name"],
                "meta": {"plan": row["meta.plan"], "age": int(row["meta.age:="])},
            }
            answer = httpx.put(f"{sandbox.url}/users/{row['id']}", json=body, auth=auth)
            answer.raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=int, default=50, help="sandbox latency, ms")
    parser.add_argument("--sample", type=int, default=200, help="rows timed one at a time")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the memory check")
    parser.add_argument("--only", choices=["issue12", "batch", "faults", "throughput", "memory"])
    parser.add_argument(
        "--retries", type=int, help="--retries of the fault runs (default: the bulk default)"
    )
    parser.add_argument("--runs", type=int, default=10, help="fault runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp:
        work = Path(tmp)
        if args.only in (None, "throughput"):
            with sandbox_server(work / "t", args.latency) as sandbox:
                measure_throughput(sandbox, work, args)
        if args.only in (None, "issue12", "batch"):
            measure_batch(work / "batch", args)
        if args.only in (None, "issue12"):
            measure_rate_limit(work / "rate")
        if args.only in (None, "issue12", "faults"):
            measure_faults(work / "faults", args)
        if args.only in (None, "issue12"):
            measure_kill_and_resume(work / "kill")
        if args.only in (None, "memory"):
            measure_memory(work, args.rows)


def measure_throughput(sandbox: Sandbox, work: Path, args: argparse.Namespace) -> None:
    full, sample = work / "users.csv", work / "sample.csv"
    write_users(full, args.users, "c")
    write_users(sample, args.sample, "s")
    # Warm up: the first process start pays for the disk cache, not for engage.
    run_engage(["users", "import", str(sample), "--dry-run", "-o", "json"], sandbox.env)

    concurrent = run_engage(
        ["users", "import", str(full), "--concurrency", str(args.concurrency), "-o", "json"],
        sandbox.env,
    )
    one_by_one = run_engage(
        ["users", "import", str(sample), "--concurrency", "1", "-o", "json"], sandbox.env
    )
    loop_seconds = sequential_loop(sandbox, sample)

    ideal = args.concurrency / (args.latency / 1000)
    rate = args.users / concurrent.seconds
    rate_c1 = args.sample / one_by_one.seconds
    rate_loop = args.sample / loop_seconds
    print(f"Import of {args.users} users, sandbox latency {args.latency} ms")
    print(f"  {'run':<40} {'users/s':>9} {'time for ' + str(args.users):>14}")
    rows = [
        (f"engage users import --concurrency {args.concurrency}", rate, concurrent.seconds, ""),
        ("engage users import --concurrency 1", rate_c1, args.users / rate_c1, "projected"),
        ("sequential loop of httpx.put", rate_loop, args.users / rate_loop, "projected"),
    ]
    for name, users_per_s, seconds, note in rows:
        print(f"  {name:<40} {users_per_s:>9.1f} {seconds:>13.1f}s {note}")
    sending = float(str(concurrent.summary["requests_per_second"]))
    print(f"  (sending rate reported by the summary: {sending:.1f} requests/s; the wall time")
    print("   above also counts process start and the validation pass)")
    print(f"  concurrency {args.concurrency} vs the sequential loop: {rate / rate_loop:5.1f}x"
          f"   (target >= 10x) {verdict(rate / rate_loop >= 10)}")  # fmt: skip
    share = rate / ideal
    print(f"  vs ideal {args.concurrency}/{args.latency} ms = {ideal:.0f}/s: "
          f"{100 * share:5.1f}%   (target >= 70%) {verdict(share >= 0.7)}")  # fmt: skip
    print(f"  peak memory of the concurrent import: {concurrent.max_rss_mb:.0f} MB")


def measure_memory(work: Path, rows: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    env.update(ENGAGE_API_KEY="k", ENGAGE_BASE_URL="http://127.0.0.1:9/v1")  # never contacted
    env["ENGAGE_CONFIG_DIR"] = str(work / "config")
    print("\nPeak memory of `engage users import FILE --dry-run` (validates every row)")
    results = []
    for count in (rows // 10, rows):
        path = work / f"dry-{count}.csv"
        write_users(path, count, "m")
        timed = run_engage(["users", "import", str(path), "--dry-run", "-o", "json"], env)
        assert timed.summary["read"] == count
        results.append(timed)
        size_mb = path.stat().st_size / 1e6
        print(f"  {count:>8} rows ({size_mb:5.1f} MB): peak RSS {timed.max_rss_mb:6.1f} MB, "
              f"{timed.seconds:5.1f}s ({count / timed.seconds:,.0f} rows/s)")  # fmt: skip
    growth = results[1].max_rss_mb / results[0].max_rss_mb
    print(f"  10x the rows: {growth:.2f}x the memory (flat: {verdict(growth < 1.2)})")
    # The same rows as one JSON array: streamed element by element, never json.load-ed.
    path = work / f"dry-{rows}.json"
    write_json_array(work / f"dry-{rows}.csv", path)
    timed = run_engage(["users", "import", str(path), "--dry-run", "-o", "json"], env)
    size_mb = path.stat().st_size / 1e6
    print(f"  {rows:>8} rows as a JSON array ({size_mb:5.1f} MB): peak RSS "
          f"{timed.max_rss_mb:6.1f} MB, {timed.seconds:5.1f}s")  # fmt: skip


def users_landed(workdir: Path) -> int:
    from engage_cli.sandbox.store import SandboxStore

    with SandboxStore(workdir / "sandbox.sqlite3") as store:
        return store.count_users()


def measure_batch(work: Path, args: argparse.Namespace) -> None:
    count = 10_000
    print(f"\n--batch of {count} users vs per-record --concurrency 16, sandbox latency 50 ms")
    with sandbox_server(work / "per-record", 50) as sandbox:
        path = work / "users.csv"
        write_users(path, count, "b")
        one = run_engage(["users", "import", str(path), "-c", "16", "-o", "json"], sandbox.env)
        landed_one = users_landed(work / "per-record")
    with sandbox_server(work / "batched", 50) as sandbox:
        batched = run_engage(
            ["users", "import", str(path), "--batch", "-c", "4", "-o", "json"], sandbox.env,
            ok=(0, 7),
        )  # fmt: skip
        landed_batch = users_landed(work / "batched")
    s1, sb = one.summary, batched.summary
    print(f"  per record: {s1['requests']} requests, {one.seconds:6.1f}s, {landed_one} landed")
    print(f"  --batch:    {sb['requests']} requests, {batched.seconds:6.1f}s, {landed_batch} landed"
          f" ({sb['landed']} queued, {sb['failed']} failed)")  # fmt: skip
    if sb["failed"]:
        print("  (the sandbox answered the batch with errors: is POST /batch served yet?)")
    speedup = one.seconds / batched.seconds
    print(f"  requests <= 30: {verdict(int(str(sb['requests'])) <= 30)}; "
          f"{speedup:.1f}x faster (target >= 10x): {verdict(speedup >= 10)}; "
          f"all land: {verdict(landed_batch == count)}")  # fmt: skip


def measure_rate_limit(work: Path) -> None:
    count, limit = 1500, 100
    print(f"\n{count} rows against --rate-limit {limit} alone (-c 8)")
    with sandbox_server(work, 0, "--rate-limit", str(limit)) as sandbox:
        path = work / "users.csv"
        write_users(path, count, "r")
        timed = run_engage(["users", "import", str(path), "-c", "8", "-o", "json"], sandbox.env,
                           ok=(0, 6, 7))  # fmt: skip
    s = timed.summary
    sending = int(str(s["requests"])) / float(str(s["requests_per_second"]))
    rows_per_s = int(str(s["landed"])) / sending
    answers = int(str(s["requests"])) + int(str(s["rate_limited"]))
    share = int(str(s["rate_limited"])) / answers
    print(
        f"  {rows_per_s:.1f} rows/s while sending ({100 * rows_per_s / limit:.0f}% of the limit,"
        f" target >= 90%: {verdict(rows_per_s >= 0.9 * limit)}); wall {timed.seconds:.1f}s"
    )
    print(f"  429s: {s['rate_limited']} of {answers} answers = {100 * share:.1f}% "
          f"(target <= 5%: {verdict(share <= 0.05)}); failed {s['failed']} "
          f"({verdict(s['failed'] == 0)}); retries {s['retries']}")  # fmt: skip


def measure_faults(work: Path, args: argparse.Namespace) -> None:
    count, runs = 1000, args.runs
    retries = [] if args.retries is None else ["--retries", str(args.retries)]
    print(f"\n{count} rows under --fail-rate 0.2 --rate-limit 150, {runs} runs "
          f"({' '.join(retries) or 'default retries'})")  # fmt: skip
    clean = 0
    for n in range(runs):
        with sandbox_server(work / str(n), 0, "--fail-rate", "0.2", "--rate-limit", "150") as sb:
            path = work / f"users-{n}.csv"
            write_users(path, count, "f")
            timed = run_engage(
                [*retries, "users", "import", str(path), "-o", "json"],
                sb.env, ok=(0, 6, 7),
            )  # fmt: skip
            landed = users_landed(work / str(n))
        s = timed.summary
        ok = s["failed"] == 0 and landed == count and s["landed"] == count
        clean += ok
        print(f"  run {n + 1}: landed {landed}, failed {s['failed']}, retries {s['retries']}, "
              f"429s {s['rate_limited']}, {timed.seconds:.1f}s {verdict(ok)}")  # fmt: skip
    print(f"  all landed, exit 0: {clean} of {runs} {verdict(clean == runs)}")


def measure_kill_and_resume(work: Path) -> None:
    import collections
    import signal

    count, concurrency = 2000, 8
    print(f"\nkill -9 of an events import of {count} events (-c {concurrency}), then --resume")
    with sandbox_server(work, 20) as sandbox:
        path = work / "events.jsonl"
        path.write_text("".join(json.dumps({"uid": f"u{n % 97}", "event": "Seed", "value": n})
                                + "\n" for n in range(count)))  # fmt: skip
        process = subprocess.Popen(
            [ENGAGE, "events", "import", str(path), "-c", str(concurrency), "-o", "json"],
            env=sandbox.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        db = work / "sandbox.sqlite3"
        deadline = time.monotonic() + 60
        while len(event_values(db)) < count // 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = len(event_values(db))
        resumed = run_engage(["events", "import", str(path), "--resume", "-o", "json"],
                             sandbox.env, ok=(0, 7))  # fmt: skip
        values = event_values(db)
    counts = collections.Counter(values)
    doubles = sum(c - 1 for c in counts.values() if c > 1)
    s = resumed.summary
    missing = count - len(counts) - int(str(s["unknown"]))
    print(f"  killed after {before} landed; resumed: {s['resumed']} skipped, {s['landed']} "
          f"landed, {s['unknown']} unknown (in flight at the kill)")  # fmt: skip
    print(f"  doubles: {doubles} (target <= {concurrency}: {verdict(doubles <= concurrency)}); "
          f"lost: {max(missing, 0)} ({verdict(missing <= 0)})")  # fmt: skip


def event_values(db: Path) -> list[int]:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT value FROM events").fetchall()
    except sqlite3.Error:
        return []
    return [json.loads(v) if isinstance(v, str) else v for (v,) in rows]


def write_json_array(source: Path, path: Path) -> None:
    with open(source, encoding="utf-8", newline="") as src, open(path, "w") as out:
        out.write("[\n")
        for n, row in enumerate(csv.DictReader(src)):
            user = {"id": row["id"], "first_name": row["first_name"], "email": row["email"],
                    "meta": {"plan": row["meta.plan"], "age": int(row["meta.age:="])}}  # fmt: skip
            out.write(("" if n == 0 else ",\n") + json.dumps(user, indent=2))
        out.write("\n]\n")


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


if __name__ == "__main__":
    main()

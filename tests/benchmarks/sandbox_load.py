"""Load the sandbox server with N concurrent keep-alive clients and print requests per second.

Not a test (pytest does not collect it): run it by hand when touching the server or the store.

    python tests/benchmarks/sandbox_load.py [--requests 4000] [--clients 1,8,32,64]
    python tests/benchmarks/sandbox_load.py --clients 16,64 --baseline OTHER/.venv/bin/engage

Each level gets a fresh server on an ephemeral loopback port with a temporary database. The mix
per client is 20% creates, 30% gets, 20% updates, 20% events and 10% list pages. Clients and
server share one Python process (and its GIL) unless --server-process runs the real
`engage sandbox serve` in its own process, as users run it. --baseline ENGAGE runs each level
against that other `engage` too (e.g. a checkout of main in its own venv), alternating the two
in one run, and prints the ratio of requests per second.
"""

from __future__ import annotations

import argparse
import io
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from engage_cli.sandbox.api import DEFAULT_KEY, DEFAULT_SECRET, SandboxAPI
from engage_cli.sandbox.server import base_url, make_server, serve_until_stopped
from engage_cli.sandbox.store import SandboxStore

SEED_USERS = 50
# One slot per 10% of the mix, cycled through by every client.
MIX = ("create", "create", "get", "get", "get", "update", "update", "event", "event", "list")


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    creates: int = 0
    events: int = 0


def one_request(client: httpx.Client, op: str, worker: int, n: int) -> httpx.Response:
    uid = f"seed{n % SEED_USERS}"
    if op == "create":
        return client.post("/users", json={"id": f"w{worker}n{n}", "meta": {"n": n}})
    if op == "get":
        return client.get(f"/users/{uid}")
    if op == "update":
        return client.put(f"/users/{uid}", json={"meta": {f"w{worker}": n}})
    if op == "event":
        return client.post(f"/users/{uid}/events", json={"event": "load", "value": n})
    return client.get("/users", params={"limit": 10})


def drive(client: httpx.Client, worker: int, count: int, start: threading.Barrier) -> ClientResult:
    result = ClientResult()
    start.wait()
    for n in range(count):
        op = MIX[(n + worker) % len(MIX)]
        began = time.perf_counter()
        answer = one_request(client, op, worker, n)
        result.latencies.append(time.perf_counter() - began)
        if answer.status_code != 200:
            result.errors += 1
        elif op == "create":
            result.creates += 1
        elif op == "event":
            result.events += 1
    return result


def start_in_thread(db: Path) -> tuple[str, Callable[[], None]]:
    server = make_server(SandboxAPI(SandboxStore(db), DEFAULT_KEY, DEFAULT_SECRET))
    serving = threading.Thread(
        target=serve_until_stopped, args=(server, io.StringIO()), kwargs={"handle_signals": False}
    )
    serving.start()

    def stop() -> None:
        server.shutdown()
        serving.join()

    return base_url(server), stop


def start_in_process(db: Path, engage: Path | None = None) -> tuple[str, Callable[[], None]]:
    """`engage sandbox serve` in its own process: clients and server no longer share a GIL."""
    engage = engage or Path(sys.executable).parent / "engage"
    process = subprocess.Popen(
        [str(engage), "sandbox", "serve", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()

    def stop() -> None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    return url, stop


def run_level(
    clients: int,
    total_requests: int,
    workdir: Path,
    separate: bool,
    engage: Path | None = None,
) -> dict[str, float]:
    db = Path(tempfile.mkdtemp(dir=workdir)) / f"load-{clients}.sqlite3"
    with SandboxStore(db) as seed:
        for n in range(SEED_USERS):
            seed.create_user(f"seed{n}", {})
    if engage is not None:
        url, stop = start_in_process(db, engage)
    else:
        url, stop = (start_in_process if separate else start_in_thread)(db)
    per_client = max(1, total_requests // clients)
    # Clients are built (and their first connection opened) before the clock starts.
    pool = [
        httpx.Client(base_url=url, auth=(DEFAULT_KEY, DEFAULT_SECRET), timeout=30)
        for _ in range(clients)
    ]
    for client in pool:
        client.get("/users", params={"limit": 1})
    results: list[ClientResult] = [ClientResult() for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def work(index: int) -> None:
        results[index] = drive(pool[index], index, per_client, start)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    for client in pool:
        client.close()
    stop()
    # Check the server's word: every acknowledged create and event is in the store.
    with SandboxStore(db) as store:
        users, events = store.count_users(), len(store.list_events())
    latencies = sorted(lat for result in results for lat in result.latencies)
    creates = sum(r.creates for r in results)
    landed = users == SEED_USERS + creates and events == sum(r.events for r in results)
    return {
        "clients": clients,
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": sum(r.errors for r in results),
        "all_writes_landed": float(landed),
    }


HEADER = (
    f"{'server':>8} {'clients':>7} {'requests':>8} {'seconds':>7} {'req/s':>8} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'errors':>6}  writes"
)


def show(label: str, row: dict[str, float]) -> None:
    print(
        f"{label:>8} {row['clients']:>7.0f} {row['requests']:>8.0f} {row['seconds']:>7.2f} "
        f"{row['rps']:>8.0f} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} "
        f"{row['errors']:>6.0f}  {'all landed' if row['all_writes_landed'] else 'LOST'}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per level")
    parser.add_argument("--clients", default="1,8,32,64", help="comma-separated levels")
    parser.add_argument(
        "--server-process",
        action="store_true",
        help="run `engage sandbox serve` as its own process instead of a thread",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="ENGAGE",
        help="another engage binary to compare with, both as their own process",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternations with --baseline")
    args = parser.parse_args()
    levels = [int(level) for level in args.clients.split(",")]
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="engage-sandbox-load-") as workdir:
        for clients in levels:
            if args.baseline is None:
                show("this", run_level(clients, args.requests, Path(workdir), args.server_process))
                continue
            ours = Path(sys.executable).parent / "engage"
            rates: dict[str, list[float]] = {"this": [], "baseline": []}
            for _ in range(args.rounds):  # alternated, so a busy moment hits both alike
                for label, engage in (("this", ours), ("baseline", args.baseline)):
                    row = run_level(clients, args.requests, Path(workdir), True, engage)
                    show(label, row)
                    rates[label].append(row["rps"])
            this, base = statistics.median(rates["this"]), statistics.median(rates["baseline"])
            print(
                f"{clients} clients: median {this:.0f} req/s vs baseline {base:.0f} req/s "
                f"(ratio {this / base:.2f})",
                flush=True,
            )


if __name__ == "__main__":
    main()

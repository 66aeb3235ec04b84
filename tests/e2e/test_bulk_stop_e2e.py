"""SIGTERM (a CI job cancelled) or Ctrl-C ends a bulk run within seconds even while its
requests hang on a server that never answers: they are cut short and set apart as uncertain,
and the rest saved. It took the requests' whole timeout (a run was seen at 1,001 s)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import default_sigint, engage_binary

pytestmark = pytest.mark.e2e


@pytest.fixture
def silent_server() -> Iterator[tuple[str, threading.Semaphore]]:
    """Reads each request and never answers; the semaphore counts requests read."""
    listener = socket.create_server(("127.0.0.1", 0))
    arrived = threading.Semaphore(0)
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            threading.Thread(target=read, args=(conn,), daemon=True).start()

    def read(conn: socket.socket) -> None:
        try:
            if conn.recv(65536):
                arrived.release()
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1", arrived
    finally:
        listener.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_cuts_requests_in_flight_and_ends_the_run_within_seconds(
    silent_server: tuple[str, threading.Semaphore], tmp_path: Path, signum: signal.Signals
) -> None:
    url, arrived = silent_server
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(json.dumps({"uid": f"u{i}", "event": "Paid", "value": i}) + "\n"
                for i in range(10))
    )  # fmt: skip
    process = subprocess.Popen(
        [engage_binary(), "--timeout", "600", "events", "import", str(events), "-c", "2",
         "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ENGAGE_BASE_URL": url,
             "ENGAGE_API_KEY": "k", "ENGAGE_API_SECRET": "s",
             "ENGAGE_CONFIG_DIR": str(tmp_path / "config")},
        preexec_fn=default_sigint,
    )  # fmt: skip
    try:
        # Both workers' requests reached the server: the run is sending, its handler set.
        assert arrived.acquire(timeout=30) and arrived.acquire(timeout=30)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)  # not the 600 s timeout
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    summary = json.loads(stdout)
    assert (summary["landed"], summary["unknown"]) == (0, 2)
    assert summary["failed"] + summary["not_sent"] == 8
    (unknown,) = tmp_path.glob("events.jsonl.*.unknown.jsonl")
    (failed,) = tmp_path.glob("events.jsonl.*.failed.jsonl")
    values = [json.loads(line)["value"] for f in (unknown, failed) for line in f.open()]
    assert sorted(values) == list(range(10))  # every record in exactly one place
    assert all(
        "may have landed" in json.loads(line)["_error"]["message"] for line in unknown.open()
    )

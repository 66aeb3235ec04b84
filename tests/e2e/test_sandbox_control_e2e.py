"""The sandbox as the test double users drive from their own CI: the installed binary's
`engage sandbox events | requests | batches | reset | export | import` against a real
`engage sandbox serve`, `serve --state`, and the CI example proposed for the README, run
exactly as written."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from .conftest import Sandbox, StartSandbox, default_sigint, engage_binary

pytestmark = pytest.mark.e2e

# The README's CI example, verbatim (the lead pastes it): it starts a sandbox, points the
# code under test at it (here `engage users create` stands in for a user's own test suite),
# asserts on what was sent through the control API, and its trap stops the server.
CI_EXAMPLE = """\
engage sandbox serve --port 0 --db "$RUNNER_TEMP/engage.db" > sandbox.out &
SANDBOX_PID=$!
trap 'kill "$SANDBOX_PID"' EXIT
until [ -s sandbox.out ]; do sleep 0.1; done
export ENGAGE_BASE_URL=$(head -1 sandbox.out)
export ENGAGE_API_KEY=sandbox-key ENGAGE_API_SECRET=sandbox-secret

engage users create --id u144 --email ada@example.com   # your application's tests run here

# Assert on what they sent: the sandbox logs every request it answered.
curl -fsS -u "$ENGAGE_API_KEY:$ENGAGE_API_SECRET" "${ENGAGE_BASE_URL%/v1}/__sandbox/requests" \\
  | jq -e '.data | any(.method == "POST" and .path == "/v1/users" and .status == 200)'
engage sandbox requests -o json --query '[?status>=`400`]' | jq -e 'length == 0'
"""


def test_the_ci_example_runs_as_written_and_stops_its_server(tmp_path: Path) -> None:
    if shutil.which("curl") is None or shutil.which("jq") is None:
        pytest.skip("curl and jq are needed for the CI example")
    work, runner_temp = tmp_path / "job", tmp_path / "runner"
    work.mkdir()
    runner_temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    env.update(
        RUNNER_TEMP=str(runner_temp),
        PATH=f"{Path(engage_binary()).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    done = subprocess.run(
        ["bash", "-e", "-c", CI_EXAMPLE],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=default_sigint,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-2:] == ["true", "true"]
    url = (work / "sandbox.out").read_text().splitlines()[0]
    port = int(url.split(":")[-1].split("/")[0])
    assert _stops_listening(port), "the trap did not stop the server"


def _stops_listening(port: int) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.1)
    return False


def test_events_are_read_from_the_server_the_base_url_names(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    # The first finding: with ENGAGE_BASE_URL at a server started with --db elsewhere,
    # `sandbox events` read the default database and printed "No results.".
    sandbox = start_sandbox(db=tmp_path / "x" / "sb.db")
    assert sandbox.engage("events", "add", "alice", "Signed up").returncode == 0
    default_db = tmp_path / "default.sqlite3"
    listed = sandbox.engage(
        "sandbox", "events", "--uid", "alice", "-o", "json", ENGAGE_SANDBOX_DB=str(default_db)
    )
    assert listed.returncode == 0, listed.stderr
    assert [e["event"] for e in json.loads(listed.stdout)] == ["Signed up"]
    assert not default_db.exists()


def test_the_control_commands_against_a_server_never_show_the_secret(sandbox: Sandbox) -> None:
    outputs: list[str] = []

    def engage(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        done = sandbox.engage(*args, input=input)
        outputs.extend([done.stdout, done.stderr])
        return done

    assert engage("users", "create", "--id", "u1", "--email", "u1@example.com").returncode == 0
    batch = '{"type": "event", "id": "u1"}\n'
    engage("api", "POST", "/batch", "-d", json.dumps({"data": [json.loads(batch)]}))
    requests = engage("sandbox", "requests", "-o", "json")
    assert requests.returncode == 0, requests.stderr
    sent = json.loads(requests.stdout)
    assert [(r["method"], r["path"], r["status"]) for r in sent] == [
        ("POST", "/v1/users", 200),
        ("POST", "/v1/batch", 200),
    ]
    assert sent[0]["body"] == {"id": "u1", "email": "u1@example.com"}
    batches = engage("sandbox", "batches", "-o", "json")
    assert json.loads(batches.stdout)[0]["items"][0]["error"] == "event is required."
    table = engage("sandbox", "requests", "-o", "table")
    assert table.returncode == 0 and "/v1/batch" in table.stdout

    snapshot = sandbox.db.parent / "snapshot.json"
    assert engage("sandbox", "export", str(snapshot)).returncode == 0
    refused = engage("sandbox", "reset")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert engage("sandbox", "reset", "--yes").returncode == 0
    assert json.loads(engage("sandbox", "requests", "-o", "json").stdout) == []
    assert engage("users", "get", "u1").returncode == 4
    assert engage("sandbox", "import", str(snapshot), "--yes").returncode == 0
    assert engage("users", "get", "u1").returncode == 0

    with httpx.Client(base_url=sandbox.url.removesuffix("/v1"), timeout=10) as client:
        log = client.get("/__sandbox/requests", auth=(sandbox.key, sandbox.secret)).text
        assert client.get("/__sandbox/requests").status_code == 401
        assert client.get("/__sandbox/requests", auth=(sandbox.key, "")).status_code == 401
    for text in [*outputs, log]:
        assert sandbox.secret not in text


def test_serve_starts_from_a_snapshot(start_sandbox: StartSandbox, tmp_path: Path) -> None:
    first = start_sandbox()
    assert first.engage("users", "create", "--id", "kept").returncode == 0
    snapshot = tmp_path / "state.json"
    assert first.engage("sandbox", "export", str(snapshot)).returncode == 0
    second = start_sandbox("--state", str(snapshot))
    got = second.engage("users", "get", "kept", "-o", "json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["uid"] == "kept"


@pytest.fixture
def not_a_sandbox() -> Iterator[str]:
    """An HTTP server on loopback that answers 404 to everything, as any other API would."""

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_base_url_that_is_not_a_sandbox_is_exit_2(
    sandbox: Sandbox, not_a_sandbox: str, tmp_path: Path
) -> None:
    for args in (["events"], ["requests"], ["batches"], ["reset", "--yes"], ["export", "-"]):
        done = sandbox.engage("sandbox", *args, ENGAGE_BASE_URL=not_a_sandbox)
        assert done.returncode == 2, (args, done.stderr)
        assert f"{not_a_sandbox} is not an Engage sandbox" in done.stderr
        assert done.stdout == ""

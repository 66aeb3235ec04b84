"""End-to-end fixtures: the installed `engage` binary against `engage sandbox serve` on an
ephemeral loopback port, each server with its own SQLite file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def engage_binary() -> str:
    beside = Path(sys.executable).parent / "engage"
    found = str(beside) if beside.exists() else shutil.which("engage")
    if not found:
        pytest.fail("the `engage` console script is not installed (pip install -e .)")
    return found


def default_sigint() -> None:
    """preexec_fn of every binary a test starts. A pytest started in the background
    (`pytest &`) runs with SIGINT ignored, and an ignored signal is the one disposition exec
    passes on: the binary would shrug off the Ctrl-C a test sends it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Sandbox:
    url: str
    key: str
    secret: str
    db: Path
    process: subprocess.Popen[str]

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ENGAGE_BASE_URL=self.url,
            ENGAGE_API_KEY=self.key,
            ENGAGE_API_SECRET=self.secret,
            ENGAGE_SANDBOX_DB=str(self.db),
        )
        env.update(extra)
        return {k: v for k, v in env.items() if v != ""}

    def engage(
        self, *args: str, input: str | None = None, timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the real binary against this server; stdout and stderr captured apart."""
        return subprocess.run(
            [engage_binary(), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
            preexec_fn=default_sigint,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start the real binary against this server, stdout and stderr piped apart."""
        return subprocess.Popen(
            [engage_binary(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env(),
            preexec_fn=default_sigint,
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


StartSandbox = Callable[..., Sandbox]


@pytest.fixture
def start_sandbox(tmp_path: Path) -> Iterator[StartSandbox]:
    """Start `engage sandbox serve --port 0` with extra options; stopped at teardown."""
    started: list[Sandbox] = []

    def start(*options: str, db: Path | None = None) -> Sandbox:
        db = db or tmp_path / f"sandbox-{len(started)}.sqlite3"
        process = subprocess.Popen(
            [engage_binary(), "sandbox", "serve", "--port", "0", "--db", str(db), *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=default_sigint,
        )
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            process.kill()
            pytest.fail(
                f"sandbox did not start: {url!r} {process.stderr.read() if process.stderr else ''}"
            )
        creds = dict(process.stdout.readline().strip().split("=", 1) for _ in range(2))
        sandbox = Sandbox(url, creds["ENGAGE_API_KEY"], creds["ENGAGE_API_SECRET"], db, process)
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(start_sandbox: StartSandbox) -> Sandbox:
    return start_sandbox()

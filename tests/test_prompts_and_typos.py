"""Prompts and typos: a declined confirmation or Ctrl-C is never exit 1 (a bug), and a
profile named by mistake is an error everywhere, not "nothing to do"."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import default_sigint, engage_binary
from tests.harness import run


def test_answering_no_exits_2_and_sends_nothing() -> None:
    result = run(["users", "delete", "u1"], tty=True, stdin="n\n")
    assert result.exit_code == 2, result.stderr
    assert result.sent == []
    assert "Not confirmed" in result.stderr


def test_end_of_input_at_a_confirmation_is_an_interruption() -> None:
    # Ctrl-D at the question: Click reports it as an abort, as it does Ctrl-C.
    result = run(["users", "delete", "u1"], tty=True, stdin="")
    assert result.exit_code == 130, result.stderr
    assert result.sent == []


def test_end_of_input_at_the_login_prompt_is_an_interruption(isolated_home: Path) -> None:
    result = run(["auth", "login", "--profile", "p"], tty=True, stdin="", credentials=False)
    assert result.exit_code == 130, result.stderr
    assert not (isolated_home / "engage-config" / "config.toml").exists()


def _read_until(fd: int, marker: bytes, deadline: float) -> bytes:
    seen = b""
    while marker not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} in {seen!r}")
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.parametrize(
    ("args", "question"),
    [
        (["--sandbox", "users", "delete", "u1"], b"[y/N]: "),
        (["auth", "login", "--profile", "p"], b"API key: "),
    ],
)
def test_ctrl_c_at_a_real_prompt_exits_130(args: list[str], question: bytes) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [engage_binary(), *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=dict(os.environ),
        start_new_session=True,
        preexec_fn=default_sigint,  # a background pytest would hand it SIGINT ignored
    )
    os.close(follower)
    try:
        # The prompt's last space is written by input() itself, just before it reads.
        _read_until(leader, question, time.monotonic() + 60)
        code = None
        for _ in range(6):  # a SIGINT landing just before read() blocks is lost (CPython)
            process.send_signal(signal.SIGINT)
            try:
                code = process.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    assert code == 130


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["auth", "logout", "--profile", "typo"], {}),
        (["--profile", "typo", "auth", "logout"], {}),
        (["auth", "logout"], {"ENGAGE_PROFILE": "typo"}),
        (["--profile", "typo", "auth", "status"], {}),
        (["auth", "status"], {"ENGAGE_PROFILE": "typo"}),
    ],
)
def test_a_profile_that_does_not_exist_is_an_error(
    isolated_home: Path, args: list[str], env: dict[str, str]
) -> None:
    login = [
        "auth",
        "login",
        "--profile",
        "real",
        "--api-key",
        "k-0123456789ab",
        "--key-only",
        "--no-verify",
    ]
    assert run(login, credentials=False).exit_code == 0
    result = run(args, credentials=False, env=env)
    assert result.exit_code == 3, result.stderr
    assert "There is no profile 'typo'" in result.stderr
    assert "nothing to do" not in result.stderr
    assert "No API key" not in result.stderr


def test_logging_out_of_the_implicit_default_profile_with_no_config_is_not_an_error() -> None:
    result = run(["auth", "logout"], credentials=False)
    assert result.exit_code == 0, result.stderr
    assert "nothing to do" in result.stderr

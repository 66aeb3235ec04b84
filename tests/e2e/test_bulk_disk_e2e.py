"""A bulk run whose own files cannot be written (a full disk, a file size limit): it stops
with exit 6 and says which records are saved nowhere, instead of 'Unexpected failure:
OSError: [Errno 27] File too large' with exit 1 and no word of them."""

from __future__ import annotations

import json
import resource
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Sandbox, default_sigint, engage_binary

pytestmark = pytest.mark.e2e


def limited(max_bytes: int) -> Callable[[], None]:
    """Before exec: files the process writes stop at max_bytes (`ulimit -f`)."""

    def setup() -> None:
        default_sigint()
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return setup


def engage_limited(
    sandbox: Sandbox, max_bytes: int, *args: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [engage_binary(), *args],
        capture_output=True,
        text=True,
        env=sandbox.env(),
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        preexec_fn=limited(max_bytes),
    )


def users_csv(tmp_path: Path, n: int) -> Path:
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "users.csv"
    path.write_text("id,first_name\n" + "".join(f"u{i},Name{i}\n" for i in range(n)))
    return path


def test_no_room_for_the_journal_stops_before_sending(sandbox: Sandbox, tmp_path: Path) -> None:
    path = users_csv(tmp_path, 5)
    result = engage_limited(sandbox, 0, "users", "import", str(path), "-o", "json", cwd=path.parent)
    assert result.returncode == 6, result.stderr
    error = json.loads(result.stderr)["error"]
    assert error["message"].startswith(f"Cannot write the journal {path}.")
    assert "(File too large); nothing was sent." in error["message"]
    listed = sandbox.engage("users", "list", "-o", "json")
    assert json.loads(listed.stdout) == []
    assert [p.name for p in path.parent.iterdir()] == ["users.csv"]


def test_a_failures_file_that_fills_up_mid_run_stops_with_exit_6_naming_the_records(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = users_csv(tmp_path, 200)
    assert sandbox.engage("users", "import", str(path)).returncode == 0
    # Created again, every one is refused (400: it exists) and goes to the failures file,
    # which stops growing at 4 KB, some 30 records in.
    result = engage_limited(
        sandbox, 4096, "users", "import", str(path), "--mode", "create", "-c", "2",
        "-o", "json", cwd=path.parent,
    )  # fmt: skip
    assert result.returncode == 6, result.stderr
    error = json.loads(result.stderr)["error"]["message"]
    assert "(File too large): stopped." in error
    assert "records that did not land are saved nowhere: line " in error
    assert f"of {path}." in error
    summary = json.loads(result.stdout)
    assert summary["unsaved"] >= 1
    assert (
        summary["landed"] + summary["failed"] + summary["not_sent"] + summary["unsaved"]
        == summary["read"]
    )

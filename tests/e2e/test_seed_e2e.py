"""`engage seed` as a CI job runs it: the installed binary against `engage sandbox serve`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Sandbox

pytestmark = pytest.mark.e2e

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "seed.yaml")
WRITE = re.compile(r"^> (POST|PUT|DELETE) ", re.MULTILINE)


def test_apply_twice_then_down_twice(sandbox: Sandbox) -> None:
    first = sandbox.engage("seed", "apply", EXAMPLE, "-o", "json", RUN_ID="e2e")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["landed"]["create"] == 25 and report["landed"]["send_event"] == 2

    # Nothing changed: the second apply reads and sends no write, as the sandbox's request
    # log and the command's own --debug log both say.
    with httpx.Client(
        base_url=sandbox.url.removesuffix("/v1"), auth=(sandbox.key, sandbox.secret)
    ) as client:
        client.delete("/__sandbox/requests").raise_for_status()
        second = sandbox.engage("--debug", "seed", "apply", EXAMPLE, "-o", "json", RUN_ID="e2e")
        log = client.get("/__sandbox/requests").json()["data"]
    assert second.returncode == 0, second.stderr
    assert log and [r for r in log if r["method"] != "GET"] == []
    assert WRITE.findall(second.stderr) == []
    assert json.loads(second.stdout)["requests"] == 0

    events = sandbox.engage("sandbox", "events", "--uid", "u144", "-o", "json")
    assert [e["event"] for e in json.loads(events.stdout)] == ["Signup", "Paid"]
    user = json.loads(sandbox.engage("users", "get", "load-7", "-o", "json").stdout)
    assert user["email"] == "load7+e2e@example.com" and user["meta"]["seed"] == "checkout"

    check = sandbox.engage("seed", "plan", EXAMPLE, "--check", RUN_ID="e2e")
    assert check.returncode == 0, check.stderr
    drift = sandbox.engage("seed", "plan", EXAMPLE, "--check", "-o", "table", RUN_ID="other")
    assert drift.returncode == 8, drift.stderr
    assert '~ user load-1\n    email: "load1+e2e@example.com" -> "load1+other@example.com"' in (
        drift.stdout
    )

    refused = sandbox.engage("seed", "down", EXAMPLE, RUN_ID="e2e")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    down = sandbox.engage("seed", "down", EXAMPLE, "--yes", RUN_ID="e2e")
    assert down.returncode == 0, down.stderr
    landed = json.loads(down.stdout)["landed"]
    assert (landed["delete"], landed["archive"]) == (23, 2)
    gone = sandbox.engage("users", "get", "u144")
    assert gone.returncode == 4
    again = sandbox.engage("seed", "down", EXAMPLE, "--yes", "-o", "table", RUN_ID="e2e")
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_a_bad_file_exits_2_with_one_line_and_no_traceback(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: s\nusers:\n  - id: u1\n    lists: [missing]\n", encoding="utf-8")
    result = sandbox.engage("seed", "apply", str(bad), "--yes")
    assert result.returncode == 2
    assert f"{bad}, line 4 (users[0].lists[0]): 'missing' is not a list of this file" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr and result.stdout == ""
    unset = sandbox.engage("seed", "plan", EXAMPLE, RUN_ID="")
    assert unset.returncode == 2 and "RUN_ID is not set" in unset.stderr

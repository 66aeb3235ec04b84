"""`engage seed plan | apply | down` in-process against the sandbox's API: what each sends, what
the account then holds, and the exit codes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engage_cli.sandbox.api import SandboxAPI
from engage_cli.sandbox.store import SandboxStore
from engage_cli.sandbox.transport import SandboxTransport
from tests.harness import KEY, SECRET, Run, run

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "seed.yaml"
ENV = {"RUN_ID": "ci"}
WRITES = ("POST", "PUT", "DELETE")


class Recording(httpx.BaseTransport):
    """The sandbox, with every request seen (method, path) and chosen ones refused."""

    def __init__(self, store: SandboxStore) -> None:
        self.store = store
        self.inner = SandboxTransport(SandboxAPI(store, KEY, SECRET))
        self.seen: list[tuple[str, str]] = []
        self.refuse: Callable[[str, str], bool] = lambda method, path: False
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path.removeprefix("/v1")
        with self._lock:
            self.seen.append((method, path))
        if self.refuse(method, path):
            return httpx.Response(400, json={"error": "Refused by the test."})
        return self.inner.handle_request(request)

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.seen if m in WRITES]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Recording]:
    store = SandboxStore(tmp_path / "sandbox.sqlite3")
    yield Recording(store)
    store.close()


def seed(sandbox: Recording, *args: str, tty: bool = False, stdin: str = "") -> Run:
    sandbox.seen.clear()
    return run(["seed", *args], transport=sandbox, env=ENV, tty=tty, stdin=stdin)


def get(sandbox: Recording, uid: str) -> Any:
    result = run(["users", "get", uid, "-o", "json"], transport=sandbox)
    return result.json() if result.exit_code == 0 else None


def events(sandbox: Recording, uid: str) -> list[str]:
    return [e["event"] for e in sandbox.store.list_events(uid)]


def test_apply_makes_the_account_hold_the_file_and_a_second_apply_sends_no_write(
    sandbox: Recording,
) -> None:
    first = seed(sandbox, "apply", str(EXAMPLE), "-o", "json")
    assert first.exit_code == 0, first.stderr
    report = first.json()
    assert report["seed"] == "checkout" and report["failed"] == []
    assert report["landed"]["create"] == 2 + 1 + 22  # lists, account, users
    assert report["landed"]["send_event"] == 2
    ada = get(sandbox, "u144")
    assert ada["meta"] == {"plan": "pro", "seats": 3, "seed": "checkout"}
    assert ada["accounts"] == [{"id": "acme", "role": "admin"}]
    assert len(ada["lists"]) == 2
    assert get(sandbox, "acme")["is_account"] is True
    assert get(sandbox, "load-20")["email"] == "load20+ci@example.com"
    assert events(sandbox, "u144") == ["Signup", "Paid"]

    second = seed(sandbox, "apply", str(EXAMPLE), "-o", "json")
    assert second.exit_code == 0, second.stderr
    assert sandbox.writes() == []
    assert second.json()["requests"] == 0
    assert events(sandbox, "u144") == ["Signup", "Paid"]  # sent once, with the create
    check = seed(sandbox, "plan", str(EXAMPLE), "--check", "-o", "json")
    assert check.exit_code == 0 and check.json()["actions"] == []


def test_apply_updates_only_declared_fields_and_keeps_other_meta(sandbox: Recording) -> None:
    assert seed(sandbox, "apply", str(EXAMPLE)).exit_code == 0
    changed = run(
        ["users", "update", "u144", "--first-name", "Bob", "--last-name", "L", "-m", "x=1",
         "-m", "plan=free", "-o", "json"],
        transport=sandbox,
    )  # fmt: skip
    assert changed.exit_code == 0
    plan = seed(sandbox, "plan", str(EXAMPLE), "--check", "-o", "json")
    assert plan.exit_code == 8
    assert plan.json()["actions"] == [
        {
            "action": "update",
            "kind": "user",
            "id": "u144",
            "changes": {
                "first_name": {"old": "Bob", "new": "Ada"},
                "last_name": {"old": "L", "new": "Lovelace"},
                "meta.plan": {"old": "free", "new": "pro"},
            },
        }
    ]
    applied = seed(sandbox, "apply", str(EXAMPLE))
    assert applied.exit_code == 0, applied.stderr
    assert sandbox.writes() == [("PUT", "/users/u144")]
    ada = get(sandbox, "u144")
    assert ada["meta"] == {"plan": "pro", "seats": 3, "seed": "checkout", "x": "1"}
    assert (ada["first_name"], ada["last_name"]) == ("Ada", "Lovelace")


def test_plan_on_a_terminal_is_a_coloured_diff_and_check_exits_8(sandbox: Recording) -> None:
    result = seed(sandbox, "plan", str(EXAMPLE), "--check", tty=True)
    assert result.exit_code == 8
    assert sandbox.writes() == []
    assert "\x1b[32m+ list news\x1b[0m" in result.stdout
    assert "\x1b[36m> user u144 event Signup\x1b[0m" in result.stdout
    assert "2 events to send" in result.stdout
    assert "differs from seed checkout: 29 actions to apply." in result.stderr


def test_check_names_one_action_in_the_singular(sandbox: Recording, tmp_path: Path) -> None:
    assert seed(sandbox, "apply", str(EXAMPLE), "--yes").exit_code == 0
    changed = tmp_path / "seed.yaml"
    changed.write_text(EXAMPLE.read_text().replace("first_name: Ada", "first_name: Ada B"))
    result = seed(sandbox, "plan", str(changed), "--check")
    assert result.exit_code == 8
    assert "differs from seed checkout: 1 action to apply." in result.stderr


def test_prune_asks_on_a_terminal_and_needs_yes_elsewhere(
    sandbox: Recording, tmp_path: Path
) -> None:
    assert seed(sandbox, "apply", str(EXAMPLE)).exit_code == 0
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text(EXAMPLE.read_text().replace("repeat: 20", "repeat: 18"), encoding="utf-8")
    run(["users", "create", "--id", "mine", "-m", "seed=other", "-o", "json"], transport=sandbox)

    refused = seed(sandbox, "apply", str(fewer), "--prune")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert sandbox.writes() == []
    said_no = seed(sandbox, "apply", str(fewer), "--prune", tty=True, stdin="n\n")
    assert said_no.exit_code == 2 and sandbox.writes() == []

    pruned = seed(sandbox, "apply", str(fewer), "--prune", "--yes")
    assert pruned.exit_code == 0, pruned.stderr
    assert sorted(sandbox.writes()) == [("DELETE", "/users/load-19"), ("DELETE", "/users/load-20")]
    assert get(sandbox, "mine") is not None  # another seed's mark: never this one's to delete
    assert seed(sandbox, "apply", str(fewer), "--prune").exit_code == 0  # nothing to ask


def test_down_deletes_what_the_seed_owns_and_twice_is_fine(sandbox: Recording) -> None:
    run(
        ["users", "create", "--id", "u145", "--first-name", "Grace", "-o", "json"],
        transport=sandbox,
    )
    assert seed(sandbox, "apply", str(EXAMPLE)).exit_code == 0
    # Made unowned after apply: down leaves it alone.
    run(["users", "update", "u145", "-m", "seed=someone", "-o", "json"], transport=sandbox)
    assert seed(sandbox, "down", str(EXAMPLE)).exit_code == 2  # not on a terminal: --yes
    down = seed(sandbox, "down", str(EXAMPLE), "--yes")
    assert down.exit_code == 0, down.stderr
    assert "u145" in down.stderr and "not deleted" in down.stderr
    assert get(sandbox, "u144") is None and get(sandbox, "load-1") is None
    assert get(sandbox, "u145") is not None
    lists = run(["lists", "list", "-o", "json"], transport=sandbox).json()
    assert lists == []  # archived
    again = seed(sandbox, "down", str(EXAMPLE), "--yes")
    assert again.exit_code == 0 and sandbox.writes() == []


def test_failed_actions_exit_7_naming_them_and_apply_again_finishes(sandbox: Recording) -> None:
    refused = {("PUT", "/users/u145"), ("POST", "/users/u144/accounts")}
    sandbox.refuse = lambda method, path: (method, path) in refused
    first = seed(sandbox, "apply", str(EXAMPLE))
    assert first.exit_code == 7, first.stderr
    assert "create user u145: " in first.stderr and "Refused by the test" in first.stderr
    assert "join_accounts user u144" in first.stderr
    # u145's membership waits for u145: reported, not sent.
    assert "join_accounts user u145: not sent: its user or account did not land" in first.stderr
    assert ("POST", "/users/u145/accounts") not in sandbox.seen
    sandbox.refuse = lambda method, path: False
    second = seed(sandbox, "apply", str(EXAMPLE), "-o", "json")
    assert second.exit_code == 0, second.stderr
    assert sorted(sandbox.writes()) == [
        ("POST", "/users/u144/accounts"),
        ("POST", "/users/u145/accounts"),
        ("PUT", "/users/u145"),
    ]
    assert get(sandbox, "u145")["accounts"] == [{"id": "acme"}]
    assert events(sandbox, "u144") == ["Signup", "Paid"]


def test_dry_run_sends_no_write(sandbox: Recording) -> None:
    result = seed(sandbox, "apply", str(EXAMPLE), "--dry-run", "-o", "ndjson")
    assert result.exit_code == 0, result.stderr
    assert sandbox.writes() == []
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    requests = [s for s in shown if "method" in s]
    assert requests[0]["method"] == "POST" and requests[0]["url"].endswith("/v1/lists")
    assert any(r["url"].endswith("/v1/users/u144/events") for r in requests)
    assert shown[-1]["dry_run"] is True and shown[-1]["requests"] == len(requests)
    assert get(sandbox, "u144") is None


def test_a_small_seed_is_read_by_gets_a_large_one_by_listing(
    sandbox: Recording, tmp_path: Path
) -> None:
    small = tmp_path / "small.yaml"
    small.write_text("name: s\nusers:\n  - {id: 'u-${n}', repeat: 5}\n", encoding="utf-8")
    result = seed(sandbox, "plan", str(small), tty=True)
    assert "got the 5 declared users concurrently" in result.stderr
    assert [p for _, p in sandbox.seen] == [f"/users/u-{n}" for n in range(1, 6)]
    large = tmp_path / "large.yaml"
    large.write_text("name: s\nusers:\n  - {id: 'u-${n}', repeat: 100}\n", encoding="utf-8")
    result = seed(sandbox, "plan", str(large), tty=True)
    assert "listed the account's users (1 page)" in result.stderr
    assert sandbox.seen == [("GET", "/users")]


def test_seed_from_stdin(sandbox: Recording) -> None:
    text = "name: piped\nusers:\n  - {id: p1, first_name: P}\n"
    result = run(["seed", "apply", "-"], transport=sandbox, stdin=text)
    assert result.exit_code == 0, result.stderr
    assert get(sandbox, "p1")["meta"] == {"seed": "piped"}


def test_a_list_not_created_is_reported_and_joined_by_the_next_apply(sandbox: Recording) -> None:
    posts: list[str] = []

    def first_list_create(method: str, path: str) -> bool:
        if (method, path) == ("POST", "/lists"):
            posts.append(path)
            return len(posts) == 1  # news: the file's first list
        return False

    sandbox.refuse = first_list_create
    first = seed(sandbox, "apply", str(EXAMPLE))
    assert first.exit_code == 7, first.stderr
    assert "create list news: The API refused" in first.stderr
    assert "create user u144: not joined to list news: it was not created" in first.stderr
    ada = get(sandbox, "u144")
    assert ada is not None and len(ada["lists"]) == 1  # beta only; no made-up id sent
    assert events(sandbox, "u144") == ["Signup", "Paid"]  # its create landed: events went
    sandbox.refuse = lambda method, path: False
    second = seed(sandbox, "apply", str(EXAMPLE))
    assert second.exit_code == 0, second.stderr
    assert sorted(sandbox.writes()) == [
        ("POST", "/lists"),
        ("POST", "/users/u144/lists"),
        ("POST", "/users/u145/lists"),
    ]
    assert len(get(sandbox, "u144")["lists"]) == 2
    assert events(sandbox, "u144") == ["Signup", "Paid"]


def test_a_failed_update_does_not_hold_back_the_users_memberships(sandbox: Recording) -> None:
    assert seed(sandbox, "apply", str(EXAMPLE)).exit_code == 0
    run(["users", "update", "u144", "--first-name", "Bob", "-o", "json"], transport=sandbox)
    run(["users", "accounts", "remove", "u144", "acme", "-o", "json"], transport=sandbox)
    assert get(sandbox, "u144")["accounts"] == []
    sandbox.refuse = lambda method, path: (method, path) == ("PUT", "/users/u144")
    result = seed(sandbox, "apply", str(EXAMPLE))
    assert result.exit_code == 7, result.stderr
    assert "update user u144: The API refused" in result.stderr
    assert ("POST", "/users/u144/accounts") in sandbox.writes()  # the user exists: sent
    assert get(sandbox, "u144")["accounts"] == [{"id": "acme", "role": "admin"}]


def test_an_event_that_did_not_land_is_saved_for_events_import(
    sandbox: Recording, tmp_path: Path
) -> None:
    file = tmp_path / "seed.yaml"
    file.write_text(EXAMPLE.read_text(), encoding="utf-8")
    sent: list[str] = []

    def second_event(method: str, path: str) -> bool:
        if (method, path) == ("POST", "/users/u144/events"):
            sent.append(path)
            return len(sent) == 2  # Paid, the second
        return False

    sandbox.refuse = second_event
    first = seed(sandbox, "apply", str(file))
    assert first.exit_code == 7, first.stderr
    assert "send_event user u144: The API refused" in first.stderr
    saved = tmp_path / "seed.yaml.events-failed.jsonl"
    assert f"engage events import {saved}" in first.stderr
    (line,) = saved.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["event"] == "Paid" and json.loads(line)["uid"] == "u144"
    assert events(sandbox, "u144") == ["Signup"]

    sandbox.refuse = lambda method, path: False
    assert seed(sandbox, "apply", str(file)).exit_code == 0
    assert sandbox.writes() == []  # the user exists: apply does not send its events again
    imported = run(["events", "import", str(saved), "-o", "json"], transport=sandbox)
    assert imported.exit_code == 0, imported.stderr
    assert events(sandbox, "u144") == ["Signup", "Paid"]


def test_a_run_stopped_by_bad_credentials_loses_and_doubles_no_event(
    sandbox: Recording, tmp_path: Path
) -> None:
    file = tmp_path / "seed.yaml"
    file.write_text(EXAMPLE.read_text(), encoding="utf-8")

    def unauthorized(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "Wrong authentication credentials."})

    refusing = {("PUT", "/users/load-5")}
    inner = sandbox.inner.handle_request
    sandbox.inner.handle_request = lambda request: (  # type: ignore[method-assign]
        unauthorized(request)
        if (request.method, request.url.path.removeprefix("/v1")) in refusing
        else inner(request)
    )
    first = seed(sandbox, "apply", str(file))
    assert first.exit_code == 3, first.stderr
    assert "again to finish the rest" in first.stderr
    assert ("POST", "/users/u144/events") not in sandbox.seen  # phase 3 never ran
    refusing.clear()
    second = seed(sandbox, "apply", str(file))
    assert second.exit_code == 0, second.stderr
    saved = tmp_path / "seed.yaml.events-failed.jsonl"
    if saved.exists():  # u144 was created before the stop: its events wait in the file
        assert run(["events", "import", str(saved)], transport=sandbox).exit_code == 0
    assert events(sandbox, "u144") == ["Signup", "Paid"]
    assert seed(sandbox, "plan", str(file), "--check").exit_code == 0

"""How many pages --all, --max and `api --paginate` ask for, counted at the sandbox: the
largest page the API serves (30) unless --limit says otherwise, and never a page beyond
what is printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engage_cli.endpoints import MAX_PAGE_SIZE
from engage_cli.sandbox.api import SandboxAPI
from engage_cli.sandbox.store import SandboxStore
from engage_cli.sandbox.transport import SandboxTransport
from tests.harness import KEY, SECRET, run


class CountingSandbox(SandboxTransport):
    """The in-process sandbox, keeping the query of every request it answers."""

    def __init__(self, api: SandboxAPI) -> None:
        super().__init__(api)
        self.queries: list[httpx.QueryParams] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(request.url.params)
        return super().handle_request(request)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SandboxStore]:
    with SandboxStore(tmp_path / "sandbox.sqlite3") as opened:
        yield opened


def sandbox(store: SandboxStore, users: int = 0) -> CountingSandbox:
    for number in range(users):
        store.create_user(f"u{number:05d}", {})
    return CountingSandbox(SandboxAPI(store, KEY, SECRET))


def uids(stdout: str) -> list[str]:
    return [json.loads(line)["uid"] for line in stdout.splitlines()]


def test_all_of_3000_users_takes_100_requests_of_the_largest_page(store: SandboxStore) -> None:
    server = sandbox(store, 3000)
    result = run(["users", "list", "--all", "-o", "ndjson"], transport=server)
    assert result.exit_code == 0, result.stderr
    assert uids(result.stdout) == [f"u{n:05d}" for n in range(3000)]
    assert len(server.queries) == 100
    assert {q["limit"] for q in server.queries} == {str(MAX_PAGE_SIZE)}


def test_a_limit_given_is_the_page_size_of_all(store: SandboxStore) -> None:
    server = sandbox(store, 25)
    result = run(["users", "list", "--all", "--limit", "10", "-o", "ndjson"], transport=server)
    assert len(uids(result.stdout)) == 25
    assert [q["limit"] for q in server.queries] == ["10", "10", "10"]


@pytest.mark.parametrize(("wanted", "limits"), [(5, ["5"]), (30, ["30"]), (45, ["30", "30"])])
def test_max_fetches_no_page_beyond_what_it_prints(
    store: SandboxStore, wanted: int, limits: list[str]
) -> None:
    server = sandbox(store, 100)
    result = run(["users", "list", "--max", str(wanted), "-o", "ndjson"], transport=server)
    assert len(uids(result.stdout)) == wanted
    assert [q["limit"] for q in server.queries] == limits


def test_one_page_keeps_the_api_default(store: SandboxStore) -> None:
    server = sandbox(store, 40)
    result = run(["users", "list", "-o", "ndjson"], transport=server)
    assert len(uids(result.stdout)) == 10
    assert "limit" not in server.queries[0]


def test_lists_and_members_ask_for_the_largest_page(store: SandboxStore) -> None:
    server = sandbox(store)
    for number in range(31):
        store.create_list({"title": f"List {number}"})
    store.create_user("acme", {"is_account": True})
    for number in range(31):
        store.create_user(f"c{number}", {"accounts": [{"id": "acme"}]})
    lists = run(["lists", "list", "--all", "-o", "ndjson"], transport=server)
    assert lists.exit_code == 0, lists.stderr
    assert len(lists.stdout.splitlines()) == 31
    members = run(["users", "members", "acme", "--all", "-o", "ndjson"], transport=server)
    assert members.exit_code == 0, members.stderr
    assert len(members.stdout.splitlines()) == 31
    assert [q["limit"] for q in server.queries] == ["30"] * 4


def test_api_paginate_asks_for_the_largest_page_unless_given_one(store: SandboxStore) -> None:
    server = sandbox(store, 31)
    result = run(["api", "GET", "/users", "--paginate"], transport=server)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 31
    assert [q["limit"] for q in server.queries] == ["30", "30"]
    server.queries.clear()
    run(["api", "GET", "/users?limit=20", "--paginate"], transport=server)
    assert [q["limit"] for q in server.queries] == ["20", "20"]

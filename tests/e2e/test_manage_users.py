"""The path users take through accounts, lists, merge and archive: the real binary against
`engage sandbox serve` (issue 9's CI job)."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import Sandbox


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_accounts_lists_merge_and_archive(sandbox: Sandbox) -> None:
    # An account, and customers who belong to it with roles.
    acme = ok(
        sandbox.engage("users", "create", "--id", "acme", "--first-name", "Acme", "--account")
    )
    assert acme["is_account"] is True
    for uid, email in (("ada", "ada@example.com"), ("bob", "bob@example.com")):
        ok(sandbox.engage("users", "create", "--id", uid, "--email", email))
    ada = ok(sandbox.engage("users", "accounts", "add", "ada", "acme", "--role", "admin"))
    assert ada["accounts"] == [{"id": "acme", "role": "admin"}]
    ok(sandbox.engage("users", "accounts", "add", "bob", "acme"))
    bob = ok(sandbox.engage("users", "accounts", "role", "bob", "acme", "viewer"))
    assert bob["accounts"] == [{"id": "acme", "role": "viewer"}]
    members = ok(sandbox.engage("users", "members", "acme", "--all"))
    assert sorted(user["uid"] for user in members) == ["ada", "bob"]
    one_page = ok(sandbox.engage("users", "members", "acme", "--limit", "1"))
    assert len(one_page) == 1

    # A list: subscribe by email, filter the users list by it, leave and rejoin it.
    news = ok(sandbox.engage("lists", "create", "--title", "Newsletter", "--double-optin"))
    assert news["title"] == "Newsletter" and news["double_optin"] is True
    subscribed = ok(sandbox.engage("lists", "subscribe", news["id"], "--email", "ada@example.com"))
    assert subscribed == {"uid": "ada"}  # matched by email, not a new user
    ok(sandbox.engage("users", "lists", "add", "bob", news["id"]))
    in_list = ok(sandbox.engage("users", "list", "--list", news["id"], "--all"))
    assert sorted(user["uid"] for user in in_list) == ["ada", "bob"]
    by_email = ok(sandbox.engage("users", "list", "--email", "bob@example.com"))
    assert [user["uid"] for user in by_email] == ["bob"]
    assert ok(sandbox.engage("lists", "unsubscribe", news["id"], "bob")) == {"subscribed": False}
    assert ok(sandbox.engage("lists", "resubscribe", news["id"], "bob")) == {"subscribed": True}
    ok(sandbox.engage("users", "lists", "remove", "bob", news["id"]))
    in_list = ok(sandbox.engage("users", "list", "--list", news["id"]))
    assert [user["uid"] for user in in_list] == ["ada"]
    listed = ok(sandbox.engage("lists", "list", "--all"))
    assert [item["id"] for item in listed] == [news["id"]]
    got = ok(sandbox.engage("lists", "get", news["id"]))
    assert got["subscriber_count"] >= 1
    renamed = ok(sandbox.engage("lists", "update", news["id"], "--title", "Weekly"))
    assert renamed["title"] == "Weekly"

    # Devices and the type of a user.
    ios = ok(
        sandbox.engage(
            "users", "update", "bob", "--device-token", "tok-1", "--device-platform", "ios"
        )
    )
    assert {"token": "tok-1", "platform": "ios"} in ios["devices"]
    assert ok(sandbox.engage("users", "tokens", "remove", "bob", "tok-1"))["devices"] == []
    converted = ok(sandbox.engage("users", "convert", "bob", "--to", "account"))
    assert converted["is_account"] is True
    ok(sandbox.engage("users", "convert", "bob", "--to", "customer"))

    # Merge an anonymous visitor into ada; archive what is left of the account.
    ok(sandbox.engage("users", "create", "--id", "anon4f1c", "--meta", "visits:=3"))
    refused = sandbox.engage("users", "merge", "anon4f1c", "ada")  # no --yes off a terminal
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert ok(sandbox.engage("users", "merge", "anon4f1c", "ada", "--yes")) == {"status": "queued"}
    assert sandbox.engage("users", "get", "anon4f1c").returncode == 4
    assert ok(sandbox.engage("users", "get", "ada"))["meta"]["visits"] == 3
    ok(sandbox.engage("users", "accounts", "remove", "ada", "acme"))
    members = ok(sandbox.engage("users", "members", "acme"))
    assert [user["uid"] for user in members] == ["bob"]
    archived = ok(sandbox.engage("users", "archive", "acme", "--yes"))
    assert archived["archived"] is True

    # Archive the list, then drop a subscriber; both destructive, both need --yes.
    assert ok(sandbox.engage("lists", "archive", news["id"], "--yes")) == {"status": "ok"}
    assert ok(sandbox.engage("lists", "list")) == []
    late = sandbox.engage("lists", "subscribe", news["id"], "--email", "eve@example.com")
    assert late.returncode == 5  # an archived list takes no new subscribers
    assert ok(sandbox.engage("lists", "remove", news["id"], "ada", "--yes")) == {"status": "ok"}


def test_a_printed_user_round_trips_through_data(sandbox: Sandbox, tmp_path: Any) -> None:
    ok(sandbox.engage("users", "create", "--id", "u144", "--first-name", "Akinyele",
                      "--meta", "plan=pro", "--account"))  # fmt: skip
    printed = sandbox.engage("users", "get", "u144", "-o", "json")
    saved = tmp_path / "u.json"
    saved.write_text(ok(printed) and printed.stdout)
    ok(sandbox.engage("users", "delete", "u144", "--yes"))
    again = ok(sandbox.engage("users", "create", "--data", f"@{saved}"))
    before = json.loads(saved.read_text())
    for field in ("uid", "first_name", "meta", "is_account", "created_at"):
        assert again[field] == before[field], field
    duplicate = sandbox.engage("users", "create", "--data", f"@{saved}")
    assert duplicate.returncode == 5
    assert "engage users update u144" in duplicate.stderr
    ok(sandbox.engage("users", "update", "u144", "--data", f"@{saved}"))

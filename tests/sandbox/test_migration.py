"""A sandbox database written by the first sandbox (users and events only, user documents
without accounts, is_account, archived...) opens with today's store, migrated in place."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from engage_cli.sandbox.store import SCHEMA_VERSION, SandboxStore
from tests.sandbox.test_store import USER_KEYS

# The schema and a user document exactly as the first sandbox wrote them.
FIRST_SCHEMA = """
CREATE TABLE users (
    id    TEXT PRIMARY KEY,
    uid   TEXT NOT NULL UNIQUE,
    email TEXT,
    body  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX users_email ON users (email);
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    uid        TEXT NOT NULL,
    event      TEXT NOT NULL,
    value      TEXT,
    properties TEXT NOT NULL,
    timestamp  TEXT NOT NULL
);
CREATE INDEX events_uid ON events (uid, seq);
CREATE TABLE id_state (
    k       INTEGER PRIMARY KEY CHECK (k = 0),
    seconds INTEGER NOT NULL,
    seq     INTEGER NOT NULL
);
INSERT INTO id_state (k, seconds, seq) VALUES (0, 1700000000, 7);
"""
FIRST_USER = {
    "id": "6553f1000000000000000007",
    "uid": "old1",
    "first_name": "Ada",
    "last_name": None,
    "number": None,
    "email": "ada@example.com",
    "devices": [{"token": "t1", "platform": "ios"}],
    "lists": [{"id": "news", "subscribed": True}],
    "segments": [],
    "meta": {"plan": "pro"},
    "created_at": "2023-11-14T22:13:20.000+00:00",
}


def first_sandbox_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(FIRST_SCHEMA)
    conn.execute(
        "INSERT INTO users (id, uid, email, body) VALUES (?, ?, ?, ?)",
        (FIRST_USER["id"], "old1", "ada@example.com", json.dumps(FIRST_USER)),
    )
    conn.execute(
        "INSERT INTO events (uid, event, value, properties, timestamp) VALUES (?, ?, ?, ?, ?)",
        ("old1", "Paid", "9.5", "{}", "2023-11-14T22:13:21.000+00:00"),
    )
    conn.commit()
    conn.close()


def test_a_first_sandbox_database_opens_migrated(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    first_sandbox_db(db)
    with SandboxStore(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
        user = store.get_user("old1")
        assert user is not None
        assert list(user) == USER_KEYS
        assert {k: user[k] for k in FIRST_USER} == FIRST_USER  # every old value kept
        assert (user["accounts"], user["is_account"], user["archived"]) == ([], False, False)
        assert store.list_events("old1")[0]["value"] == 9.5
        # The new parts work on the old file: lists, filters, ids that keep increasing.
        created = store.create_list({"title": "Weekly"})
        assert created["id"] > FIRST_USER["id"]
        store.upsert_user("old1", {"lists": [created["id"]]})
        assert [u["uid"] for u in store.list_users(10, lists=[created["id"]]).items] == ["old1"]
    stored = json.loads(
        sqlite3.connect(db).execute("SELECT body FROM users WHERE uid = 'old1'").fetchone()[0]
    )
    assert "is_account" in stored  # rewritten on disk, not only patched on read


def test_migration_runs_once_and_changes_nothing_more(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    first_sandbox_db(db)
    with SandboxStore(db) as store:
        store.upsert_user("old1", {"is_account": True})
    with SandboxStore(db) as store:
        reopened = store.get_user("old1")
        assert reopened is not None and reopened["is_account"] is True
        assert store.count_users() == 1 and store.count_events() == 1

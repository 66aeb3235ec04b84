"""The SQLite file under the sandbox store: its schema and in-place migration, a pool of
connections, and transactions that no write is lost from or applied twice in, whichever thread
or process makes it. `store.py` holds the queries over it."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from engage_cli.sandbox.documents import JSONObject, normalise_user

# Idle connections kept for reuse; more are opened under load and closed when handed back.
_POOL_SIZE = 16
# How long a writer waits for another process's write transaction before giving up.
_BUSY_TIMEOUT_MS = 10_000

# PRAGMA user_version of a database this code wrote. 0 is the first sandbox (users and events
# only, user documents without accounts, is_account, archived...): opened, it is migrated.
SCHEMA_VERSION = 1
# /batch requests whose item outcomes the control API keeps (GET /__sandbox/batches): the
# last thousand, so a long-running sandbox fed batches does not grow without bound.
MAX_BATCHES = 1_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id    TEXT PRIMARY KEY,       -- internal id, 24 hex digits, ordered like creation time
    uid   TEXT NOT NULL UNIQUE,   -- UNIQUE: two racing creates cannot both land
    email TEXT,                   -- lower-cased copy for the ?email= filter
    body  TEXT NOT NULL           -- the whole user object as JSON
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_email ON users (email);
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    uid        TEXT NOT NULL,
    event      TEXT NOT NULL,
    value      TEXT,              -- JSON scalar, NULL when none was sent
    properties TEXT NOT NULL,     -- JSON object
    timestamp  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_uid ON events (uid, seq);
-- One row: the last (seconds, sequence) pair handed out as an internal id (users and lists
-- share it). It lives in the database, not in memory, so ids keep increasing across restarts
-- and across processes sharing the file.
CREATE TABLE IF NOT EXISTS id_state (
    k       INTEGER PRIMARY KEY CHECK (k = 0),
    seconds INTEGER NOT NULL,
    seq     INTEGER NOT NULL
);
INSERT OR IGNORE INTO id_state (k, seconds, seq) VALUES (0, 0, 0);
CREATE TABLE IF NOT EXISTS lists (
    id       TEXT PRIMARY KEY,    -- internal id, 24 hex digits
    archived INTEGER NOT NULL DEFAULT 0,
    body     TEXT NOT NULL        -- the list object as JSON (subscriber_count computed on read)
) WITHOUT ROWID;
-- Each /batch request received, with every item's outcome (the control API's /batches).
CREATE TABLE IF NOT EXISTS batches (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    received TEXT NOT NULL,
    items    TEXT NOT NULL        -- JSON array of {index, type, id, status, error?}
);
"""


def email_key(user: JSONObject) -> str | None:
    """What a user's email is matched by (the users table's email column): lower case."""
    email = user.get("email")
    return email.lower() if isinstance(email, str) else None


class StoreClosedError(RuntimeError):
    """The store was used after close()."""


D = TypeVar("D", bound="Database")


class Database:
    """One SQLite file, safe to share between threads and processes.

    Connections come from a small pool (a sqlite3 connection must not be used by two threads at
    once). Every write runs in a `BEGIN IMMEDIATE` transaction under one in-process lock: the lock
    serialises this process's writers cheaply, and IMMEDIATE takes SQLite's write lock up front so
    a read-modify-write (upsert, meta merge, id sequence) cannot interleave with another process's.
    Each write is committed before its method returns.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._batch = threading.local()  # the connection of this thread's transaction()
        self._pool_lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        with self._connection() as conn:
            conn.executescript(_SCHEMA)
        self._migrate()

    # -- connections -------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; we issue BEGIN/COMMIT ourselves.
        # check_same_thread=False: pooled connections move between threads, one at a time.
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=_BUSY_TIMEOUT_MS / 1000,
        )
        # WAL lets readers run while a write commits. synchronous=NORMAL in WAL mode syncs only at
        # checkpoints: a committed write survives a crash of this process (it is in the WAL file),
        # though the last few commits could be lost if the whole machine loses power, which is an
        # acceptable trade for a local test server.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        batch = getattr(self._batch, "conn", None)
        if batch is not None:  # inside transaction(): every query sees the batch's writes
            yield batch
            return
        with self._pool_lock:
            if self._closed:
                raise StoreClosedError("the sandbox store is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        finally:
            self._release(conn)

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._pool_lock:
            if not self._closed and len(self._idle) < _POOL_SIZE and not conn.in_transaction:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        batch = getattr(self._batch, "conn", None)
        if batch is not None:  # one write of a transaction(): undone alone if it fails
            batch.execute("SAVEPOINT write")
            try:
                yield batch
            except BaseException:
                batch.execute("ROLLBACK TO write")
                raise
            finally:
                batch.execute("RELEASE write")
            return
        with self._write_lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Many writes in one commit (a /batch request): each write inside still succeeds or
        fails alone (a savepoint), and all that succeeded are committed together on exit."""
        with self._write_lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._batch.conn = conn
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._batch.conn = None

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        if getattr(self._batch, "conn", None) is not None:
            with self._connection() as conn:  # the batch's own transaction is the snapshot
                yield conn
            return
        # One transaction, so every query of a read (a page and its neighbours) sees one snapshot.
        with self._connection() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def __enter__(self: D) -> D:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring a database from an older sandbox to SCHEMA_VERSION in place. The tables it
        lacks were created by _SCHEMA already; what is left is rewriting its user documents
        with the fields they lack. Idempotent, and safe with another process doing the same."""
        with self._write() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version >= SCHEMA_VERSION:
                return
            rows = conn.execute("SELECT uid, body FROM users").fetchall()
            for uid, body in rows:
                user = normalise_user(decode(body))
                conn.execute("UPDATE users SET body = ? WHERE uid = ?", (json.dumps(user), uid))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- the whole state, as a snapshot holds it (snapshot.py validates and shapes it) --------

    def stored_documents(self) -> tuple[list[JSONObject], list[JSONObject]]:
        """Every user and every list as stored, in creation (internal id) order."""
        with self._read() as conn:
            users = [
                normalise_user(decode(body))
                for (body,) in conn.execute("SELECT body FROM users ORDER BY id")
            ]
            lists = [decode(body) for (body,) in conn.execute("SELECT body FROM lists ORDER BY id")]
        return users, lists

    def replace_everything(
        self, users: list[JSONObject], lists: list[JSONObject], events: list[JSONObject]
    ) -> None:
        """Replace users, lists and events with these (already validated) in one transaction,
        forget the batches, and move the id sequence past every id given, so new ids stay
        larger than any imported one."""
        with self._write() as conn:
            for table in ("users", "lists", "events", "batches"):
                conn.execute(f"DELETE FROM {table}")
            for user in users:
                conn.execute(
                    "INSERT INTO users (id, uid, email, body) VALUES (?, ?, ?, ?)",
                    (user["id"], user["uid"], email_key(user), json.dumps(user)),
                )
            for stored in lists:
                conn.execute(
                    "INSERT INTO lists (id, archived, body) VALUES (?, ?, ?)",
                    (stored["id"], int(bool(stored.get("archived"))), json.dumps(stored)),
                )
            conn.executemany(
                "INSERT INTO events (uid, event, value, properties, timestamp)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        e["uid"],
                        e["event"],
                        None if e.get("value") is None else json.dumps(e["value"]),
                        json.dumps(e.get("properties") or {}),
                        e["timestamp"],
                    )
                    for e in events
                ],
            )
            ids = [str(doc["id"]) for doc in (*users, *lists)]
            if ids:
                top = max(ids)
                seconds, seq = int(top[:8], 16), int(top[8:], 16)
                conn.execute(
                    "UPDATE id_state SET seconds = max(seconds, ?), seq = max(seq, ?) WHERE k = 0",
                    (seconds, seq),
                )

    # -- batches -------------------------------------------------------------------------------

    def record_batch(self, received: str, items: list[JSONObject]) -> None:
        """Keep one /batch request's item outcomes (inside its transaction, if one is open),
        and only the last MAX_BATCHES of them, as the request log keeps its last requests."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO batches (received, items) VALUES (?, ?)",
                (received, json.dumps(items)),
            )
            conn.execute(
                "DELETE FROM batches WHERE seq <= (SELECT max(seq) FROM batches) - ?",
                (MAX_BATCHES,),
            )

    def list_batches(self) -> list[JSONObject]:
        """Every batch received, oldest first: `{seq, received, items}`."""
        with self._read() as conn:
            rows = conn.execute("SELECT seq, received, items FROM batches ORDER BY seq").fetchall()
        return [
            {"seq": seq, "received": received, "items": json.loads(items)}
            for seq, received, items in rows
        ]

    def schema_version(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])


def decode(body: str) -> JSONObject:
    """A stored JSON document; ValueError if the row holds anything else."""
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("corrupt row")
    return document

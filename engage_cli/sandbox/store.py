"""SQLite state of the Engage sandbox: users and the events recorded for them.

The store takes values the API layer has already validated and normalised; it owns the shape of
the stored user document, the internal ids, and the guarantee that no write it acknowledges is
lost or applied twice, whichever thread or process makes it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict, Union

__all__ = [
    "MAX_DEVICES",
    "DuplicateUserError",
    "SandboxStore",
    "Scalar",
    "StoreClosedError",
    "UserChanges",
    "UserPage",
    "format_timestamp",
    "utc_now_timestamp",
]

# A meta, event value or property value: the API refuses anything else.
Scalar = Union[str, int, float, bool]
JSONObject = dict[str, Any]

# The reference: "the user's last 5 device tokens".
MAX_DEVICES = 5
# Idle connections kept for reuse; more are opened under load and closed when handed back.
_POOL_SIZE = 16
# How long a writer waits for another process's write transaction before giving up.
_BUSY_TIMEOUT_MS = 10_000

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
-- One row: the last (seconds, sequence) pair handed out as a user id. It lives in the database,
-- not in memory, so ids keep increasing across restarts and across processes sharing the file.
CREATE TABLE IF NOT EXISTS id_state (
    k       INTEGER PRIMARY KEY CHECK (k = 0),
    seconds INTEGER NOT NULL,
    seq     INTEGER NOT NULL
);
INSERT OR IGNORE INTO id_state (k, seconds, seq) VALUES (0, 0, 0);
"""


class DuplicateUserError(Exception):
    """A create named a uid that already exists."""


class StoreClosedError(RuntimeError):
    """The store was used after close()."""


class Device(TypedDict):
    token: str
    platform: str


class UserChanges(TypedDict, total=False):
    """Validated changes: scalars replace, meta merges key by key, lists and devices add."""

    first_name: str
    last_name: str
    number: str
    email: str
    created_at: str
    meta: dict[str, Scalar]
    lists: list[str]
    device: Device


@dataclass(frozen=True)
class UserPage:
    users: list[JSONObject]
    has_more: bool
    next_cursor: str | None
    previous_cursor: str | None


def format_timestamp(moment: datetime) -> str:
    """Render like the reference: `2021-01-12T05:24:39.062+00:00` (UTC, milliseconds)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    utc = moment.astimezone(timezone.utc)
    # Formatted by hand: strftime("%Y") does not zero-pad years below 1000 on every platform.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}+00:00"
    )


def utc_now_timestamp() -> str:
    return format_timestamp(datetime.now(timezone.utc))


_SCALAR_FIELDS = frozenset({"first_name", "last_name", "number", "email", "created_at"})


def _new_user(internal_id: str, uid: str) -> JSONObject:
    # Key order is the reference's, so the JSON reads like its example.
    return {
        "id": internal_id,
        "uid": uid,
        "first_name": None,
        "last_name": None,
        "number": None,
        "email": None,
        "devices": [],
        "lists": [],
        "segments": [],
        "meta": {},
        "created_at": utc_now_timestamp(),
    }


def _apply_changes(user: JSONObject, changes: UserChanges) -> None:
    for field, value in changes.items():
        if field in _SCALAR_FIELDS:
            user[field] = value
    if "meta" in changes:
        user["meta"] = {**user["meta"], **changes["meta"]}
    if "lists" in changes:
        known = {entry["id"] for entry in user["lists"]}
        for list_id in changes["lists"]:
            if list_id not in known:
                user["lists"].append({"id": list_id, "subscribed": True})
                known.add(list_id)
    if "device" in changes:
        device = changes["device"]
        kept = [d for d in user["devices"] if d["token"] != device["token"]]
        user["devices"] = [*kept, dict(device)][-MAX_DEVICES:]


def _email_key(user: JSONObject) -> str | None:
    email = user.get("email")
    return email.lower() if isinstance(email, str) else None


class SandboxStore:
    """Users and events in one SQLite file, safe to share between threads and processes.

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
        self._pool_lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        with self._connection() as conn:
            conn.executescript(_SCHEMA)

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
        with self._write_lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
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

    def __enter__(self) -> SandboxStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- users -------------------------------------------------------------------------------

    @staticmethod
    def _next_user_id(conn: sqlite3.Connection) -> str:
        """8 hex digits of epoch seconds + 16 of a sequence: increasing in creation order.

        The seconds never go backwards (a clock step back reuses the last value) and the sequence
        always advances, so ids compare like creation order even within one second.
        """
        last_seconds, last_seq = conn.execute(
            "SELECT seconds, seq FROM id_state WHERE k = 0"
        ).fetchone()
        seconds = max(int(time.time()), int(last_seconds))
        seq = int(last_seq) + 1
        conn.execute("UPDATE id_state SET seconds = ?, seq = ? WHERE k = 0", (seconds, seq))
        return f"{seconds:08x}{seq:016x}"

    @staticmethod
    def _load(conn: sqlite3.Connection, uid: str) -> JSONObject | None:
        row = conn.execute("SELECT body FROM users WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else _decode(row[0])

    def _insert(self, conn: sqlite3.Connection, uid: str, changes: UserChanges) -> JSONObject:
        user = _new_user(self._next_user_id(conn), uid)
        _apply_changes(user, changes)
        try:
            conn.execute(
                "INSERT INTO users (id, uid, email, body) VALUES (?, ?, ?, ?)",
                (user["id"], uid, _email_key(user), json.dumps(user)),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateUserError(uid) from exc
        return user

    def create_user(self, uid: str, changes: UserChanges) -> JSONObject:
        """Create a user; DuplicateUserError if the uid exists (the UNIQUE constraint decides)."""
        with self._write() as conn:
            return self._insert(conn, uid, changes)

    def upsert_user(self, uid: str, changes: UserChanges) -> tuple[JSONObject, bool]:
        """Apply changes to the user, creating it first if needed. Returns (user, created)."""
        with self._write() as conn:
            user = self._load(conn, uid)
            if user is None:
                return self._insert(conn, uid, changes), True
            _apply_changes(user, changes)
            conn.execute(
                "UPDATE users SET email = ?, body = ? WHERE uid = ?",
                (_email_key(user), json.dumps(user), uid),
            )
            return user, False

    def get_user(self, uid: str) -> JSONObject | None:
        with self._connection() as conn:
            return self._load(conn, uid)

    def delete_user(self, uid: str) -> bool:
        """Delete the user; False if there was none. Its recorded events stay in the log."""
        with self._write() as conn:
            return conn.execute("DELETE FROM users WHERE uid = ?", (uid,)).rowcount > 0

    def count_users(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])

    def count_events(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def list_users(
        self,
        limit: int,
        *,
        after_id: str | None = None,
        before_id: str | None = None,
        email: str | None = None,
    ) -> UserPage:
        """One page in ascending internal id.

        Without a cursor or with after_id: the first `limit` users above it, has_more = more
        follow. With before_id: the last `limit` users below it (still ascending), has_more =
        more precede. Both cursors are computed either way.
        """
        if after_id is not None and before_id is not None:
            raise ValueError("after_id and before_id are exclusive")
        where, params = ("", []) if email is None else (" AND email = ?", [email.lower()])
        with self._read() as conn:

            def select(condition: str, bound: str, order: str, count: int) -> list[str]:
                rows = conn.execute(
                    f"SELECT body FROM users WHERE {condition}{where} ORDER BY id {order} LIMIT ?",
                    [bound, *params, count],
                ).fetchall()
                return [str(row[0]) for row in rows]

            if before_id is None:
                bodies = select("id > ?", after_id or "", "ASC", limit + 1)
                page = [_decode(body) for body in bodies[:limit]]
                more_after = len(bodies) > limit
                more_before = bool(page) and bool(select("id < ?", page[0]["id"], "DESC", 1))
            else:
                bodies = select("id < ?", before_id, "DESC", limit + 1)
                page = [_decode(body) for body in reversed(bodies[:limit])]
                more_before = len(bodies) > limit
                more_after = bool(page) and bool(select("id > ?", page[-1]["id"], "ASC", 1))
        return UserPage(
            users=page,
            has_more=more_before if before_id is not None else more_after,
            next_cursor=page[-1]["id"] if more_after else None,
            previous_cursor=page[0]["id"] if more_before else None,
        )

    # -- events ------------------------------------------------------------------------------

    def add_event(
        self,
        uid: str,
        event: str,
        *,
        value: Scalar | None = None,
        properties: Mapping[str, Scalar] | None = None,
        timestamp: str | None = None,
    ) -> bool:
        """Record an event, creating the user if unknown (as Engage does for anonymous ids).

        Returns True if the user was created.
        """
        with self._write() as conn:
            created = False
            if self._load(conn, uid) is None:
                self._insert(conn, uid, {})
                created = True
            conn.execute(
                "INSERT INTO events (uid, event, value, properties, timestamp)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    uid,
                    event,
                    None if value is None else json.dumps(value),
                    json.dumps(dict(properties or {})),
                    timestamp or utc_now_timestamp(),
                ),
            )
            return created

    def list_events(self, uid: str | None = None) -> list[JSONObject]:
        """Recorded events, oldest first, each `{uid, event, value, properties, timestamp}`."""
        query = "SELECT uid, event, value, properties, timestamp FROM events"
        params: list[str] = []
        if uid is not None:
            query += " WHERE uid = ?"
            params.append(uid)
        with self._connection() as conn:
            rows = conn.execute(query + " ORDER BY seq", params).fetchall()
        return [
            {
                "uid": row_uid,
                "event": event,
                "value": None if value is None else json.loads(value),
                "properties": json.loads(properties),
                "timestamp": timestamp,
            }
            for row_uid, event, value, properties, timestamp in rows
        ]

    def reset(self) -> None:
        """Forget every user and event. The id sequence carries on, so old cursors match nothing."""
        with self._write() as conn:
            conn.execute("DELETE FROM users")
            conn.execute("DELETE FROM events")


def _decode(body: str) -> JSONObject:
    user = json.loads(body)
    if not isinstance(user, dict):
        raise ValueError("corrupt user row")
    return user

"""SQLite state of the Engage sandbox: users, lists and the events recorded for users.

The store takes values the route modules have already validated and normalised; documents.py
owns the shape of the stored objects; this module owns the queries and the internal ids;
database.py the schema, its in-place migration, connections and transactions.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engage_cli.sandbox.database import (
    SCHEMA_VERSION,
    Database,
    StoreClosedError,
    decode,
    email_key,
)
from engage_cli.sandbox.documents import (
    MAX_DEVICES,
    JSONObject,
    ListChanges,
    Scalar,
    UserChanges,
    apply_list_changes,
    apply_user_changes,
    format_timestamp,
    merge_into,
    new_list,
    new_user,
    normalise_user,
    utc_now_timestamp,
)

__all__ = [
    "MAX_DEVICES",
    "SCHEMA_VERSION",
    "DuplicateUserError",
    "EmailChangeError",
    "ListArchivedError",
    "Page",
    "SandboxStore",
    "Scalar",
    "StoreClosedError",
    "UserChanges",
    "UserPage",
    "format_timestamp",
    "utc_now_timestamp",
]

# A user document's membership of a list / an account, for filters and counts. json_each walks
# the document's array; the sandbox holds thousands of users, not millions, so no index.
_IN_LIST = (
    "EXISTS (SELECT 1 FROM json_each(users.body, '$.lists') AS l"
    " WHERE json_extract(l.value, '$.id') = ?)"
)
_MEMBER_OF = (
    "EXISTS (SELECT 1 FROM json_each(users.body, '$.accounts') AS a"
    " WHERE json_extract(a.value, '$.id') = ?)"
)


class DuplicateUserError(Exception):
    """A create named a uid that already exists."""


class EmailChangeError(Exception):
    """A write that may not change the email (key-only) would have changed it."""


class ListArchivedError(Exception):
    """An archived list takes no new subscribers."""


@dataclass(frozen=True)
class Page:
    """One page of users or lists, with both pagination styles' answers."""

    items: list[JSONObject]
    has_more: bool
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def users(self) -> list[JSONObject]:
        return self.items


UserPage = Page


class SandboxStore(Database):
    """Users, events and lists in one SQLite file: the queries, over a Database that makes
    them safe to share between threads and processes."""

    # -- ids and pages -----------------------------------------------------------------------

    @staticmethod
    def _next_id(conn: sqlite3.Connection) -> str:
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
    def _page(
        conn: sqlite3.Connection,
        table: str,
        conditions: list[str],
        params: list[Any],
        limit: int,
        after_id: str | None,
        before_id: str | None,
        present: Callable[[str], JSONObject],
    ) -> Page:
        """One page in ascending internal id.

        Without a cursor or with after_id: the first `limit` rows above it, has_more = more
        follow. With before_id: the last `limit` rows below it (still ascending), has_more =
        more precede. Both cursors are computed either way.
        """
        if after_id is not None and before_id is not None:
            raise ValueError("after_id and before_id are exclusive")
        where = "".join(f" AND {condition}" for condition in conditions)

        def select(condition: str, bound: str, order: str, count: int) -> list[str]:
            rows = conn.execute(
                f"SELECT body FROM {table} WHERE {condition}{where} ORDER BY id {order} LIMIT ?",
                [bound, *params, count],
            ).fetchall()
            return [str(row[0]) for row in rows]

        if before_id is None:
            bodies = select("id > ?", after_id or "", "ASC", limit + 1)
            page = [present(body) for body in bodies[:limit]]
            more_after = len(bodies) > limit
            more_before = bool(page) and bool(select("id < ?", page[0]["id"], "DESC", 1))
        else:
            bodies = select("id < ?", before_id, "DESC", limit + 1)
            page = [present(body) for body in reversed(bodies[:limit])]
            more_before = len(bodies) > limit
            more_after = bool(page) and bool(select("id > ?", page[-1]["id"], "ASC", 1))
        return Page(
            items=page,
            has_more=more_before if before_id is not None else more_after,
            next_cursor=page[-1]["id"] if more_after else None,
            previous_cursor=page[0]["id"] if more_before else None,
        )

    # -- users -------------------------------------------------------------------------------

    @staticmethod
    def _present(conn: sqlite3.Connection, user: JSONObject) -> JSONObject:
        """The user object as answered: an account's member_count is counted now."""
        if user["is_account"]:
            user["member_count"] = int(
                conn.execute(
                    f"SELECT count(*) FROM users WHERE {_MEMBER_OF}", (user["uid"],)
                ).fetchone()[0]
            )
        else:
            user["member_count"] = None
        return user

    @staticmethod
    def _load(conn: sqlite3.Connection, uid: str) -> JSONObject | None:
        row = conn.execute("SELECT body FROM users WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else normalise_user(decode(row[0]))

    @staticmethod
    def _save(conn: sqlite3.Connection, user: JSONObject) -> None:
        conn.execute(
            "UPDATE users SET email = ?, body = ? WHERE uid = ?",
            (email_key(user), json.dumps(user), user["uid"]),
        )

    def _insert(
        self, conn: sqlite3.Connection, uid: str | None, changes: UserChanges
    ) -> JSONObject:
        """A new user; uid None: the new internal id is its uid too."""
        internal_id = self._next_id(conn)
        user = new_user(internal_id, internal_id if uid is None else uid)
        apply_user_changes(user, changes)
        try:
            conn.execute(
                "INSERT INTO users (id, uid, email, body) VALUES (?, ?, ?, ?)",
                (user["id"], user["uid"], email_key(user), json.dumps(user)),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateUserError(uid) from exc
        return user

    def create_user(self, uid: str, changes: UserChanges) -> JSONObject:
        """Create a user; DuplicateUserError if the uid exists (the UNIQUE constraint decides)."""
        with self._write() as conn:
            return self._present(conn, self._insert(conn, uid, changes))

    def upsert_user(
        self, uid: str, changes: UserChanges, *, may_change_email: bool = True
    ) -> tuple[JSONObject, bool]:
        """Apply changes to the user, creating it first if needed. Returns (user, created).

        may_change_email=False: EmailChangeError (nothing written) if the user exists with
        another email than the changes carry; the same one in another case is no change, so the
        stored one stays as it is; creating the user with one is allowed."""
        with self._write() as conn:
            user = self._load(conn, uid)
            if user is None:
                return self._present(conn, self._insert(conn, uid, changes)), True
            if not may_change_email and "email" in changes:
                if email_key(user) != changes["email"].lower():
                    raise EmailChangeError(uid)
                changes = {**changes}
                del changes["email"]
            apply_user_changes(user, changes)
            self._save(conn, user)
            return self._present(conn, user), False

    def update_user(self, uid: str, changes: UserChanges) -> JSONObject | None:
        """Apply changes to an existing user; None (nothing written) if there is none."""
        with self._write() as conn:
            user = self._load(conn, uid)
            if user is None:
                return None
            apply_user_changes(user, changes)
            self._save(conn, user)
            return self._present(conn, user)

    def get_user(self, uid: str) -> JSONObject | None:
        with self._read() as conn:
            user = self._load(conn, uid)
            return None if user is None else self._present(conn, user)

    def delete_user(self, uid: str) -> bool:
        """Delete the user; False if there was none. Its recorded events stay in the log."""
        with self._write() as conn:
            return conn.execute("DELETE FROM users WHERE uid = ?", (uid,)).rowcount > 0

    def merge_users(self, source: str, destination: str) -> bool:
        """Fold the source user into the destination (created if unknown) and delete the
        source; its events move to the destination. False (nothing done) if the source is
        unknown or both are the same user."""
        with self._write() as conn:
            moved = self._load(conn, source)
            if moved is None or source == destination:
                return False
            target = self._load(conn, destination)
            if target is None:
                target = self._insert(conn, destination, {})
            merge_into(target, moved)
            conn.execute("DELETE FROM users WHERE uid = ?", (source,))
            self._save(conn, target)
            conn.execute("UPDATE events SET uid = ? WHERE uid = ?", (destination, source))
            return True

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
        lists: list[str] | tuple[str, ...] = (),
        member_of: str | None = None,
    ) -> Page:
        """A page of users (see _page), only those with this email (any case), in every one of
        these lists, and members of this account, where given."""
        conditions: list[str] = []
        params: list[Any] = []
        if email is not None:
            conditions.append("email = ?")
            params.append(email.lower())
        for list_id in lists:
            conditions.append(_IN_LIST)
            params.append(list_id)
        if member_of is not None:
            conditions.append(_MEMBER_OF)
            params.append(member_of)
        with self._read() as conn:
            return self._page(
                conn,
                "users",
                conditions,
                params,
                limit,
                after_id,
                before_id,
                lambda body: self._present(conn, normalise_user(decode(body))),
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
        """Record an event, creating the user if unknown (as Engage does for anonymous ids);
        the user's last_interaction becomes the event's time if that is later.

        Returns True if the user was created.
        """
        moment = timestamp or utc_now_timestamp()
        with self._write() as conn:
            user = self._load(conn, uid)
            if user is None:
                self._insert(conn, uid, {"last_interaction": moment})
            else:
                apply_user_changes(user, {"last_interaction": moment})
                self._save(conn, user)
            conn.execute(
                "INSERT INTO events (uid, event, value, properties, timestamp)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    uid,
                    event,
                    None if value is None else json.dumps(value),
                    json.dumps(dict(properties or {})),
                    moment,
                ),
            )
            return user is None

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

    # -- lists -------------------------------------------------------------------------------

    @staticmethod
    def _present_list(conn: sqlite3.Connection, stored: JSONObject) -> JSONObject:
        """The list object as answered: subscriber_count counts every user in the list
        (subscribed or not: Engage counts pending confirmations too)."""
        stored["subscriber_count"] = int(
            conn.execute(
                f"SELECT count(*) FROM users WHERE {_IN_LIST}", (stored["id"],)
            ).fetchone()[0]
        )
        return stored

    @staticmethod
    def _load_list(conn: sqlite3.Connection, list_id: str) -> JSONObject | None:
        row = conn.execute("SELECT body FROM lists WHERE id = ?", (list_id,)).fetchone()
        return None if row is None else decode(row[0])

    def create_list(self, changes: ListChanges) -> JSONObject:
        with self._write() as conn:
            stored = new_list(self._next_id(conn), changes)
            conn.execute(
                "INSERT INTO lists (id, archived, body) VALUES (?, 0, ?)",
                (stored["id"], json.dumps(stored)),
            )
            return self._present_list(conn, stored)

    def get_list(self, list_id: str) -> JSONObject | None:
        """A list by id, archived or not; None if there is none."""
        with self._read() as conn:
            stored = self._load_list(conn, list_id)
            return None if stored is None else self._present_list(conn, stored)

    def update_list(
        self, list_id: str, changes: ListChanges, *, archive: bool = False
    ) -> JSONObject | None:
        """Apply changes (and archive it, if asked); None if there is no such list."""
        with self._write() as conn:
            stored = self._load_list(conn, list_id)
            if stored is None:
                return None
            apply_list_changes(stored, changes)
            if archive:
                stored["archived"] = True
            conn.execute(
                "UPDATE lists SET archived = ?, body = ? WHERE id = ?",
                (int(stored["archived"]), json.dumps(stored), list_id),
            )
            return self._present_list(conn, stored)

    def list_lists(
        self, limit: int, *, after_id: str | None = None, before_id: str | None = None
    ) -> Page:
        """A page of the lists not archived (see _page)."""
        with self._read() as conn:
            return self._page(
                conn,
                "lists",
                ["archived = 0"],
                [],
                limit,
                after_id,
                before_id,
                lambda body: self._present_list(conn, decode(body)),
            )

    def subscribe(self, list_id: str, changes: UserChanges) -> str | None:
        """Subscribe the user with the changes' email, else with its number, else a new user
        (its uid is its new internal id) to the list. Returns the uid; None if there is no
        such list; ListArchivedError if it is archived. A matched user also takes the other
        given fields (names, meta...), but keeps its own email and number."""
        with self._write() as conn:
            stored = self._load_list(conn, list_id)
            if stored is None:
                return None
            if stored["archived"]:
                raise ListArchivedError(list_id)
            user = self._find_contact(conn, changes)
            if user is None:
                user = self._insert(conn, None, {**changes, "lists": [list_id]})
                return str(user["uid"])
            others: UserChanges = {**changes}
            others.pop("email", None)
            others.pop("number", None)
            apply_user_changes(user, {**others, "lists": [list_id]})
            self._save(conn, user)
            return str(user["uid"])

    @staticmethod
    def _find_contact(conn: sqlite3.Connection, changes: UserChanges) -> JSONObject | None:
        row = None
        if "email" in changes:
            row = conn.execute(
                "SELECT body FROM users WHERE email = ? ORDER BY id LIMIT 1",
                (changes["email"].lower(),),
            ).fetchone()
        if row is None and "number" in changes:
            row = conn.execute(
                "SELECT body FROM users WHERE json_extract(body, '$.number') = ?"
                " ORDER BY id LIMIT 1",
                (changes["number"],),
            ).fetchone()
        return None if row is None else normalise_user(decode(row[0]))

    # -- all ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every user, list, event and batch. The id sequence carries on, so old cursors
        match nothing."""
        with self._write() as conn:
            conn.execute("DELETE FROM users")
            conn.execute("DELETE FROM events")
            conn.execute("DELETE FROM lists")
            conn.execute("DELETE FROM batches")

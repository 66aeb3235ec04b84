"""The Engage endpoints as request values: what to send, and what it needs.

A request is a plain value so that `--dry-run` can show it, the client can send it, and
tests can compare it; nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from engage_cli.errors import UsageError

# Methods whose repetition is harmless: they may be retried even after the server may
# have acted on them (a timeout, a 5xx). POST is not: an event would count twice.
REPEATABLE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class APIRequest:
    method: str
    path: str  # relative to the base URL, already percent-encoded
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    needs_secret: bool = False

    @property
    def repeatable(self) -> bool:
        return self.method in REPEATABLE_METHODS

    def with_params(self, params: dict[str, str]) -> APIRequest:
        return replace(self, params=params)


def user_path(uid: str) -> str:
    # A uid made by an integration may hold any character (e-mail addresses, slashes).
    if uid in ("", ".", ".."):
        # Percent-encoding leaves these alone and URL resolution would eat them: `users get
        # ..` would become GET /users and `events add ..` POST /events.
        raise UsageError(f"{uid!r} cannot be a user id.", hint="Give the user's uid.")
    return "/users/" + quote(uid, safe="")


def create_user(body: dict[str, Any]) -> APIRequest:
    return APIRequest("POST", "/users", body=body)


def get_user(uid: str) -> APIRequest:
    return APIRequest("GET", user_path(uid), needs_secret=True)


def update_user(uid: str, body: dict[str, Any]) -> APIRequest:
    # Username (key-only) auth is enough unless the email changes.
    return APIRequest("PUT", user_path(uid), body=body, needs_secret="email" in body)


def delete_user(uid: str) -> APIRequest:
    return APIRequest("DELETE", user_path(uid), needs_secret=True)


def add_event(uid: str, body: dict[str, Any]) -> APIRequest:
    return APIRequest("POST", user_path(uid) + "/events", body=body)


def list_users(
    limit: int | None = None, after_id: str | None = None, before_id: str | None = None
) -> APIRequest:
    params: dict[str, str] = {}
    if limit is not None:
        params["limit"] = str(limit)
    if after_id:
        params["after_id"] = after_id
    if before_id:
        params["before_id"] = before_id
    return APIRequest("GET", "/users", params=params, needs_secret=True)


def raw(method: str, path: str, params: dict[str, str], body: Any) -> APIRequest:
    """Any call, for `engage api`: sent with whatever credentials are configured, and the
    API itself says whether they are enough."""
    method = method.upper()
    if not path.startswith("/"):
        path = "/" + path
    return APIRequest(method, path, params=params, body=body)

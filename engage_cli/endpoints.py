"""The Engage endpoints as request values: what to send, and what it needs.

A request is a plain value so that `--dry-run` can show it, the client can send it, and
tests can compare it; nothing here touches the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Union
from urllib.parse import quote

from engage_cli.errors import UsageError

# Methods whose repetition is harmless: they may be retried even after the server may
# have acted on them (a timeout, a 5xx). POST is not: an event would count twice.
REPEATABLE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Characters of path and query, before percent-encoding: the 8 KB request line most
# servers accept.
MAX_URL_PATH = 8000
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
# The largest page the list endpoints serve (`limit`: default 10, 1..30): what every page of
# --all asks for, so 3,000 users take 100 requests, not 300.
MAX_PAGE_SIZE = 30
# The GET lists that take `limit` (users, lists, an account's members).
_PAGED_PATHS = re.compile(r"/users|/lists|/users/[^/?#]+/members")

# A query value; a list repeats the parameter (`lists[]=a&lists[]=b`).
QueryValue = Union[str, list[str]]


class EncodedJSON(bytes):
    """A body already encoded as JSON (a batch built from its items' own encodings)."""


# json.dumps with any option builds a new encoder per call: a third of the cost of encoding
# a --batch item (every record of a bulk run is encoded once).
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def compact_json(value: Any) -> str:
    """JSON as a body is sent: no spaces, text as it is (not \\u-escaped)."""
    return _COMPACT_JSON.encode(value)


def encode_body(body: Any) -> bytes:
    """A request's body as sent. Here, not in the client, so that a bulk run encodes its
    batch items (and their journal fingerprints) without importing httpx for it."""
    if isinstance(body, EncodedJSON):
        return body
    return _COMPACT_JSON.encode(body).encode("utf-8")


@dataclass(frozen=True)
class APIRequest:
    method: str
    path: str  # relative to the base URL, already percent-encoded
    params: dict[str, QueryValue] = field(default_factory=dict)
    body: Any = None
    needs_secret: bool = False
    # What a success answer must be: "object" (every Engage endpoint answers a JSON object),
    # "page" (an object with a `data` array), "any" (JSON or nothing: `engage api`).
    answer: str = "object"
    # The path is from the server's root, not under the base URL's path (the sandbox's
    # /__sandbox/ control API sits beside /v1, not in it).
    from_root: bool = False

    def __post_init__(self) -> None:
        # httpx refuses a URL over 64 KB with an exception of its own, and servers stop far
        # sooner (414); a uid or PATH that long is a mistake to report before sending.
        length = len(self.path)
        if self.params:  # most requests have none (every record of a bulk run makes two)
            length += sum(
                len(k) + len(v) + 2
                for k, values in self.params.items()
                for v in ([values] if isinstance(values, str) else values)
            )
        if length > MAX_URL_PATH:
            raise UsageError(
                f"The request path and query are too long ({length} characters; servers "
                f"accept about {MAX_URL_PATH}).",
                hint="Check the uid, PATH or option values given.",
            )

    @classmethod
    def checked(
        cls, method: str, path: str, params: dict[str, QueryValue], body: Any, needs_secret: bool
    ) -> APIRequest:
        """A request rebuilt from one already built (and so checked): the spool's, read back
        for the send pass, without the frozen dataclass's per-field __init__ and the path
        check again (a tenth of reading a record back)."""
        request = cls.__new__(cls)
        request.__dict__.update(
            method=method,
            path=path,
            params=params,
            body=body,
            needs_secret=needs_secret,
            answer="object",
            from_root=False,
        )
        return request

    @property
    def repeatable(self) -> bool:
        return self.method in REPEATABLE_METHODS

    def with_params(self, params: dict[str, QueryValue]) -> APIRequest:
        return replace(self, params=params)


def _segment(value: str, what: str) -> str:
    # An id made by an integration may hold any character (e-mail addresses, slashes).
    if value in ("", ".", ".."):
        # Percent-encoding leaves these alone and URL resolution would eat them: `users get
        # ..` would become GET /users and `events add ..` POST /events.
        raise UsageError(f"{value!r} cannot be a {what}.", hint=f"Give the {what}.")
    return quote(value, safe="")


def user_path(uid: str) -> str:
    return "/users/" + _segment(uid, "user id")


def list_path(list_id: str) -> str:
    return "/lists/" + _segment(list_id, "list id")


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


def page_size(limit: int | None, every_page: bool, max_items: int | None = None) -> int | None:
    """The `limit` to ask for: the one given, else (following pages: --all, --max N) the
    largest page the API serves, no larger than the N items wanted; else the API's
    default (one page, as a person reads it)."""
    if limit is not None or not (every_page or max_items is not None):
        return limit
    return min(MAX_PAGE_SIZE, max_items) if max_items is not None else MAX_PAGE_SIZE


def with_largest_page(request: APIRequest) -> APIRequest:
    """A raw GET of a paged list (`engage api --paginate`) without a `limit` of its own,
    asking for the largest page; any other request as it is."""
    if request.method != "GET" or "limit" in request.params:
        return request
    if not _PAGED_PATHS.fullmatch(request.path.rstrip("/")):
        return request
    return request.with_params({**request.params, "limit": str(MAX_PAGE_SIZE)})


def _page_params(limit: int | None, cursor: tuple[str, str] | None) -> dict[str, QueryValue]:
    params: dict[str, QueryValue] = {}
    if limit is not None:
        params["limit"] = str(limit)
    if cursor is not None:
        params[cursor[0]] = cursor[1]
    return params


def list_users(
    limit: int | None = None,
    cursor: tuple[str, str] | None = None,
    email: str | None = None,
    lists: list[str] | None = None,
) -> APIRequest:
    """GET /users; `cursor` is (next_cursor | previous_cursor | after_id | before_id, value)."""
    params = _page_params(limit, cursor)
    if email:
        params["email"] = email
    if lists:
        params["lists[]"] = list(lists)
    return APIRequest("GET", "/users", params=params, needs_secret=True, answer="page")


# --- users beyond create/read/update/delete ------------------------------------------------
# Key-only is enough where Engage's mobile SDKs send the call with the key alone (merge,
# convert, the account calls, token removal); everything else needs the secret.


def merge_users(body: dict[str, Any]) -> APIRequest:
    return APIRequest("POST", "/users/merge", body=body)


def convert_user(uid: str, body: dict[str, Any]) -> APIRequest:
    return APIRequest("POST", user_path(uid) + "/convert", body=body)


def archive_user(uid: str) -> APIRequest:
    return APIRequest("POST", user_path(uid) + "/archive", needs_secret=True)


def list_members(account_uid: str, limit: int | None = None) -> APIRequest:
    params = _page_params(limit, None)
    path = user_path(account_uid) + "/members"
    return APIRequest("GET", path, params, needs_secret=True, answer="page")


def add_accounts(uid: str, body: dict[str, Any]) -> APIRequest:
    return APIRequest("POST", user_path(uid) + "/accounts", body=body)


def set_account_role(uid: str, account_uid: str, body: dict[str, Any]) -> APIRequest:
    path = f"{user_path(uid)}/accounts/{_segment(account_uid, 'account uid')}"
    return APIRequest("PUT", path, body=body)


def remove_account(uid: str, account_uid: str) -> APIRequest:
    return APIRequest("DELETE", f"{user_path(uid)}/accounts/{_segment(account_uid, 'account uid')}")


def add_user_lists(uid: str, body: dict[str, Any]) -> APIRequest:
    return APIRequest("POST", user_path(uid) + "/lists", body=body, needs_secret=True)


def remove_user_lists(uid: str, body: dict[str, Any]) -> APIRequest:
    # The API reads this DELETE's JSON body: {"lists": [...]}.
    return APIRequest("DELETE", user_path(uid) + "/lists", body=body, needs_secret=True)


def remove_token(uid: str, token: str) -> APIRequest:
    return APIRequest("DELETE", f"{user_path(uid)}/tokens/{_segment(token, 'device token')}")


# --- lists ---------------------------------------------------------------------------------
# The docs allow key-only on GET /lists, GET /lists/{id} and PUT /lists/{id}.


def list_lists(limit: int | None = None, cursor: tuple[str, str] | None = None) -> APIRequest:
    return APIRequest("GET", "/lists", params=_page_params(limit, cursor), answer="page")


def get_list(list_id: str) -> APIRequest:
    return APIRequest("GET", list_path(list_id))


def create_list(body: dict[str, Any]) -> APIRequest:
    return APIRequest("POST", "/lists", body=body, needs_secret=True)


def update_list(list_id: str, body: dict[str, Any]) -> APIRequest:
    return APIRequest("PUT", list_path(list_id), body=body)


def archive_list(list_id: str) -> APIRequest:
    return APIRequest("DELETE", list_path(list_id), needs_secret=True)


def subscribe(list_id: str, body: dict[str, Any]) -> APIRequest:
    return APIRequest("POST", list_path(list_id) + "/subscribers", body=body, needs_secret=True)


def _subscriber_path(list_id: str, uid: str) -> str:
    return f"{list_path(list_id)}/subscribers/{_segment(uid, 'user id')}"


def set_subscribed(list_id: str, uid: str, subscribed: bool) -> APIRequest:
    body = {"subscribed": subscribed}
    return APIRequest("PUT", _subscriber_path(list_id, uid), body=body, needs_secret=True)


def remove_subscriber(list_id: str, uid: str) -> APIRequest:
    return APIRequest("DELETE", _subscriber_path(list_id, uid), needs_secret=True)


def raw(method: str, path: str, params: Mapping[str, QueryValue], body: Any) -> APIRequest:
    """Any call, for `engage api`: sent with whatever credentials are configured, and the
    API itself says whether they are enough."""
    method = method.upper()
    if not path.startswith("/"):
        path = "/" + path
    # The path is taken as typed (percent-escapes kept); control characters, which no URL
    # may hold as they are, are escaped rather than refused by httpx as a crash.
    path = _CONTROL.sub(lambda match: f"%{ord(match.group()):02X}", path)
    return APIRequest(method, path, params=dict(params), body=body, answer="any")


def check_credentials(with_secret: bool) -> APIRequest:
    """The cheapest call that proves credentials: one user, with key and secret; with the
    key alone, `GET /lists` (key-only per the API notes). Authentication comes before
    routing, so for the key alone any answer but a 401 proves it (a 404 included)."""
    if with_secret:
        return APIRequest("GET", "/users", params={"limit": "1"}, needs_secret=True)
    return APIRequest("GET", "/lists", params={"limit": "1"})


# --- the sandbox's control API (outside /v1; key and secret) ---------------------------------

SANDBOX_CONTROL = ("requests", "events", "batches", "reset", "state")


def sandbox_control(
    method: str, name: str, body: Any = None, params: dict[str, QueryValue] | None = None
) -> APIRequest:
    """`/__sandbox/NAME` on the server the base URL names (`engage sandbox events|...`)."""
    if name not in SANDBOX_CONTROL:
        raise ValueError(f"no sandbox control endpoint {name!r}")
    return APIRequest(
        method,
        f"/__sandbox/{name}",
        params=params or {},
        body=body,
        needs_secret=True,
        from_root=True,
        answer="any",  # the sandbox's own answers: lists, documents, or nothing (reset)
    )

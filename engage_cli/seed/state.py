"""What the account holds, as far as a seed is concerned: its lists by title, and the
declared users (and, when pruning, every user the seed's mark names) as the API answers them.

Reading is a plan's whole cost, so how depends on the seed's size: a small seed gets each of
its users concurrently (a few rounds of GET /users/{uid}, whatever the account's size); a
larger one, or one that prunes (only a full listing finds what the file no longer names),
lists the account 30 users a page. The chosen way is reported (`Holdings.how`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engage_cli import endpoints
from engage_cli.errors import NotFoundError, UnexpectedAnswer
from engage_cli.seed.file import MARK, Seed

if TYPE_CHECKING:
    from engage_cli.client import EngageClient

PAGE_SIZE = 30  # the API's largest page
# Get the users one by one when the seed declares at most this many per worker: a few
# rounds of gets cost less than listing any account that holds more than a few pages.
GETS_PER_WORKER = 4


@dataclass
class Holdings:
    """The account as the plan sees it."""

    lists: dict[str, dict[str, Any]]  # title -> the list object (archived lists are not here)
    users: dict[str, dict[str, Any]]  # uid -> user object, for the declared uids that exist
    marked: dict[str, dict[str, Any]] | None  # uid -> user marked as this seed's (when listed)
    how: str  # how the users were read, for the report
    requests: int = 0  # GETs sent to read it
    duplicate_titles: list[str] = field(default_factory=list)  # titles two lists share


def owned_by(user: dict[str, Any], name: str) -> bool:
    meta = user.get("meta")
    return isinstance(meta, dict) and meta.get(MARK) == name


def read(
    connect: Callable[[], EngageClient],
    seed: Seed,
    *,
    prune: bool,
    concurrency: int,
) -> Holdings:
    """Read the lists, then the users the seed needs, with one client of `concurrency`
    connections."""
    declared = [user.uid for user in seed.users]
    with connect() as client:
        lists, titles_twice, list_pages = _lists(client) if seed.lists else ({}, [], 0)
        if prune or len(declared) > GETS_PER_WORKER * concurrency:
            users, marked, pages = _listed(client, set(declared), seed.name)
            how = f"listed the account's users ({pages:,} page{'s' * (pages != 1)})"
            holdings = Holdings(lists, users, marked, how, list_pages + pages)
        else:
            users = _got(client, declared, concurrency)
            n = len(declared)
            how = f"got the {n:,} declared user{'s' * (n != 1)} concurrently"
            holdings = Holdings(lists, users, None, how, list_pages + n)
    holdings.duplicate_titles = titles_twice
    return holdings


def _lists(client: EngageClient) -> tuple[dict[str, dict[str, Any]], list[str], int]:
    """The lists that are not archived, by title; titles held by more than one list."""
    lists: dict[str, dict[str, Any]] = {}
    twice: list[str] = []
    pages = 0
    for page in client.paginate(endpoints.list_lists(limit=PAGE_SIZE)):
        pages += 1
        for item in page:
            if not isinstance(item, dict) or not isinstance(item.get("title"), str):
                continue
            if item.get("archived"):
                continue
            title = item["title"]
            if title in lists:
                twice.append(title)
                continue  # the oldest keeps the title: lists come in creation order
            lists[title] = item
    return lists, twice, pages


def _listed(
    client: EngageClient, declared: set[str], name: str
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], int]:
    users: dict[str, dict[str, Any]] = {}
    marked: dict[str, dict[str, Any]] = {}
    pages = 0
    for page in client.paginate(endpoints.list_users(limit=PAGE_SIZE)):
        pages += 1
        for user in page:
            uid = user.get("uid") if isinstance(user, dict) else None
            if not isinstance(uid, str):
                continue
            if uid in declared:
                users[uid] = user
            if owned_by(user, name):
                marked[uid] = user
    return users, marked, pages


def _got(client: EngageClient, uids: Iterable[str], concurrency: int) -> dict[str, dict[str, Any]]:
    def get(uid: str) -> tuple[str, Any]:
        try:
            return uid, client.send(endpoints.get_user(uid))
        except NotFoundError:
            return uid, None

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        answers = list(pool.map(get, uids))
    users: dict[str, dict[str, Any]] = {}
    for uid, user in answers:
        if user is None:
            continue
        if not isinstance(user, dict):
            raise UnexpectedAnswer(f"The API answered GET /users/{uid} with something not a user.")
        users[uid] = user
    return users


def resolve_list_ids(connect: Callable[[], EngageClient]) -> dict[str, str]:
    """Title -> id of the lists now (after apply created some)."""
    with connect() as client:
        lists, _, _ = _lists(client)
    return {title: str(item["id"]) for title, item in lists.items()}

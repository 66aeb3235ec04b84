"""The seed file: what an account should hold. Read (source.py), templates expanded
(`${n}` in a `repeat` entry, `${env:NAME}` anywhere), references checked (a user's lists are
this file's lists, its accounts this file's accounts), and every entry validated by the same
request models `users create`, `lists create` and `events add` use. Any problem is one
UsageError naming its place, raised before any request."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from pydantic import ValidationError

from engage_cli import models
from engage_cli.seed.source import PathParts, Places, parse, read_text

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
MARK = "seed"  # the meta key that says which seed owns a user: meta.seed = NAME
MAX_REPEAT = 100_000
TOP_KEYS = ("name", "lists", "accounts", "users")
# What an entry holds besides the fields `users create` takes.
ENTRY_KEYS = ("lists", "accounts", "events", "repeat")
# `users create` fields a seed sets itself: is_account by the section, lists by key.
_SET_BY_SEED = ("is_account", "lists")
USER_FIELDS = tuple(f for f in models.UserCreate.model_fields if f not in _SET_BY_SEED)
LIST_FIELDS = tuple(models.ListCreate.model_fields)
_TEMPLATE = re.compile(r"\$\$\{|\$\{([^}]*)\}")


@dataclass(frozen=True)
class SeedList:
    key: str  # the file's name for it
    fields: dict[str, Any]  # the `lists create` body; its title is how the server knows it


@dataclass(frozen=True)
class SeedUser:
    uid: str
    is_account: bool
    fields: dict[str, Any]  # the `users create` fields declared, `meta` without the mark
    lists: tuple[str, ...]  # keys of the file's lists
    accounts: tuple[tuple[str, str | None], ...]  # (account uid, role or None)
    events: tuple[dict[str, Any], ...]  # `events add` bodies, sent when apply creates it

    @property
    def kind(self) -> str:
        return "account" if self.is_account else "user"


@dataclass(frozen=True)
class Seed:
    name: str
    lists: dict[str, SeedList]  # key -> list, in file order
    users: list[SeedUser]  # accounts first, then users, each in file order, repeats expanded

    @property
    def account_ids(self) -> set[str]:
        return {user.uid for user in self.users if user.is_account}


def load(name: str, stdin: IO[str], environ: Mapping[str, str]) -> Seed:
    """The seed in the file named (`-`: stdin, as YAML)."""
    label, text, is_yaml = read_text(name, stdin)
    data, places = parse(label, text, is_yaml)
    return build(data, places, environ)


def build(data: Any, places: Places, environ: Mapping[str, str]) -> Seed:
    """The seed that parsed data describes; UsageError at the first problem."""
    if data is None:
        places.fail((), "the file is empty; a seed has at least a name.")
    if not isinstance(data, dict):
        places.fail((), "a seed file is a mapping (name, lists, accounts, users).")
    for key in data:
        if key not in TOP_KEYS:
            places.fail((key,), _unknown(key, TOP_KEYS, "a seed file"))
    name = data.get("name")
    if name is None:
        places.fail((), "name is required (the seed's name, which marks what it owns).")
    name = _expand(name, ("name",), places, environ)
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        places.fail(("name",), f"{name!r} is not a seed name: letters, digits, _ . and - only.")
    lists = _lists(data.get("lists"), places, environ)
    reader = _Entries(places, environ, lists)
    reader.section("accounts", data.get("accounts"))
    reader.section("users", data.get("users"))
    return Seed(name, lists, reader.users)


def _unknown(key: str, known: tuple[str, ...], what: str) -> str:
    return f"{key!r} is not a field of {what} (known: {', '.join(known)})."


# --- templates ----------------------------------------------------------------------------------


def _expand(
    value: Any,
    path: PathParts,
    places: Places,
    environ: Mapping[str, str],
    n: int | None = None,
    keep_n: bool = False,
) -> Any:
    """`value` with `${env:NAME}` (and `${n}`, when given) replaced in every string; `$${`
    is a literal `${`. With `keep_n`, `${n}` is left for each repeat to fill."""
    if isinstance(value, dict):
        return {k: _expand(v, (*path, k), places, environ, n, keep_n) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*path, i), places, environ, n, keep_n) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def fill(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner is None:
            return "$$" + "{" if keep_n else "${"  # an escaped `$${`: kept for the repeat pass
        if inner == "n":
            if keep_n:
                return "${n}"
            if n is None:
                places.fail(path, "${n} is only for an entry with repeat: N.")
            return str(n)
        if inner.startswith("env:") and inner[4:]:
            variable = inner[4:]
            if variable not in environ:
                places.fail(path, f"${{env:{variable}}}: {variable} is not set in the environment.")
            return environ[variable].replace("${", "$${") if keep_n else environ[variable]
        places.fail(path, f"${{{inner}}} is not a template: use ${{n}} or ${{env:NAME}}.")

    return _TEMPLATE.sub(fill, value)


# --- lists ---------------------------------------------------------------------------------------


def _lists(given: Any, places: Places, environ: Mapping[str, str]) -> dict[str, SeedList]:
    if given is None:
        return {}
    if not isinstance(given, dict):
        places.fail(("lists",), "lists is a mapping: key -> {title, description, ...}.")
    lists: dict[str, SeedList] = {}
    titles: dict[str, str] = {}
    for key, entry in given.items():
        path: PathParts = ("lists", key)
        if not key:
            places.fail(path, "a list's key cannot be empty.")
        if not isinstance(entry, dict):
            places.fail(path, "a list is a mapping: {title, description, ...}.")
        for field in entry:
            if field not in LIST_FIELDS:
                places.fail((*path, field), _unknown(field, LIST_FIELDS, "a list"))
        entry = _expand(entry, path, places, environ)
        body = _validated(models.ListCreate, entry, path, places)
        title = body["title"]
        if title in titles:
            places.fail(
                (*path, "title"),
                f"the title {title!r} is also list {titles[title]!r}'s: a title names one list.",
            )
        titles[title] = key
        lists[key] = SeedList(key, body)
    return lists


def _validated(
    model: type[models._Strict],
    body: dict[str, Any],
    path: PathParts,
    places: Places,
    note: str = "",
) -> dict[str, Any]:
    """The body as `model` accepts it, or the first problem at its field's place (`note`
    says which repeat it was)."""
    try:
        return model.model_validate(body).body(order=list(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field_path = (*path, loc[0]) if loc and loc[0] in body else path
        problem = models.describe_errors(exc)[0]
        places.fail(field_path, f"invalid {model.label}{note}: {problem}.")


# --- users and accounts --------------------------------------------------------------------------


class _Entries:
    """Reads the accounts section, then the users section, into SeedUsers."""

    def __init__(
        self, places: Places, environ: Mapping[str, str], lists: dict[str, SeedList]
    ) -> None:
        self.places = places
        self.environ = environ
        self.lists = lists
        self.users: list[SeedUser] = []
        self.accounts: set[str] = set()  # the uids of the accounts read so far
        self.seen: dict[str, str] = {}  # uid -> the place that declared it

    def section(self, name: str, given: Any) -> None:
        if given is None:
            return
        if not isinstance(given, list):
            self.places.fail((name,), f"{name} is a list of entries, each with an id.")
        for index, entry in enumerate(given):
            self._entry(name, index, entry)

    def _entry(self, section: str, index: int, entry: Any) -> None:
        path: PathParts = (section, index)
        places = self.places
        is_account = section == "accounts"
        if not isinstance(entry, dict):
            places.fail(path, "an entry is a mapping with at least an id.")
        allowed = USER_FIELDS + ENTRY_KEYS
        for key in entry:
            if key == "is_account":
                places.fail((*path, key), "is set by the section: declare accounts under accounts.")
            if key not in allowed or (is_account and key == "accounts"):
                what = "an account" if is_account else "a user"
                places.fail((*path, key), _unknown(key, allowed, what))
        meta = entry.get("meta")
        if isinstance(meta, dict) and MARK in meta:
            places.fail((*path, "meta", MARK), "meta.seed is the seed's owner mark: apply sets it.")
        repeat = entry.get("repeat")
        if repeat is not None:
            if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
                places.fail(
                    (*path, "repeat"), f"repeat must be a whole number from 1, not {repeat!r}."
                )
            if repeat > MAX_REPEAT:
                places.fail((*path, "repeat"), f"repeat is at most {MAX_REPEAT:,}.")
            if not isinstance(entry.get("id"), str) or "${n}" not in entry["id"]:
                places.fail((*path, "id"), "an entry with repeat needs ${n} in its id.")
        body = {k: v for k, v in entry.items() if k != "repeat"}
        # Environment first, once; `${n}` then per repeat.
        body = _expand(body, path, places, self.environ, keep_n=repeat is not None)
        for n in _counts(repeat):
            expanded = body if n is None else _expand(body, path, places, self.environ, n=n)
            self._add(path, expanded, is_account, n)

    def _add(self, path: PathParts, entry: dict[str, Any], is_account: bool, n: int | None) -> None:
        places = self.places
        note = "" if n is None else f" (repeat n={n})"
        fields = {k: v for k, v in entry.items() if k in USER_FIELDS}
        if "id" not in fields:
            places.fail(path, "id is required (the user's id in your application).")
        body = _validated(models.UserCreate, fields, path, places, note)
        uid = body.pop("id")
        if uid in self.seen:
            places.fail(
                (*path, "id"), f"the id {uid!r}{note} is declared twice (also {self.seen[uid]})."
            )
        self.seen[uid] = places.at(path) + note
        if is_account:
            self.accounts.add(uid)
        self.users.append(
            SeedUser(
                uid,
                is_account,
                body,
                self._list_keys(entry.get("lists"), (*path, "lists")),
                self._memberships(entry.get("accounts"), (*path, "accounts")),
                self._events(entry.get("events"), (*path, "events")),
            )
        )

    def _list_keys(self, given: Any, path: PathParts) -> tuple[str, ...]:
        if given is None:
            return ()
        if not isinstance(given, list):
            self.places.fail(path, "lists is a list of this file's list keys.")
        for index, key in enumerate(given):
            if key not in self.lists:
                known = ", ".join(self.lists) or "none"
                self.places.fail(
                    (*path, index), f"{key!r} is not a list of this file (its lists: {known})."
                )
        return tuple(dict.fromkeys(given))

    def _memberships(self, given: Any, path: PathParts) -> tuple[tuple[str, str | None], ...]:
        if given is None:
            return ()
        if not isinstance(given, list):
            self.places.fail(
                path, "accounts is a list of {id, role} (ids of this file's accounts)."
            )
        accounts = self.accounts
        found: dict[str, str | None] = {}
        for index, item in enumerate(given):
            item_path = (*path, index)
            if isinstance(item, str):
                item = {"id": item}
            if not isinstance(item, dict):
                self.places.fail(item_path, "an account membership is {id, role}.")
            link = _validated(models.AccountMembership, item, item_path, self.places)
            if link["id"] not in accounts:
                known = ", ".join(sorted(accounts)) or "none"
                self.places.fail(
                    (*item_path, "id"),
                    f"{link['id']!r} is not an account of this file (its accounts: {known}).",
                )
            found[link["id"]] = link.get("role")
        return tuple(found.items())

    def _events(self, given: Any, path: PathParts) -> tuple[dict[str, Any], ...]:
        if given is None:
            return ()
        if not isinstance(given, list):
            self.places.fail(path, "events is a list of {event, value, properties, timestamp}.")
        events = []
        for index, item in enumerate(given):
            if not isinstance(item, dict):
                self.places.fail((*path, index), "an event is a mapping: {event, value, ...}.")
            events.append(_validated(models.EventCreate, item, (*path, index), self.places))
        return tuple(events)


def _counts(repeat: int | None) -> Iterator[int | None]:
    if repeat is None:
        yield None
        return
    yield from range(1, repeat + 1)

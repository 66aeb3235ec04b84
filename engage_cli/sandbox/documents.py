"""The shapes the sandbox stores and answers: the user object and the list object, and how a
validated change applies to a user. Pure Python (the SQL is in store.py), so the rules of the
document read in one place.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TypedDict, Union

__all__ = [
    "MAX_DEVICES",
    "AccountLink",
    "Device",
    "JSONObject",
    "ListChanges",
    "Scalar",
    "UserChanges",
    "apply_list_changes",
    "apply_user_changes",
    "format_timestamp",
    "merge_into",
    "new_list",
    "new_user",
    "normalise_user",
    "utc_now_timestamp",
]

# A meta, event value or property value: the API refuses anything else.
Scalar = Union[str, int, float, bool]
JSONObject = dict[str, Any]

# The reference: "the user's last 5 device tokens".
MAX_DEVICES = 5


class Device(TypedDict):
    token: str
    platform: str


class _AccountLinkBase(TypedDict):
    id: str


class AccountLink(_AccountLinkBase, total=False):
    role: str


class UserChanges(TypedDict, total=False):
    """Validated changes. Scalars replace; meta merges key by key; lists, accounts and devices
    add (or update what they name); the remove_* keys take out what they name."""

    first_name: str
    last_name: str
    number: str
    email: str
    created_at: str
    meta: dict[str, Scalar]
    lists: list[str]  # subscribe (again) to each
    remove_lists: list[str]
    subscription: tuple[str, bool]  # (list id, subscribed): a list's subscriber status
    device: Device
    remove_token: str
    is_account: bool
    accounts: list[AccountLink]  # join each, or change the role where one is given
    remove_account: str
    archived: bool
    last_interaction: str  # kept only when later than the stored one


class ListChanges(TypedDict, total=False):
    title: str
    description: str | None
    redirect_url: str | None
    double_optin: bool


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


# -- users -----------------------------------------------------------------------------------

_SCALAR_FIELDS = ("first_name", "last_name", "number", "email", "created_at")


def new_user(internal_id: str, uid: str) -> JSONObject:
    return normalise_user({"id": internal_id, "uid": uid, "created_at": utc_now_timestamp()})


def normalise_user(stored: JSONObject) -> JSONObject:
    """Every field of the current user object, in the reference's order, with the defaults of
    a new customer for any field a document from an older sandbox lacks. `member_count` is
    filled in by the store when the user is an account."""
    defaults: JSONObject = {
        "id": None,
        "uid": None,
        "first_name": None,
        "last_name": None,
        "number": None,
        "email": None,
        "devices": [],
        "accounts": [],
        "is_account": False,
        "member_count": None,
        "archived": False,
        "lists": [],
        "segments": [],
        "meta": {},
        "created_at": None,
        "last_interaction": None,
    }
    user = {name: stored.get(name, default) for name, default in defaults.items()}
    # Anything else a document holds (a later field) is kept, after the known ones.
    user.update({name: value for name, value in stored.items() if name not in defaults})
    return user


def apply_user_changes(user: JSONObject, changes: UserChanges) -> None:
    for field in _SCALAR_FIELDS:
        if field in changes:
            user[field] = changes[field]  # type: ignore[literal-required]
    if "meta" in changes:
        user["meta"] = {**user["meta"], **changes["meta"]}
    if "lists" in changes:
        for list_id in changes["lists"]:
            _set_subscription(user, list_id, True)
    if "subscription" in changes:
        _set_subscription(user, *changes["subscription"])
    if "remove_lists" in changes:
        gone = set(changes["remove_lists"])
        user["lists"] = [entry for entry in user["lists"] if entry["id"] not in gone]
    if "device" in changes:
        device = changes["device"]
        kept = [d for d in user["devices"] if d["token"] != device["token"]]
        user["devices"] = [*kept, dict(device)][-MAX_DEVICES:]
    if "remove_token" in changes:
        user["devices"] = [d for d in user["devices"] if d["token"] != changes["remove_token"]]
    if "is_account" in changes:
        user["is_account"] = changes["is_account"]
    if "accounts" in changes:
        for link in changes["accounts"]:
            _join_account(user, link)
    if "remove_account" in changes:
        aid = changes["remove_account"]
        user["accounts"] = [link for link in user["accounts"] if link["id"] != aid]
    if "archived" in changes:
        user["archived"] = changes["archived"]
    if "last_interaction" in changes:
        moment = changes["last_interaction"]
        # One format throughout (format_timestamp), so the strings compare like the moments.
        if user["last_interaction"] is None or moment > user["last_interaction"]:
            user["last_interaction"] = moment


def _set_subscription(user: JSONObject, list_id: str, subscribed: bool) -> None:
    for entry in user["lists"]:
        if entry["id"] == list_id:
            entry["subscribed"] = subscribed
            return
    user["lists"].append({"id": list_id, "subscribed": subscribed})


def _join_account(user: JSONObject, link: AccountLink) -> None:
    for existing in user["accounts"]:
        if existing["id"] == link["id"]:
            if "role" in link:
                existing["role"] = link["role"]
            return
    user["accounts"].append(dict(link))


def merge_into(destination: JSONObject, source: JSONObject) -> None:
    """Fold the source's data into the destination: meta keys the destination lacks, lists,
    devices and accounts it does not have yet. Where both hold a value, the destination's wins
    (it is the identified user; the source is usually an anonymous one)."""
    destination["meta"] = {**source["meta"], **destination["meta"]}
    for field in _SCALAR_FIELDS[:-1]:  # not created_at: the destination keeps its own
        if destination[field] is None:
            destination[field] = source[field]
    known_lists = {entry["id"] for entry in destination["lists"]}
    destination["lists"] += [e for e in source["lists"] if e["id"] not in known_lists]
    tokens = {d["token"] for d in destination["devices"]}
    devices = [d for d in source["devices"] if d["token"] not in tokens] + destination["devices"]
    destination["devices"] = devices[-MAX_DEVICES:]
    accounts = {link["id"] for link in destination["accounts"]}
    destination["accounts"] += [a for a in source["accounts"] if a["id"] not in accounts]
    if source["last_interaction"] is not None:
        apply_user_changes(destination, {"last_interaction": source["last_interaction"]})


# -- lists -----------------------------------------------------------------------------------


def new_list(internal_id: str, changes: ListChanges) -> JSONObject:
    stored: JSONObject = {
        "id": internal_id,
        "title": "",
        "description": None,
        "subscriber_count": 0,
        "broadcast_count": 0,
        "double_optin": False,
        "redirect_url": None,
        "archived": False,
        "created_at": utc_now_timestamp(),
    }
    apply_list_changes(stored, changes)
    return stored


def apply_list_changes(stored: JSONObject, changes: ListChanges) -> None:
    stored.update(changes)

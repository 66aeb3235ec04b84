"""The sandbox's whole state as one JSON document (`GET|PUT /__sandbox/state`, `engage sandbox
export|import`, `serve --state FILE`): users (their list memberships, account links and devices
inside them, accounts being users with `is_account`), lists, and events.

    {"format": "engage-sandbox-state", "version": 1, "users": [...], "lists": [...],
     "events": [...]}

A document is validated whole before anything changes: a malformed one is refused with a
sentence naming the field (`users[3].uid must be a non-empty string.`) and the store is left
as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from engage_cli.ids import is_internal_id
from engage_cli.sandbox.documents import JSONObject, normalise_user
from engage_cli.sandbox.store import SandboxStore
from engage_cli.strict import loads_json, parse_iso8601

__all__ = [
    "STATE_FORMAT",
    "STATE_VERSION",
    "StateError",
    "export_state",
    "import_state",
    "load_state_file",
    "parse_state",
]

STATE_FORMAT = "engage-sandbox-state"
STATE_VERSION = 1


class StateError(ValueError):
    """A state document that cannot be loaded; the message names the field."""


def export_state(store: SandboxStore) -> JSONObject:
    users, lists = store.stored_documents()
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "users": users,
        "lists": lists,
        "events": store.list_events(),
    }


def import_state(store: SandboxStore, document: object) -> dict[str, int]:
    """Replace everything with the document's state; StateError (nothing changed) if it is
    malformed. Returns how many users, lists and events it holds."""
    users, lists, events = parse_state(document)
    store.replace_everything(users, lists, events)
    return {"users": len(users), "lists": len(lists), "events": len(events)}


def load_state_file(store: SandboxStore, path: Path) -> dict[str, int]:
    """`serve --state FILE`: StateError naming the file when it cannot be read or loaded."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StateError(f"Cannot read the state file {path}: {reason}.") from exc
    try:
        document = loads_json(text)
    except (ValueError, RecursionError) as exc:
        raise StateError(f"The state file {path} is not valid JSON.") from exc
    try:
        return import_state(store, document)
    except StateError as exc:
        raise StateError(f"The state file {path}: {exc}") from exc


# -- validation ------------------------------------------------------------------------------


def parse_state(
    document: object,
) -> tuple[list[JSONObject], list[JSONObject], list[JSONObject]]:
    if not isinstance(document, dict):
        raise StateError("The state must be a JSON object with users, lists and events.")
    if document.get("format", STATE_FORMAT) != STATE_FORMAT:
        raise StateError(f"format must be {STATE_FORMAT!r}.")
    if document.get("version", STATE_VERSION) != STATE_VERSION:
        raise StateError(f"version must be {STATE_VERSION} (the one this sandbox writes).")
    users = [_user(item, f"users[{n}]") for n, item in enumerate(_array(document, "users"))]
    lists = [_list(item, f"lists[{n}]") for n, item in enumerate(_array(document, "lists"))]
    events = [_event(item, f"events[{n}]") for n, item in enumerate(_array(document, "events"))]
    _unique(users, "id", "users")
    _unique(users, "uid", "users")
    _unique(lists, "id", "lists")
    return users, lists, events


def _array(document: JSONObject, name: str) -> list[object]:
    value = document.get(name, [])
    if not isinstance(value, list):
        raise StateError(f"{name} must be an array.")
    return value


def _object(value: object, where: str) -> JSONObject:
    if not isinstance(value, dict):
        raise StateError(f"{where} must be an object.")
    return value


def _text(item: JSONObject, name: str, where: str, *, optional: bool = False) -> None:
    value = item.get(name)
    if optional and value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise StateError(f"{where}.{name} must be a non-empty string.")


def _internal_id(item: JSONObject, where: str) -> None:
    if not is_internal_id(item.get("id")):
        raise StateError(f"{where}.id must be an internal id (24 lower-case hex digits).")


def _timestamp(item: JSONObject, name: str, where: str, *, optional: bool = False) -> None:
    value = item.get(name)
    if optional and value is None:
        return
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        parse_iso8601(value)
    except ValueError as exc:
        raise StateError(f"{where}.{name} must be an ISO 8601 date.") from exc


def _scalars(item: JSONObject, name: str, where: str) -> None:
    value = item.get(name, {})
    if not isinstance(value, dict) or not all(
        isinstance(v, (str, int, float)) for v in value.values()
    ):
        raise StateError(f"{where}.{name} must be an object of strings, numbers or booleans.")


def _links(item: JSONObject, name: str, where: str) -> None:
    value = item.get(name, [])
    if not isinstance(value, list):
        raise StateError(f"{where}.{name} must be an array.")
    for n, link in enumerate(value):
        _text(_object(link, f"{where}.{name}[{n}]"), "id", f"{where}.{name}[{n}]")


def _user(value: object, where: str) -> JSONObject:
    user = _object(value, where)
    _internal_id(user, where)
    _text(user, "uid", where)
    for name in ("first_name", "last_name", "number", "email"):
        if user.get(name) is not None and not isinstance(user[name], str):
            raise StateError(f"{where}.{name} must be a string or null.")
    _scalars(user, "meta", where)
    _links(user, "lists", where)
    _links(user, "accounts", where)
    devices = user.get("devices", [])
    if not isinstance(devices, list) or not all(
        isinstance(d, dict) and isinstance(d.get("token"), str) for d in devices
    ):
        raise StateError(f"{where}.devices must be an array of {{token, platform}} objects.")
    for name in ("is_account", "archived"):
        if not isinstance(user.get(name, False), bool):
            raise StateError(f"{where}.{name} must be true or false.")
    _timestamp(user, "created_at", where, optional=True)
    _timestamp(user, "last_interaction", where, optional=True)
    return normalise_user(json.loads(json.dumps(user)))


def _list(value: object, where: str) -> JSONObject:
    stored = _object(value, where)
    _internal_id(stored, where)
    if not isinstance(stored.get("title", ""), str):
        raise StateError(f"{where}.title must be a string.")
    for name in ("archived", "double_optin"):
        if not isinstance(stored.get(name, False), bool):
            raise StateError(f"{where}.{name} must be true or false.")
    return dict(stored)


def _event(value: object, where: str) -> JSONObject:
    event = _object(value, where)
    _text(event, "uid", where)
    _text(event, "event", where)
    scalar = event.get("value")
    if scalar is not None and not isinstance(scalar, (str, int, float)):
        raise StateError(f"{where}.value must be a string, number, boolean or null.")
    _scalars(event, "properties", where)
    _timestamp(event, "timestamp", where)
    return dict(event)


def _unique(items: list[JSONObject], name: str, where: str) -> None:
    seen: set[str] = set()
    for n, item in enumerate(items):
        if item[name] in seen:
            raise StateError(f"{where}[{n}].{name} {item[name]!r} appears twice.")
        seen.add(item[name])

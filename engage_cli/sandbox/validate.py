"""Reading request bodies and queries into validated values, shared by the route modules.

Each function raises `ApiError` (400) with a sentence a client can show as it is.
"""

from __future__ import annotations

import re

from engage_cli.ids import UID_CHARACTERS, is_internal_id, is_valid_uid
from engage_cli.sandbox.store import Scalar, UserChanges, format_timestamp
from engage_cli.sandbox.web import LIMIT_RANGE, JSONObject, Request, bad_request
from engage_cli.strict import loads_json, parse_iso8601

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "cursor",
    "is_scalar",
    "json_object",
    "limit",
    "list_ids",
    "parse_timestamp",
    "refuse_unknown_fields",
    "scalar_map",
    "string",
    "timestamp",
    "user_changes",
    "user_id",
]

DEFAULT_LIMIT = 10
MAX_LIMIT = 30

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_DEVICE_PLATFORMS = ("android", "ios")

# The sandbox and the CLI's validation share one reading of ISO 8601.
parse_timestamp = parse_iso8601


def json_object(body: bytes) -> JSONObject:
    try:
        value = loads_json(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad_request("Request body must be valid JSON.") from exc
    if not isinstance(value, dict):
        raise bad_request("Request body must be a JSON object.")
    return value


def refuse_unknown_fields(body: JSONObject, allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if len(unknown) == 1:
        raise bad_request(f"Unknown field: {unknown[0]}.")
    if unknown:
        raise bad_request(f"Unknown fields: {', '.join(unknown)}.")


def is_scalar(value: object) -> bool:
    # bool is an int subclass, so this accepts true/false as well as numbers; None, lists and
    # dicts are what it refuses. Floats are finite already (see strict.loads_json).
    return isinstance(value, (str, int, float))


def string(body: JSONObject, name: str) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string.")
    return value


def scalar_map(value: object, name: str) -> dict[str, Scalar]:
    if not isinstance(value, dict):
        raise bad_request(f"{name} must be an object.")
    for key, item in value.items():
        if not is_scalar(item):
            raise bad_request(f"{name}.{key} must be a string, number or boolean.")
    return dict(value)


def user_id(body: JSONObject) -> str:
    if "id" not in body:
        raise bad_request("id is required.")
    value = body["id"]
    if not is_valid_uid(value):
        raise bad_request(f"id must contain only {UID_CHARACTERS}.")
    return str(value)


def _phone_number(value: object) -> str:
    # A JSON integer is accepted and kept as its digits: the API returns number as a string.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    raise bad_request(
        "number must contain digits only (international format, without + or spaces)."
    )


def _email(value: object) -> str:
    if not isinstance(value, str) or not _EMAIL.fullmatch(value):
        raise bad_request("email must be a valid email address.")
    return value


def timestamp(body: JSONObject, name: str) -> str:
    value = body[name]
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return format_timestamp(parse_timestamp(value))
    except ValueError as exc:
        raise bad_request(f"{name} must be a valid ISO 8601 date.") from exc


def list_ids(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_request("lists must be an array of list ids (strings).")
    return list(value)


def _device(body: JSONObject) -> dict[str, str] | None:
    token, platform = body.get("device_token"), body.get("device_platform")
    if "device_token" not in body and "device_platform" not in body:
        return None
    if not isinstance(token, str) or not token:
        raise bad_request("device_token must be a non-empty string given with device_platform.")
    if not isinstance(platform, str) or platform.lower() not in _DEVICE_PLATFORMS:
        raise bad_request("device_platform must be android or ios.")
    return {"token": token, "platform": platform.lower()}


def user_changes(body: JSONObject) -> UserChanges:
    changes: UserChanges = {}
    if "first_name" in body:
        changes["first_name"] = string(body, "first_name")
    if "last_name" in body:
        changes["last_name"] = string(body, "last_name")
    if "number" in body:
        changes["number"] = _phone_number(body["number"])
    if "email" in body:
        changes["email"] = _email(body["email"])
    if "created_at" in body:
        changes["created_at"] = timestamp(body, "created_at")
    if "meta" in body:
        changes["meta"] = scalar_map(body["meta"], "meta")
    if "lists" in body:
        changes["lists"] = list_ids(body["lists"])
    device = _device(body)
    if device is not None:
        changes["device"] = {"token": device["token"], "platform": device["platform"]}
    return changes


def limit(request: Request) -> int:
    text = request.arg("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"\d{1,3}", text.strip()) or not 1 <= int(text) <= MAX_LIMIT:
        raise bad_request(LIMIT_RANGE)
    return int(text)


# Newer API editions send next_cursor/previous_cursor and accept them back as parameters;
# they mean after_id/before_id. At most one of the four may be given.
_CURSOR_PARAMETERS = {
    "after_id": "after",
    "before_id": "before",
    "next_cursor": "after",
    "previous_cursor": "before",
}


def cursor(request: Request) -> tuple[str | None, str | None]:
    """(after_id, before_id) from the query; an empty value counts as absent."""
    given = [(name, value) for name in _CURSOR_PARAMETERS if (value := request.arg(name))]
    if len(given) > 1:
        raise bad_request(f"Use only one of {given[0][0]} and {given[1][0]}.")
    if not given:
        return None, None
    name, value = given[0]
    value = value.lower()  # cursors are read case-insensitively, as hex is
    if not is_internal_id(value):
        raise bad_request(f"{name} must be a user id (24 hex digits).")
    if _CURSOR_PARAMETERS[name] == "after":
        return value, None
    return None, value

"""Reading request bodies and queries into validated values, shared by the route modules.

Each function raises `ApiError` (400) with a sentence a client can show as it is.
"""

from __future__ import annotations

import re

from engage_cli.ids import UID_CHARACTERS, is_internal_id, is_valid_uid
from engage_cli.sandbox.documents import Device, Scalar, UserChanges, format_timestamp
from engage_cli.sandbox.store import Page
from engage_cli.sandbox.web import LIMIT_RANGE, JSONObject, Request, bad_request
from engage_cli.strict import loads_json, parse_iso8601

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "boolean",
    "cursor",
    "is_scalar",
    "json_object",
    "limit",
    "list_ids",
    "non_empty_string",
    "page_answer",
    "parse_timestamp",
    "scalar_map",
    "string",
    "timestamp",
    "user_changes",
    "user_id",
]

DEFAULT_LIMIT = 10
MAX_LIMIT = 30

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_PLATFORM_HINTS = {"android": ("android",), "ios": ("ios", "iphone", "ipad")}

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


def is_scalar(value: object) -> bool:
    # bool is an int subclass, so this accepts true/false as well as numbers; None, lists and
    # dicts are what it refuses. Floats are finite already (see strict.loads_json).
    return isinstance(value, (str, int, float))


def non_empty_string(body: JSONObject, name: str) -> str:
    if name not in body:
        raise bad_request(f"{name} is required.")
    value = body[name]
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{name} must be a non-empty string.")
    return value


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


def _platform(value: str) -> str:
    # Engage's SDKs send android or ios; its PostHog connector sends "<os> <device type>"
    # strings, which are read for the OS they name rather than refused.
    lowered = value.strip().lower()
    for platform, hints in _PLATFORM_HINTS.items():
        if any(hint in lowered for hint in hints):
            return platform
    return lowered


def _device(body: JSONObject) -> Device | None:
    if "device_token" not in body and "device_platform" not in body:
        return None
    token, platform = body.get("device_token"), body.get("device_platform")
    if not isinstance(token, str) or not token:
        raise bad_request("device_token must be a non-empty string given with device_platform.")
    if not isinstance(platform, str) or not platform.strip():
        raise bad_request("device_platform must be android or ios.")
    return {"token": token, "platform": _platform(platform)}


# Booleans as text, as connectors send them: RudderStack's group call puts a trait's value,
# "false", in `subscribed`, and the API takes it. "false" reads as false (never as a non-empty,
# so truthy, string); any other text is still refused.
_TEXT_BOOLEANS = {"true": True, "false": False}


def boolean(body: JSONObject, name: str) -> bool:
    value = body[name]
    if isinstance(value, str) and value.strip().lower() in _TEXT_BOOLEANS:
        return _TEXT_BOOLEANS[value.strip().lower()]
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false.")
    return value


def user_changes(body: JSONObject) -> UserChanges:
    """The changes a create or update body asks for. Unknown fields are ignored, never a 400:
    the real API takes what Engage's own clients send."""
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
    if "is_account" in body:
        changes["is_account"] = boolean(body, "is_account")
    device = _device(body)
    if device is not None:
        changes["device"] = device
    # Other fields Engage's SDKs and connectors send (tz, app_version, app_build,
    # app_last_active, source...) have no place in the user object: accepted and ignored.
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


def cursor(request: Request, noun: str = "user") -> tuple[str | None, str | None]:
    """(after_id, before_id) from the query; an empty value counts as absent."""
    given = [(name, value) for name in _CURSOR_PARAMETERS if (value := request.arg(name))]
    if len(given) > 1:
        raise bad_request(f"Use only one of {given[0][0]} and {given[1][0]}.")
    if not given:
        return None, None
    name, value = given[0]
    value = value.lower()  # cursors are read case-insensitively, as hex is
    if not is_internal_id(value):
        raise bad_request(f"{name} must be a {noun} id (24 hex digits).")
    if _CURSOR_PARAMETERS[name] == "after":
        return value, None
    return None, value


def page_answer(page: Page) -> JSONObject:
    """A list answer in both pagination styles, so clients of either API edition work."""
    return {
        "data": page.items,
        "has_more": page.has_more,
        "next_cursor": page.next_cursor,
        "previous_cursor": page.previous_cursor,
    }

"""A user's fields checked without pydantic, for the common case of a bulk import.

`models.UserCreate` and `models.UserUpsert` are the rule: what they accept is sent, what they
refuse is refused with their messages. Importing pydantic and building those models costs a
--batch import of 10,000 users more than validating them, so a record whose every field is
plainly valid (the plain types, the same patterns) gets its body here, exactly the one the model
gives (the same keys in the same order, the same values); anything else, invalid or merely
unusual, returns None and goes through the model, so every error message is the model's own.
tests/test_fields.py holds the two paths equal over thousands of varied records.

Standard library only: nothing here may import pydantic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engage_cli.ids import is_valid_uid
from engage_cli.strict import is_utf8_text, parse_iso8601

# Checked with fullmatch: `$` would let a trailing newline through. The models use these too.
NUMBER_PATTERN = re.compile(r"[0-9]+")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+")

_SCALARS = (str, int, float, bool)


def _text(value: Any) -> bool:
    return type(value) is str


def _clean_text(value: Any) -> bool:
    """A str UTF-8 can carry: pydantic reads a constrained string (min_length) or a dict key
    through UTF-8, and a lone surrogate comes out refused or replaced."""
    return type(value) is str and is_utf8_text(value)


def _email(value: Any) -> bool:
    return type(value) is str and EMAIL_PATTERN.fullmatch(value) is not None


def _number(value: Any) -> bool:
    # An int, or a + in front, is rewritten by the model: that case is the model's.
    return type(value) is str and NUMBER_PATTERN.fullmatch(value) is not None


def _meta(value: Any) -> bool:
    if type(value) is not dict:
        return False
    for key, item in value.items():
        if type(item) not in _SCALARS or not _clean_text(key):
            return False
    return True


def _date(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        parse_iso8601(value)
    except ValueError:
        return False
    return True


def _device_token(value: Any) -> bool:
    return value != "" and _clean_text(value)


def _device_platform(value: Any) -> bool:
    return type(value) is str and value in ("android", "ios")


def _is_account(value: Any) -> bool:
    return type(value) is bool


def _create_lists(value: Any) -> bool:
    if type(value) is not list:
        return False
    return all(_clean_text(item) and item.strip() for item in value)


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "first_name": _text,
    "last_name": _text,
    "email": _email,
    "number": _number,
    "meta": _meta,
    "created_at": _date,
    "device_token": _device_token,
    "device_platform": _device_platform,
    "is_account": _is_account,
}
_CREATE_CHECKS = {**_CHECKS, "lists": _create_lists}


def _plain(fields: dict[str, Any], checks: dict[str, Callable[[Any], bool]]) -> bool:
    for name, value in fields.items():
        check = checks.get(name)
        if check is None or not check(value):
            return False
    # The API registers a device from the two together: one alone is the model's error.
    return ("device_token" in fields) == ("device_platform" in fields)


def _copied(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as the model dumps them: new containers, in the order given."""
    body = dict(fields)
    if "meta" in body:
        body["meta"] = dict(body["meta"])
    if "lists" in body:
        body["lists"] = list(body["lists"])
    return body


def upsert_body(uid: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """The body `models.UserUpsert` gives for {"id": uid, **fields}, without the id (it is
    the path); None when only the model can say (an invalid or unusual value)."""
    if not is_valid_uid(uid) or not _plain(fields, _CHECKS):
        return None
    return _copied(fields)


def create_body(uid: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """The body `models.UserCreate` gives for {"id": uid, **fields}; None when only the model
    can say."""
    if not is_valid_uid(uid) or not _plain(fields, _CREATE_CHECKS):
        return None
    return {"id": uid, **_copied(fields)}

"""Parsing what users type: `K=V` / `K:=JSON` pairs, `--value`, and `--data` bodies.

Pure functions with no third-party imports, so they are cheap to import and easy to test.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from engage_cli.errors import UsageError
from engage_cli.strict import SURROGATE, NumberOutOfRange, describe_surrogate, loads_json


def parse_pair(text: str, option: str) -> tuple[str, Any]:
    """`K=V` gives a string, `K:=JSON` a JSON literal, as in httpie.

    The first `=` splits; if a `:` stands right before it, the value is JSON."""
    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError(
            f"{option} {text!r}: expected KEY=VALUE or KEY:=JSON.",
            hint=f"For example {option} plan=pro or {option} age:=34.",
        )
    is_json = key.endswith(":")
    if is_json:
        key = key[:-1]
    if not key:
        raise UsageError(f"{option} {text!r}: the key is empty.")
    if not is_json:
        return key, value
    try:
        return key, loads_json(value)
    except ValueError as exc:
        raise UsageError(
            f"{option} {key}: {value!r} is not a JSON literal ({exc}).",
            hint=f"Use {option} {key}=TEXT for a string.",
        ) from exc


def parse_pairs(items: list[str] | None, option: str) -> dict[str, Any] | None:
    if not items:
        return None
    pairs: dict[str, Any] = {}
    for item in items:
        key, value = parse_pair(item, option)
        pairs[key] = value
    return pairs


def parse_scalar(text: str) -> Any:
    """An event's --value: a JSON scalar when the text is one, else the text itself.

    JSON quotes force a string (`'"49.99"'`)."""
    try:
        value = loads_json(text)
    except NumberOutOfRange as exc:
        raise UsageError(f"--value {text}: {exc}.", hint="Quote it to send the text.") from exc
    except ValueError:
        return text
    if value is None:
        raise UsageError(
            "--value null: an event value cannot be null.",
            hint="Leave --value out, or quote it to send the text: --value '\"null\"'.",
        )
    if isinstance(value, (dict, list)):
        return text
    return value


def describe_invalid_argument(position: int, arg: str) -> str:
    """Why an argument cannot be used: bytes that are not UTF-8 reach Python as lone
    surrogates (PEP 383), which no request, config file or terminal can carry."""
    bad = SURROGATE.search(arg)
    try:  # the bytes as typed, \xff for one that is not UTF-8
        raw = arg[:60].encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = arg[:60].encode("utf-8", "backslashreplace")
    shown = raw.decode("utf-8", "backslashreplace")
    what = describe_surrogate(bad.group()) if bad else "text that is not UTF-8"
    return f"argument {position} ({shown}) holds {what}; give it as UTF-8 text."


def load_data(spec: str, stdin: IO[str] | None = None) -> dict[str, Any]:
    """`--data`: inline JSON, `@FILE`, or `-` for stdin; the body must be a JSON object."""
    if spec == "-":
        try:
            source, text = "--data - (stdin)", (stdin or sys.stdin).read()
        except UnicodeDecodeError as exc:
            raise UsageError(f"--data -: stdin is not UTF-8 text ({exc.reason}).") from None
    elif spec.startswith("@"):
        source = f"--data {spec}"
        try:
            with open(spec[1:], "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise UsageError(f"--data {spec}: cannot read the file ({exc.strerror}).") from exc
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"--data {spec}: the file is not UTF-8 text (byte {exc.start}: {exc.reason})."
            ) from None
    else:
        source, text = "--data", spec
    try:
        data = loads_json(text)
    except ValueError as exc:
        raise UsageError(f"{source} is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{source} must be a JSON object, not {type(data).__name__}.")
    return data


def merge_body(data: dict[str, Any] | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Flags beside --data override its fields; `meta`/`properties` merge key by key."""
    body = dict(data or {})
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


# What only the server sets in a user object: ignored when a printed user is read back.
SERVER_USER_FIELDS = frozenset(
    {"devices", "segments", "uid_updateable", "accounts", "archived", "member_count"}
    | {"last_interaction", "stats"}
)


def _internal_id(value: Any) -> bool:
    hex_digits = "0123456789abcdef"
    return isinstance(value, str) and len(value) == 24 and all(c in hex_digits for c in value)


def user_body_from_object(data: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """`--data` may be a user object as `users get -o json` prints it (it has a `uid`): read
    it as a request body. Fields only the server sets and nulls are left out, `lists` become
    the ids subscribed, and for a create the `uid` is the `id` to send (the object's own `id`
    is Engage's internal one). Anything else is left for the model to judge."""
    if "uid" not in data:
        return data
    given_id = data.get("id")
    if given_id is not None and given_id != data["uid"] and not _internal_id(given_id):
        raise UsageError(
            f"--data: id {given_id!r} and uid {data['uid']!r} differ: give one of them.",
            hint="A printed user's id is Engage's internal one (24 hex digits).",
        )
    body: dict[str, Any] = {"id": data["uid"]} if create else {}
    for key, value in data.items():
        if key in ("id", "uid") or key in SERVER_USER_FIELDS or value is None:
            continue
        if key == "lists" and isinstance(value, list):
            value = [
                item["id"] if isinstance(item, dict) and "id" in item else item
                for item in value
                if not (isinstance(item, dict) and item.get("subscribed") is False)
            ]
        if value in ({}, []):
            continue  # an empty meta or lists in an object says nothing to send
        body[key] = value
    return body
